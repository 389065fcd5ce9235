"""Infrastructure: ``aws/`` renders and deploys tickwire's CloudFormation stack and holds the
aioboto3 adapters; ``local/`` holds the in-process stand-ins for AWS services."""

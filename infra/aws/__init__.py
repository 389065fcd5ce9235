"""tickwire on AWS: the CloudFormation stack, its deployment, and the aioboto3 adapters."""

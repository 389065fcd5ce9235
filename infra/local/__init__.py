"""In-process stand-ins for AWS services: the WebSocket API gateway with ``@connections``,
the embedded Kinesis stream and the embedded tables."""

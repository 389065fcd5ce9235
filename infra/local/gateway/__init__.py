"""The local API Gateway WebSocket stand-in: data plane and ``@connections`` on one port."""

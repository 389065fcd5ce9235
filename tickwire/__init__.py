"""tickwire: a real-time multiplayer game backend on the API Gateway WebSocket model.

This package is the composition root: the ``tickwire`` command and the wiring of the
gateway, the stream, the engine and the broadcaster into one process or many.
"""

__version__ = "0.1.0"

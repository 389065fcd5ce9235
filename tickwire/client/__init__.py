"""tickwire's Python game client: used by Python games, the tests and the swarm.

- :class:`GameClient`: one player's WebSocket connection (inputs with a rising seq, state
  messages decoded into a world view, acks, input->ack latency, reconnects); its
  :attr:`~GameClient.state` is a :class:`ClientState` (the table in ``lifecycle.py``).
- :class:`InputLog`, :class:`Reconciler`, :class:`Backoff`: the pure parts, usable alone
  (a bot that drives thousands of sockets itself can reuse them without ``GameClient``).

Exceptions: see :mod:`tickwire.client.errors` for the tree under :class:`ClientError`.
"""

from __future__ import annotations

from infra.backoff import Backoff
from tickwire.client.client import ClientSettings, ClientStats, GameClient, TokenProvider
from tickwire.client.errors import (
    ClientClosed,
    ClientError,
    ConnectFailed,
    InputError,
    NotConnected,
)
from tickwire.client.inputs import Input, InputLog, PendingInput, encode_input, validate_input
from tickwire.client.lifecycle import ClientState
from tickwire.client.prediction import Reconciler, StepFunction, kinematic_step

__all__ = [
    "Backoff",
    "ClientClosed",
    "ClientError",
    "ClientSettings",
    "ClientState",
    "ClientStats",
    "ConnectFailed",
    "GameClient",
    "Input",
    "InputError",
    "InputLog",
    "NotConnected",
    "PendingInput",
    "Reconciler",
    "StepFunction",
    "TokenProvider",
    "encode_input",
    "kinematic_step",
    "validate_input",
]

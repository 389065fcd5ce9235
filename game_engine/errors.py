"""The engine's exceptions: one root, :class:`EngineError`.

::

    EngineError
    ├── RulesError                 raised by rules hooks, handled by the engine
    │   ├── InputRejected          an input failed validation (``.reason``); counted, skipped
    │   └── JoinRefused            a join was refused (``.reason``); counted
    ├── LeaseError
    │   └── LeaseLost              a conditional write failed: the lease is held or was
    │                              renewed by someone else; the caller must drop the shard
    ├── CheckpointError            a checkpoint behind the last one or beyond the last
    │                              delivered record
    ├── SnapshotError              a snapshot that cannot be decoded or does not fit the rules
    └── RulesNotFound              ``--rules module:attribute`` names nothing usable

Adapters (:mod:`infra.local.tables`, :mod:`infra.aws.dynamodb`) translate their storage
errors into these, chained with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "EngineError",
    "InputRejected",
    "JoinRefused",
    "LeaseError",
    "LeaseLost",
    "RulesError",
    "RulesNotFound",
    "SnapshotError",
]


class EngineError(Exception):
    """Root of every exception the engine raises on purpose."""


class RulesError(EngineError):
    """Raised by a rules hook to refuse something; carries a short ``reason`` code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class InputRejected(RulesError):
    """An input payload failed validation (wrong type, NaN, out of range, ...)."""


class JoinRefused(RulesError):
    """A join was refused (match full, ...)."""


class LeaseError(EngineError):
    """A lease-table operation failed."""


class LeaseLost(LeaseError):
    """A conditional write on a lease failed: another worker owns it or renewed it."""


class CheckpointError(EngineError):
    """A checkpoint that would move backwards or past the last delivered record."""


class SnapshotError(EngineError):
    """A snapshot that cannot be decoded or does not match the rules' schema."""


class RulesNotFound(EngineError):
    """A rules name (``module:attribute``) that cannot be imported or is not rules."""

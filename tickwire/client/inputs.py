"""The client's side of the input contract, without I/O.

Every input gets the next ``seq`` (1, 2, 3, ... for the life of the client, across
reconnects, so the engine's "skip a seq at or below the last applied one" never drops a
fresh input). The log keeps each sent input until a state message acknowledges it
(``ack_seq >= seq``); acknowledged inputs yield one latency sample each, measured from
sending ``seq`` to the first message whose ack is at or above it (performance.md, P7).

Backpressure: the log holds at most ``max_pending`` unacknowledged inputs. When a client
outruns the server by more than that (the server is down, or drops inputs), the oldest
pending input is forgotten (counted in ``dropped``): it only matters for prediction, and
an input that old has long been applied or lost.

Inputs sent before a reconnect give no latency sample: their delay includes the outage.
An ack above the last seq sent (the engine remembers the player from an earlier client
process) moves the seq past it, so the next input is not skipped as a duplicate.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from tickwire.client.errors import InputError

__all__ = ["Input", "InputLog", "PendingInput", "encode_input", "validate_input"]

# Inputs awaiting an ack: ~10 s of inputs at 30 Hz; far more than any sane round trip.
DEFAULT_MAX_PENDING = 300
# The move vector's components lie in [-1, 1] (the reference game's contract; the engine
# clamps or refuses anything else).
MOVE_LIMIT = 1.0


@dataclass(frozen=True, slots=True)
class Input:
    """One player action: a move direction, an optional aim direction, fire or not."""

    move: tuple[float, float]
    aim: tuple[float, float] | None = None
    fire: bool = False


@dataclass(frozen=True, slots=True)
class PendingInput:
    seq: int
    input: Input
    sent_at: float  # the client's monotonic clock, seconds
    epoch: int  # the connection it was sent on (0, 1, ... per reconnect)


def _pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    try:
        a, b = value
        pair = (float(a), float(b))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be two numbers, got {value!r}") from exc
    if not all(math.isfinite(v) for v in pair):
        raise InputError(f"{name} must be finite, got {pair!r}")
    return pair


def validate_input(
    move: Sequence[float], aim: Sequence[float] | None = None, fire: bool = False
) -> Input:
    """Build an :class:`Input`, refusing what the gateway's validation would refuse."""
    mv = _pair("move", move)
    if any(abs(v) > MOVE_LIMIT for v in mv):
        raise InputError(f"move components must lie in [-1, 1], got {mv!r}")
    am = None if aim is None else _pair("aim", aim)
    if not isinstance(fire, bool):
        raise InputError(f"fire must be a bool, got {fire!r}")
    return Input(mv, am, fire)


def encode_input(seq: int, inp: Input) -> str:
    """The JSON text frame of the client -> gateway contract (COMMON.md)."""
    body: dict[str, object] = {"action": "input", "seq": seq, "move": list(inp.move)}
    if inp.aim is not None:
        body["aim"] = list(inp.aim)
    if inp.fire:
        body["fire"] = True
    return json.dumps(body, separators=(",", ":"))


class InputLog:
    """Seq assignment, unacknowledged inputs, ack tracking and latency samples."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self.last_seq = 0
        self.ack_seq = 0
        self.epoch = 0
        self.dropped = 0
        self._pending: deque[PendingInput] = deque()

    @property
    def pending(self) -> tuple[PendingInput, ...]:
        """Sent inputs not yet acknowledged, oldest first."""
        return tuple(self._pending)

    def record(self, inp: Input, now: float) -> PendingInput:
        """Assign the next seq to ``inp`` (sent at ``now``) and remember it."""
        self.last_seq += 1
        item = PendingInput(self.last_seq, inp, now, self.epoch)
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(item)
        return item

    def new_connection(self) -> None:
        """A new connection starts: later acks of older inputs give no latency sample."""
        self.epoch += 1

    def acknowledge(self, ack_seq: int, now: float) -> list[float]:
        """Apply a message's ``ack_seq``; return the latency (s) of each newly acked input.

        Acks never go backwards here: a lower ack (e.g. a new engine worker restoring an
        older snapshot) leaves the log as it is.
        """
        if ack_seq <= self.ack_seq:
            return []
        self.ack_seq = ack_seq
        if ack_seq > self.last_seq:
            # The engine applied seqs this client never sent: an earlier client of the same
            # player (a restarted process). Continue above them, or the engine would skip
            # every new input as a duplicate.
            self.last_seq = ack_seq
        samples: list[float] = []
        while self._pending and self._pending[0].seq <= ack_seq:
            item = self._pending.popleft()
            if item.epoch == self.epoch:
                samples.append(max(0.0, now - item.sent_at))
        return samples

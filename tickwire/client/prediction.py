"""Client-side prediction and reconciliation, without I/O.

Theory of operation. The server is authoritative; each state message carries the
player's own entity as of tick T and ``ack_seq`` A: the last of this player's inputs the
engine had applied by then. The client keeps every input it sent after A (the
:class:`~tickwire.client.inputs.InputLog`'s pending inputs) and predicts its own entity
as::

    predicted = replay(step, authoritative state at A, pending inputs with seq > A)

Inputs in tickwire are *held*: a move applies until the next input replaces it. So the
replay applies each pending input for the time it was (or still is) held: from its send
time to the next input's send time, the newest one until ``now``. The acknowledged state
already contains input A and everything before it, so reconciliation is just this: on
every state message, take the server's entity as the new base, forget inputs at or below
the ack, and replay the rest. A misprediction (a wall, a hit) is corrected by the next
message instead of accumulating.

The model is approximate in one known way: the base is treated as if input A's effect
ended when input A+1 was sent; the error is at most one round trip of A's motion and is
corrected by the next message. ``max_replay`` bounds the replayed time so a stalled
server does not make the prediction run away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from tickwire.client.inputs import Input, PendingInput

__all__ = ["Reconciler", "StepFunction", "kinematic_step"]

S = TypeVar("S")
StepFunction = Callable[[S, Input, float], S]

# Never replay more than this many seconds of inputs: beyond it the server is stalled or
# gone and predicting further only builds up an error to snap back from.
DEFAULT_MAX_REPLAY_S = 1.0


def kinematic_step(
    speed: float, bounds: tuple[float, float, float, float] | None = None
) -> StepFunction[tuple[float, float]]:
    """A step for positions ``(x, y)``: move at ``speed`` units/s along ``input.move``.

    ``bounds`` is ``(min_x, min_y, max_x, max_y)``; positions are clamped into it.
    The reference game's movement has this shape; a game with other rules passes its
    own step function.
    """

    def step(pos: tuple[float, float], inp: Input, dt: float) -> tuple[float, float]:
        x = pos[0] + inp.move[0] * speed * dt
        y = pos[1] + inp.move[1] * speed * dt
        if bounds is not None:
            x = min(max(x, bounds[0]), bounds[2])
            y = min(max(y, bounds[1]), bounds[3])
        return (x, y)

    return step


class Reconciler(Generic[S]):
    """Predicts the own entity's state from the last acknowledged one plus pending inputs."""

    def __init__(self, step: StepFunction[S], *, max_replay: float = DEFAULT_MAX_REPLAY_S):
        self.step = step
        self.max_replay = max_replay
        self.base: S | None = None
        self.base_ack = 0

    def on_server_state(self, state: S, ack_seq: int) -> None:
        """Take the authoritative state at ``ack_seq`` as the new base."""
        self.base = state
        self.base_ack = ack_seq

    def predict(self, pending: Iterable[PendingInput], now: float) -> S | None:
        """The predicted state at ``now`` (None before the first server state)."""
        if self.base is None:
            return None
        items = [p for p in pending if p.seq > self.base_ack]
        state = self.base
        budget = self.max_replay
        for i, item in enumerate(items):
            until = items[i + 1].sent_at if i + 1 < len(items) else now
            dt = min(max(0.0, until - item.sent_at), budget)
            if dt > 0:
                state = self.step(state, item.input, dt)
                budget -= dt
            if budget <= 0:
                break
        return state

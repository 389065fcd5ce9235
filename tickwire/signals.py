"""SIGINT/SIGTERM handling shared by every long-running command.

One policy for ``tickwire up``, ``gateway``, ``worker`` and ``swarm``: the first SIGINT or
SIGTERM asks for a graceful, bounded stop (the command's own drain); a second one, while
that drain runs, exits the process at once with the conventional status ``128 + signal``
(130 for Ctrl-C), without waiting for anything. The stop callback's task is kept, so the
caller can await it and nothing it raises is lost.

Usage, inside the running event loop::

    async with StopSignals("tickwire gateway", gateway.stop) as signals:
        await gateway.run()          # returns once gateway.stop() has drained it
    # or, when the command waits for the signal itself:
    async with StopSignals("tickwire up") as signals:
        await signals.wait()
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

__all__ = ["STOP_SIGNALS", "StopSignals"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

StopCallback = Callable[[], Awaitable[object] | object]


class StopSignals:
    """Turns the first stop signal into ``on_stop()`` and the second into an immediate exit.

    ``name`` prefixes the two lines written to stderr; ``announce(sig, second)``, when
    given, is called instead (a command whose logs are JSON lines logs an event). ``on_stop``
    may be a plain function or return an awaitable (run as a task, kept in
    :attr:`stop_task`). ``exit`` is what the second signal calls (``os._exit`` by default;
    tests pass their own).
    """

    def __init__(
        self,
        name: str,
        on_stop: StopCallback | None = None,
        *,
        signals: Sequence[signal.Signals] = STOP_SIGNALS,
        exit: Callable[[int], object] = os._exit,
        announce: Callable[[signal.Signals, bool], object] | None = None,
    ) -> None:
        self.name = name
        self.on_stop = on_stop
        self.announce = announce
        self.signals = tuple(signals)
        self.stop_task: asyncio.Task[object] | None = None
        self.received: signal.Signals | None = None
        self._exit = exit
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived (or :meth:`request` was called)."""
        return self._event.is_set()

    def install(self) -> None:
        """Install the handlers on the running loop (harmless twice)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for sig in self.signals:
            self._loop.add_signal_handler(sig, self._handle, sig)

    def remove(self) -> None:
        """Give the signals back to their defaults (harmless twice)."""
        if self._loop is None:
            return
        for sig in self.signals:
            self._loop.remove_signal_handler(sig)
        self._loop = None

    def request(self, sig: signal.Signals | None = None) -> None:
        """What the first signal does; callable directly to stop without a signal."""
        if self._event.is_set():
            return
        self.received = sig
        self._event.set()
        if self.on_stop is None:
            return
        result = self.on_stop()
        if inspect.isawaitable(result):
            self.stop_task = asyncio.ensure_future(_awaited(result))

    async def wait(self) -> None:
        """Wait for the first stop signal."""
        await self._event.wait()

    async def finished(self) -> None:
        """Wait for the stop callback's task, if one runs, and raise what it raised."""
        if self.stop_task is not None:
            await self.stop_task

    def _handle(self, sig: signal.Signals) -> None:
        second = self._event.is_set()
        if self.announce is not None:
            self.announce(sig, second)
        elif second:
            print(f"{self.name}: second {sig.name}, exiting now", file=sys.stderr, flush=True)
        else:
            print(
                f"{self.name}: {sig.name} received, stopping (again to exit at once)",
                file=sys.stderr,
                flush=True,
            )
        if second:
            self._exit(128 + int(sig))
            return
        self.request(sig)

    async def __aenter__(self) -> StopSignals:
        self.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.stop_task is not None and exc_type is None:
                await self.stop_task
        finally:
            self.remove()


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable

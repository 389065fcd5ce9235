"""The shared stop-signal policy: the first signal stops gracefully, a second exits at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

from tickwire.signals import StopSignals


async def test_first_signal_runs_the_stop_callback_once_and_keeps_its_task() -> None:
    calls: list[str] = []

    async def stop() -> str:
        await asyncio.sleep(0.01)
        calls.append("stopped")
        return "done"

    async with StopSignals("test", stop) as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(signals.wait(), 5)
        assert signals.requested and signals.received == signal.SIGTERM
        assert signals.stop_task is not None
    assert calls == ["stopped"]
    assert signals.stop_task.result() == "done"


async def test_second_signal_calls_exit_with_128_plus_the_signal() -> None:
    exits: list[int] = []
    never = asyncio.Event()

    async with StopSignals("test", never.wait, exit=exits.append) as signals:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(signals.wait(), 5)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):
            if exits:
                break
            await asyncio.sleep(0.01)
        assert exits == [130]
        never.set()


async def test_request_without_a_signal_and_handlers_removed_on_exit() -> None:
    stopped: list[bool] = []
    async with StopSignals("test", lambda: stopped.append(True)) as signals:
        signals.request()
        signals.request()  # harmless twice
        await signals.finished()
    assert stopped == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_ctrl_c_exits_the_process_at_once() -> None:
    """A real process whose graceful stop hangs: the second SIGINT ends it with 130."""
    script = textwrap.dedent(
        """
        import asyncio
        from tickwire.signals import StopSignals

        async def main() -> None:
            async with StopSignals("hang", asyncio.Event().wait) as signals:
                print("ready", flush=True)
                await signals.wait()
                print("stopping", flush=True)
                await signals.finished()  # never returns

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline().strip() == "stopping"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - started < 5
        assert "second SIGINT, exiting now" in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_announce_replaces_the_stderr_lines() -> None:
    seen: list[tuple[str, bool]] = []
    exits: list[int] = []
    never = asyncio.Event()

    def announce(sig: signal.Signals, second: bool) -> None:
        seen.append((sig.name, second))

    async with StopSignals("t", never.wait, exit=exits.append, announce=announce) as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(signals.wait(), 5)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            if exits:
                break
            await asyncio.sleep(0.01)
        never.set()
    assert seen == [("SIGTERM", False), ("SIGTERM", True)] and exits == [143]

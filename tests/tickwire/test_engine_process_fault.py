"""A split ``tickwire up`` survives the death of its engine process: SIGKILL the real
engine process mid-match; the gateway process restarts it, the new worker restores the
snapshot and replays the stream, and the player's session goes on over the same socket
with its acknowledged inputs kept (ack_seq never goes back) and new inputs applied."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from game_engine.arena import ArenaSettings
from tickwire.client.client import GameClient
from tickwire.embedded import EmbeddedGame, UpSettings


async def test_sigkill_of_the_engine_process_costs_a_pause_not_the_match(tmp_path: Path) -> None:
    settings = UpSettings(
        port=0, state_dir=tmp_path, arena=ArenaSettings(view_radius=5000.0), procs=2
    )
    async with EmbeddedGame(settings) as game:
        assert game.engines is not None
        client = await GameClient.connect(game.ws_url, game.token("m1", "alice"))
        try:
            await client.wait_for(lambda c: c.self_id >= 0, 30)
            for _ in range(20):
                await client.send_input((1.0, 0.0))
                await asyncio.sleep(0.03)
            await client.wait_for(lambda c: c.ack_seq >= 20, 15)
            # Let a checkpoint cover some of it (the worker snapshots every few seconds).
            await asyncio.sleep(settings.worker.checkpoint_interval + 0.5)
            acked_before = client.ack_seq
            acks: list[int] = []

            (victim,) = game.engines.pids
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            for _ in range(10):
                acks.append(client.ack_seq)
                await client.send_input((1.0, 0.0))
                await asyncio.sleep(0.05)
            sent = acked_before + 10
            # Bounded: the restart, the takeover (leases released at once) and the replay.
            await client.wait_for(lambda c: c.ack_seq >= sent, 45)
            resumed = time.monotonic() - killed
            acks.append(client.ack_seq)
            print(
                f"engine SIGKILL: resumed in {resumed:.2f} s; ack_seq {acked_before} -> "
                f"{client.ack_seq} (inputs sent during the outage applied), "
                f"restarts {game.engines.restarts}"
            )
            assert game.engines.restarts == 1
            assert victim not in game.engines.pids
            assert acks == sorted(acks), f"ack_seq went back: {acks}"
            assert client.connected
        finally:
            await client.close()

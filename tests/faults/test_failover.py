"""Faults of the shard owner in a real two-worker deployment (see conftest): each test
prints its figures (resume time, inputs lost, ack_seq and tick regressions, frames from
the old owner) and asserts the promises of README "Leases, snapshots, failover".

Short forms run in the default suite; ``-m soak`` runs repeated faults with more players.
Bounds are generous for a busy 2-core machine: the figures printed are the measurement,
the asserts only catch a broken promise (a lost or regressed input is never tolerated).
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from deployment import Bot, Deployment, Swarm, bots_for, figures, first_after

# Default lease settings (3 s lease, renewal every 0.75 s): a crashed owner's shard is
# resumed within about 5 s; the assert leaves room for a loaded machine.
RESUME_BOUND_S = 12.0


async def kill_the_owner(dep: Deployment, bots: list[Bot], rounds: int) -> list[float]:
    swarm = Swarm(dep, bots)
    await swarm.started()
    resumes = []
    for _ in range(rounds):
        await asyncio.sleep(3)  # play, and let a checkpoint or two go by
        owner = await asyncio.to_thread(dep.owner)
        assert owner is not None
        dep.processes[owner].signal(signal.SIGKILL)
        killed = time.monotonic()
        await dep.wait_for(lambda o=owner: dep.owner() not in (None, o), "a new owner", 30)
        await asyncio.sleep(RESUME_BOUND_S)
        resumes.append(first_after(bots, killed))
        dep.processes[owner].popen.wait(5)
        dep.start_worker(owner)  # back as the spare for the next round
    await swarm.finish()
    return resumes


async def test_sigkill_of_the_owner_loses_nothing_and_resumes(deployment: Deployment) -> None:
    bots = bots_for(matches=2, players=4)
    resumes = await kill_the_owner(deployment, bots, rounds=1)
    fig = figures(bots)
    print(f"\nSIGKILL of the owner: resumed in {resumes[0]:.2f} s; {fig.line()}")
    assert resumes[0] < RESUME_BOUND_S
    assert (fig.inputs_lost, fig.ack_regressions, fig.tick_regressions) == (0, 0, 0)


@pytest.mark.soak
async def test_soak_repeated_sigkills_with_16_players(deployment: Deployment) -> None:
    bots = bots_for(matches=2, players=8)
    resumes = await kill_the_owner(deployment, bots, rounds=4)
    fig = figures(bots)
    print(f"\n4 SIGKILLs: resumed in {', '.join(f'{r:.2f}' for r in resumes)} s; {fig.line()}")
    assert max(resumes) < RESUME_BOUND_S
    assert (fig.inputs_lost, fig.ack_regressions, fig.tick_regressions) == (0, 0, 0)


async def freeze_the_owner(dep: Deployment, bots: list[Bot], frozen_s: float) -> tuple[float, int]:
    """SIGSTOP the owner past its lease, SIGCONT it after another worker took over.
    Returns the resume time and the messages delivered after SIGCONT that were not newer
    than what the player already had (the old owner's)."""
    swarm = Swarm(dep, bots)
    await swarm.started()
    await asyncio.sleep(3)
    owner = await asyncio.to_thread(dep.owner)
    assert owner is not None
    old = dep.processes[owner]
    old.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    await dep.wait_for(lambda: dep.owner() not in (None, owner), "a new owner", 30)
    await asyncio.sleep(max(0.0, frozen_s - (time.monotonic() - stopped)))
    resumed = first_after(bots, stopped)
    old.signal(signal.SIGCONT)
    continued = time.monotonic()
    await asyncio.sleep(4)  # the old owner runs again: a lease round, a few send ticks
    await swarm.finish()
    stale = 0
    for bot in bots:
        newest = max((r.tick for r in bot.got if r.at < continued), default=-1)
        for r in bot.got:
            if r.at >= continued:
                stale += r.tick <= newest and not r.full
                newest = max(newest, r.tick)
    # The old owner, running again, finds its lease taken at its next lease round.
    await dep.wait_for(lambda: "lost the lease" in old.output(), "the old owner's lease lost", 30)
    return resumed, stale


async def freeze_and_check(dep: Deployment, bots: list[Bot], frozen_s: float) -> None:
    resumed, stale = await freeze_the_owner(dep, bots, frozen_s)
    fig = figures(bots)
    print(f"\nSIGSTOP {frozen_s:g} s + SIGCONT: resumed in {resumed:.2f} s; frames from the "
          f"old owner after SIGCONT {stale}; {fig.line()}")  # fmt: skip
    assert resumed < RESUME_BOUND_S
    assert stale == 0 and fig.protocol_errors == 0
    assert (fig.inputs_lost, fig.ack_regressions, fig.tick_regressions) == (0, 0, 0)


async def test_a_frozen_and_resumed_owner_delivers_nothing(deployment: Deployment) -> None:
    bots = bots_for(matches=2, players=4)
    await freeze_and_check(deployment, bots, frozen_s=8.0)


@pytest.mark.soak
async def test_soak_long_freeze_with_16_players(deployment: Deployment) -> None:
    bots = bots_for(matches=2, players=8)
    await freeze_and_check(deployment, bots, frozen_s=20.0)

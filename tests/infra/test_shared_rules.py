"""tickwire's one backoff policy and its one metering rule."""

from __future__ import annotations

import random

import pytest

from infra.backoff import Backoff
from infra.metering import METERING_UNIT_BYTES, metered_units


@pytest.mark.parametrize(
    ("nbytes", "units"),
    [(0, 1), (1, 1), (32 * 1024, 1), (32 * 1024 + 1, 2), (33 * 1024, 2), (128 * 1024, 4)],
)
def test_metered_units_agreed_rule(nbytes: int, units: int) -> None:
    """32 KB increments (33 KB = 2, the pricing page's example); an empty message is 1."""
    assert METERING_UNIT_BYTES == 32 * 1024
    assert metered_units(nbytes) == units


def test_every_user_counts_with_the_one_rule() -> None:
    import infra.local.gateway.metering as gateway
    import swarm.metering as swarm

    assert gateway.metered_units is metered_units and swarm.metered_units is metered_units


def test_backoff_windows_and_full_jitter() -> None:
    b = Backoff(base=0.05, cap=2.0, max_attempts=None)
    assert [b.window(n) for n in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    rng = random.Random(7)
    delays = [b.delay(3, rng) for _ in range(2000)]
    assert 0 <= min(delays) < 0.02 and 0.38 < max(delays) <= 0.4
    assert Backoff(base=0, cap=0).delay(5) == 0.0  # no waiting: tests
    assert not b.exhausted(10**6) and Backoff(max_attempts=2).exhausted(2)


def test_retry_users_share_the_policy() -> None:
    from ingest.batching import RetryPolicy
    from tickwire.client import Backoff as ClientBackoff

    assert ClientBackoff is Backoff
    policy = RetryPolicy(base_delay=0.05, max_delay=2.0)
    assert all(0 <= policy.delay(9) <= 2.0 for _ in range(100))

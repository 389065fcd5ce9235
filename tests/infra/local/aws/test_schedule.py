"""EventBridge schedule expressions: rate and cron, with EventBridge's field rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.local.aws.schedule import next_run, rate_seconds

T0 = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)  # a Saturday


def test_rates() -> None:
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(5 minutes)") == 300 and rate_seconds("rate(2 days)") == 172800
    assert next_run("rate(1 hour)", T0) == datetime(2026, 3, 14, 16, 9, 26, tzinfo=UTC)
    assert rate_seconds("cron(0 * * * ? *)") is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0/15 * * * ? *)", datetime(2026, 3, 14, 15, 15, tzinfo=UTC)),
        ("cron(0 12 * * ? *)", datetime(2026, 3, 15, 12, 0, tzinfo=UTC)),
        ("cron(30 9 ? * MON-FRI *)", datetime(2026, 3, 16, 9, 30, tzinfo=UTC)),
        ("cron(0 8 1 * ? *)", datetime(2026, 4, 1, 8, 0, tzinfo=UTC)),
        ("cron(0 0 ? * 1 *)", datetime(2026, 3, 15, 0, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(10 15 14 MAR ? 2027)", datetime(2027, 3, 14, 15, 10, tzinfo=UTC)),
        ("cron(0 0 29 2 ? *)", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)
def test_cron_next_times(expression: str, expected: datetime) -> None:
    assert next_run(expression, T0) == expected


def test_cron_with_no_time_left_and_refused_forms() -> None:
    assert next_run("cron(0 0 1 1 ? 2020)", T0) is None
    for bad in ("cron(0 0 L * ? *)", "cron(0 0 ? * 6#3 *)", "cron(0 0 * * * *)",
                "cron(0 0 * *)", "cron(61 0 * * ? *)", "every day"):  # fmt: skip
        with pytest.raises(ValueError):
            next_run(bad, T0)

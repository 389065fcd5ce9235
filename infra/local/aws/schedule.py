"""EventBridge schedule expressions: ``rate(5 minutes)`` and ``cron(0 12 * * ? *)``.

``cron`` has six fields, EventBridge's way: minutes, hours, day of month, month, day of
week (1 = Sunday .. 7 = Saturday, or SUN..SAT) and year; one of day-of-month and
day-of-week is ``?``. Fields take ``*``, numbers, names, lists (``,``), ranges (``-``)
and steps (``/``). ``L``, ``W`` and ``#`` (last day, nearest weekday, nth weekday) are
refused (:class:`ValueError`), so a schedule that would run at the wrong time does not run
at all. Times are UTC, as EventBridge's are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["next_run", "rate_seconds"]

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {
    m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (low, high, names) per field
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (1, 7, _DAYS),
    (1970, 2199, {}),
)
# How far ahead a cron expression is searched for its next time (a year is enough for
# any expression with a run; more covers leap days and explicit years).
_HORIZON_DAYS = 5 * 366


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of ``rate(N unit)`` (None for anything else)."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """The values a field allows (None for ``?``: no constraint from this field)."""
    if text == "?":
        return None
    values: set[int] = set()
    for part in text.upper().split(","):
        if any(c in part for c in "LW#"):
            raise ValueError(f"cron field {text!r}: L, W and # are not supported locally")
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = names.get(first) or int(first)
            end = (names.get(last) or int(last)) if last else (high if step_text else start)
        if not low <= start <= end <= high or step < 1:
            raise ValueError(f"cron field {text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def next_run(expression: str, after: datetime) -> datetime | None:
    """The first run strictly after ``after`` (UTC), or None when there is none."""
    seconds = rate_seconds(expression)
    if seconds is not None:
        return after + timedelta(seconds=seconds)
    match = _CRON.match(expression.strip())
    if match is None:
        raise ValueError(f"{expression!r} is neither rate(...) nor cron(...)")
    parts = match.group(1).split()
    if len(parts) != 6:
        raise ValueError(f"{expression!r}: cron takes six fields")
    fields = [_field(p, lo, hi, names) for p, (lo, hi, names) in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays, years = fields
    if (days is None) == (weekdays is None):
        raise ValueError(f"{expression!r}: one of day-of-month and day-of-week must be '?'")
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(_HORIZON_DAYS):
        weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0; cron: Sunday 1
        if (
            (years is None or day.year in years)
            and (months is None or day.month in months)
            and (days is None or day.day in days)
            and (weekdays is None or weekday in weekdays)
        ):
            for hour in sorted(hours or range(24)):
                for minute in sorted(minutes or range(60)):
                    moment = day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    return None

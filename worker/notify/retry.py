"""When to try a failed delivery again."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Sequence

_NS = 1_000_000_000


def next_delay_s(
    failed_attempts: int, schedule_s: Sequence[float], jitter: float, rng: random.Random
) -> float | None:
    """The delay before the next attempt after `failed_attempts` failures; None: give up.

    Jitter (±`jitter`) spreads the retries of many deliveries that failed together (an endpoint
    outage) so they do not all return at the same instant.
    """
    if failed_attempts < 1 or failed_attempts > len(schedule_s):
        return None
    base = schedule_s[failed_attempts - 1]
    return base * (1 + rng.uniform(-jitter, jitter))


def schedule_span_s(schedule_s: Sequence[float], jitter: float) -> float:
    """The longest a delivery's retries can span: every delay at its jittered maximum."""
    return sum(schedule_s) * (1 + jitter)


def parse_retry_after(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


def due_at_ns(delay_s: float) -> int:
    return time.time_ns() + int(delay_s * _NS)

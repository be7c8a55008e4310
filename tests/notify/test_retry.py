"""Retry timing and the circuit breaker (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from worker.contract.webhook_url import InvalidWebhookUrl
from worker.notify.client import Verdict, classify
from worker.notify.endpoints import Breaker, Permit, endpoint_key
from worker.notify.retry import next_delay_s, parse_retry_after

SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


def test_schedule_with_jitter_then_give_up() -> None:
    rng = random.Random(1)
    for failures, base in enumerate(SCHEDULE, start=1):
        delays = [next_delay_s(failures, SCHEDULE, 0.2, rng) for _ in range(200)]
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len({round(d or 0, 6) for d in delays}) > 100  # jittered, not constant
    assert next_delay_s(len(SCHEDULE) + 1, SCHEDULE, 0.2, rng) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (" 120 ", 120.0), ("", None), (None, None), ("soon", None), ("-3", None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now_s=now.timestamp()) == pytest.approx(90)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (410, Verdict.DISABLE),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (301, Verdict.PERMANENT),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
    ],
)
def test_status_codes(code: int, verdict: Verdict) -> None:
    assert classify(code) is verdict


def test_breaker_opens_after_consecutive_failures_and_probes_after_cooldown() -> None:
    breaker = Breaker(failures_to_open=3, cooldown_s=10)
    for t in range(3):
        permit = breaker.allow(t)
        assert permit is Permit.CLOSED
        breaker.record(permit, False, t)
    assert breaker.allow(5) is None  # open
    assert breaker.wait_s(5) == pytest.approx(7)  # until the cool-down ends (opened at t=2)
    probe = breaker.allow(13)  # cool-down over: one probe
    assert probe is Permit.PROBE
    assert breaker.allow(13.1) is None  # only one at a time
    assert breaker.wait_s(13.1) is None  # only the probe's outcome can change that
    breaker.record(probe, True, 14)
    assert breaker.allow(14) is Permit.CLOSED
    assert breaker.allow(14) is Permit.CLOSED


def test_a_failed_probe_reopens_and_a_probe_that_says_nothing_only_ends() -> None:
    breaker = Breaker(failures_to_open=1, cooldown_s=10)
    breaker.record(Permit.CLOSED, False, 0)
    probe = breaker.allow(10)
    assert probe is Permit.PROBE
    breaker.record(probe, False, 11)  # still down: open for another cool-down
    assert breaker.allow(20) is None
    probe = breaker.allow(21)
    assert probe is Permit.PROBE
    # A 4xx or a refused address says nothing about the endpoint's health; an attempt that never
    # finished neither. The probe must end all the same, or no other would ever be let through.
    breaker.record(probe, None, 22)
    assert breaker.allow(22) is Permit.PROBE


def test_endpoints_are_origins() -> None:
    assert endpoint_key("https://h.example/a?x=1") == endpoint_key("https://h.example:443/b")
    assert endpoint_key("http://h.example/a") != endpoint_key("https://h.example/a")


@pytest.mark.parametrize("url", ["http://256.0.0.1/", "http://host:port/", "http:///x"])
def test_an_endpoint_key_is_not_made_of_an_unsendable_url(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        endpoint_key(url)

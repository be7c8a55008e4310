"""Per-endpoint isolation: a concurrency limit, a circuit breaker, and endpoints disabled by 410.

One slow or failing endpoint must not delay deliveries to healthy ones: its attempts queue on its
own semaphore, and once it has failed `failures` times in a row its breaker opens. While it is
open, deliveries to it are parked (held, not attempted, not rewritten) until the cool-down ends
and one probe is let through; the probe's outcome closes the breaker or opens it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from worker.contract.webhook_url import parse_webhook_url

log = structlog.get_logger(__name__)


def endpoint_key(url: str) -> str:
    """Endpoints are origins: deliveries to paths of one server share its capacity.

    Raises `InvalidWebhookUrl` for a URL the HTTP client cannot send to.
    """
    parsed = parse_webhook_url(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.scheme}://{parsed.host}:{port}"


class Permit(StrEnum):
    """Why the breaker let an attempt through."""

    CLOSED = "closed"  # the endpoint is healthy: attempt freely
    PROBE = "probe"  # the one attempt that tests an open breaker after its cool-down


@dataclass
class Breaker:
    failures_to_open: int
    cooldown_s: float
    consecutive_failures: int = 0
    open_until: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> Permit | None:
        """Closed: yes. Open: no, until the cool-down ends; then one probe at a time."""
        if self.consecutive_failures < self.failures_to_open:
            return Permit.CLOSED
        if now < self.open_until or self.probing:
            return None
        self.probing = True
        return Permit.PROBE

    def record(self, permit: Permit, healthy: bool | None, now: float) -> None:
        """The outcome of an attempt `allow` permitted; `healthy` None: it says nothing either way
        (a refused address, a 4xx), or the attempt never finished. A probe ends either way."""
        if permit is Permit.PROBE:
            self.probing = False
        if healthy is None:
            return
        if healthy:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.failures_to_open:
            self.open_until = now + self.cooldown_s

    def wait_s(self, now: float) -> float | None:
        """How long until `allow` may answer differently by itself; None: only an outcome can
        change it (a probe is in flight)."""
        return None if self.probing else max(0.0, self.open_until - now)


@dataclass
class Endpoint:
    key: str
    semaphore: asyncio.Semaphore
    breaker: Breaker
    # Set (and replaced) whenever an outcome is recorded: parked deliveries wait on it.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, permit: Permit, healthy: bool | None, now: float) -> None:
        was_open = self.breaker.consecutive_failures >= self.breaker.failures_to_open
        self.breaker.record(permit, healthy, now)
        is_open = self.breaker.consecutive_failures >= self.breaker.failures_to_open
        if is_open and not was_open:
            log.warning("circuit_opened", endpoint=self.key, cooldown_s=self.breaker.cooldown_s)
        elif was_open and not is_open:
            log.info("circuit_closed", endpoint=self.key)
        self.changed.set()
        self.changed = asyncio.Event()

    async def parked(self, seen: asyncio.Event, now: float, limit_s: float) -> None:
        """Wait while the breaker refuses: until an outcome is recorded after `seen` (the
        `changed` event read when the breaker refused), the cool-down ends, or `limit_s`
        passes, whichever is first. The caller asks `allow` again."""
        until_cooled = self.breaker.wait_s(now)
        timeout = limit_s if until_cooled is None else min(limit_s, until_cooled)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), timeout)


@dataclass
class Endpoints:
    concurrency: int
    failures_to_open: int
    cooldown_s: float
    _endpoints: dict[str, Endpoint] = field(default_factory=dict)
    # URLs that answered 410 Gone: later deliveries are dead-lettered without an attempt. Kept
    # in memory: a restarted notifier tries such a URL once more and disables it again.
    _disabled: set[str] = field(default_factory=set)

    def get(self, url: str) -> Endpoint:
        key = endpoint_key(url)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = Endpoint(
                key,
                asyncio.Semaphore(self.concurrency),
                Breaker(self.failures_to_open, self.cooldown_s),
            )
        return endpoint

    def disable(self, url: str) -> None:
        self._disabled.add(url)

    def disabled(self, url: str) -> bool:
        return url in self._disabled

    @staticmethod
    def now() -> float:
        return time.monotonic()

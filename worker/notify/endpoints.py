"""Per-endpoint isolation: a concurrency limit, a circuit breaker, and endpoints disabled by 410.

One slow or failing endpoint must not delay deliveries to healthy ones: its attempts queue on its
own semaphore, and once it has failed `failures` times in a row its breaker opens, so further
deliveries skip the attempt and are scheduled as retries at once instead of waiting on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


def endpoint_key(url: str) -> str:
    """Endpoints are origins: deliveries to paths of one server share its capacity."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.scheme}://{parsed.host}:{port}"


@dataclass
class Breaker:
    failures_to_open: int
    cooldown_s: float
    consecutive_failures: int = 0
    open_until: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """Closed: yes. Open: no, until the cool-down ends; then one probe at a time."""
        if self.consecutive_failures < self.failures_to_open:
            return True
        if now < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def record(self, success: bool, now: float) -> None:
        self.probing = False
        if success:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.failures_to_open:
            self.open_until = now + self.cooldown_s


@dataclass
class Endpoint:
    semaphore: asyncio.Semaphore
    breaker: Breaker


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

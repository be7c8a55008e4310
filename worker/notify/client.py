"""One delivery attempt: resolve and check the address, sign, POST, classify the answer.

| Answer                               | Outcome                                          |
|--------------------------------------|--------------------------------------------------|
| 2xx                                  | delivered                                        |
| 429, 5xx, timeout, connection error  | retry (honouring Retry-After, clamped)           |
| 410 Gone                             | disable the endpoint URL, dead-letter            |
| 3xx                                  | permanent failure: redirects are not followed    |
| other 4xx                            | permanent failure                                |
| address refused by the SSRF guard    | permanent failure with the reason, no connection |
| a URL the HTTP client cannot parse   | permanent failure (`invalid_url`), no connection |
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx
import structlog

from worker.contract.notification import Attempt, Delivery
from worker.contract.webhook_url import InvalidWebhookUrl, parse_webhook_url
from worker.errors import ConfigurationError
from worker.notify.endpoints import endpoint_key
from worker.notify.retry import parse_retry_after
from worker.notify.signing import check_signing_secret, sign
from worker.notify.ssrf import (
    AddressPolicy,
    Resolver,
    SsrfRefused,
    pin,
    resolve_safely,
    system_resolver,
)
from worker.secret_refs import resolve_secret
from worker.settings import Settings

log = structlog.get_logger(__name__)

USER_AGENT = "protect-worker-notifier/1"


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    attempt: Attempt
    retry_after_s: float | None = None


def classify(status_code: int) -> Verdict:
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.DISABLE
    if status_code == 429 or status_code >= 500:
        return Verdict.RETRY
    return Verdict.PERMANENT  # 3xx (not followed) and the other 4xx


class SecretBook:
    """Per-subscription secrets by reference: the longest configured URL prefix wins."""

    def __init__(self, refs: Mapping[str, str], default_ref: str | None) -> None:
        self._refs = sorted(refs.items(), key=lambda item: len(item[0]), reverse=True)
        self._default_ref = default_ref
        self._cache: dict[str, str] = {}
        self._warned: set[str] = set()

    def check(self) -> None:
        """Resolve and check every configured secret now, so that a missing variable, an
        unreadable file or a malformed secret stops the notifier at start, not at the first
        delivery to that endpoint. Errors name the setting and the reference, never a value."""
        named = [(f"PROTECT_WEBHOOK_SECRETS[{prefix!r}]", ref) for prefix, ref in self._refs]
        if self._default_ref is not None:
            named.append(("PROTECT_WEBHOOK_DEFAULT_SECRET", self._default_ref))
        for setting, ref in named:
            try:
                check_signing_secret(resolve_secret(ref))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{setting}: {exc}") from exc

    def secret_for(self, url: str) -> str | None:
        ref = next((r for prefix, r in self._refs if url.startswith(prefix)), self._default_ref)
        if ref is None:
            if url not in self._warned:
                self._warned.add(url)
                log.warning("webhook_unsigned", url=url, hint="configure PROTECT_WEBHOOK_SECRETS")
            return None
        secret = self._cache.get(ref)
        if secret is None:
            secret = self._cache[ref] = resolve_secret(ref)
        return secret


class WebhookClient:
    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._policy = AddressPolicy(settings.notify_allow_networks)
        self._resolver = resolver
        self._secrets = SecretBook(settings.webhook_secrets, settings.webhook_default_secret)
        self._secrets.check()
        self._transport = transport
        # One client per endpoint origin: requests go to the checked IP, and a shared pool keyed
        # by IP could reuse a TLS connection verified for another hostname on that address.
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client_for(self, url: str) -> httpx.AsyncClient:
        key = endpoint_key(url)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would connect elsewhere
                transport=self._transport,
                limits=httpx.Limits(max_connections=self._settings.notify_endpoint_concurrency),
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def attempt(self, delivery: Delivery) -> Outcome:
        started = time.perf_counter()
        at = time.time_ns()

        def outcome(
            verdict: Verdict, what: str, code: int | None = None, retry_after: float | None = None
        ) -> Outcome:
            attempt = Attempt(
                at=at, outcome=what, status_code=code, duration_s=time.perf_counter() - started
            )
            return Outcome(verdict, attempt, retry_after)

        try:
            # Subscriptions are checked where they enter; a record from an older version or
            # another producer may still carry a URL the client refuses.
            url = parse_webhook_url(delivery.url)
        except InvalidWebhookUrl:
            return outcome(Verdict.PERMANENT, "invalid_url")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            # The IDNA form: the name resolved is the name sent (Host, SNI).
            host = url.raw_host.decode("ascii")
            address = await resolve_safely(host, port, self._policy, self._resolver)
        except SsrfRefused as exc:
            return outcome(Verdict.PERMANENT, f"ssrf_refused:{exc.reason}")
        except OSError as exc:  # the name does not resolve (now): it may later
            return outcome(Verdict.RETRY, f"dns_error:{type(exc).__name__}")
        target, pinned_headers, extensions = pin(url, address)
        body = delivery.response.model_dump_json().encode()
        headers: dict[str, str] = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **pinned_headers,  # Host: the name the subscription asked for
        }
        secret = self._secrets.secret_for(delivery.url)
        if secret is not None:
            headers.update(sign(secret, delivery.id, int(time.time()), body))
        else:
            headers.update({"webhook-id": delivery.id, "webhook-timestamp": str(int(time.time()))})
        try:
            # Streamed and never read: a receiver's body cannot make us buffer anything.
            async with self._client_for(delivery.url).stream(
                "POST",
                target,
                content=body,
                headers=headers,
                extensions=extensions,
                timeout=self._settings.notify_attempt_timeout_s,
            ) as answer:
                code = answer.status_code
                retry_after = parse_retry_after(answer.headers.get("retry-after"))
        except httpx.TimeoutException:
            return outcome(Verdict.RETRY, "timeout")
        except httpx.HTTPError as exc:
            return outcome(Verdict.RETRY, f"connect_error:{type(exc).__name__}")
        verdict = classify(code)
        what = "delivered" if verdict is Verdict.DELIVERED else f"http_{code}"
        if verdict is Verdict.RETRY and retry_after is not None:
            retry_after = min(
                max(retry_after, self._settings.notify_retry_after_min_s),
                self._settings.notify_retry_after_max_s,
            )
        return outcome(verdict, what, code, retry_after if verdict is Verdict.RETRY else None)

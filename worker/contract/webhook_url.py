"""Webhook URLs, judged by the parser of the HTTP client that will POST to them.

A pattern cannot tell what the client accepts: `http://256.0.0.1/`, `http://host:port/` and
`http://☃.example/` (not valid IDNA) all look like URLs, and httpx refuses each when it is asked
to send. So a subscription's URL is parsed here, with httpx's own parser, where it enters (the
Subscription model, through which stages files, events and the registry are validated); the
notifier parses a delivery's URL with the same function before using it.

Records already written are read as they were written (validation context `AS_RECORDED`): a
Delivery's Response carries every subscription of its rulesets, and one written by an older
version must not be refused whole for a URL it does not deliver to. The notifier checks the one
URL it does deliver to, and dead-letters the delivery when that one is unusable.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import AfterValidator, ValidationInfo

WEBHOOK_SCHEMES = ("http", "https")
_MAX_PORT = 65_535


class InvalidWebhookUrl(ValueError):
    """A URL the notifier could not send to. A ValueError: pydantic reports it on the field."""


def parse_webhook_url(url: str) -> httpx.URL:
    """`url` parsed as the notifier's HTTP client parses it; `InvalidWebhookUrl` says why not.

    Messages quote at most the offending host or port (httpx's own words), never the whole URL:
    a URL may carry credentials in its userinfo or query.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidWebhookUrl(f"not a URL the HTTP client accepts: {exc}") from None
    if parsed.scheme not in WEBHOOK_SCHEMES:
        raise InvalidWebhookUrl(f"the scheme must be http or https, not {parsed.scheme!r}")
    if not parsed.raw_host:
        raise InvalidWebhookUrl("the URL has no host")
    if parsed.port is not None and not 0 < parsed.port <= _MAX_PORT:
        raise InvalidWebhookUrl(f"port {parsed.port} is out of range (1-{_MAX_PORT})")
    return parsed


# Validation context for reading records already written (see the module docstring).
AS_RECORDED: dict[str, Any] = {"webhook_urls": "as_recorded"}


def _sendable(url: str, info: ValidationInfo) -> str:
    if info.context is None or info.context.get("webhook_urls") != "as_recorded":
        parse_webhook_url(url)
    return url  # as written: secrets are matched by the prefix of the URL as configured


# Annotates a URL field that must be sendable.
Sendable = AfterValidator(_sendable)

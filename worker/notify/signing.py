"""Standard Webhooks signatures: signing deliveries and verifying them.

What is signed is the UTF-8 string `"{webhook-id}.{webhook-timestamp}.{body}"`, with HMAC-SHA256
keyed by the base64-decoded secret; `webhook-signature` is `v1,<base64 digest>`, several of them
space-separated while a secret is rotated. The HMAC is the `standardwebhooks` package's, so our
signatures are the reference implementation's by construction.

Secrets are never put in logs, reprs or exception messages: errors say what is wrong with a
secret (or which reference could not be resolved), never what it is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets as _random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import standardwebhooks.webhooks as _standard

from worker.errors import ConfigurationError, ProtectError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SECRET_PREFIX",
    "WebhookVerificationError",
    "check_signing_secret",
    "generate_secret",
    "sign",
    "sign_all",
    "verify",
]

SECRET_PREFIX = "whsec_"

# Standard Webhooks' replay window: wide enough for clock skew between sender and receiver, narrow
# enough that a captured request cannot be replayed later (receivers also dedupe on webhook-id).
DEFAULT_TOLERANCE_S = 300

# Standard Webhooks recommends keys of 24 to 64 bytes. We refuse to *sign* with less than the
# lower bound (a short key makes every signature we emit guessable); receivers verify with
# whatever non-empty key they were given, since it may come from another sender.
MIN_SIGNING_KEY_BYTES = 24

# generate_secret(): 256 bits, the HMAC-SHA256 block-size sweet spot, within the 24-64 byte range.
_GENERATED_KEY_BYTES = 32

_SIGNATURE_VERSION = "v1"

# A webhook-id travels in an HTTP header and is the receivers' idempotency key: visible ASCII
# without spaces keeps it header-safe and unambiguous in logs.
_MSG_ID = re.compile(r"[\x21-\x7e]+")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class WebhookVerificationError(_standard.WebhookVerificationError, ProtectError):
    """A delivery failed verification; `reason` is machine-readable, the message human-readable.

    Reasons: `missing_header`, `invalid_timestamp`, `timestamp_too_old`, `timestamp_too_new`,
    `no_matching_signature`, `invalid_body`. Subclasses the `standardwebhooks` exception so
    receivers already catching that one keep working.
    """

    retriable = False

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


def _key(secret: str, *, min_bytes: int = 1) -> _standard.Webhook:
    """The library's signer for `secret`, after checking it strictly.

    The library decodes leniently (it drops characters outside the base64 alphabet), so a hex key
    or a password would silently become a different key; strict decoding turns that into a
    configuration error instead of signatures no receiver can match.
    """
    if not isinstance(secret, str):
        raise ConfigurationError("a webhook secret must be a string (whsec_<base64>)")
    encoded = secret.removeprefix(SECRET_PREFIX).strip()
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "a webhook secret must be base64, optionally prefixed with whsec_"
        ) from None
    if len(raw) < max(1, min_bytes):
        raise ConfigurationError(
            f"a webhook secret must decode to at least {max(1, min_bytes)} bytes "
            f"(this one has {len(raw)}); generate one with generate_secret()"
        )
    return _standard.Webhook(raw)


def _body_text(body: bytes | str) -> str:
    # The library signs text; JSON is UTF-8 (RFC 8259), so a valid body round-trips exactly.
    if isinstance(body, str):
        return body
    return body.decode("utf-8")


def _v1_signature(webhook: _standard.Webhook, msg_id: str, timestamp: int, body: str) -> str:
    return webhook.sign(msg_id=msg_id, timestamp=datetime.fromtimestamp(timestamp, UTC), data=body)


def check_signing_secret(secret: str) -> None:
    """Refuse a secret we could not sign with (ConfigurationError saying why, never its value)."""
    _key(secret, min_bytes=MIN_SIGNING_KEY_BYTES)


def sign_all(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for one delivery, signed with every secret given.

    Several secrets give several space-separated signatures: during a rotation the receiver
    accepts the delivery with either its old or its new secret.
    """
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] of characters: almost certainly a mistake.
        raise TypeError("sign_all() takes a sequence of secrets; use sign() for one")
    if not secrets:
        raise ConfigurationError("at least one webhook secret is needed to sign")
    if not _MSG_ID.fullmatch(msg_id):
        raise ValueError("webhook-id must be non-empty visible ASCII without spaces")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("webhook-timestamp must be a non-negative integer (seconds)")
    try:
        text = _body_text(body)
    except UnicodeDecodeError:
        raise ValueError("a webhook body must be UTF-8 (JSON)") from None
    signatures = [
        _v1_signature(_key(secret, min_bytes=MIN_SIGNING_KEY_BYTES), msg_id, timestamp, text)
        for secret in secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for one delivery signed with one secret."""
    return sign_all([secret], msg_id, timestamp, body)


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> Any:
    """Check a delivery's signature and timestamp; return its parsed JSON body.

    Header names are case-insensitive. The body must be the raw bytes received (re-serialised
    JSON would not match). Raises `WebhookVerificationError` (with `.reason`) for a delivery
    that must be refused, and `ConfigurationError` when `secret` itself is unusable.
    """
    webhook = _key(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [
        name
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        if not lowered.get(name)
    ]
    if missing:
        raise WebhookVerificationError("missing_header", f"missing header(s): {', '.join(missing)}")
    msg_id = lowered["webhook-id"]
    raw_timestamp = lowered["webhook-timestamp"].strip()
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise WebhookVerificationError(
            "invalid_timestamp", "webhook-timestamp is not an integer number of seconds"
        )
    timestamp = int(raw_timestamp)
    now = int(time.time())
    if timestamp < now - tolerance_s:
        raise WebhookVerificationError(
            "timestamp_too_old",
            f"webhook-timestamp is {now - timestamp} s old (tolerance {tolerance_s} s)",
        )
    if timestamp > now + tolerance_s:
        raise WebhookVerificationError(
            "timestamp_too_new",
            f"webhook-timestamp is {timestamp - now} s in the future (tolerance {tolerance_s} s)",
        )
    try:
        text = _body_text(body)
    except UnicodeDecodeError:
        raise WebhookVerificationError("invalid_body", "body is not UTF-8") from None

    expected = _v1_signature(webhook, msg_id, timestamp, text)
    expected_digest = base64.b64decode(expected.partition(",")[2])
    matched = False
    for candidate in lowered["webhook-signature"].split():
        version, _, encoded = candidate.partition(",")
        if version != _SIGNATURE_VERSION:
            # Other schemes (e.g. v1a, asymmetric) may sit alongside; they are not ours to check.
            continue
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Every candidate is compared (no early exit), each in constant time.
        matched |= hmac.compare_digest(expected_digest, digest)
    if not matched:
        raise WebhookVerificationError(
            "no_matching_signature", "no v1 signature matches this secret"
        )
    try:
        return json.loads(text)
    except ValueError:
        raise WebhookVerificationError(
            "invalid_body", "signature valid but the body is not JSON"
        ) from None


def generate_secret() -> str:
    """A new random Standard Webhooks secret (`whsec_` + base64 of 32 random bytes)."""
    raw = _random.token_bytes(_GENERATED_KEY_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")

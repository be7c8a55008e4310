from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import standardwebhooks

import worker.notify
from worker.errors import ConfigurationError
from worker.notify.signing import (
    WebhookVerificationError,
    generate_secret,
    sign,
    sign_all,
    verify,
)

BODY = json.dumps({"status": "triggered", "trace_metadata": {"id": "t-1"}}).encode()
MSG_ID = "msg_2b9f3c"

Tamper = Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]


def now() -> int:
    return int(time.time())


@pytest.fixture
def secret() -> str:
    return generate_secret()


def test_round_trip_returns_the_parsed_body(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert verify(headers, BODY, secret) == json.loads(BODY)
    assert verify(headers, BODY.decode(), secret) == json.loads(BODY)


def test_verify_is_exported_by_the_package() -> None:
    assert worker.notify.verify is verify
    assert worker.notify.__all__ == ["verify"]


def test_header_names_are_case_insensitive(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), BODY)
    shouted = {name.upper(): value for name, value in headers.items()}
    mixed = {name.title(): value for name, value in headers.items()}
    assert verify(shouted, BODY, secret) == verify(mixed, BODY, secret)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace(b"triggered", b"not_triggered")), "no_matching_signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no_matching_signature"),
        (
            lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
            "no_matching_signature",
        ),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-signature": ""}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "12.5"}, b), "invalid_timestamp"),
        (lambda h, b: ({**h, "webhook-signature": "v1,not base64!"}, b), "no_matching_signature"),
        (lambda h, b: ({**h, "webhook-signature": "garbage"}, b), "no_matching_signature"),
        (
            lambda h, b: (
                {**h, "webhook-signature": h["webhook-signature"].replace("v1", "v2")},
                b,
            ),
            "no_matching_signature",
        ),
    ],
    ids=[
        "body",
        "id",
        "timestamp",
        "no-id",
        "empty-signature",
        "fractional-timestamp",
        "bad-base64",
        "no-version",
        "other-version",
    ],
)
def test_tampered_deliveries_fail(secret: str, tamper: Tamper, reason: str) -> None:
    headers, body = tamper(sign(secret, MSG_ID, now(), BODY), BODY)
    with pytest.raises(WebhookVerificationError) as caught:
        verify(headers, body, secret)
    assert caught.value.reason == reason


def test_a_wrong_secret_fails(secret: str) -> None:
    with pytest.raises(WebhookVerificationError, match="no v1 signature"):
        verify(sign(secret, MSG_ID, now(), BODY), BODY, generate_secret())


@pytest.mark.parametrize(
    ("offset_s", "reason"), [(-301, "timestamp_too_old"), (301, "timestamp_too_new")]
)
def test_timestamps_outside_the_tolerance_fail(secret: str, offset_s: int, reason: str) -> None:
    headers = sign(secret, MSG_ID, now() + offset_s, BODY)
    with pytest.raises(WebhookVerificationError) as caught:
        verify(headers, BODY, secret)
    assert caught.value.reason == reason
    # The same delivery is fine with a wider window: only the time was wrong.
    assert verify(headers, BODY, secret, tolerance_s=600) == json.loads(BODY)


@pytest.mark.parametrize("offset_s", [-290, 290])
def test_timestamps_inside_the_tolerance_pass(secret: str, offset_s: int) -> None:
    assert verify(sign(secret, MSG_ID, now() + offset_s, BODY), BODY, secret)


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign_all([old, new], MSG_ID, now(), BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    assert verify(headers, BODY, old) == verify(headers, BODY, new) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        verify(headers, BODY, generate_secret())


def test_unknown_signature_schemes_alongside_are_ignored(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), BODY)
    headers["webhook-signature"] = "v1a,c29tZXRoaW5n " + headers["webhook-signature"]
    assert verify(headers, BODY, secret)


def test_signature_equals_an_independent_hmac(secret: str) -> None:
    timestamp = 1_700_000_000
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{MSG_ID}.{timestamp}.".encode() + BODY, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert sign(secret, MSG_ID, timestamp, BODY)["webhook-signature"] == expected
    # The secret without its prefix is the same key.
    unprefixed = secret.removeprefix("whsec_")
    assert sign(unprefixed, MSG_ID, timestamp, BODY)["webhook-signature"] == expected


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The vector every Standard Webhooks library tests against (its README and test suites).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    body = b'{"test": 2432232314}'
    # Its key is exactly 24 bytes, the least our signer accepts.
    signed = sign(secret, msg_id, 1614265330, body)
    assert signed["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_reference_library_verifies_our_signature(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), BODY)
    assert standardwebhooks.Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_verification_errors_are_the_librarys_too(secret: str) -> None:
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        verify({}, BODY, secret)


def test_a_signed_body_that_is_not_json_is_refused(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), b"not json")
    with pytest.raises(WebhookVerificationError) as caught:
        verify(headers, b"not json", secret)
    assert caught.value.reason == "invalid_body"


def test_verification_errors_pickle() -> None:
    error = WebhookVerificationError("missing_header", "missing header(s): webhook-id")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, str(copy)) == (error.reason, str(error))


def test_generated_secrets_are_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32


@pytest.mark.parametrize(
    "bad_secret",
    [
        "whsec_" + "0123456789abcdef" * 4 + "!",  # outside the base64 alphabet
        "whsec_c2hvcnQ=",  # "short": a guessable key
        "whsec_",
        "hunter2-is-my-password",
    ],
)
def test_bad_secrets_are_refused_without_echoing_them(bad_secret: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        sign(bad_secret, MSG_ID, now(), BODY)
    message = str(caught.value)
    assert bad_secret.removeprefix("whsec_") not in message or bad_secret == "whsec_"
    # Nothing chained either: a traceback prints the context of an exception too.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_sign_refuses_bodies_and_ids_that_cannot_travel(secret: str) -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        sign(secret, MSG_ID, now(), b"\xff\xfe")
    with pytest.raises(ValueError, match="webhook-id"):
        sign(secret, "msg with spaces", now(), BODY)
    with pytest.raises(ValueError, match="webhook-id"):
        sign(secret, "msg\r\nX-Injected: 1", now(), BODY)
    with pytest.raises(ValueError, match="timestamp"):
        sign(secret, MSG_ID, -1, BODY)
    with pytest.raises(TypeError):
        sign_all(secret, MSG_ID, now(), BODY)
    with pytest.raises(ConfigurationError):
        sign_all([], MSG_ID, now(), BODY)


def test_verification_messages_never_contain_the_secret(secret: str) -> None:
    headers = sign(secret, MSG_ID, now(), BODY)
    encoded = secret.removeprefix("whsec_")
    failures = [
        ({}, BODY),
        ({**headers, "webhook-timestamp": "0"}, BODY),
        (headers, BODY + b" "),
    ]
    for failing_headers, body in failures:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(failing_headers, body, secret)
        assert encoded not in str(caught.value)
        assert encoded not in repr(caught.value)


# -- the example receiver ------------------------------------------------------------------------

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
STARTUP_TIMEOUT_S = 20


@pytest.fixture
def receiver(secret: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """examples/webhook_receiver.py on a free loopback port (it prints the port it got)."""
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--host", "127.0.0.1", "--port", "0", "--secret", secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=RECEIVER.parents[1],
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_S)
        assert ready, "the example receiver did not start"
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        yield first.split()[-1], process
    finally:
        process.terminate()
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_the_example_receiver_verifies_and_deduplicates(
    receiver: tuple[str, subprocess.Popen[str]], secret: str
) -> None:
    base_url, process = receiver
    trace_id = "0b6f1f5e-3d1c-4f6a-9a57-6a1f3c2b9d10"
    body = json.dumps(
        {
            "status": "triggered",
            "stage_metadata": {"stage_name": "input-guard"},
            "trace_metadata": {"id": trace_id},
        }
    ).encode()
    signed = {**sign(secret, MSG_ID, now(), body), "content-type": "application/json"}
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:
        assert client.post("/hooks", content=body, headers=signed).status_code == 204
        # A retry of the same delivery: acknowledged, not processed again.
        assert client.post("/hooks", content=body, headers=signed).status_code == 204
        unsigned = client.post("/hooks", content=body, headers={"content-type": "application/json"})
        assert unsigned.status_code == 401
        assert "missing header" in unsigned.text
        tampered = client.post(
            "/hooks", content=body.replace(b"triggered", b"paused"), headers=signed
        )
        assert tampered.status_code == 401
        wrong_secret = sign(generate_secret(), "msg_other", now(), body)
        assert client.post("/hooks", content=body, headers=wrong_secret).status_code == 401
    process.terminate()
    stdout, stderr = process.communicate(timeout=10)
    processed = f"{MSG_ID} status=triggered stage=input-guard trace={trace_id}"
    assert stdout.splitlines() == [processed, f"{MSG_ID} duplicate (already processed)"]
    assert stderr.count("refused: ") == 3
    assert secret.removeprefix("whsec_") not in stdout + stderr

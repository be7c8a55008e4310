"""Secrets scorers: every label on realistic examples, hard negatives, no network."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.evaluation import datasets_dir
from worker.metrics.evaluation.secrets import evaluate, synthetic_examples
from worker.metrics.secrets import (
    GENERIC_MIN_ENTROPY,
    SECRET_LABELS,
    InputSecrets,
    OutputSecrets,
    detect_secrets,
    shannon_entropy,
)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = (
    _b64url({"alg": "HS256", "typ": "JWT"})
    + "."
    + _b64url({"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("scorer", "name", "field"),
    [
        (InputSecrets(), "input_secrets", PayloadField.INPUT),
        (OutputSecrets(), "output_secrets", PayloadField.OUTPUT),
    ],
)
def test_scorer_declarations(scorer: Scorer, name: str, field: PayloadField) -> None:
    assert scorer.name == name
    assert scorer.reads == (field,)
    assert scorer.kind is ValueKind.LABELS
    assert scorer.execution is Execution.INLINE
    assert scorer.labels == SECRET_LABELS


def test_vocabulary_is_closed_and_sorted() -> None:
    assert list(SECRET_LABELS) == sorted(set(SECRET_LABELS))
    assert len(SECRET_LABELS) == 19


# One realistic example per label, as users paste them and answers quote them.
EXAMPLES: dict[str, str] = {
    "access_token": "curl -H 'Authorization: Bearer 8fK2mQ9xZ7pL4vN1cR6tY3wB' https://api.acme.io",
    "anthropic_key": "ANTHROPIC_API_KEY=sk-ant-api03-"
    "Xk2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kl2Mn4Pq7Rs9Tu1Vw3Xy5Za8Bc0De2Fg4Hi6Jk8Lm0No2Pq4Rs6Tu8Vw0Xy2Za4-AA",
    "aws_key": "my aws access key is AKIAIOSFODNN7EXAMPLE, region us-east-1",
    "connection_string": "use Server=tcp:prod.database.windows.net,1433;Database=billing;"
    "User ID=app;Password=Tr0ub4dor&3;Encrypt=True;",
    "generic_secret": 'settings.py has SECRET_KEY = "x7Kq2mZ9pL4vN1cR6tY3wB8d"',
    "github_token": "git clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/app",
    "gitlab_token": "CI uses glpat-Xk2Qp9Lm4Vn7Rt1Yw3Bz as the deploy token",
    "google_api_key": "maps key: AIzaSyD3k2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kq",
    "huggingface_token": "login with 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",
    "jwt": f"the session cookie is {JWT}",
    "npm_token": "//registry.npmjs.org/:_authToken=npm_Xk2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kl2Mnq",
    "openai_key": "OPENAI_API_KEY=sk-proj-Xk2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kl2Mn4Pq7Rs9Tu1Vw3Xy5Za8",
    "password_in_url": "DATABASE_URL=postgres://app_user:S3cure-Pa55@db.internal:5432/prod",
    "private_key": f"here's the deploy key:\n{PEM}",
    "pypi_token": "password = pypi-AgEIcHlwaS5vcmcCJDk2ZjQ4MzBiLWE0YzMtNDkxNy1hZGM0LTNmYjE0ZWY3"
    "AAIqWzMsImJmMzQ1ZDM0LWE2YzYtNDdlMC04NjFjLWE4ZDc4YjUzNzE5NCJdAAAGIBr0",
    "sendgrid_key": "SENDGRID_API_KEY=SG.Xk2Qp9Lm4Vn7Rt1Yw3Bz6C."
    "d8Fg0Hj5Kl2Mn4Pq7Rs9Tu1Vw3Xy5Za8Bc0De2Fg4Hi",
    "slack_token": "bot token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe_key": "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
    "twilio_key": "TWILIO_API_KEY=SK2b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e",
}


def test_every_label_has_an_example() -> None:
    assert set(EXAMPLES) == set(SECRET_LABELS)


@pytest.mark.parametrize(("label", "text"), sorted(EXAMPLES.items()))
def test_each_label(label: str, text: str) -> None:
    assert detect_secrets(text) == [label]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        (
            "https://hooks.slack.com/services/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",
            ["slack_token"],
        ),
        (
            "github_pat_11ABCDEFG0123456789abc_"
            "Xk2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kl2Mn4Pq7Rs9Tu1Vw3Xy5Za8Bc0De",
            ["github_token"],
        ),
        ("legacy 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", ["openai_key"]),
        ("rk_test_51Hx2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg", ["stripe_key"]),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ["aws_key"]),
        (
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
            "Xk2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kl2Mn4Pq7Rs9Tu1Vw3Xy5Za8Bc0De2Fg4Hi6Jk8Lm0No2Pq4Rs6==",
            ["connection_string"],
        ),
        ("my api key is Zq81kQpL0aTm9vR2sW4yB7nC", ["generic_secret"]),
        # A provider's format inside a generic assignment is that provider's key, once.
        ('api_key = "AIzaSyD3k2Qp9Lm4Vn7Rt1Yw3Bz6Cd8Fg0Hj5Kq"', ["google_api_key"]),
        (f"Authorization: Bearer {JWT}", ["jwt"]),
        # Two secrets, two labels.
        (
            "AKIAIOSFODNN7EXAMPLE and ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            ["aws_key", "github_token"],
        ),
        ("mysql://root:hunter2xyz@10.0.0.5/app", ["password_in_url"]),
    ],
)
def test_more_shapes(text: str, labels: list[str]) -> None:
    assert detect_secrets(text) == labels


@pytest.mark.parametrize(
    "text",
    [
        "request 123e4567-e89b-12d3-a456-426614174000 failed",  # UUID
        "fixed in 3f786850e387550fdab836ed7e6dc881de23001b",  # git SHA-1
        "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "md5 d41d8cd98f00b204e9800998ecf8427e",
        "<img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAA"
        "DUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='>",  # base64 image
        "How do I rotate my API key without downtime?",
        "The secret to a good risotto is patience.",
        "Never paste your private key into a chat window.",
        "the file starts with -----BEGIN RSA PRIVATE KEY----- and ends with END",  # no body
        "postgres://user:password@localhost:5432/mydb",  # documentation placeholder
        "mysql://root:<password>@db:3306/app",
        "redis://default:${REDIS_PASSWORD}@cache:6379",
        "https://example.com/path?q=1#frag",
        "ssh git@github.com:acme/app.git",
        'api_key = "YOUR_API_KEY"',
        "OPENAI_API_KEY=<your key here>",
        "secret = my_secret_password_here",  # low entropy, no digits
        "token = 1111111111111111111",
        "token: DefaultEndpointsProtocol",  # CamelCase word
        "Bearer authentication is described in RFC 6750",
        "eyJhbGciOi is how every JWT header starts",
        "sk-learn is not a key, sk_live_ is the prefix of Stripe's live keys",
        "the ticket number is AKIA1234 and the skus are SK-1234",
        "",
    ],
)
def test_negatives(text: str) -> None:
    assert detect_secrets(text) == []


def test_entropy_threshold_separates_words_from_keys() -> None:
    assert shannon_entropy("secretsecretsecret") < GENERIC_MIN_ENTROPY
    assert shannon_entropy("a" * 20) == 0.0
    assert shannon_entropy("x7Kq2mZ9pL4vN1cR6tY3wB8d") > GENERIC_MIN_ENTROPY
    assert shannon_entropy("") == 0.0


def test_batch_keeps_order() -> None:
    values = OutputSecrets().score_batch(
        [("nothing here",), (EXAMPLES["aws_key"],), ("",), (EXAMPLES["jwt"],)]
    )
    assert values == [[], ["aws_key"], [], ["jwt"]]


def test_invalid_jwt_is_not_a_jwt() -> None:
    # Three base64url parts whose header is not JSON.
    fake = "eyJub3QganNvbg.eyJzdWIiOiIxIn0.abc"
    assert detect_secrets(fake) == []


def test_long_hostile_input_stays_linear() -> None:
    # Backtracking engines take exponential time on near-misses like this; RE2 does not.
    text = ("api_key=" + "a" * 5000 + " ") * 20 + "-----BEGIN PRIVATE KEY-----" * 200
    assert detect_secrets(text) == []


def test_synthetic_set_is_deterministic_and_covers_every_label() -> None:
    first, negatives = synthetic_examples(per_label=3, per_negative=2)
    again, _ = synthetic_examples(per_label=3, per_negative=2)
    assert first == again
    assert {label for e in first for label in e.labels} == set(SECRET_LABELS)
    assert all(detect_secrets(e.text) == sorted(e.labels) for e in first)
    assert not any(detect_secrets(t) for texts in negatives.values() for t in texts)


def test_eval_rows() -> None:
    root = datasets_dir()
    if not (root / "benign_queries_clinc150").is_dir():
        pytest.skip("shared datasets not available")
    rows = evaluate(root, limit=100)
    assert [r.metric for r in rows[: len(SECRET_LABELS)]] == [
        f"input_secrets:{label}" for label in SECRET_LABELS
    ]
    assert all(r.f1 is not None and r.f1 >= 0.9 for r in rows[: len(SECRET_LABELS)])
    clean = rows[-1]
    assert clean.fpr is not None
    assert clean.fpr <= 0.01


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("secrets scoring tried to use the network")


def test_scoring_opens_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    assert InputSecrets().score_batch([(EXAMPLES["stripe_key"],)]) == [["stripe_key"]]


def test_module_is_not_the_standard_library() -> None:
    import secrets as stdlib_secrets

    assert Path(stdlib_secrets.__file__).parent.name != "metrics"

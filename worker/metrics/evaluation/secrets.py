"""Quality of `input_secrets` / `output_secrets`: synthetic credentials, and CLINC150.

There is no labelled public data set of leaked credentials in chat text (real ones must not be
published), so the positives here are SYNTHETIC: for every label, fake keys with the vendor's
documented shape (prefix, alphabet, length; JWTs with real JSON header and payload; PEM blocks
with random base64 bodies), random but seeded, placed in sentences people and models write
(a user pasting a config, an answer quoting a `.env` file, a log line). The hard negatives are
synthetic too: UUIDs, git SHAs, SHA-256 digests, base64 image data, URLs without passwords,
placeholder credentials from documentation, and prose that talks about keys and tokens.

What this measures. The generator and the detector encode the same format knowledge, so recall
here shows that every format is found inside realistic surroundings (quotes, `=`, JSON, line
breaks), not how often real leaks take these shapes. The false-positive rate on real text comes
from CLINC150's benign queries (its `test` split; nothing was tuned on it) and from the
synthetic hard negatives.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from worker.metrics.evaluation import (
    EvalRow,
    binary_scores,
    detection_row,
    false_positive_rate,
    read_jsonl,
)
from worker.metrics.secrets import SECRET_LABELS, detect_secrets

METRIC = "input_secrets"  # output_secrets is the same detector on the other field
CLEAN_DATASET = "benign_queries_clinc150"
CLEAN_FILE = "clinc150_queries.jsonl"
SEED = 20240601
# Positives per label and hard negatives per kind: enough for every template to appear
# several times, small enough to run in CI in well under a second.
PER_LABEL = 40
PER_NEGATIVE_KIND = 40

ALNUM = string.ascii_letters + string.digits
UPPER_NUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"


@dataclass(frozen=True)
class Example:
    text: str
    labels: frozenset[str]


def _s(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {
        "sub": str(rng.randrange(10**9)),
        "name": rng.choice(["Ada", "Lin", "Sam"]),
        "iat": 1_700_000_000 + rng.randrange(10**7),
    }
    return f"{_b64url(header)}.{_b64url(payload)}.{_s(rng, B64URL, 43)}"


def _pem(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
    body = "\n".join(_s(rng, B64, 64) for _ in range(rng.randint(3, 6)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def _password(rng: random.Random) -> str:
    return _s(rng, ALNUM, rng.randint(8, 14)) + rng.choice(["!", "#", "9", "%", "_"])


# label -> a maker of one fake credential of that shape.
MAKERS: dict[str, Callable[[random.Random], str]] = {
    "aws_key": lambda r: r.choice(["AKIA", "ASIA"]) + _s(r, string.ascii_uppercase + "234567", 16),
    "github_token": lambda r: (
        r.choice(["ghp_", "gho_", "ghs_"]) + _s(r, ALNUM, 36)
        if r.random() < 0.7
        else f"github_pat_{_s(r, ALNUM, 22)}_{_s(r, ALNUM, 59)}"
    ),
    "gitlab_token": lambda r: "glpat-" + _s(r, ALNUM + "-_", 20),
    "slack_token": lambda r: (
        f"xox{r.choice('bpa')}-{_s(r, string.digits, 12)}-{_s(r, string.digits, 13)}-"
        + _s(r, ALNUM, 24)
        if r.random() < 0.7
        else f"https://hooks.slack.com/services/T{_s(r, UPPER_NUM, 8)}/B{_s(r, UPPER_NUM, 10)}/"
        + _s(r, ALNUM, 24)
    ),
    "stripe_key": lambda r: (
        f"{r.choice(['sk', 'rk'])}_{r.choice(['live', 'test'])}_" + _s(r, ALNUM, r.choice([24, 99]))
    ),
    "google_api_key": lambda r: "AIza" + _s(r, ALNUM + "-_", 35),
    "openai_key": lambda r: (
        f"sk-proj-{_s(r, ALNUM + '-_', 156)}"
        if r.random() < 0.6
        else f"sk-{_s(r, ALNUM, 20)}T3BlbkFJ{_s(r, ALNUM, 20)}"
    ),
    "anthropic_key": lambda r: f"sk-ant-api03-{_s(r, ALNUM + '-_', 93)}AA",
    "huggingface_token": lambda r: "hf_" + _s(r, string.ascii_letters, 34),
    "npm_token": lambda r: "npm_" + _s(r, ALNUM, 36),
    "pypi_token": lambda r: "pypi-AgEIcHlwaS5vcmc" + _s(r, ALNUM + "-_", 70),
    "sendgrid_key": lambda r: f"SG.{_s(r, ALNUM + '-_', 22)}.{_s(r, ALNUM + '-_', 43)}",
    "twilio_key": lambda r: "SK" + _s(r, HEX, 32),
    "jwt": _jwt,
    "private_key": _pem,
    "password_in_url": lambda r: (
        f"{r.choice(['postgres', 'mysql', 'mongodb+srv', 'redis', 'amqp', 'https'])}://"
        f"{r.choice(['admin', 'app', 'svc_user', 'root'])}:{_password(r)}@"
        f"{r.choice(['db.internal', '10.0.3.7', 'cluster0.ab1cd.mongodb.net', 'mq.example.com'])}"
        f"{r.choice([':5432/app', '/prod', '', ':6379'])}"
    ),
    "connection_string": lambda r: (
        f"Server=tcp:{r.choice(['sql-prod', 'dbsrv01'])}.database.windows.net,1433;"
        f"Database={r.choice(['app', 'billing'])};User ID={r.choice(['sa', 'app'])};"
        f"Password={_password(r)};Encrypt=True;"
        if r.random() < 0.6
        else "DefaultEndpointsProtocol=https;AccountName="
        + _s(r, string.ascii_lowercase, 10)
        + ";AccountKey="
        + _s(r, B64, 86)
        + "==;EndpointSuffix=core.windows.net"
    ),
    "generic_secret": lambda r: _s(r, ALNUM, r.randint(24, 40)),
    "access_token": lambda r: _s(r, ALNUM + "-._~", r.randint(24, 48)),
}

# Sentences a credential turns up in; {v} is the credential. Generic shapes need their cue.
TEMPLATES: tuple[str, ...] = (
    "here is my key: {v}",
    "I'm getting a 401 with this one {v} — what am I doing wrong?",
    "export API_TOKEN={v}",
    'config = {{"key": "{v}", "region": "us-east-1"}}',
    "Sure! Put the credential in your .env file:\n\nKEY={v}\n\nthen restart the server.",
    "2024-05-01T12:00:03Z ERROR auth failed for credential {v} (attempt 3)",
    "can you check why `{v}` stopped working after the rotation",
)
CUED_TEMPLATES: dict[str, tuple[str, ...]] = {
    "generic_secret": (
        'api_key = "{v}"',
        "client_secret: {v}",
        "my api key is {v}",
        "SECRET_KEY={v}",
        '{{"access_key": "{v}"}}',
    ),
    "access_token": (
        "Authorization: Bearer {v}",
        "curl -H 'Authorization: Bearer {v}' https://api.example.com/v1/items",
        "use the bearer token {v} for now",
    ),
}


def _negatives(rng: random.Random) -> dict[str, Callable[[], str]]:
    def data_uri() -> str:
        return f"<img src='data:image/png;base64,{_s(rng, B64, 120)}=='>"

    return {
        "uuid": lambda: f"request id {_uuid(rng)} failed, retrying",
        "git_sha": lambda: f"fixed in commit {_s(rng, HEX, 40)} (see PR #{rng.randrange(9999)})",
        "sha256": lambda: f"sha256 checksum: {_s(rng, HEX, 64)}",
        "base64_image": data_uri,
        "url_without_password": lambda: (
            f"docs at https://{rng.choice(['example.com', 'pypi.org'])}"
            f"/project/{_s(rng, string.ascii_lowercase, 8)}?ref=readme#install"
        ),
        "placeholder_url": lambda: rng.choice(
            [
                "postgres://user:password@localhost:5432/mydb",
                "mysql://root:<password>@db:3306/app",
                "redis://default:${REDIS_PASSWORD}@cache:6379",
            ]
        ),
        "placeholder_assignment": lambda: rng.choice(
            [
                'api_key = "YOUR_API_KEY"',
                "OPENAI_API_KEY=<your key here>",
                "token: ${GITHUB_TOKEN}",
                "password = '********'",
            ]
        ),
        "prose": lambda: rng.choice(
            [
                "How do I rotate my API key without downtime?",
                "The secret to a good risotto is patience.",
                "Tokens are counted per request; the limit is 4096 tokens.",
                "Never paste your private key into a chat window.",
                "Use a password manager and turn on two-factor authentication.",
                "The JWT spec is RFC 7519; the header says which algorithm signed it.",
            ]
        ),
        "low_entropy_assignment": lambda: rng.choice(
            [
                "secret = my_secret_password_here",
                "api_key: abcdefghijklmnop",
                "token = 1111111111111111111",
            ]
        ),
        "version_and_ids": lambda: (
            f"build {rng.randint(1, 9)}.{rng.randint(0, 99)}."
            f"{rng.randint(0, 999)}-{_s(rng, HEX, 7)} order {_s(rng, string.digits, 12)}"
        ),
    }


def _uuid(rng: random.Random) -> str:
    h = _s(rng, HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def synthetic_examples(
    seed: int = SEED, per_label: int = PER_LABEL, per_negative: int = PER_NEGATIVE_KIND
) -> tuple[list[Example], dict[str, list[str]]]:
    """Labelled positives for every label, and hard negatives by kind."""
    rng = random.Random(seed)
    positives: list[Example] = []
    for label in SECRET_LABELS:
        templates = CUED_TEMPLATES.get(label, TEMPLATES)
        for i in range(per_label):
            template = templates[i % len(templates)]
            positives.append(Example(template.format(v=MAKERS[label](rng)), frozenset({label})))
    negatives = {
        kind: [make() for _ in range(per_negative)] for kind, make in _negatives(rng).items()
    }
    return positives, negatives


def evaluate(datasets: Path, limit: int | None = None) -> list[EvalRow]:
    per_label = PER_LABEL if limit is None else max(2, min(PER_LABEL, limit // 20))
    positives, negatives = synthetic_examples(per_label=per_label, per_negative=per_label)
    negative_texts = [t for texts in negatives.values() for t in texts]
    examples = positives + [Example(t, frozenset()) for t in negative_texts]
    predicted = [set(detect_secrets(e.text)) for e in examples]
    rows: list[EvalRow] = []
    dataset = f"synthetic secrets (seed {SEED}, generated in code)"
    for label in SECRET_LABELS:
        truth = [label in e.labels for e in examples]
        guess = [label in p for p in predicted]
        rows.append(
            detection_row(
                f"{METRIC}:{label}", dataset, truth, guess, note=f"{sum(truth)} synthetic positives"
            )
        )
    truth_any = [bool(e.labels) for e in examples]
    guess_exact = [
        p == set(e.labels) if e.labels else bool(p)
        for e, p in zip(examples, predicted, strict=True)
    ]
    precision, recall, f1 = binary_scores(truth_any, [bool(p) for p in predicted])
    wrong_label = sum(
        bool(e.labels) and not ok for e, ok in zip(examples, guess_exact, strict=True)
    )
    rows.append(
        EvalRow(
            metric=METRIC,
            dataset=dataset,
            n=len(examples),
            precision=precision,
            recall=recall,
            f1=f1,
            fpr=false_positive_rate([bool(detect_secrets(t)) for t in negative_texts]),
            note=f"any secret vs none; FPR on {len(negative_texts)} synthetic hard negatives "
            f"({', '.join(negatives)}); {wrong_label} positives with a wrong or extra label",
        )
    )
    clean = [
        row["text"]
        for row in read_jsonl(datasets / CLEAN_DATASET / CLEAN_FILE)
        if row["split"] == "test"
    ]
    if limit is not None:
        clean = clean[:limit]
    flagged = [t for t in clean if detect_secrets(t)]
    rows.append(
        EvalRow(
            metric=METRIC,
            dataset=f"{CLEAN_DATASET} (test)",
            n=len(clean),
            fpr=false_positive_rate([bool(detect_secrets(t)) for t in clean]),
            note=f"{len(flagged)} benign queries flagged",
        )
    )
    return rows


__all__ = ["MAKERS", "Example", "evaluate", "synthetic_examples"]

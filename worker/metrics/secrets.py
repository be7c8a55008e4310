"""Credentials in text (`input_secrets`, `output_secrets`): API keys, tokens, private keys and
passwords in connection strings.

The value is a sorted list of labels from `SECRET_LABELS`, empty when nothing was found, like
`input_pii`. A rule such as `output_secrets not_empty` stops an answer that leaks a key;
`input_secrets contains private_key` catches a user pasting one.

How. One RE2 pattern (linear time: a hostile payload cannot make it backtrack) holds every
provider's documented key format; each has a literal prefix or a fixed structure, so ordinary
prose, UUIDs, git SHAs and hashes do not match. A few shapes are then checked in Python: a JWT's
header and payload must decode to JSON objects, a private-key header must be followed by key
material, the password of a URL or connection string must not be a placeholder ("<password>",
"${DB_PASS}", "password"), and a value assigned to a secret-looking name (`api_key = "..."`,
`client_secret: ...`, `Authorization: Bearer ...`) must look random: at least
`GENERIC_MIN_LENGTH` characters, digits or a random-looking mix of cases, and
`GENERIC_MIN_ENTROPY` bits per character.

Why not a library. Yelp's detect-secrets (Apache-2.0, last release 1.5.0 in May 2024) was tried:
it scans source files line by line with Python `re`, keeps its plugin configuration in a global
settings object, imports `requests` for its optional verification calls to the vendors' APIs, and
lacks the newer formats (GitHub fine-grained tokens, OpenAI project keys, Anthropic and Google
keys). Its high-entropy plugins, run on chat text, flagged every word of every CLINC150 query
(their filters live in the file-scanning path), at 18 ms per 1,000 characters here. The formats
below follow the vendors' documentation and the public rule sets of detect-secrets and gitleaks.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import re2

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, PerItemScorer, ScorerInput, ValueKind

# The closed vocabulary, sorted. One label per provider whose keys have a recognizable format,
# plus the shapes that hold a credential whatever the provider.
SECRET_LABELS: tuple[str, ...] = (
    "access_token",  # an `Authorization: Bearer <token>` / "bearer token" value
    "anthropic_key",  # sk-ant-api03-..., sk-ant-admin01-...
    "aws_key",  # access key ids (AKIA/ASIA/...), secret access keys after an AWS cue
    "connection_string",  # Password=/Pwd= in ADO/JDBC/ODBC strings; Azure AccountKey=
    "generic_secret",  # a random-looking value assigned to api_key/secret/token/password
    "github_token",  # ghp_/gho_/ghu_/ghs_/ghr_, github_pat_
    "gitlab_token",  # glpat-
    "google_api_key",  # AIza...
    "huggingface_token",  # hf_...
    "jwt",  # header.payload.signature, header and payload JSON
    "npm_token",  # npm_...
    "openai_key",  # sk-proj-/sk-svcacct-/sk-admin-, legacy sk-...T3BlbkFJ...
    "password_in_url",  # scheme://user:password@host
    "private_key",  # -----BEGIN ... PRIVATE KEY----- with key material
    "pypi_token",  # pypi-AgEIcHlwaS5vcmc...
    "sendgrid_key",  # SG.xxx.yyy
    "slack_token",  # xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xoxe-, xapp-, incoming-webhook URLs
    "stripe_key",  # sk_live_/rk_live_/sk_test_/rk_test_
    "twilio_key",  # SK + 32 hex (API key SID)
)

# A generic value must be at least this long: shorter random strings are order numbers,
# short codes and one-time passwords more often than credentials.
GENERIC_MIN_LENGTH = 16
# Shannon entropy per character of a generic value. Random base62/base64 keys of 16-64
# characters measure 3.6-5.2 bits, hex keys ~3.6-4.0, repeated or English values ("aaaa...",
# "secretsecret") 1-3.3. Identifiers with many distinct letters ("my_secret_password_here",
# 3.56) pass it; the digits-or-mixed-case rule below stops those.
GENERIC_MIN_ENTROPY = 3.5
# A generic value without digits must mix cases like a random string: the rarer case at least
# this share of its letters (random base62 letters: ~50 %; CamelCase words: 5-15 %).
MIN_MINORITY_CASE = 0.25
# Key material after a PEM header: a real key's first line alone is 64 base64 characters.
PEM_MIN_BODY = 64

_END = r"(?:$|[^A-Za-z0-9_\-])"
_START = r"(?:^|[^A-Za-z0-9_\-])"

# (label, pattern with one group named after the rule). Order matters only for readability:
# overlaps are resolved after matching (a specific format beats a generic shape).
_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "aws_id",
        "aws_key",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}",
    ),
    (
        "aws_secret",
        "aws_key",
        r"(?i:aws)[A-Za-z0-9_ .\-]{0,20}(?i:secret)[A-Za-z0-9_ .\-]{0,20}[\"']?[ \t]*[:=][ \t]*"
        r"[\"']?[A-Za-z0-9/+]{40}",
    ),
    (
        "github",
        "github_token",
        r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})",
    ),
    ("gitlab", "gitlab_token", r"glpat-[A-Za-z0-9_\-]{20,}"),
    (
        "slack",
        "slack_token",
        r"(?:xox[baprse]-[A-Za-z0-9\-]{10,250}|xapp-\d-[A-Z0-9]{9,}-\d{10,}-[a-f0-9]{32,}|"
        r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/"
        r"[A-Za-z0-9]{20,})",
    ),
    ("stripe", "stripe_key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,247}"),
    ("google", "google_api_key", r"AIza[A-Za-z0-9_\-]{35}"),
    ("anthropic", "anthropic_key", r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{32,}"),
    (
        "openai",
        "openai_key",
        r"(?:sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|sk-[A-Za-z0-9]{20}T3BlbkFJ"
        r"[A-Za-z0-9]{20}|sk-[A-Za-z0-9]{48})",
    ),
    ("huggingface", "huggingface_token", r"hf_[A-Za-z]{34}"),
    ("npm", "npm_token", r"npm_[A-Za-z0-9]{36}"),
    ("pypi", "pypi_token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
    ("sendgrid", "sendgrid_key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("twilio", "twilio_key", r"SK[0-9a-fA-F]{32}"),
    (
        "jwt",
        "jwt",
        r"eyJ[A-Za-z0-9_\-]{8,}={0,2}\.eyJ[A-Za-z0-9_\-]{2,}={0,2}\.[A-Za-z0-9_\-]*={0,2}",
    ),
    (
        "pem",
        "private_key",
        r"-----BEGIN[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----"
        r"[\r\n \t]*[A-Za-z0-9+/=:\-,\r\n \t]{0,400}",
    ),
    (
        "url_password",
        "password_in_url",
        r"[A-Za-z][A-Za-z0-9+.\-]{1,30}://[^\s:/@\"'<>]{1,128}:(?P<url_pw>[^\s@/\"'<>]{1,256})@"
        r"[A-Za-z0-9\[][A-Za-z0-9.\-:\[\]]*",
    ),
    (
        "conn",
        "connection_string",
        r"(?i:(?:server|data source|host|address|addr|uid|user id|userid|database|"
        r"initial catalog|dsn|driver|provider)[ \t]*=[^;\n]{1,200};(?:[^;\n]*;){0,10}?"
        r"[ \t]*(?:password|pwd)[ \t]*=[ \t]*)(?P<conn_pw>[^;\s\"']{1,256})",
    ),
    (
        "azure_key",
        "connection_string",
        r"(?i:accountkey|sharedaccesskey)=[A-Za-z0-9+/]{40,}={0,2}",
    ),
    (
        "bearer",
        "access_token",
        r"(?i:bearer)(?:[ \t]+(?i:token))?[ \t]*[:=]?[ \t]+(?P<bearer>[A-Za-z0-9\-._~+/]{16,}=*)",
    ),
    (
        "assignment",
        "generic_secret",
        r"(?i:[a-z0-9_.\-]*(?:api[_\-. ]?key|apikey|secret|token|passwd|password|pwd|"
        r"access[_\-. ]?key|private[_\-. ]?key|auth[_\-]?key|credentials?)[a-z0-9_.\-]*)"
        r"[\"'`]?[ \t]*(?::=|=>|[:=]|[ \t](?i:is)[ \t])[ \t]*[\"'`]?"
        r"(?P<assigned>[A-Za-z0-9\-_.+/=~!@#$%^&*]{12,256})",
    ),
)

_LABEL_OF = {rule: label for rule, label, _ in _RULES}


def _compile() -> Any:
    options = re2.Options()
    options.log_errors = False
    body = "|".join(f"(?P<{rule}>{pattern})" for rule, _, pattern in _RULES)
    return re2.compile(_START + "(" + body + ")" + _END, options)


_PATTERN = _compile()
# The python binding takes group numbers only for spans.
_GROUP = {rule: int(_PATTERN.groupindex[rule]) for rule, _, _ in _RULES}

# Placeholder passwords and values in documentation and templates.
_PLACEHOLDERS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "your_password",
        "yourpassword",
        "mypassword",
        "changeme",
        "example",
        "token",
        "your_token",
        "your_api_key",
        "apikey",
        "api_key",
        "null",
        "none",
        "undefined",
    }
)


@dataclass(frozen=True)
class SecretSpan:
    label: str
    start: int
    end: int


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s character distribution."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _is_placeholder(value: str) -> bool:
    v = value.strip("\"'`")
    lowered = v.lower()
    if lowered in _PLACEHOLDERS or not v:
        return True
    if v[0] in "<{[%$" or v.startswith("${") or v.endswith((">", "}", "]")):
        return True  # <password>, {password}, ${DB_PASS}, %s, [redacted]
    return len(set(v)) <= 2  # ****, xxxx, ....


def _looks_random(value: str) -> bool:
    if len(value) < GENERIC_MIN_LENGTH or _is_placeholder(value):
        return False
    # Digits, or both cases in random proportions: "my_secret_password_here", "1111..." and
    # CamelCase words ("DefaultEndpointsProtocol", 3 capitals in 24) are not keys,
    # "npnCJUqJWryQlRAdysnCaamBFE" may be.
    letters = [c for c in value if c.isalpha()]
    if not letters:
        return False
    if not any(c.isdigit() for c in value):
        upper = sum(c.isupper() for c in letters)
        if min(upper, len(letters) - upper) < MIN_MINORITY_CASE * len(letters):
            return False
    return shannon_entropy(value) >= GENERIC_MIN_ENTROPY


def _b64url_json_object(part: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return isinstance(json.loads(raw), dict)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False


def _valid(rule: str, match: Any) -> bool:
    if rule == "jwt":
        header, payload = match.group(rule).split(".")[:2]
        return _b64url_json_object(header.rstrip("=")) and _b64url_json_object(payload.rstrip("="))
    if rule == "pem":
        # The material up to the END line (or the next header): "-----BEGIN ... KEY-----"
        # repeated, or quoted in prose, has none.
        body: str = match.group(rule).split("-----", 2)[2].split("-----", 1)[0]
        return sum(c.isalnum() or c in "+/=" for c in body) >= PEM_MIN_BODY
    if rule == "url_password":
        return not _is_placeholder(match.group("url_pw"))
    if rule == "conn":
        return not _is_placeholder(match.group("conn_pw"))
    if rule == "bearer":
        return _looks_random(match.group("bearer"))
    if rule == "assignment":
        return _looks_random(match.group("assigned"))
    return True


# Shapes that say only "a credential is here"; a provider's own format in the same place is
# the better reading ("api_key = sk-proj-..." is an OpenAI key, "Bearer eyJ..." a JWT).
_GENERIC_LABELS = frozenset({"generic_secret", "access_token"})


def find_secrets(text: str) -> list[SecretSpan]:
    """Every credential in `text`, one reading per span."""
    found: list[SecretSpan] = []
    position = 0
    # RE2's finditer consumes the character before a match (the word edge); searching again
    # from inside the previous match finds a key that directly follows an assignment.
    while position < len(text):
        match = _PATTERN.search(text, position)
        if match is None:
            break
        rule = next(r for r, _, _ in _RULES if match.group(r) is not None)
        start, end = match.span(_GROUP[rule])
        if _valid(rule, match):
            found.append(SecretSpan(_LABEL_OF[rule], int(start), int(end)))
        # Resume inside the match: a generic assignment may hold a provider's key.
        position = int(start) + 1 if _LABEL_OF[rule] in _GENERIC_LABELS else int(end)
    specific = [s for s in found if s.label not in _GENERIC_LABELS]
    return specific + [
        s
        for s in found
        if s.label in _GENERIC_LABELS
        and not any(s.start < o.end and o.start < s.end for o in specific)
    ]


def detect_secrets(text: str) -> list[str]:
    """The distinct labels found in `text`, sorted."""
    return sorted({s.label for s in find_secrets(text)})


class _SecretsScorer(PerItemScorer):
    kind = ValueKind.LABELS
    labels = SECRET_LABELS
    # One RE2 pass: ~10 µs for a chat message, ~50 µs per 1,000 characters (measured), so it
    # runs on the event loop without a thread hop.
    execution = Execution.INLINE

    def score_one(self, item: ScorerInput) -> MetricValue:
        return detect_secrets(item[0])


class InputSecrets(_SecretsScorer):
    name = "input_secrets"
    reads = (PayloadField.INPUT,)


class OutputSecrets(_SecretsScorer):
    name = "output_secrets"
    reads = (PayloadField.OUTPUT,)


__all__ = [
    "GENERIC_MIN_ENTROPY",
    "GENERIC_MIN_LENGTH",
    "SECRET_LABELS",
    "InputSecrets",
    "OutputSecrets",
    "SecretSpan",
    "detect_secrets",
    "find_secrets",
    "shannon_entropy",
]

"""The realistic evaluation corpus (`evals/`) and our own written training examples
(`training-data/`): row models, locations and the fixed validation/test halves.

`evals/` holds texts written for evaluation only, one JSONL file per metric family, imitating what
users send to chatbots and what LLMs answer (see evals/README.md for the labelling conventions).
A fixed hash of each row's key splits a file into a *validation* half (thresholds, calibration,
model choice) and a *test* half (reported by `protect eval`, never tuned on). Rows of the RAG
families are split by their context (`pair`), so both answers to one context fall in one half.

`training-data/` holds examples we wrote for training, in the same registers and with the same
fields, kept apart from the evaluation corpus (tests/metrics/test_corpus.py checks that no text is
shared).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker.metrics.evaluation import read_jsonl

Half = Literal["validation", "test"]

CORPUS_ENV: Final = "PROTECT_EVALS_DIR"
TRAINING_ENV: Final = "PROTECT_TRAINING_DATA_DIR"
_REPO: Final = Path(__file__).resolve().parents[3]
DEFAULT_CORPUS: Final = _REPO / "evals"
DEFAULT_TRAINING: Final = _REPO / "training-data"
# Changing the seed would move rows between the halves and silently turn tuned-on rows into
# reported ones: it is fixed for the life of the corpus.
HALF_SEED: Final = "protect-evals-halves-v1"

PII_LABELS: Final = (
    "account_info",
    "address",
    "credit_card_info",
    "date_of_birth",
    "email",
    "name",
    "network_info",
    "password",
    "phone_number",
    "ssn",
    "username",
)
INJECTION_TYPES: Final = (
    "simple_instruction",
    "few_shot",
    "new_context",
    "impersonation",
    "obfuscation",
)
TONES: Final = (
    "anger",
    "annoyance",
    "confusion",
    "fear",
    "joy",
    "love",
    "sadness",
    "surprise",
    "neutral",
)
Register = Literal[
    "chat",
    "email",
    "ticket",
    "transcript",
    "log",
    "code",
    "config",
    "form",
    "sms",
    "assistant_reply",
    "rag_answer",
    "notes",
    "review",
    "forum",
    "document",
    "other",
]
LangCode = Field(pattern=r"^[a-z]{2}$")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    # `register` would shadow ABCMeta.register on the model class.
    register_: Register = Field(alias="register")
    trap: str | None = None
    lang: str = LangCode


class Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal[PII_LABELS]  # type: ignore[valid-type]
    text: str = Field(min_length=1)


class PiiRow(_Row):
    text: str
    entities: list[Entity]
    labels: list[Literal[PII_LABELS]]  # type: ignore[valid-type]


class InjectionRow(_Row):
    text: str
    label: Literal["injection", "benign"]
    types: list[Literal[INJECTION_TYPES]]  # type: ignore[valid-type]


class BinaryRow(_Row):
    """toxicity and sexism: 1 positive, 0 not; `field` says whose words they are."""

    text: str
    label: Literal[0, 1]
    field: Literal["input", "output"]


class ToneRow(_Row):
    text: str
    tone: Literal[TONES]  # type: ignore[valid-type]
    field: Literal["input", "output"]


class LanguageRow(_Row):
    text: str
    words: int = Field(ge=0)
    code_mixed: bool
    near: str | None = None


class PairRow(_Row):
    """context_adherence (1 grounded) and completeness (1 complete): one answer to a context."""

    pair: str
    context: str
    question: str
    answer: str
    label: Literal[0, 1]
    kind: str


# family -> (row model, the field whose hash picks the half)
FAMILIES: Final[dict[str, tuple[type[_Row], str]]] = {
    "pii": (PiiRow, "id"),
    "prompt_injection": (InjectionRow, "id"),
    "toxicity": (BinaryRow, "id"),
    "sexism": (BinaryRow, "id"),
    "tone": (ToneRow, "id"),
    "language": (LanguageRow, "id"),
    "context_adherence": (PairRow, "pair"),
    "completeness": (PairRow, "pair"),
}


def corpus_dir(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get(CORPUS_ENV) or DEFAULT_CORPUS)


def training_dir(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get(TRAINING_ENV) or DEFAULT_TRAINING)


def half_of(key: str, seed: str = HALF_SEED) -> Half:
    """The half of one row, from a hash of its key (its id, or its context's `pair` id)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return "validation" if digest[0] & 1 == 0 else "test"


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (set {CORPUS_ENV} / {TRAINING_ENV}?)")
    yield from read_jsonl(path)


def corpus_rows(
    family: str, half: Half | None = None, corpus: str | Path | None = None
) -> list[Any]:
    """The evaluation rows of a family, validated, optionally one half only."""
    model, key = FAMILIES[family]
    rows = [model.model_validate(d) for d in _documents(corpus_dir(corpus) / f"{family}.jsonl")]
    if half is None:
        return rows
    return [row for row in rows if half_of(getattr(row, key)) == half]


def training_rows(family: str, training: str | Path | None = None) -> list[Any]:
    """Our written training examples of a family (empty when the file does not exist)."""
    model, _ = FAMILIES[family]
    path = training_dir(training) / f"{family}.jsonl"
    if not path.is_file():
        return []
    return [model.model_validate(d) for d in read_jsonl(path)]


def text_of(row: Any) -> str:
    """A row's text: the answer for the RAG families."""
    return str(row.answer if isinstance(row, PairRow) else row.text)

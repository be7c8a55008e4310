"""Custom keyword and regex metrics declared in configuration.

    metrics:
      - name: competitors
        type: keywords
        reads: output
        labels: {acme: [acme corp, acme inc], globex: [globex]}
      - name: secrets
        type: regex
        labels: {aws_key: ['AKIA[0-9A-Z]{16}'], private_key: ['-----BEGIN [A-Z ]*PRIVATE KEY']}

Each declaration becomes a scorer of kind LABELS: its vocabulary is the declared labels and its
value lists the labels whose keywords or patterns occur in the text, in declaration order.

Matching uses RE2 for both kinds. RE2 runs in time linear in the text, so no pattern a user
writes can backtrack catastrophically on a hostile payload; in exchange it has no backreferences
or lookaround, and its `\\w`, `\\d` and `\\b` are ASCII-only (use `\\p{L}` for letters). Keywords
are literal text: whitespace inside a keyword matches any run of whitespace ("acme corp" finds
"Acme\\n Corp"), and with `whole_word` a keyword must not touch a letter, digit or underscore of
any script on either side ("cat" is not found in "concatenate" or "cats").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from worker.contract.rules import MetricValue
from worker.errors import MetricConfigError
from worker.metrics.base import (
    Execution,
    PayloadField,
    PerItemScorer,
    Scorer,
    ScorerInput,
    ValueKind,
)

MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]

# RE2's `\b` and `\w` are ASCII-only, so word boundaries are spelled with Unicode classes:
# letters, digits, combining marks (decomposed accents belong to their letter) and underscore.
_WORD_CLASS = r"\p{L}\p{N}\p{M}_"
_BEFORE_WORD = rf"(?:\A|[^{_WORD_CLASS}])"
_AFTER_WORD = rf"(?:[^{_WORD_CLASS}]|\z)"
# Whitespace of any script between the words of a keyword.
_SPACE_RUN = r"[\s\p{Z}]+"


class CustomMetricSpec(BaseModel):
    """One custom metric as declared in a stages file's `metrics` list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: MetricName = Field(description="Metric name used by rules, e.g. `banned_topics`.")
    type: Literal["keywords", "regex"]
    # The user's text or the model's: the derived RAG fields are for the RAG metrics.
    reads: Literal[PayloadField.INPUT, PayloadField.OUTPUT] = Field(
        default=PayloadField.INPUT, description="Payload field the metric reads."
    )
    labels: Annotated[
        dict[NonEmptyStr, Annotated[list[NonEmptyStr], Field(min_length=1)]],
        Field(min_length=1),
    ] = Field(description="Label → keywords (type keywords) or RE2 patterns (type regex).")
    case_sensitive: bool = False
    whole_word: bool = Field(
        default=True, description="Keywords only: match whole words, not inside other words."
    )

    @model_validator(mode="after")
    def _check_kind_options(self) -> CustomMetricSpec:
        if self.type == "regex" and "whole_word" in self.model_fields_set:
            raise ValueError(
                "whole_word applies to keywords only; write word boundaries into the pattern"
            )
        if self.type == "keywords":
            for label, keywords in self.labels.items():
                for i, keyword in enumerate(keywords):
                    if not keyword.strip():
                        raise ValueError(f"labels.{label}[{i}]: a keyword cannot be blank")
        return self


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    # RE2 otherwise prints parse errors to stderr; we report them as MetricConfigError.
    options.log_errors = False
    options.case_sensitive = case_sensitive
    # Only "does it match" matters: no capture bookkeeping, and patterns ORed into one label's
    # alternation may reuse group names.
    options.never_capture = True
    return options


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        return detail.decode("utf-8", errors="replace")
    return str(detail)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


def _keyword_regex(keyword: str, whole_word: bool) -> str:
    body = _SPACE_RUN.join(re2.escape(part) for part in keyword.split())
    if not whole_word:
        return body
    # A boundary only where the keyword's own edge is a word character: "c++" must be found in
    # "c++ rocks", where nothing word-like follows the "+".
    before = _BEFORE_WORD if _is_word_char(keyword.strip()[0]) else ""
    after = _AFTER_WORD if _is_word_char(keyword.strip()[-1]) else ""
    return f"{before}{body}{after}"


class CustomScorer(PerItemScorer):
    """Labels whose keywords or patterns occur in the text; one compiled RE2 program per label."""

    kind = ValueKind.LABELS
    execution = Execution.INLINE

    def __init__(self, spec: CustomMetricSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.reads = (spec.reads,)
        self.labels = tuple(spec.labels)
        options = _options(spec.case_sensitive)
        self._matchers: list[tuple[str, Any]] = [
            (label, self._compile_label(label, items, options))
            for label, items in spec.labels.items()
        ]

    def _compile_label(self, label: str, items: list[str], options: Any) -> Any:
        where = f"metrics[{self.name}].labels.{label}"
        if self.spec.type == "regex":
            # Each pattern alone first, so an error names the one at fault.
            for i, pattern in enumerate(items):
                try:
                    re2.compile(pattern, options)
                except re2.error as exc:
                    raise MetricConfigError(
                        f"{where}[{i}]: RE2 cannot compile {pattern!r}: {_reason(exc)} "
                        "(RE2 has no backreferences or lookaround)"
                    ) from exc
            alternatives = [f"(?:{pattern})" for pattern in items]
        else:
            alternatives = [_keyword_regex(k, self.spec.whole_word) for k in items]
        try:
            return re2.compile("|".join(alternatives), options)
        except re2.error as exc:
            # Each part compiled alone, so this is RE2's memory budget (max_mem) being exceeded.
            raise MetricConfigError(
                f"{where}: RE2 cannot compile the label's combined {self.spec.type}: "
                f"{_reason(exc)}; split the label"
            ) from exc

    def match(self, text: str) -> list[str]:
        """The labels found in `text`, in declaration order."""
        return [label for label, program in self._matchers if program.search(text) is not None]

    def score_one(self, item: ScorerInput) -> MetricValue:
        return self.match(item[0])


def build_custom_scorers(specs: Iterable[CustomMetricSpec]) -> list[Scorer]:
    """One scorer per declaration; raises MetricConfigError for a bad pattern or a repeated name."""
    scorers: list[Scorer] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise MetricConfigError(f"metrics[{spec.name}]: custom metric declared twice")
        seen.add(spec.name)
        scorers.append(CustomScorer(spec))
    return scorers


__all__ = ["CustomMetricSpec", "CustomScorer", "build_custom_scorers"]

"""`context_adherence` and `completeness`: is the answer grounded in the context, and does it
cover what the context offers for the question.

No NLI or cross-encoder model with weights and a clear licence ships on PyPI, so these are built
honestly from what can be measured offline (see docs/metrics.md for how well that works):

- context_adherence: a logistic-regression head over lexical support features: the share of the
  answer's content words found in the context (and the question), the answer's words found in
  neither, and the numbers, entities and quotations of the answer that the context does not
  contain (claim extraction by `grounded-check`). Trained on HaluEval QA (`protect train
  context_adherence`); score 0 to 1, low = not grounded. It catches fabricated names, numbers and
  facts; it cannot catch a wrong answer assembled from words of the context.
- completeness: the share of the context's content that is relevant to the question (the
  sentences sharing content words with it) which the answer covers. A heuristic: there is no
  labelled completeness data here to train or measure on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from grounded import Kind, Source, extract, normalise, verify

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind

MODEL_CARD = Path(__file__).parent / "models" / "context_adherence.card.json"
FEATURES = (
    "support",
    "support_with_question",
    "claims_not_found",
    "novel_words",
    "any_claim_not_found",
)
# Novel (unsupported) words beyond this many add nothing: the signal is "some", not "how many",
# and a cap keeps long answers from being judged by length.
NOVEL_WORDS_CAP = 5
# Completeness looks at the context sentences that share at least this many content words with
# the question: one shared word (often the topic) already marks a sentence as relevant.
MIN_SHARED_WORDS = 1

_WORD = re.compile(r"[\w']+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAIMS = {Kind.NUMBER, Kind.ENTITY, Kind.QUOTE}


@cache
def _stop_words() -> frozenset[str]:
    # spaCy's English list (spaCy is already installed for Presidio); no model is loaded.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def content_words(text: str) -> list[str]:
    stop = _stop_words()
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in stop]


def support_features(context: str, question: str, answer: str) -> list[float]:
    """The head's inputs, in FEATURES order."""
    words = content_words(answer)
    in_context = set(content_words(context))
    in_question = set(content_words(question))
    supported = sum(w in in_context for w in words)
    supported_or_asked = sum(w in in_context or w in in_question for w in words)
    novel = sum(w not in in_context and w not in in_question for w in words)
    source = Source(Path("context"), context, normalise(context))
    findings = verify(extract(answer, kinds=_CLAIMS), [source]).findings
    not_found = sum(f.verdict.value != "grounded" for f in findings)
    n = max(1, len(words))
    return [
        supported / n,
        supported_or_asked / n,
        not_found / max(1, len(findings)),
        min(novel, NOVEL_WORDS_CAP) / NOVEL_WORDS_CAP,
        1.0 if not_found else 0.0,
    ]


@cache
def _head() -> tuple[list[float], float]:
    card: dict[str, Any] = json.loads(MODEL_CARD.read_text("utf-8"))
    if tuple(card["features"]) != FEATURES:
        raise RuntimeError(f"{MODEL_CARD.name} was trained on other features: retrain it")
    return [float(w) for w in card["weights"]], float(card["bias"])


def adherence(context: str, question: str, answer: str) -> float:
    """Probability-like score that the answer is grounded in the context (1 = grounded)."""
    weights, bias = _head()
    z = bias + sum(
        w * x for w, x in zip(weights, support_features(context, question, answer), strict=True)
    )
    hallucinated = 1.0 / (1.0 + math.exp(-z))
    return 1.0 - hallucinated


def completeness(context: str, question: str, answer: str) -> float:
    asked = set(content_words(question))
    relevant: set[str] = set()
    for sentence in _SENTENCE.split(context):
        words = set(content_words(sentence))
        if len(words & asked) >= MIN_SHARED_WORDS:
            relevant |= words - asked  # what the context adds beyond restating the question
    if not relevant:
        return 1.0  # nothing in the context bears on the question: nothing left out
    covered = set(content_words(answer))
    return len(relevant & covered) / len(relevant)


class ContextAdherence(Scorer):
    name = "context_adherence"
    reads = (PayloadField.CONTEXT, PayloadField.QUESTION, PayloadField.OUTPUT)
    kind = ValueKind.SCORE
    # ~0.1 ms for a short answer, more for long contexts: off the event loop.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [round(adherence(c, q, a), 4) for c, q, a in items]

    def warm_up(self) -> None:
        _head()
        _stop_words()


class Completeness(Scorer):
    name = "completeness"
    reads = (PayloadField.CONTEXT, PayloadField.QUESTION, PayloadField.OUTPUT)
    kind = ValueKind.SCORE
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [round(completeness(c, q, a), 4) for c, q, a in items]

    def warm_up(self) -> None:
        _stop_words()

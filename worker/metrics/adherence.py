"""`context_adherence` and `completeness`: is the answer grounded in the context, and does it
cover what the question asks of the context.

No NLI or cross-encoder model with weights and a clear licence ships on PyPI, so both are built
from what can be measured offline and fast (the default stack scores both on every event), by
claim-level lexical alignment (`claims.py`):

- context_adherence: the answer is split into claims (sentences, clauses); each claim is aligned
  to the context sentences that could support it (IDF-weighted shared words, BM25-like); its
  numbers and names are checked against the context at the position whose surrounding words
  match best (a figure from the neighbouring row, a swapped name), figures the context lacks
  count unless the claim shows the arithmetic that derives them, and informative words found in
  neither context nor question count by their IDF. A claim that says the context does not cover
  something is grounded. The weakest claim drives the answer's score (maxima over claims), and
  a logistic head learned on HaluEval QA and our written examples combines the signals; its
  output is calibrated (Platt, on the realistic validation half) into P(grounded).
- completeness: the question's parts and the context sentences relevant to them (BM25 against
  the question); how much of their key facts (words, figures, names, list items) the answer
  covers, the weakest part, and how specific the answer is; a logistic head learned on our
  written examples, calibrated the same way into P(complete).

Both are lexical: they catch a wrong figure, an invented detail, a missed list item or half of a
two-part question, not a wrong answer assembled from the context's own words with the same
figures (docs/metrics.md has the measured quality).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.claims import (
    Context,
    Span,
    claim_spans,
    content_terms,
    context_of,
    idf,
    idf_table,
    is_refusal,
    merged,
    shows_arithmetic,
    span,
    weight,
)

MODELS: Final = Path(__file__).parent / "models"
MODEL_CARD: Final = MODELS / "context_adherence.card.json"
COMPLETENESS_CARD: Final = MODELS / "completeness.card.json"

ADHERENCE_FEATURES: Final = (
    "support",  # share of the answer's content words found in the context
    "support_with_question",  # ... in the context or the question
    "novel_weight",  # the most IDF weight of words in neither context nor question, one claim
    "novel_peak",  # IDF of the three rarest such words (a specific invented detail)
    "numbers_absent",  # figures the context lacks, not derived by shown arithmetic
    "numbers_misplaced",  # figures the context has, but elsewhere than the claim's words point
    "numbers_placed",  # figures found where the claim's words point
    "names_absent",  # names/identifiers the context and question lack
    "names_misplaced",  # names the context has, but elsewhere than the claim's words point
    "declines",  # a claim says the context does not cover something
    "unanswerable_asserted",  # the question's words the context lacks, answered without declining
)
COMPLETENESS_FEATURES: Final = (
    "question_covered",  # IDF share of the question's words (those the context has) answered
    "weakest_part_sentence",  # per question part: key facts of its best sentence covered; min
    "relevant_covered",  # key facts of the sentences relevant to the question covered
    "top_covered",  # ... of the most relevant sentence(s)
    "relevant_numbers_covered",
    "relevant_names_covered",
    "relevant_items_touched",  # share of relevant sentences the answer touches at all
    "weakest_relevant",  # the least covered relevant sentence
    "specificity",  # figures and names per word of the answer
    "length_ratio",  # log of answer words / relevant-context words
    "irrelevant_share",  # answer words only the irrelevant sentences have
    "segments_missed",  # clauses of touched sentences left out (a dropped list item)
    "list_items_missed",  # items of a touched list left out
    "weakest_part_touched",  # per question part: its best sentence touched; min
    "answer_on_topic",  # IDF share of the answer's words that the relevant sentences have
    "focus_covered",  # key facts covered of the sentences with the question's rarest word
)
# Counts beyond this many add nothing: the signal is "some", and a cap keeps long answers from
# being judged by length.
COUNT_CAP: Final = 3
# A context sentence (or list item) counts as touched by the answer from this share of its key
# facts on.
TOUCHED: Final = 0.2
# Figures weigh like this many IDF units next to words when measuring a sentence's key facts.
NUMBER_WEIGHT: Final = 3.0
# Question parts: split at question marks and coordinators ("how much is the rent and the
# deposit?" has two).
_PARTS: Final = re.compile(r"\?|\band\b|\balso\b|,|;|\bplus\b|\bor\b", re.IGNORECASE)
_WORD: Final = re.compile(r"[\w']+")


@cache
def _stop_words() -> frozenset[str]:
    # spaCy's English list (spaCy is already installed for Presidio); no model is loaded.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def content_words(text: str) -> list[str]:
    """Lowercased words minus stop words: the lexical baselines' unit."""
    stop = _stop_words()
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in stop]


def support_overlap(context: str, question: str, answer: str) -> float:
    """Baseline: the share of the answer's content words found in the context."""
    words = content_words(answer)
    in_context = set(content_words(context))
    return sum(w in in_context for w in words) / max(1, len(words))


def context_word_share(context: str, question: str, answer: str) -> float:
    """Baseline: the share of the relevant context's content words (sentences sharing a word with
    the question, less the question's own words) that the answer contains."""
    asked = set(content_words(question))
    relevant: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", context):
        words = set(content_words(sentence))
        if words & asked:
            relevant |= words - asked
    if not relevant:
        return 1.0
    return len(relevant & set(content_words(answer))) / len(relevant)


def _lexical_support(context: str, question: str, answer: str) -> tuple[float, float]:
    words = content_words(answer)
    in_context = set(content_words(context))
    in_question = set(content_words(question))
    n = max(1, len(words))
    supported = sum(w in in_context for w in words) / n
    with_question = sum(w in in_context or w in in_question for w in words) / n
    return supported, with_question


def adherence_features(context: str, question: str, answer: str) -> list[float]:
    """The adherence head's inputs, in ADHERENCE_FEATURES order."""
    ctx = context_of(context)
    asked = span(question)
    asked_lower = question.lower()
    parts = claim_spans(answer)
    answer_claims = [c for c in parts if not is_refusal(c.text)]
    declines = len(answer_claims) < len(parts)
    # Figures the answer states that the context or question has: an answer's own arithmetic
    # may start from them ("£38 single, so £19 back").
    grounded_figures = {
        n for c in answer_claims for n in c.numbers if n in ctx.numbers or n in asked.numbers
    }
    novel_weight = 0.0
    novel_idf: list[float] = []
    numbers_absent = 0
    for claim in answer_claims:
        novel = [t for t in claim.terms if t not in ctx.terms and t not in asked.terms]
        novel_weight = max(novel_weight, weight(novel))
        novel_idf.extend(idf(t) for t in novel)
        local = [ctx.sentences[i] for i in ctx.align(claim)]
        given = set().union(*(s.numbers for s in local)) | asked.numbers
        pool = given | grounded_figures | claim.numbers
        cued = shows_arithmetic(claim.text)
        for n in claim.numbers - given - ctx.numbers:
            if not (cued and ctx.derivable(n, pool - {n})):
                numbers_absent += 1
    placed = misplaced = names_misplaced = 0
    for slot in (slot for claim in answer_claims for slot in claim.slots):
        if slot.kind == "number":
            if slot.value in asked.numbers:
                continue
            verdict = ctx.check_slot(slot)
            placed += verdict == "match"
            misplaced += verdict == "mismatch"
        elif slot.value not in asked_lower and ctx.check_slot(slot) == "mismatch":
            names_misplaced += 1
    names_absent = sum(
        1
        for claim in answer_claims
        for name in claim.entities
        if not ctx.contains_entity(name) and name not in asked_lower
    )
    asked_in_context = weight(t for t in asked.terms if t in ctx.terms)
    unanswerable = 1 - asked_in_context / (weight(asked.terms) or 1.0)
    novel_idf.sort(reverse=True)
    support, with_question = _lexical_support(context, question, answer)
    return [
        support,
        with_question,
        min(novel_weight, 30.0) / 10,
        sum(novel_idf[:3]) / 30,
        min(numbers_absent, COUNT_CAP),
        min(misplaced, COUNT_CAP),
        min(placed, COUNT_CAP),
        min(names_absent, COUNT_CAP),
        min(names_misplaced, COUNT_CAP),
        float(declines),
        0.0 if declines else unanswerable,
    ]


def completeness_features(context: str, question: str, answer: str) -> list[float]:
    """The completeness head's inputs, in COMPLETENESS_FEATURES order."""
    ctx = context_of(context)
    asked = span(question)
    given = merged(claim_spans(answer))
    answer_lower = answer.lower()

    def facts_covered(terms: frozenset[str], figures: frozenset[str]) -> float:
        facts = terms - asked.terms
        total = weight(facts) + NUMBER_WEIGHT * len(figures)
        if total <= 0:
            return 1.0
        return (weight(facts & given.terms) + NUMBER_WEIGHT * len(figures & given.numbers)) / total

    touched = [facts_covered(s.terms, s.numbers) for s in ctx.sentences]
    in_context = [t for t in asked.terms if t in ctx.terms]
    question_covered = (
        weight(t for t in in_context if t in given.terms) / (weight(in_context) or 1.0)
        if in_context
        else 1.0
    )
    part_sentence: list[float] = []
    part_touched: list[float] = []
    for part in _PARTS.split(question):
        terms = frozenset(t for t in content_terms(part) if t in ctx.terms)
        if not terms:
            continue
        scores = ctx.relevance(terms)
        best = max(scores)
        if best <= 0:
            continue
        top = [i for i, score in enumerate(scores) if score == best]
        part_sentence.append(
            facts_covered(ctx.sentences[top[0]].terms, ctx.sentences[top[0]].numbers)
        )
        part_touched.append(max(touched[i] for i in top))
    scores = ctx.relevance(asked.terms)
    best = max(scores)
    relevant = [i for i, score in enumerate(scores) if best > 0 and score >= 0.5 * best]
    top = [i for i, score in enumerate(scores) if best > 0 and score == best]

    def union_covered(idx: list[int]) -> float:
        if not idx:
            return 1.0
        terms = frozenset().union(*(ctx.sentences[i].terms for i in idx))
        facts = terms - asked.terms
        return weight(facts & given.terms) / weight(facts) if facts else 1.0

    figures = (
        frozenset().union(*(ctx.sentences[i].numbers for i in relevant))
        if relevant
        else frozenset()
    )
    names = (
        frozenset().union(*(ctx.sentences[i].entities for i in relevant))
        if relevant
        else frozenset()
    )
    relevant_touch = [union_covered([i]) for i in relevant] or [1.0]
    words = len(answer.split())
    relevant_words = sum(len(ctx.sentences[i].text.split()) for i in relevant) or 1
    relevant_terms = (
        frozenset().union(*(ctx.sentences[i].terms for i in relevant)) if relevant else frozenset()
    )
    irrelevant_terms = (
        frozenset().union(*(s.terms for i, s in enumerate(ctx.sentences) if i not in relevant))
        - relevant_terms
        if relevant
        else frozenset()
    )
    return [
        question_covered,
        min(part_sentence, default=1.0),
        union_covered(relevant),
        union_covered(top),
        len(figures & given.numbers) / len(figures) if figures else 1.0,
        sum(name in answer_lower for name in names) / len(names) if names else 1.0,
        sum(t >= 0.3 for t in relevant_touch) / len(relevant_touch),
        min(relevant_touch),
        min((len(given.numbers) + len(given.entities)) / max(1, words) * 10, 3.0),
        math.log((words + 1) / (relevant_words + 1)),
        weight(given.terms & irrelevant_terms) / (weight(given.terms) or 1.0),
        _segments_missed(ctx, touched, asked.terms, given),
        _list_items_missed(ctx, asked.terms, given),
        min(part_touched, default=1.0),
        weight(given.terms & relevant_terms) / (weight(given.terms) or 1.0),
        _focus_covered(ctx, asked, facts_covered),
    ]


def _focus_covered(ctx: Context, asked: Span, covered: Any) -> float:
    """How well the answer covers the sentences holding the question's most specific word (the
    one the context has that is rarest in general): "what's the *deposit*?"."""
    in_context = [t for t in asked.terms if t in ctx.terms]
    if not in_context:
        return 1.0
    focus = max(in_context, key=lambda t: (idf(t), t))
    return max(float(covered(s.terms, s.numbers)) for s in ctx.sentences if focus in s.terms)


def _segments_missed(
    ctx: Context, touched: Sequence[float], asked: frozenset[str], given: Span
) -> float:
    """The IDF share of the clauses of the sentences the answer uses that it leaves out: the
    dropped item of a list written as one sentence."""
    total = missed = 0.0
    for segments, share in zip(ctx.segments, touched, strict=True):
        if share < TOUCHED:
            continue
        for terms, figures in segments:
            facts = terms - asked
            mass = weight(facts) + NUMBER_WEIGHT * len(figures)
            if mass <= 0:
                continue
            total += mass
            if not (facts & given.terms) and not (figures & given.numbers):
                missed += mass
    return missed / total if total else 0.0


def _list_items_missed(ctx: Context, asked: frozenset[str], given: Span) -> float:
    """The largest share of items left out of a context list (bullets, numbered lines) the
    answer uses at all."""
    worst = 0.0
    for block in ctx.lists:
        shares = []
        for item in block:
            facts = item.terms - asked
            total = weight(facts) + NUMBER_WEIGHT * len(item.numbers)
            got = weight(facts & given.terms) + NUMBER_WEIGHT * len(item.numbers & given.numbers)
            shares.append(got / total if total > 0 else 1.0)
        if any(s >= TOUCHED for s in shares):
            worst = max(worst, sum(s < TOUCHED for s in shares) / len(shares))
    return worst


class _Head:
    """A calibrated logistic head: P = sigmoid(bias + weights . features)."""

    def __init__(self, card_path: Path, features: Sequence[str]) -> None:
        card: dict[str, Any] = json.loads(card_path.read_text("utf-8"))
        if tuple(card["features"]) != tuple(features):
            raise RuntimeError(f"{card_path.name} was trained on other features: retrain it")
        self.weights = [float(w) for w in card["weights"]]
        self.bias = float(card["bias"])

    def __call__(self, x: Sequence[float]) -> float:
        z = self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@cache
def _adherence_head() -> _Head:
    return _Head(MODEL_CARD, ADHERENCE_FEATURES)


class _Trees:
    """A calibrated boosted-tree ensemble stored as arrays: P = sigmoid(start + sum of leaves)."""

    def __init__(self, card_path: Path, features: Sequence[str]) -> None:
        card: dict[str, Any] = json.loads(card_path.read_text("utf-8"))
        if tuple(card["features"]) != tuple(features):
            raise RuntimeError(f"{card_path.name} was trained on other features: retrain it")
        t = card["trees"]
        self.start = float(card["start"])
        self.trees = list(
            zip(t["feature"], t["threshold"], t["left"], t["right"], t["value"], strict=True)
        )

    def __call__(self, x: Sequence[float]) -> float:
        # The trees were grown on float32 features (scikit-learn's); compare the same values.
        values = np.asarray(x, dtype=np.float32).tolist()
        z = self.start
        for feature, threshold, left, right, value in self.trees:
            node = 0
            while left[node] >= 0:
                node = left[node] if values[feature[node]] <= threshold[node] else right[node]
            z += value[node]
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@cache
def _completeness_head() -> _Trees:
    return _Trees(COMPLETENESS_CARD, COMPLETENESS_FEATURES)


def adherence(context: str, question: str, answer: str) -> float:
    """Calibrated probability that the answer is grounded in the context (1 = grounded)."""
    return _adherence_head()(adherence_features(context, question, answer))


def completeness(context: str, question: str, answer: str) -> float:
    """Calibrated probability that the answer covers what the question asks of the context."""
    ctx = context_of(context)
    if not span(question).terms & ctx.terms:
        # The context shares no word with the question: it offers nothing the answer could have
        # left out (the trees never saw such a case; scoring it would be a guess).
        return 1.0
    return _completeness_head()(completeness_features(context, question, answer))


def _warm_up() -> None:
    idf_table()
    _stop_words()
    adherence_features("A warm-up context of 3 words.", "Warm up?", "It has 3 words.")


class ContextAdherence(Scorer):
    name = "context_adherence"
    reads = (PayloadField.CONTEXT, PayloadField.QUESTION, PayloadField.OUTPUT)
    kind = ValueKind.SCORE
    # ~1 ms for a ~1,000-character context and answer: off the event loop.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [round(adherence(c, q, a), 4) for c, q, a in items]

    def warm_up(self) -> None:
        _adherence_head()
        _warm_up()


class Completeness(Scorer):
    name = "completeness"
    reads = (PayloadField.CONTEXT, PayloadField.QUESTION, PayloadField.OUTPUT)
    kind = ValueKind.SCORE
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [round(completeness(c, q, a), 4) for c, q, a in items]

    def warm_up(self) -> None:
        _completeness_head()
        _warm_up()

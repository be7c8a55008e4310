"""Text analysis for the RAG metrics (context adherence, completeness): sentences and claims,
normalised word stems, numbers, named entities, negation, refusals, and IDF-weighted alignment
of a claim to the context sentences that could support it.

Everything is lexical and runs in well under a millisecond per sentence: the whole default stack
scores both RAG metrics on every event, and embedding each context sentence would cost more than
every other metric together (~9 ms per 100 characters with MiniLM).

The IDF table (`models/word_idf.json.gz`, built by `worker.metrics.training.adherence`) says how
informative a word is in general: an unsupported "Glacier" matters, an unsupported "usually" does
not. Words missing from the table are rare, so they get the table's highest IDF.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

IDF_PATH: Final = Path(__file__).parent / "models" / "word_idf.json.gz"

# A "word": letters (any script) with inner apostrophes/hyphens; numbers are taken apart.
_WORD: Final = re.compile(r"[^\W\d_][\w'\u2019]*", re.UNICODE)
# Numbers: 1,050 / 1.050,5 / 10.5 / 09:00 / 4.8.0 (a version: kept as one token).
_NUMBER: Final = re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*(?![\w])|(?<![\w.])\d+(?=[^\W\d_])")
_VERSIONISH: Final = re.compile(r"^\d+(?:\.\d+){2,}$")
# Sentence ends, line breaks and list bullets; HaluEval's knowledge glues sentences ("1846).First").
_SENTENCE: Final = re.compile(
    r"(?<=[.!?])[\"')\]]?\s+|\n+|\s*[\u2022\u00b7\u25aa]\s*|(?<=[a-z0-9)]\.)(?=[A-Z][a-z])|\s+---+\s+"
)
# Claims inside a sentence: clauses after a semicolon, a dash aside, or ", but"/", and"/", so".
_CLAUSE: Final = re.compile(
    r";\s+|\s+[\u2014\u2013]\s+|,\s+(?=(?:but|and|so|while|whereas|although|though|which|however)\s)",
    re.IGNORECASE,
)
_NUMBER_WORDS: Final[dict[str, float]] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "twice": 2,
    "dozen": 12,
}
# Negation cues (English plus the commonest ones of the other languages seen in RAG traffic).
_NEGATION: Final = frozenset(
    "not no never none nothing nobody neither nor cannot can't won't isn't aren't wasn't "  # noqa: SIM905 - a word list reads better as text
    "weren't don't doesn't didn't shouldn't mustn't without unless except excluding n't nicht "
    "kein keine nie ne pas jamais sans non niet geen nooit nunca sin nada".split()
)
# Words that change the scope or condition of a statement: "only", "or", "all", "at least"...
_CONDITION: Final = frozenset(
    "only or and all any every each both either unless except if before after within least "  # noqa: SIM905 - a word list reads better as text
    "most maximum minimum more less up over under per".split()
)
# "The context does not say": an answer that declines from the context is grounded even though
# it names what the context lacks (the question's subject, often more).
_REFUSAL: Final = re.compile(
    r"\b(?:(?:does|do|did|is|are|was|were|has|have|can)(?:n['\u2019]t|\s+not)|not|never|nothing|no)\s+"
    r"(?:\w+\s+){0,3}?"
    r"(?:say|says|said|mention|mentions|mentioned|specify|specifies|specified|state|states|"
    r"stated|cover|covers|covered|address|addresses|addressed|include|includes|included|list|"
    r"lists|listed|give|gives|given|provide|provides|provided|contain|contains|information|"
    r"detail|details|explain|explains|indicate|indicates|confirm|tell|tells|find|found|see|"
    r"clear|discuss|discusses|answer|shown|show|shows)\b"
    r"|\b(?:no|nothing)\s+(?:\w+\s+){0,2}?(?:about|on|regarding|mention|information|details?)\b"
    r"|\b(?:isn['\u2019]t|is\s+not|aren['\u2019]t|are\s+not|not)\s+(?:\w+\s+){0,2}?"
    r"(?:covered|mentioned|specified|stated|addressed|listed|included|in\s+the\s+(?:text|"
    r"context|document|documents|extract|excerpt|leaflet|policy|notes|article|page|section))\b"
    r"|\b(?:silent|unclear)\s+(?:on|about)\b|\bcan['\u2019]t\s+(?:tell|confirm|say)\b",
    re.IGNORECASE,
)
# Hedges, advice and references to the source: how an answer talks, not what it claims.
_DISCOURSE: Final = frozenset(
    "seem seems seemed appear appears appeared probably likely possibly perhaps maybe assume "  # noqa: SIM905 - a word list reads better as text
    "guess think reckon believe suppose sounds looks look worth confirm confirming check "
    "checking double sure certain reading read right understand understanding suggest "
    "suggests recommend recommends say says said mention mentions mentioned state states "
    "stated note notes noted document documents doc docs context text extract excerpt passage "
    "section sections page leaflet article policy wording notice guide manual information "
    "info details detail specify specified specifies explicitly actually basically generally "
    "usually simply just also still yes okay ok hi hello thanks sorry unfortunately please "
    "you'd you'll i'd i'm it's that's there's don't can't won't".split()
)
# Clauses of a sentence (a list inside a sentence) and list items of a context.
_SEGMENT: Final = re.compile(r"[,;:()]|\s[\u2014\u2013-]\s|\band\b|\bor\b")
_ITEM: Final = re.compile(r"^\s*(?:[-*\u2022\u00b7\u25aa]|\d+[.)]|[a-z][.)])\s+")
# Unit conversions an answer may apply to one figure: days/weeks, months/years, hours, minutes.
_CONVERSIONS: Final = (7, 12, 24, 52, 60, 365)
# A claim that shows its arithmetic ("so that's £19", "about 42 days", "£84 in total") may state
# figures the context does not; a plain statement of a figure the context lacks is suspect.
_DERIVATION: Final = re.compile(
    r"\b(?:so|that's|that is|total|totals|altogether|works? out|comes? to|which is|which means|"
    r"means|i\.e\.|about|roughly|around|approximately|approx|in all|combined|sum|adds? up|"
    r"leaves|left|remaining|difference|would be|makes|each|per|every|equals?|times|divided|"
    r"split|plus|minus|after|later|before|until|from)\b|[=\u00d7+]|\d\s*[x*/]\s*\d",
    re.IGNORECASE,
)
_KEPT_APART: Final = _NEGATION | _CONDITION
_SUFFIXES: Final = ("ations", "ation", "ings", "ing", "edly", "ies", "ied", "ed", "es", "s", "ly")


@cache
def stop_words() -> frozenset[str]:
    """Words that carry no checkable content: function words (spaCy's English list; spaCy is
    installed for Presidio, no model is loaded), and the words answers use to hedge or to refer
    to their source ("it seems", "the leaflet says"), which no context needs to contain.
    Negations and condition words are kept apart: they change what a claim says."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return (frozenset(STOP_WORDS) | _DISCOURSE) - _NEGATION - _CONDITION


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude, consistent suffix stripper: "charges", "charged", "charge" -> "charg"."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


@lru_cache(maxsize=65536)
def _number_value(token: str) -> str:
    """A canonical form: "1,050" and "1050" alike, "1,5" (decimal comma) as "1.5"."""
    if _VERSIONISH.match(token):
        return token
    if ":" in token:  # a time: 09:00 == 9:00
        hours, _, rest = token.partition(":")
        return f"{hours.lstrip('0') or '0'}:{rest}"
    t = token
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", t):
        t = t.replace(",", "")
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", t):
        t = t.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+,\d{1,2}", t):
        t = t.replace(",", ".")
    try:
        value = float(t)
    except ValueError:
        return token
    return _canonical(value)


def _canonical(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def numbers(text: str, words: list[str] | None = None) -> list[str]:
    found = [_number_value(m.group()) for m in _NUMBER.finditer(text)]
    for w in words if words is not None else _words(text):
        value = _NUMBER_WORDS.get(w.lower())
        if value is not None:
            found.append(_canonical(value))
    return found


def as_float(number: str) -> float | None:
    try:
        return float(number)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Span:
    """A sentence or claim, analysed once."""

    text: str
    terms: frozenset[str]  # content-word stems
    numbers: frozenset[str]
    entities: frozenset[str]  # lowercased names, identifiers and codes
    slots: tuple[Slot, ...]  # its figures and names with their surrounding words


def content_terms(text: str) -> list[str]:
    return _terms_of(_words(text))


def _words(text: str) -> list[str]:
    return [w.rstrip("'\u2019") for w in _WORD.findall(text)]


def _terms_of(words: list[str]) -> list[str]:
    stop = stop_words()
    out = []
    for w in words:
        low = w.lower()
        if len(low) > 1 and low not in stop and low not in _KEPT_APART:
            out.append(stem(low))
    return out


_CODE: Final = re.compile(r"`([^`]+)`")
_IDENTIFIER: Final = re.compile(r"[\w./-]*\w[._/][\w./-]*")
_ACRONYM: Final = re.compile(r"(?<![\w./-])[A-Z]{2}[\w-]*(?:[./][\w-]+)*")
_ALPHA: Final = re.compile(r"[^\W\d_]")
_MEASURE_LIKE: Final = re.compile(r"^\d[\d.,]*/")
_POSSESSIVE: Final = re.compile(r"['\u2019]s?$")
_CAPITALISED: Final = re.compile(r"\b[A-Z][a-z][\w'\u2019-]*")
_OPENS: Final = frozenset('.!?:"\u201c(')


def entities(text: str) -> set[str]:
    """Names (capitalised words not opening a sentence), identifiers (`code`, env_vars, a.b.c)
    and acronyms, lowercased."""
    found = {m.group(1).lower() for m in _CODE.finditer(text)}
    for m in _IDENTIFIER.finditer(text):
        core = m.group().strip("./-_")
        # Dotted, slashed or snake_case (not "6-month", "e.g.", "25/month").
        separated = "." in core or "_" in core or "/" in core
        ok = separated and len(core) > 3 and core[-1].isalnum() and _ALPHA.search(core)
        if ok and not _MEASURE_LIKE.match(core):
            found.add(core.lower())
    found.update(m.group().lower() for m in _ACRONYM.finditer(text))
    for m in _CAPITALISED.finditer(text):
        j = m.start() - 1
        while j >= 0 and text[j].isspace():
            j -= 1
        if j >= 0 and text[j] not in _OPENS:
            found.add(_POSSESSIVE.sub("", m.group().lower()))
    return found


# Both RAG metrics analyse the same question and answer: keep a batch's worth.
@lru_cache(maxsize=1024)
def span(text: str) -> Span:
    """One pass over a sentence or claim: its content words, figures, names and slots."""
    names = entities(text)
    stop = stop_words()
    items: list[tuple[str, str]] = []  # (kind, value), kind "term", "number" or "entity"
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            items.append(("number", _number_value(tok)))
            continue
        low = tok.strip("`").rstrip("'\u2019").lower()
        if low in names:
            items.append(("entity", low))
        value = _NUMBER_WORDS.get(low)
        if value is not None:
            items.append(("number", _canonical(value)))
        elif len(low) > 1 and low not in stop and low not in _KEPT_APART:
            items.append(("term", stem(low)))
    return Span(
        text=text,
        terms=frozenset(v for k, v in items if k == "term"),
        numbers=frozenset(v for k, v in items if k == "number"),
        entities=frozenset(names),
        slots=tuple(_slots(items)),
    )


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and len(s.strip()) > 1]


@lru_cache(maxsize=256)
def claim_spans(answer: str) -> tuple[Span, ...]:
    """The answer's claims, analysed."""
    return tuple(span(c) for c in claims(answer) or [answer])


def merged(spans: Iterable[Span]) -> Span:
    """Several spans as one (an answer from its claims)."""
    parts = list(spans)
    return Span(
        text=" ".join(p.text for p in parts),
        terms=frozenset().union(*(p.terms for p in parts)),
        numbers=frozenset().union(*(p.numbers for p in parts)),
        entities=frozenset().union(*(p.entities for p in parts)),
        slots=tuple(slot for p in parts for slot in p.slots),
    )


def claims(answer: str) -> list[str]:
    """The answer's claims: its sentences, cut at clause boundaries."""
    out: list[str] = []
    for sentence in sentences(answer):
        out.extend(c.strip() for c in _CLAUSE.split(sentence) if len(c.strip()) > 1)
    return out


def shows_arithmetic(text: str) -> bool:
    return _DERIVATION.search(text) is not None


def is_refusal(text: str) -> bool:
    return _REFUSAL.search(text) is not None


@cache
def idf_table() -> tuple[dict[str, float], float]:
    """(stem -> IDF, the IDF of an unseen stem)."""
    data = json.loads(gzip.decompress(IDF_PATH.read_bytes()))
    table = {k: float(v) for k, v in data["idf"].items()}
    return table, float(data["unseen"])


def idf(term: str) -> float:
    table, unseen = idf_table()
    return table.get(term, unseen)


def weight(terms: Iterable[str]) -> float:
    table, unseen = idf_table()
    return sum(table.get(t, unseen) for t in terms)


def build_idf(documents: Iterable[str], min_df: int = 3) -> dict[str, object]:
    """The IDF table over documents (training time): log((N + 1) / (df + 1)) + 1."""
    df: dict[str, int] = {}
    n = 0
    for doc in documents:
        n += 1
        for t in set(content_terms(doc)):
            df[t] = df.get(t, 0) + 1
    idf_of = {t: round(math.log((n + 1) / (c + 1)) + 1, 3) for t, c in df.items() if c >= min_df}
    return {
        "documents": n,
        "min_df": min_df,
        "unseen": round(math.log((n + 1) / min_df) + 1, 3),
        "idf": dict(sorted(idf_of.items())),
    }


class Context:
    """A context split into analysed sentences, with the statistics that alignment needs.

    Analysing a context costs more than scoring an answer against it, and both RAG metrics read
    the same context: `context_of` keeps the last few."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()
        self.sentences = [span(s) for s in sentences(text)] or [span(text)]
        self.terms: frozenset[str] = frozenset().union(*(s.terms for s in self.sentences))
        self.numbers: frozenset[str] = frozenset().union(*(s.numbers for s in self.sentences))
        self.entities: frozenset[str] = frozenset().union(*(s.entities for s in self.sentences))
        self.slots = [slot for s in self.sentences for slot in s.slots]
        # BM25-style: a word's weight here is its general IDF, damped when most of the context's
        # sentences have it (the topic word says little about *which* sentence supports a claim).
        n = len(self.sentences)
        counts: dict[str, int] = {}
        for s in self.sentences:
            for t in s.terms:
                counts[t] = counts.get(t, 0) + 1
        top = math.log(1 + (n + 1) / 0.5)
        self._weight = {
            t: idf(t) * math.log(1 + (n + 1) / (c + 0.5)) / top for t, c in counts.items()
        }

    @cached_property
    def segments(self) -> list[list[tuple[frozenset[str], frozenset[str]]]]:
        """Per sentence, its clauses' (terms, figures): a list written as one sentence."""
        out: list[list[tuple[frozenset[str], frozenset[str]]]] = []
        for s in self.sentences:
            parts = []
            for segment in _SEGMENT.split(s.text):
                words = _words(segment)
                parts.append((frozenset(_terms_of(words)), frozenset(numbers(segment, words))))
            out.append(parts)
        return out

    @cached_property
    def lists(self) -> list[list[Span]]:
        """The context's lists (runs of two or more bulleted or numbered lines), item by item."""
        blocks: list[list[Span]] = []
        current: list[Span] = []
        for line in self.text.split("\n"):
            if _ITEM.match(line):
                current.append(span(line))
                continue
            if len(current) >= 2:
                blocks.append(current)
            current = []
        if len(current) >= 2:
            blocks.append(current)
        return blocks

    def contains_entity(self, entity: str) -> bool:
        return entity in self.entities or entity in self.lower

    @staticmethod
    def derivable(number: str, given: Iterable[str]) -> bool:
        """Whether a number follows from given numbers (those of the claim's supporting sentences,
        the question and the answer's grounded figures) by one step of arithmetic: a sum,
        difference, product, ratio or percentage of two of them, or a unit conversion of one."""
        x = as_float(number)
        if x is None:
            return False
        exact, rounded = _derivations(frozenset(given))
        # Quotients get rounded ("about 10.0%"): half a unit of the last digit shown.
        decimals = len(number.split(".")[1]) if "." in number else 0
        tol = 0.5 * 10**-decimals + 1e-9
        return bool(
            np.any(np.abs(exact - x) <= 1e-6 * max(1.0, abs(x)))
            or np.any(np.abs(rounded - x) <= tol)
        )

    def align(self, claim: Span, k: int = 3) -> list[int]:
        """Indices of the k context sentences that best support the claim, by the IDF-weighted
        words they share. Numbers and names do not steer the alignment: a figure or name
        borrowed from a neighbouring sentence must not pull the claim there."""
        scored = sorted(
            (
                (sum(self._weight.get(t, 0.0) for t in claim.terms & s.terms), -i)
                for i, s in enumerate(self.sentences)
            ),
            reverse=True,
        )
        return [-i for score, i in scored[:k] if score > 0]

    def relevance(self, terms: frozenset[str]) -> list[float]:
        """BM25-like relevance of every sentence to a bag of terms (a question)."""
        return [sum(self._weight.get(t, 0.0) for t in terms & s.terms) for s in self.sentences]

    def check_slot(self, slot: Slot) -> str:
        """How the context places a figure or name of the answer: "match" (where the words
        around it best match, the context has the same value), "mismatch" (it has another one
        there: a swapped name, a figure from the neighbouring row), or "unplaced" (no context
        position shares enough words to tell)."""
        scored = [
            (weight(slot.window & s.window), s.value) for s in self.slots if s.kind == slot.kind
        ]
        best = max((score for score, _ in scored), default=0.0)
        if best < SLOT_MIN_WEIGHT:
            return "unplaced"
        near = {value for score, value in scored if score >= SLOT_NEAR * best}
        return "match" if slot.value in near else "mismatch"


# Both RAG metrics of a batch of events read the same contexts: keep a batch's worth.
@lru_cache(maxsize=256)
def _derivations(given: frozenset[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Every value one step of arithmetic makes from the given figures: (exact results: sums,
    differences, products, unit multiples; results that may be shown rounded: the figures
    themselves, quotients, percentages, unit fractions)."""
    parsed = (as_float(g) for g in given)
    v = np.array(sorted({p for p in parsed if p is not None})[:30], dtype=np.float64)
    k = np.array(_CONVERSIONS, dtype=np.float64)
    a, b = v[:, None], v[None, :]
    exact = np.concatenate(
        [(a + b).ravel(), np.abs(a - b).ravel(), (a * b).ravel(), (v[:, None] * k).ravel()]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rounded = np.concatenate(
            [
                v,
                (a / b).ravel(),
                (100 * a / b).ravel(),
                (a * b / 100).ravel(),
                (v[:, None] / k).ravel(),
            ]
        )
    return exact, rounded[np.isfinite(rounded)]


@lru_cache(maxsize=64)
def context_of(text: str) -> Context:
    return Context(text)


# A figure or name is checked against the context by the words around it: "6 weeks of paid leave
# for secondary caregivers" is supported by the context position whose neighbours match best.
SLOT_WINDOW: Final = 4
# A context position places a claim's figure when they share at least this much IDF weight
# (about two informative words), and positions within this share of the best one count too.
SLOT_MIN_WEIGHT: Final = 8.0
SLOT_NEAR: Final = 0.85
_TOKEN: Final = re.compile(r"`[^`]+`|\d+(?:[.,:]\d+)*|[^\W\d_][\w'\u2019]*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Slot:
    value: str  # a canonical number or a lowercased name
    kind: str  # "number" or "entity"
    window: frozenset[str]  # content-word stems around it


def _slots(items: list[tuple[str, str]]) -> list[Slot]:
    positions = [i for i, (kind, _) in enumerate(items) if kind == "term"]
    terms = [items[i][1] for i in positions]
    out = []
    for i, (kind, value) in enumerate(items):
        if kind == "term":
            continue
        at = bisect.bisect_left(positions, i)
        own = stem(value)
        before = [t for t in terms[max(0, at - SLOT_WINDOW - 1) : at] if t != own]
        after = [t for t in terms[at : at + SLOT_WINDOW + 1] if t != own]
        out.append(Slot(value, kind, frozenset(before[-SLOT_WINDOW:] + after[:SLOT_WINDOW])))
    return out


def slots(text: str) -> list[Slot]:
    """The numbers and names of a text, each with the content words around it (same sentence)."""
    return [slot for sentence in sentences(text) for slot in span(sentence).slots]

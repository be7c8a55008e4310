"""Prompt-injection detection (`prompt_injection`): is this input an injection, and of which types.

Python and numpy only (no scikit-learn at run time, nothing from the network); the model loads in
~0.2 s. Trained by `protect train prompt_injection` (`worker/metrics/training/injection.py`; data,
counts, licences and scores in `models/prompt_injection.card.json`).

1. **The model text.** Encoded payloads are decoded in place (`injection_decoding.expand`:
   base64/32, hex, binary, character codes, escapes, percent-encoding, Morse, Caesar/rot13,
   Atbash, reversed and upside-down text, leetspeak), the result is normalised (NFKC, invisible
   characters removed, homoglyphs spelled in Latin, disguised trigger words such as "1gn0re" or
   "i g n o r e" rejoined) and followed by its concept tokens (`injection_lexicon`: the words of
   overrides, prompt leaking, personas, authority claims and exfiltration in ~40 languages, one
   token per concept), so an attack in Korean shares features with the English ones.
2. **Is it an injection?** A logistic regression over TF-IDF word 1-2-grams and hashed character
   3-5-grams of the model text, trained on the public injection sets, CLINC150 queries, our written
   rows (chat and the documents, tool results and emails indirect injections hide in, with their
   benign traps) and benign documents. Its log-odds go through a Platt map fitted on the realistic
   corpus's validation half, so the score is a probability for chat and RAG traffic and the text is
   an injection at `DECISION` (0.5), the same point a `gte 0.5` rule on the score would pick.
3. **Which types?** One logistic regression per Galileo type over the model text's word n-grams
   (`TypeHeads`), trained on our written injection rows, whose types follow the evaluation
   corpus's conventions (several can apply; the likeliest one when none reaches the threshold).
   A disguise that step 1 undid, or a request to decode, adds `obfuscation`.

Long inputs: the model judges the whole text and, beyond `WINDOW_CHARS`, overlapping windows of it,
so an instruction buried in a long document is less diluted by the rest. At most `MAX_SCAN_CHARS`
characters are read (the head and the tail of longer texts, see there).
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import re2

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.calibration import Platt
from worker.metrics.injection_decoding import Expansion, expand
from worker.metrics.injection_lexicon import concept_tokens
from worker.metrics.loading import Lazy

# Galileo's injection types, in its documented order.
INJECTION_LABELS: Final[tuple[str, ...]] = (
    "simple_instruction",
    "few_shot",
    "new_context",
    "impersonation",
    "obfuscation",
)

MODEL_PATH: Final = Path(__file__).parent / "models" / "prompt_injection.json.gz"
MODEL_CARD: Final = Path(__file__).parent / "models" / "prompt_injection.card.json"
# Bumped whenever the feature code below changes meaning: weights trained for another version
# would load without error and score garbage, so loading refuses them. Version 2: the model reads
# `model_text` (encodings undone by `injection_decoding.expand`, concept tokens appended).
FEATURE_VERSION: Final = 2
# The decision on the calibrated probability (a `gte 0.5` rule means the same thing).
DECISION: Final = 0.5

# --- Long inputs ---------------------------------------------------------------------------------
# Windows of this many characters (about 170 words), overlapping by half, are judged on their own
# when a text is longer: a whole-text TF-IDF vector dilutes a short injection appended to a long
# benign document. 1,000 characters holds a typical direct injection with its lead-in, and texts
# up to that size cost a single pass.
WINDOW_CHARS: Final = 1_000
WINDOW_STRIDE: Final = WINDOW_CHARS // 2
# Cost is linear in characters (~1 µs each, a few passes with the windows), so a text is read up
# to this size: ~30 ms at worst, on a worker thread. Longer texts are read as their first
# `MAX_SCAN_CHARS - TAIL_CHARS` and last `TAIL_CHARS` characters: injections sit at the start
# (jailbreak preambles) or the end ("... now ignore the above and") of what a user pastes; an
# instruction in the middle of a longer text is not seen.
MAX_SCAN_CHARS: Final = 16_000
TAIL_CHARS: Final = 4_000

# --- Normalisation -------------------------------------------------------------------------------
# Invisible characters an attacker puts inside words to split tokens ("ig\u200bnore"): zero-width
# spaces and joiners, soft hyphen, word joiner and invisible operators, bidirectional controls,
# byte-order mark. Removed before anything reads the text.
_INVISIBLE_CLASS = "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
_INVISIBLE = re.compile(_INVISIBLE_CLASS)
# Between two Latin letters only: zero-width (non-)joiners belong inside Persian or Indic words.
_INVISIBLE_IN_WORD = re.compile(rf"[A-Za-z]{_INVISIBLE_CLASS}+[A-Za-z]")
# Unicode "tag" characters (U+E0020-E007E) mirror ASCII invisibly ("ASCII smuggling"): models read
# them, people do not. They are decoded to the ASCII they mirror.
_TAGS = re.compile("[\U000e0020-\U000e007e]+")
_TAG_OFFSET = 0xE0000

# Cyrillic and Greek letters that look like Latin ones. A word mixing them with Latin letters is
# a homoglyph attack ("ignore" typed with Cyrillic i, o, e) and is spelled in Latin; words written
# entirely in another script are left alone, so Russian or Greek text stays what it is.
_CONFUSABLES: Final = str.maketrans(
    "аеорсухіјѕԁԛԝӏАВЕКМНОРСТХІЈЅԌαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwlABEKMHOPCTXIJSGabeiknoptuxABEHIKMNOPTYX",
)
# Latin letters in other shapes that NFKC leaves alone: small capitals (U+1D00 block, as in a
# "system update" seen in the jailbreak data) and a few look-alikes. Nobody writes prose in
# them, so they are folded wherever they appear.
_LATIN_LOOKALIKES: Final = str.maketrans(
    "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡʏᴢɑɡɩʋ",
    "abcdefghijklmnopqrstuvwyzagiu",
)
# Letters NFKC maps back to ASCII but that nobody types by accident: fullwidth forms, the
# mathematical alphanumerics (bold, script, double-struck ...), circled and squared letters.
_STYLED_LETTERS = re.compile(
    "[\uff21-\uff3a\uff41-\uff5a\U0001d400-\U0001d7ff\u24b6-\u24e9\U0001f130-\U0001f189]"
)
# Words with a non-ASCII letter. Matching starts at word starts only (the lookbehind): otherwise
# a long ASCII run would be rescanned from every one of its positions (quadratic on hostile input).
_NON_ASCII_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_]*[^\x00-\x7f][^\W\d_]*")
_LATIN = re.compile(r"[a-zA-Z]")

# Leetspeak: digits and symbols standing for letters. Applied only where the result spells a
# trigger word, so "mp3" and "h264" stay as they are.
_LEET: Final = str.maketrans("0134578@$!|", "oieastbasil")
_LEET_TOKEN = re.compile(r"(?<![a-z0-9@$!|])[a-z0-9@$!|]*[0-9@$!|][a-z0-9@$!|]*")
# Letters spaced or dotted apart ("i g n o r e", "i.g.n.o.r.e"): rejoined where they spell a
# trigger word.
_SPLIT_LETTERS = re.compile(r"(?<!\w)[a-z](?:[ .\-_*/|+][a-z]){2,}(?!\w)")
_SEPARATORS = re.compile(r"[\s.\-_*/|+]")
# Cheap RE2 checks for whether either substitution has anything to do (see `_reveal_triggers`).
_MAYBE_LEET: Final[Any] = re2.compile(r"[a-z][0-9@$!|]|[0-9@$!|][a-z]")
_MAYBE_SPLIT: Final[Any] = re2.compile(
    r"(?:^|[^a-z])[a-z][ .\-_*/|+][a-z][ .\-_*/|+][a-z](?:$|[^a-z])"
)
# Words whose disguise is itself evidence: the vocabulary of instruction overrides and jailbreaks.
TRIGGER_WORDS: Final = frozenset((
    "ignore", "ignoring", "disregard", "forget", "override", "bypass", "previous", "prior",
    "above", "instructions", "instruction", "prompt", "prompts", "system", "rules", "guidelines",
    "restrictions", "jailbreak", "jailbroken", "dan", "developer", "admin", "administrator",
    "unfiltered", "uncensored", "unrestricted", "pretend", "reveal", "secret", "password",
    "confidential", "filter", "filters", "censorship", "policy", "policies", "ethics", "moral",
    "morals", "hack", "hacking", "malware", "exploit", "bomb", "weapon", "drugs", "kill",
    "illegal", "harmful",
))  # fmt: skip

_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
# Character n-gram sizes of the model: 3-5 characters spell out word pieces that survive
# misspellings, inflections and glued words ("ignoreall"), which word features miss. They are
# hashed into 2**20 buckets: ~6 % of the rare n-grams that training dropped land in a kept bucket
# (60,000 of 1M), against ~23 % with 2**18.
CHAR_NGRAMS: Final = (3, 4, 5)
CHAR_HASH_BITS: Final = 20
_PRIME = np.uint64(1_000_003)
_PRIME_2 = _PRIME * _PRIME
_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads the hash over the high bits

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _fold_homoglyphs(text: str) -> tuple[str, bool]:
    """Spell mixed-script words in Latin; report whether any word was changed."""
    changed = False

    def fix(match: re.Match[str]) -> str:
        nonlocal changed
        word = match.group()
        if not _LATIN.search(word):
            return word  # a word of another script, not a disguise
        folded = word.translate(_CONFUSABLES)
        if folded != word:
            changed = True
        return folded

    return _NON_ASCII_WORD.sub(fix, text), changed


def _decode_tags(text: str) -> str:
    return _TAGS.sub(lambda m: "".join(chr(ord(c) - _TAG_OFFSET) for c in m.group()), text)


@dataclass
class Normalised:
    """The text as the model reads it, and what undoing its disguises revealed."""

    canonical: str  # NFKC, invisible characters removed, homoglyphs folded, lower-case
    deobfuscated: str  # canonical, with leetspeak and split letters spelling trigger words fixed
    disguised: bool  # invisible/tag characters, homoglyph words or disguised trigger words


def canonical(text: str) -> str:
    """The text the model's features are computed from (training and run time alike)."""
    return normalise(text, deobfuscate=False).canonical


def normalise(text: str, *, deobfuscate: bool = True) -> Normalised:
    disguised = False
    if not text.isascii():
        # Hidden ASCII, or invisible characters inside a word (a stray byte-order or direction
        # mark between words is common in pasted text and proves nothing).
        disguised = bool(
            _TAGS.search(text) or _INVISIBLE_IN_WORD.search(text) or _STYLED_LETTERS.search(text)
        )
        text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", _decode_tags(text)))
        lookalikes = text.translate(_LATIN_LOOKALIKES)
        disguised = disguised or lookalikes != text
        text, folded = _fold_homoglyphs(lookalikes)
        disguised = disguised or folded
    lowered = text.lower()
    text = _WHITESPACE.sub(" ", lowered).strip()
    if not deobfuscate:
        return Normalised(text, text, disguised)
    # Before spaces are collapsed: in "i g n o r e  a l l" the double space separates the words.
    revealed = _WHITESPACE.sub(" ", _reveal_triggers(lowered)).strip()
    return Normalised(text, revealed, disguised or revealed != text)


def _reveal_triggers(text: str) -> str:
    def leet(match: re.Match[str]) -> str:
        token = match.group()
        plain = token.translate(_LEET)
        return plain if plain in TRIGGER_WORDS and plain != token else token

    def joined(match: re.Match[str]) -> str:
        plain = _SEPARATORS.sub("", match.group())
        return plain if plain in TRIGGER_WORDS else match.group()

    # RE2 checks first whether there is anything to fix: the `re` substitutions scan slowly
    # (~0.5 ms per 1,000 characters) and almost every text has nothing for them.
    if _MAYBE_LEET.search(text):
        text = _LEET_TOKEN.sub(leet, text)
    if _MAYBE_SPLIT.search(text):
        text = _SPLIT_LETTERS.sub(joined, text)
    return text


def word_features(text: str) -> list[str]:
    """Word unigrams and bigrams of a canonical text."""
    words = _WORD.findall(text)
    return [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]


def char_buckets(text: str) -> tuple[IntArray, IntArray]:
    """The hashed character 3-5-grams of a canonical text: (distinct buckets, counts).

    The text is padded with a space so word starts and ends are marked. Each n-gram's code points
    are combined by a polynomial hash (uint64 arithmetic wraps, the same on every platform), mixed
    and cut to `CHAR_HASH_BITS` bits, all in numpy: hashing 3,000 n-grams as Python strings cost
    ~1 ms per 1,000 characters, this ~0.05 ms. Collisions only merge n-grams into one feature.
    """
    codes = np.frombuffer(f" {text} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    size = len(codes)
    if size < CHAR_NGRAMS[0]:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    hashes = []
    rolling = codes[: size - 2] * _PRIME_2 + codes[1 : size - 1] * _PRIME + codes[2:]
    for k in CHAR_NGRAMS:
        if k > CHAR_NGRAMS[0]:
            rolling = rolling[:-1] * _PRIME + codes[k - 1 :]
        # The length as a salt, so n-grams of different lengths hash apart.
        hashes.append((rolling + np.uint64(k)) * _MIX)
    mixed = np.concatenate(hashes) >> np.uint64(64 - CHAR_HASH_BITS)
    buckets, counts = np.unique(mixed.astype(np.int64), return_counts=True)
    return buckets, counts.astype(np.int64)


# --- Injection types -----------------------------------------------------------------------------
# The types come from one logistic regression per type (`TypeHeads`, trained on our written
# injection rows, whose types follow the evaluation corpus's conventions), except that any
# disguise the normaliser or the decoder undid, or a request to decode, adds `obfuscation`: the
# model text no longer shows the disguise. RE2: linear time, ASCII word boundaries.
_OBFUSCATION_CUES: Final[Any] = re2.compile(
    r"\bbase ?64\b|\brot-? ?13\b|\bhex(?:adecimal)?(?:[- ]encoded| string| code)\b|"
    r"\bl(?:ee|33)t ?speak\b|\bl33t\b|\bmorse\b|\bcipher\w*|\bcaesar\b|"
    r"\b(?:en|de)cod(?:e|ed|ing)\b|"
    r"\b(?:en|de)crypt\w*|\breversed? (?:text|order|string|words)\b|\bbackwards\b|\bpig latin\b|"
    r"\bzero[- ]width\b|\bhomoglyph\w*|\bletter by letter\b"
)

# --- The model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WordBlock:
    """Word n-gram -> (idf, idf * weight); the block is L2-normalised on its own."""

    terms: dict[str, tuple[float, float]]

    def dot(self, ngrams: Iterable[str]) -> float:
        """weight . tfidf / ||tfidf|| with sublinear tf (1 + ln count), as in training."""
        terms = self.terms
        dot = 0.0
        squares = 0.0
        for term, count in Counter(ngrams).items():
            entry = terms.get(term)
            if entry is None:
                continue
            tf = 1.0 + math.log(count)
            idf, weighted = entry
            dot += tf * weighted
            squares += (tf * idf) ** 2
        return dot / math.sqrt(squares) if squares else 0.0


@dataclass(frozen=True)
class _CharBlock:
    """Dense per-bucket idf and weight; buckets training dropped have idf 0 (ignored)."""

    idf: FloatArray
    weights: FloatArray

    def dot(self, buckets: IntArray, counts: IntArray) -> float:
        tfidf = (1.0 + np.log(counts)) * self.idf[buckets]
        # Products summed by numpy itself, not `@` or np.dot: those call BLAS, whose threads
        # wake for long vectors and, on a busy machine, took ~12 ms for a 16,000-character text
        # where the plain reduction takes ~0.05 ms.
        squares = float(np.sum(tfidf * tfidf))
        if not squares:
            return 0.0
        return float(np.sum(tfidf * self.weights[buckets])) / math.sqrt(squares)


@dataclass(frozen=True)
class TypeHeads:
    """One logistic regression per injection type over TF-IDF word 1-2-grams of the model text."""

    terms: dict[str, int]  # word n-gram -> row of `idf` and `weights`
    idf: FloatArray
    weights: FloatArray  # (terms, types)
    intercepts: FloatArray  # (types,)
    threshold: float  # a type is reported at this probability or higher

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypeHeads:
        if tuple(data["labels"]) != INJECTION_LABELS:
            raise ValueError(f"type heads for {data['labels']}, expected {INJECTION_LABELS}")
        return cls(
            terms={t: i for i, t in enumerate(data["terms"])},
            idf=np.asarray(data["idf"], dtype=np.float64),
            weights=np.asarray(data["weights"], dtype=np.float64).reshape(
                len(data["terms"]), len(INJECTION_LABELS)
            ),
            intercepts=np.asarray(data["intercepts"], dtype=np.float64),
            threshold=float(data["threshold"]),
        )

    def probabilities(self, ngrams: Iterable[str]) -> FloatArray:
        """P(type) for each of `INJECTION_LABELS`, from a model text's `word_features`."""
        counts = Counter(t for t in ngrams if t in self.terms)
        logits = self.intercepts.copy()
        if counts:
            rows = np.fromiter((self.terms[t] for t in counts), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            tfidf = tf * self.idf[rows]
            # As in `_CharBlock.dot`: numpy's own reductions, not BLAS.
            logits += np.sum(tfidf[:, None] * self.weights[rows], axis=0) / math.sqrt(
                float(np.sum(tfidf * tfidf))
            )
        return 1.0 / (1.0 + np.exp(-logits))

    def types(self, ngrams: Iterable[str]) -> set[str]:
        """The types at or above the threshold; the likeliest one when none reaches it."""
        p = self.probabilities(ngrams)
        found = {label for label, q in zip(INJECTION_LABELS, p, strict=True) if q >= self.threshold}
        return found or {INJECTION_LABELS[int(np.argmax(p))]}


@dataclass(frozen=True)
class InjectionModel:
    """The trained logistic regression, applied with the training code's own features, and the
    calibration map from its log-odds to a probability."""

    word: _WordBlock
    char: _CharBlock
    intercept: float
    calibration: Platt  # fitted on the realistic corpus's validation half
    types: TypeHeads
    threshold: float  # calibrated P(injection) at or above this is an injection (whole text)
    window_threshold: float  # the same for one window of a long text (a stronger claim)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> InjectionModel:
        return cls.from_dict(json.loads(gzip.decompress(path.read_bytes())), source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "weights") -> InjectionModel:
        if data.get("feature_version") != FEATURE_VERSION:
            raise ValueError(
                f"{source}: weights for feature version {data.get('feature_version')}, this code "
                f"computes version {FEATURE_VERSION}; retrain with "
                "`python -m worker.metrics.training.injection`"
            )
        word = data["word"]
        char = data["char"]
        idf = np.zeros(2**CHAR_HASH_BITS)
        weights = np.zeros(2**CHAR_HASH_BITS)
        buckets = np.asarray(char["buckets"], dtype=np.int64)
        idf[buckets] = char["idf"]
        weights[buckets] = char["weights"]
        return cls(
            word=_WordBlock(
                {
                    t: (i, i * w)
                    for t, i, w in zip(word["terms"], word["idf"], word["weights"], strict=True)
                }
            ),
            char=_CharBlock(idf, weights),
            intercept=float(data["intercept"]),
            calibration=Platt.from_dict(data["calibration"]),
            types=TypeHeads.from_dict(data["types"]),
            threshold=float(data["threshold"]),
            window_threshold=float(data["window_threshold"]),
        )

    def decision(self, text: str, ngrams: Sequence[str] | None = None) -> float:
        """The linear score (log-odds before calibration) of a model text (`model_text`);
        `ngrams` are its `word_features` when the caller has them already."""
        word = self.word.dot(word_features(text) if ngrams is None else ngrams)
        return self.intercept + word + self.char.dot(*char_buckets(text))

    def probability(self, text: str) -> float:
        """Calibrated P(injection) of a model text."""
        return self.calibration(self.decision(text))


def windows(text: str) -> list[str]:
    """Overlapping `WINDOW_CHARS` windows of a long text (none for a short one)."""
    if len(text) <= WINDOW_CHARS:
        return []
    last = len(text) - WINDOW_CHARS
    starts = [*range(0, last, WINDOW_STRIDE), last]
    return [text[start : start + WINDOW_CHARS] for start in starts]


def _capped(text: str) -> str:
    if len(text) <= MAX_SCAN_CHARS:
        return text
    return text[: MAX_SCAN_CHARS - TAIL_CHARS] + "\n" + text[-TAIL_CHARS:]


def with_concepts(text: str) -> str:
    """A normalised text followed by its concept tokens (`injection_lexicon`)."""
    tokens = concept_tokens(text)
    return f"{text} {tokens}" if tokens else text


@dataclass(frozen=True)
class Prepared:
    """A raw text made ready for the model."""

    expansion: Expansion  # encoded spans decoded in place
    norm: Normalised  # the expansion normalised, disguises undone
    text: str  # what the model reads: the deobfuscated text and its concept tokens


def prepare(text: str) -> Prepared:
    expansion = expand(text)
    norm = normalise(expansion.text)
    return Prepared(expansion, norm, with_concepts(norm.deobfuscated))


def model_text(text: str) -> str:
    """The text the model's features are computed from (training and run time alike)."""
    return prepare(text).text


@dataclass
class Analysis:
    """Why a text was or was not judged an injection."""

    score: float  # calibrated P(injection): the higher of the whole text's and its windows'
    injection: bool
    types: list[str] = field(default_factory=list)


class InjectionDetector:
    """The model and the type patterns; one per process (see `get_detector`)."""

    def __init__(self, model: InjectionModel | None = None) -> None:
        self.model = model or InjectionModel.load()

    def analyse(self, text: str) -> Analysis:
        prepared = prepare(_capped(text))
        norm = prepared.norm
        model = self.model
        ngrams = word_features(prepared.text)  # read by the model and by the type heads
        score = model.calibration(model.decision(prepared.text, ngrams))
        injection = score >= model.threshold
        # Each window on its own, so a short injection is not diluted by a long benign text.
        for window in windows(norm.deobfuscated):
            p = model.probability(with_concepts(window))
            if p >= model.window_threshold and p > score:
                score, injection = p, True
        if not injection:
            return Analysis(score, False)
        types = model.types.types(ngrams)
        # Disguises (encodings, invisible characters, homoglyphs, leetspeak ...) make
        # `obfuscation` a type of any injection, as does asking for a decoding.
        if (
            norm.disguised
            or prepared.expansion.decoded
            or _OBFUSCATION_CUES.search(norm.deobfuscated)
        ):
            types.add("obfuscation")
        return Analysis(score, True, [label for label in INJECTION_LABELS if label in types])

    def detect(self, text: str) -> list[str]:
        """Galileo's value: the injection types found, in vocabulary order; [] when clean."""
        if not text.strip():
            return []
        return self.analyse(text).types


_detector = Lazy(InjectionDetector)


def get_detector() -> InjectionDetector:
    """The process's detector, loaded on first use (~0.2 s)."""
    return _detector.get()


class PromptInjection(Scorer):
    name = "prompt_injection"
    reads = (PayloadField.INPUT,)
    kind = ValueKind.LABELS
    labels = INJECTION_LABELS
    # ~0.1 ms for a chat message, ~0.6 ms at 1,000 characters and ~20 ms at the 16,000-character
    # cap (windows, decoding): a thread keeps a long payload from stalling the event loop or
    # escaping the request's timeout.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        detector = get_detector()
        return [detector.detect(text) for (text,) in items]

    def warm_up(self) -> None:
        get_detector()


__all__ = [
    "DECISION",
    "INJECTION_LABELS",
    "MAX_SCAN_CHARS",
    "MODEL_CARD",
    "MODEL_PATH",
    "WINDOW_CHARS",
    "Analysis",
    "InjectionDetector",
    "InjectionModel",
    "PromptInjection",
    "TypeHeads",
    "canonical",
    "char_buckets",
    "get_detector",
    "model_text",
    "normalise",
    "prepare",
    "with_concepts",
    "word_features",
]

"""Structured-PII detection (`input_pii`, `output_pii`) on Presidio's pattern recognizers.

Presidio's pattern recognizers find emails, phone numbers, payment cards, SSNs, IP and MAC
addresses, IBANs, bank account numbers and Bitcoin addresses with regexes plus validators
(Luhn, IBAN checksum, libphonenumber, public-suffix check, Base58/Bech32 checksum). They need no
NER model, so nothing is downloaded and a short text takes well under a millisecond.

The value is Galileo's label list. The vocabulary is Galileo's full eleven labels so stage files
written for Galileo validate unchanged, but this detector only finds the structured ones:
`name`, `address`, `date_of_birth`, `password` and `username` are never reported yet.

Context words ("ssn", "phone", "account", ...) within a few words before a match raise its score,
as in Presidio's default setup. Presidio normally gets the words from a spaCy model; here a tiny
engine tokenizes with a regex and uses each token's lower-cased text as its lemma (see
`_RegexTokenNlpEngine`). Context words are English.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    PhoneRecognizer,
    UsBankRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.recognizer_registry import RecognizerRegistry
from spacy.lang.en.stop_words import STOP_WORDS

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind

if TYPE_CHECKING:
    from spacy.tokens import Doc

# Galileo's PII vocabulary, in its documented order.
PII_LABELS: tuple[str, ...] = (
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

# Presidio entity → Galileo label. Only these entities are requested from the analyzer.
ENTITY_LABELS: dict[str, str] = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone_number",
    "CREDIT_CARD": "credit_card_info",
    "US_SSN": "ssn",
    "IP_ADDRESS": "network_info",
    "MAC_ADDRESS": "network_info",
    "IBAN_CODE": "account_info",
    "US_BANK_NUMBER": "account_info",
    "CRYPTO": "account_info",
}

# Presidio's scores: a bare digit run (9-digit SSN, 8-17-digit bank number) scores 0.05; a
# libphonenumber-valid phone 0.4; a delimited SSN 0.5; IP and MAC addresses 0.6; matches that
# pass a checksum or the public-suffix check (cards, IBANs, Bitcoin, emails) 1.0. A context word
# adds 0.35 and lifts the score to at least 0.4. At 0.4 a bare digit run counts only next to a
# context word ("my ssn is 123456789"), while everything a validator vouched for counts alone.
SCORE_THRESHOLD = 0.4

# Presidio's defaults (5 words before, 0 after): "my ssn is 123456789" is caught,
# "123456789 is my ssn" is not. Words after a number more often belong to the next clause.
CONTEXT_WORDS_BEFORE = 5
CONTEXT_WORDS_AFTER = 0

# Presidio's context lists are matched as substrings by default, so "check" fires on
# "checkout", "security" on "cybersecurity" and "ip" on "ship". We match whole words instead and
# spell out the inflections that matter, since our "lemmas" are only lower-cased tokens.
# Presidio's SSN list also has "ssid", which in chat is a Wi-Fi network's name.
_SSN_CONTEXT = ["ssn", "ssns", "social", "security"]
_BANK_CONTEXT = ["account", "accounts", "acct", "bank", "banking", "checking", "savings"]

# libphonenumber accepts German service numbers of four to six digits ("1640", "164012"), so
# "in 1640 the war began" would be a phone number. Personal numbers have at least seven digits
# (a US local number without area code); shorter matches are dropped. A text with fewer digits
# skips the phone recognizer, which is most of the analyzer's cost.
MIN_PHONE_DIGITS = 7

_LANGUAGE = "en"

# Tokens for context matching: runs of word characters, or single other non-space characters
# (so "SSN:" gives "ssn" and ":").
_TOKEN = re.compile(r"\w+|[^\w\s]")


class _RegexTokenNlpEngine(NlpEngine):
    """Tokens and lower-cased "lemmas" for Presidio's LemmaContextAwareEnhancer, no model.

    spaCy's blank English pipeline would do the same job, but every unseen token string becomes a
    permanent entry of its vocabulary: a long-running worker reading arbitrary text grows without
    bound (measured: ~400 MB per million distinct tokens; ~40 MB inside `memory_zone()`, which
    also costs ~0.12 ms per text). The enhancer only iterates the tokens and takes their lengths
    and offsets, so plain strings serve. spaCy's English stop-word set is reused so the context
    window skips the same filler words as with a spaCy model.
    """

    def load(self) -> None:
        pass

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        tokens: list[str] = []
        offsets: list[int] = []
        for match in _TOKEN.finditer(text):
            tokens.append(match.group())
            offsets.append(match.start())
        return NlpArtifacts(
            entities=[],
            # The enhancer needs only iteration and len() of each token, which str provides.
            tokens=cast("Doc", tokens),
            tokens_indices=offsets,
            lemmas=[t.lower() for t in tokens],
            nlp_engine=self,
            language=language,
            scores=[],
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: Any,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in STOP_WORDS

    def is_punct(self, word: str, language: str) -> bool:
        return len(word) == 1 and unicodedata.category(word).startswith("P")

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return [_LANGUAGE]


# The public-suffix snapshot bundled with tldextract. Its default extractor first tries to
# download the current list (a network call, on the hot path, for the first email seen).
_SUFFIX_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, checking the domain against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return bool(_SUFFIX_EXTRACTOR(pattern_text).fqdn)


class _SsnRecognizer(UsSsnRecognizer):
    """Presidio's SSN recognizer without its placeholder list.

    Presidio discards the published sample numbers (123-45-6789, 078-05-1120, 987-65-4320). A
    guardrail must still flag them: a user pasting "my ssn is 123-45-6789" is sharing what they
    present as their SSN, and it is the number every acceptance test uses. The structural checks
    are Presidio's, unchanged.
    """

    def invalidate_result(self, pattern_text: str) -> bool:
        if len({c for c in pattern_text if c in ".- "}) > 1:
            return True  # mismatched delimiters
        digits = "".join(c for c in pattern_text if c.isdigit())
        if len(set(digits)) == 1:
            return True  # all the same digit
        if digits[3:5] == "00" or digits[5:] == "0000":
            return True  # a group of zeros is never issued
        # Area numbers the SSA never issues.
        return digits[:3] in ("000", "666")


class _PhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, without matches too short to be a personal number."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if _count_digits(text) < MIN_PHONE_DIGITS:
            return []
        # Presidio's phone recognizer ignores NLP artifacts.
        results: list[RecognizerResult] = super().analyze(text, entities)
        return [r for r in results if _count_digits(text[r.start : r.end]) >= MIN_PHONE_DIGITS]


def _count_digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _recognizers() -> list[EntityRecognizer]:
    return [
        _OfflineEmailRecognizer(),
        _PhoneRecognizer(),
        CreditCardRecognizer(),
        _SsnRecognizer(context=_SSN_CONTEXT),
        IpRecognizer(),
        MacAddressRecognizer(),
        IbanRecognizer(),
        UsBankRecognizer(context=_BANK_CONTEXT),
        CryptoRecognizer(),
    ]


def _resolve_overlaps(results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """Drop a result when an overlapping one of another type scores strictly higher.

    One span gets one reading: "my ssn is 078-05-1120" is an SSN, not also a phone number, and a
    Luhn-valid card number is not also a bank account number.
    """
    ranked = sorted(results, key=lambda r: r.score, reverse=True)
    kept: list[RecognizerResult] = []
    for result in ranked:
        if not any(
            other.score > result.score and other.start < result.end and result.start < other.end
            for other in kept
        ):
            kept.append(result)
    return kept


class PiiDetector:
    """One Presidio analyzer, built once, shared by every PII scorer of the process."""

    # A short text to run once at warm-up: it compiles every recognizer's regexes (Presidio
    # compiles on first use) and loads the public-suffix snapshot off the hot path.
    _WARM_UP_TEXT = "my ssn is 536-22-1234, email a@example.com, card 4111 1111 1111 1111"

    def __init__(self) -> None:
        self._analyzer = AnalyzerEngine(
            registry=RecognizerRegistry(_recognizers(), supported_languages=[_LANGUAGE]),
            nlp_engine=_RegexTokenNlpEngine(),
            supported_languages=[_LANGUAGE],
            default_score_threshold=SCORE_THRESHOLD,
            context_aware_enhancer=LemmaContextAwareEnhancer(
                context_prefix_count=CONTEXT_WORDS_BEFORE,
                context_suffix_count=CONTEXT_WORDS_AFTER,
                context_matching_mode="whole_word",
            ),
        )
        self._entities = list(ENTITY_LABELS)
        self.detect(self._WARM_UP_TEXT)

    def analyze(self, text: str) -> list[RecognizerResult]:
        """Presidio's results above the threshold, one reading per span."""
        if not text.strip():
            return []
        results = self._analyzer.analyze(
            text, language=_LANGUAGE, entities=self._entities, score_threshold=SCORE_THRESHOLD
        )
        return _resolve_overlaps(results)

    def detect(self, text: str) -> list[str]:
        """The distinct Galileo labels found in `text`, sorted."""
        return sorted({ENTITY_LABELS[r.entity_type] for r in self.analyze(text)})


_detector: PiiDetector | None = None
_detector_lock = threading.Lock()


def get_detector() -> PiiDetector:
    """The process's detector, built on first use (~0.1 s; Presidio loads with this module)."""
    global _detector
    detector = _detector
    if detector is None:
        with _detector_lock:
            detector = _detector
            if detector is None:
                detector = _detector = PiiDetector()
    return detector


class _PiiScorer(Scorer):
    kind = ValueKind.LABELS
    labels = PII_LABELS
    # ~0.5 ms per chat message but ~1.5 ms per KB and far more on digit-heavy text (the phone
    # library): run in a thread so a long payload neither stalls the event loop nor escapes the
    # request's timeout.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        detector = get_detector()
        return [detector.detect(text) for (text,) in items]

    def warm_up(self) -> None:
        get_detector()


class InputPii(_PiiScorer):
    name = "input_pii"
    reads = (PayloadField.INPUT,)


class OutputPii(_PiiScorer):
    name = "output_pii"
    reads = (PayloadField.OUTPUT,)


__all__ = [
    "ENTITY_LABELS",
    "PII_LABELS",
    "SCORE_THRESHOLD",
    "InputPii",
    "OutputPii",
    "PiiDetector",
    "get_detector",
]

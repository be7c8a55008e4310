"""Chat-style romanisation of training examples, so the language model learns romanised text.

People write Hindi, Russian, Greek or Japanese in Latin letters in chat ("kya kar rahe ho",
"privet, kak dela", "arigatou"). Our written examples hold a few dozen such rows; romanising
the native-script rows of the same file adds a romanised twin to each, in the spelling chat uses
(no diacritics, "sh"/"ch"/"kh", long vowels mostly single), labelled with the row's language.

- Indic scripts (Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada,
  Malayalam): letters read from their Unicode names (LETTER KA → "ka"), the inherent vowel dropped
  before a vowel sign or virama, and at a word's end in the northern languages, which do not
  pronounce it there (Hindi "kal", Tamil "rompa").
- Cyrillic: one table per language family (Ukrainian и → "y", г → "h"; Serbian to its own Latin
  alphabet, which Serbs write).
- Greek: Greeklish. Kana: romaji from the kana's names (kanji cannot be read without a
  dictionary, so they become word breaks).
- Arabic script (Arabic, Persian, Urdu, Pashto): a letter table, with the chat conventions
  (Arabizi's digits for the letters Latin lacks: ع 3, ح 7, ء 2; Persian and Urdu "kh", "sh",
  "ch", long vowels from the letters that write them). Short vowels are not written in the
  script, so an "a" is guessed after a word's first consonant when a consonant follows
  ("slam" → "salam", "frda" → "farda"): rough, but the twins teach the chat model the
  consonant skeletons and the digits, which real romanised text shares.

Random choices (long vowels doubled or not) come from the caller's `random.Random`, so training
stays reproducible.
"""

# The tables hold Cyrillic and Greek letters on purpose: they are not typos of Latin ones.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import random
import re
import unicodedata
from typing import Final

_CYRILLIC: Final[dict[str, str]] = {
    **dict(zip("абвгдезийклмнопрстуфыэ", "abvgdeziyklmnoprstufye", strict=True)),
    "ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ь": "",
    "ю": "yu", "я": "ya", "ё": "yo", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
    "ђ": "dj", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "џ": "dz", "ѓ": "gj", "ќ": "kj",
    "ѕ": "dz", "ә": "a", "қ": "q", "ң": "ng", "ғ": "gh", "ө": "o", "ү": "u", "ұ": "u", "һ": "h",
}  # fmt: skip
_UKRAINIAN: Final = {**_CYRILLIC, "и": "y", "г": "h", "щ": "shch", "х": "kh"}
_BELARUSIAN: Final = {**_CYRILLIC, "г": "h", "и": "i"}
_SERBIAN: Final = {
    **_CYRILLIC,
    **{"ш": "š", "ж": "ž", "ч": "č", "ћ": "ć", "ђ": "đ", "џ": "dž", "х": "h", "ц": "c", "й": "j"},
}
_CYRILLIC_TABLES: Final = {"uk": _UKRAINIAN, "be": _BELARUSIAN, "sr": _SERBIAN}
_CYRILLIC_LANGUAGES: Final = frozenset({"ru", "uk", "be", "bg", "mk", "sr", "kk", "mn", "ky"})

_GREEK_LETTERS: Final = ("αβγδεζηικλμνξοπρσςτυφχωάέήίόύώϊϋΐΰ", "avgdeziiklmnxoprsstyfxoaeiioyoiyiy")
_GREEK: Final[dict[str, str]] = {
    **dict(zip(*_GREEK_LETTERS, strict=True)),
    "θ": "th",
    "ψ": "ps",
}

_ARABIC_SCRIPT: Final[dict[str, str]] = {
    "ا": "a", "آ": "aa", "أ": "a", "إ": "i", "ب": "b", "پ": "p", "ت": "t", "ٹ": "t", "ث": "s",
    "ج": "j", "چ": "ch", "ح": "h", "خ": "kh", "د": "d", "ڈ": "d", "ذ": "z", "ر": "r", "ڑ": "r",
    "ز": "z", "ژ": "zh", "س": "s", "ش": "sh", "ص": "s", "ض": "z", "ط": "t", "ظ": "z", "ع": "a",
    "غ": "gh", "ف": "f", "ق": "q", "ک": "k", "ك": "k", "گ": "g", "ل": "l", "م": "m", "ن": "n",
    "ں": "n", "و": "o", "ہ": "h", "ه": "h", "ھ": "h", "ة": "a", "ی": "i", "ي": "i", "ى": "a",
    "ے": "e", "ئ": "i", "ؤ": "o", "ء": "", "ټ": "t", "ډ": "d", "ړ": "r", "ښ": "sh", "ږ": "zh",
    "ځ": "dz", "څ": "ts", "ې": "e", "ۍ": "ai", "ڼ": "n",
}  # fmt: skip
# Arabizi: the letters Latin has no sound for are written with digits that look like them.
_ARABIZI: Final = {
    **_ARABIC_SCRIPT, "ع": "3", "ح": "7", "ء": "2", "أ": "2", "إ": "2", "ؤ": "2", "ئ": "2",
    "ث": "th", "ذ": "dh", "ض": "d", "ق": "2", "ي": "i", "و": "w",
}  # fmt: skip
_ARABIC_VOWEL_LETTERS: Final = frozenset("اآأإوؤیيىےئې")
# How often Arabizi writes ق as "2" (Egyptian, Levantine) rather than "q".
ARABIZI_GLOTTAL_QAF: Final = 0.5

_INDIC: Final = (
    "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "ORIYA", "TAMIL", "TELUGU", "KANNADA",
    "MALAYALAM",
)  # fmt: skip
# Scripts of languages that drop the inherent vowel at a word's end (schwa deletion).
_SCHWA_DROPPING: Final = frozenset({"DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "ORIYA"})
_VOWELS: Final = frozenset({"a", "aa", "i", "ii", "u", "uu", "e", "ee", "ai", "o", "oo", "au"})
# Letter names that chat spells with a plain letter (retroflex TTA → "t", CA → "ch").
_LETTER_SPELLING: Final = {
    "tta": "ta", "ttha": "tha", "dda": "da", "ddha": "dha", "nna": "na", "nnna": "na",
    "rra": "ra", "rrra": "ra", "lla": "la", "llla": "la", "ssa": "sha", "ca": "cha",
    "cha": "chha", "candra o": "o", "candra e": "e", "vocalic r": "ri",
}  # fmt: skip
_VOWEL_SIGNS: Final = {
    "AA": "a", "I": "i", "II": "i", "U": "u", "UU": "u", "E": "e", "EE": "e", "AI": "ai",
    "O": "o", "OO": "o", "AU": "au", "VOCALIC R": "ri", "CANDRA E": "e", "CANDRA O": "o",
}  # fmt: skip
_LONG_VOWELS: Final = {"AA": "aa", "II": "ee", "UU": "oo"}
# How often a long vowel is spelled double ("aap", "meeting"), as chat does now and then.
DOUBLED_LONG_VOWEL: Final = 0.3


def _script(char: str) -> str:
    return unicodedata.name(char, "").split(" ", 1)[0]


def _indic_word(word: str, rng: random.Random) -> str:
    out: list[str] = []
    for k, char in enumerate(word):
        script, _, rest = unicodedata.name(char, "").partition(" ")
        if script not in _INDIC:
            out.append(char)
            continue
        following = unicodedata.name(word[k + 1], "") if k + 1 < len(word) else ""
        if rest.startswith("LETTER "):
            name = rest.removeprefix("LETTER ").lower()
            spelled = _LETTER_SPELLING.get(name, name.split()[-1])
            if spelled in _VOWELS:
                out.append(spelled if rng.random() < DOUBLED_LONG_VOWEL else spelled[:1])
                continue
            final = not following.startswith(_INDIC)
            silent = (
                "VOWEL SIGN" in following
                or "VIRAMA" in following
                or (final and script in _SCHWA_DROPPING)
            )
            out.append(spelled[:-1] if silent and spelled.endswith("a") else spelled)
        elif rest.startswith("VOWEL SIGN "):
            sign = rest.removeprefix("VOWEL SIGN ")
            long = _LONG_VOWELS.get(sign)
            use_long = long is not None and rng.random() < DOUBLED_LONG_VOWEL
            out.append(long if use_long and long else _VOWEL_SIGNS.get(sign, sign.lower()[:2]))
        elif "ANUSVARA" in rest or "CANDRABINDU" in rest:
            out.append("n")
        elif "VISARGA" in rest:
            out.append("h")
        elif "DANDA" in rest:
            out.append(".")
    return "".join(out)


def _kana(char: str) -> str | None:
    name = unicodedata.name(char, "")
    if name.startswith(("HIRAGANA LETTER ", "KATAKANA LETTER ")):
        syllable = name.split("LETTER ", 1)[1].lower()
        return (
            ("~" + syllable.removeprefix("small ")) if syllable.startswith("small ") else syllable
        )
    if name == "KATAKANA-HIRAGANA PROLONGED SOUND MARK":
        return "-"
    return None


def romaji(text: str) -> str:
    """Hepburn-like romaji of a text's kana; kanji and other letters become word breaks."""
    out: list[str] = []
    for char in text:
        syllable = _kana(char)
        if syllable is not None:
            out.append(syllable)
        elif char.isascii() and not char.isalpha():
            out.append(char)
        else:
            out.append(" ")
    s = "".join(out)
    s = re.sub(r"(\w)~tu(\w)", lambda m: m.group(1) + m.group(2)[0] + m.group(2), s)  # っ
    s = re.sub(r"ti~y([aou])", r"ch\1", s)
    s = re.sub(r"si~y([aou])", r"sh\1", s)
    s = re.sub(r"zi~y([aou])", r"j\1", s)
    s = re.sub(r"([kgnhbpmr])i~y([aou])", r"\1y\2", s)
    s = s.replace("~", "").replace("tu", "tsu").replace("si", "shi").replace("ti", "chi")
    s = s.replace("hu", "fu").replace("zi", "ji")
    s = re.sub(r"(\w)-", r"\1\1", s)  # ー lengthens the vowel before it
    return re.sub(r"\s+", " ", s).strip()


def _table(text: str, table: dict[str, str]) -> str:
    out = []
    for char in unicodedata.normalize("NFC", text):
        spelled = table.get(char.lower())
        if spelled is None:
            out.append(char)
        else:
            out.append(spelled.capitalize() if char.isupper() else spelled)
    return "".join(out)


def _arabic_word(word: str, language: str, rng: random.Random) -> str:
    table = _ARABIZI if language == "ar" else _ARABIC_SCRIPT
    out: list[str] = []
    letters = [c for c in word if c in table or c == "‌"]
    for k, char in enumerate(letters):
        if char == "‌":  # Persian's zero-width non-joiner: "mi‌binam" is one word
            continue
        spelled = table[char]
        if char == "ق" and language == "ar" and rng.random() >= ARABIZI_GLOTTAL_QAF:
            spelled = "q"
        if char == "و" and k == 0:
            spelled = "w" if language in ("ar", "ur") else "v"
        elif char in "یيئ" and k == 0:
            spelled = "y"
        elif char in "هہ" and k == len(letters) - 1 and k > 0:
            spelled = "a" if language == "ar" else "e"  # a word's final h is a vowel
        out.append(spelled)
        consonant = char not in _ARABIC_VOWEL_LETTERS
        following = letters[k + 1] if k + 1 < len(letters) else ""
        if k == 0 and consonant and following and following not in _ARABIC_VOWEL_LETTERS:
            out.append("a")  # the unwritten short vowel after a word's first consonant
    latin = "".join(out)
    if language == "ar" and latin.startswith("al") and len(latin) > 3:
        latin = "el" + latin[2:] if rng.random() < 0.5 else latin  # ال: Egyptian "el"
    return latin


def romanise(text: str, language: str, rng: random.Random) -> str | None:
    """The text in Latin letters as chat writes it, or None when its language or script has no
    romanisation here (Latin already, Arabic script, Han only)."""
    scripts = {_script(c) for c in text if c.isalpha()}
    if language == "ja":
        latin = romaji(text)
        return latin if sum(c.isalpha() for c in latin) >= 4 else None
    if "CYRILLIC" in scripts and language in _CYRILLIC_LANGUAGES:
        return _table(text, _CYRILLIC_TABLES.get(language, _CYRILLIC))
    if "GREEK" in scripts and language == "el":
        return _table(text, _GREEK)
    if scripts & set(_INDIC):
        return " ".join(_indic_word(word, rng) for word in text.split())
    if "ARABIC" in scripts and language in ("ar", "fa", "ur", "ps"):
        words = (
            _arabic_word(word, language, rng) if any(c in _ARABIC_SCRIPT for c in word) else word
            for word in text.split()
        )
        return " ".join(w for w in words if w)
    return None

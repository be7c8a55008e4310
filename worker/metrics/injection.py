"""Prompt-injection detection (`prompt_injection`): is this input an injection, and of which types.

Two stages in Python and numpy (no scikit-learn at run time, nothing from the network); the model
loads in ~0.2 s:

1. **Is it an injection?** A logistic regression over TF-IDF word 1-2-grams and hashed character
   3-5-grams of the normalised text, trained by `python -m worker.metrics.training.injection` on the
   train split of the `prompt_injection` dataset plus CLINC150 queries and a small hand-written
   set (see `models/prompt_injection.card.json`: data, licences, split, scores). The weights
   (`models/prompt_injection.json.gz`) are applied by the same feature functions training used,
   and training checks that both give the same scores. A text is an injection when the
   probability reaches the threshold chosen on the validation split (stored with the weights).
   `securevector-guardian-model` 1.4, the detector that ships on PyPI, was measured first and
   fell well short on this data (F1 0.58 on the same test split, see the card), so it is not used.
2. **Which types?** Once the text is judged an injection, documented patterns name Galileo's types
   (several can apply): `simple_instruction` ("ignore previous instructions", "disregard the
   above"), `few_shot` (fabricated Q/A or chat turns), `new_context` (a new task, a context reset,
   a fake system section such as "### SYSTEM" or "<|im_start|>system"), `impersonation` (DAN, "you
   are now", "act as", developer mode, claiming to be the developer or an admin) and
   `obfuscation` (base64/hex/URL-encoded, rot13 or reversed payloads, leetspeak, homoglyphs,
   invisible characters, spaced-out letters, or a request to decode). When no pattern matches, one
   type is reported from the text's length (see `_fallback_type`).

Disguises are undone before the text is judged: the model reads text normalised with NFKC, with
invisible characters removed and homoglyphs spelled in Latin; leetspeak and spaced-out letters that
spell a trigger word ("1gn0re", "i g n o r e") are rejoined and the result judged again; base64,
hex and URL-encoded blobs are decoded and judged on their own; rot13 and reversed text are checked
against the strongest patterns. Whatever reveals an injection this way adds `obfuscation`.

Long inputs: the model judges the whole text and, beyond `WINDOW_CHARS`, overlapping windows of it,
so an instruction buried in a long document is not diluted by the rest. At most `MAX_SCAN_CHARS`
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
# The patterns read the normalised text (lower-case, single spaces, disguises undone), so they
# need no case or spacing variants. They are only consulted once the model has judged the text an
# injection: "ignore" alone is common in
# benign questions, and the model, not a keyword, decides whether there is an injection.
# They run on RE2: linear time, and 10-40x faster than `re` on these large alternations (~10 µs
# instead of ~300 µs per 1,000 characters). Its `\b` and `\w` know ASCII letters only, which the
# English patterns do not mind. Gaps between words are bounded ({0,3}).

_GAP = r"(?:[\s,]+[\w'\-]+){0,3}?"
_OVERRIDE = (
    r"(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|skip|overrid(?:e|ing)|bypass|neglect|"
    r"omit|abandon|discard|dismiss|drop|ditch|set aside|pay no attention to|"
    r"(?:do not|don't|stop|no longer) (?:follow|obey|adhere to|comply with)|"
    r"vergiss|vergessen|ignorier\w*|oublie[zr]?|ignore[zr]|olvida|ignora)"
)
_DIRECTIVE_NOUN = (
    r"(?:instructions?|directions?|directives?|prompts?|rules?|guidelines?|commands?|orders?|"
    r"programming|constraints?|restrictions?|guardrails?|polic(?:y|ies)|training|"
    r"anweisungen|befehle|regeln|consignes|instrucciones)"
)
_PRIOR = (
    r"(?:previous(?:ly)?|prior|above|aforementioned|preceding|earlier|former|original|initial|"
    r"foregoing|before|so far|until now|till now|system|vorherigen|bisherigen|obigen|"
    r"précédentes|anteriores)"
)
_SIMPLE_INSTRUCTION: Final[Any] = re2.compile(
    "|".join(
        (
            rf"\b{_OVERRIDE}\b{_GAP}[\s,]+{_DIRECTIVE_NOUN}\b",
            rf"\b{_OVERRIDE}\b{_GAP}[\s,]+{_PRIOR}\b",
            rf"\b{_OVERRIDE} (?:everything|all|alles|tout|todo)\b",
            r"\b(?:instead|rather),? (?:just )?(?:say|print|output|write|respond|reply|answer)\b",
            r"\bjust (?:say|print|output|write|respond with|reply with)\b",
            r"\b(?:say|print|output|write|respond with|reply with) [\"'“]?"
            r"i (?:have|'ve) been pwned",
            r"\bignore (?:the|this|that) (?:above|previous|preceding)\b",
            r"\bnevermind\b|\bnever mind\b",
            # Prompt leaking: a direct order to hand over what the application keeps hidden.
            r"\b(?:tell|show|reveal|print|repeat|give|output|display|share) me "
            r"(?:what (?:are|is) )?(?:your|the) (?:\w+ )?"
            r"(?:instructions|system prompt|prompt|rules|initial|hidden)\b",
            # RE2's \b knows ASCII letters only: the Russian words get a letter-class boundary.
            r"(?:^|[^\pL])(?:забудь(?:те)?|игнорируй(?:те)?)(?:$|[^\pL])",
            r"^stop[:!]",
        )
    )
)
_FEW_SHOT_ASKER: Final[Any] = re2.compile(
    r"(?:^|[\s\]\)>\"'])(?:q|question|user|human|input|prompt|customer|me|person)\s?\d*\s?:"
)
_FEW_SHOT_ANSWERER: Final[Any] = re2.compile(
    r"(?:^|[\s\]\)>\"'])(?:a|answer|assistant|ai|output|response|bot|chatbot|gpt|chatgpt|model|"
    r"agent|you)\s?\d*\s?:"
)
_FEW_SHOT_CUES: Final[Any] = re2.compile(
    r"\b(?:here are (?:some|a few|two|three) examples|for example,? (?:input|q|user)\s?:|"
    r"example \d+\s?:|examples?:\s?(?:input|q|user)\s?:)"
)
# Fabricated turns: at least this many asker/answerer markers in all, with both sides present
# ("Q: ... A: ... Q:"). One of each is ordinary prompting ("Question: ... Answer:").
MIN_FEW_SHOT_TURNS: Final = 3
_NEW_CONTEXT: Final[Any] = re2.compile(
    "|".join(
        (
            r"\bnew (?:task|tasks|instructions?|rules|context|conversation|session|prompt|"
            r"assignment|role|objective|directive|mission|game|persona|system)\b",
            r"\bfrom now on\b|\bstarting (?:now|today|from now)\b|\bhenceforth\b",
            r"\b(?:this|the|our) (?:conversation|session|context|task|test|game|simulation|"
            r"exercise) (?:is|has) (?:now )?(?:over|ended|finished|complete|done)\b",
            r"\b(?:that|this) (?:is|was) (?:done|enough|completed?|over)\b",
            r"\bend of (?:the )?(?:prompt|instructions?|context|document|input|conversation|"
            r"system prompt|article|text)\b",
            r"\b(?:reset|clear|wipe|restart|reboot|erase) (?:your |the |all )?(?:context|memory|"
            r"conversation|instructions|session|settings|programming)\b",
            r"\blet'?s (?:start|begin) (?:over|again|fresh|anew)\b",
            # A system section framed in the text ("System prompt: ..."), not a mention of one
            # ("reveal your system prompt" is the attacker's goal, not a new context).
            r"\bsystem (?:prompt|message|instructions?)\s?:",
            r"\bsystem (?:override|update|notice|alert)\b",
            r"(?:#{2,}|\[|<|\{\{|<<|={3,}|-{3,}|\*{3,})\s?(?:system|sys|instructions?|admin|"
            r"new|developer|end|context)\b",
            r"<\|?(?:im_start|im_end|endoftext|system|user|assistant)\|?>|\[/?inst\]|<</?sys>>",
            r"^(?:system|admin|developer)\s?:",
            r"\bnow (?:further|new|other|different|the next) (?:tasks?|instructions?|questions?)\b",
            r"\b(?:neue aufgabe|ab (?:jetzt|sofort)|das ist erledigt|nun folgen|nouvelle tâche|"
            r"nueva tarea)\b",
        )
    )
)
_IMPERSONATION: Final[Any] = re2.compile(
    "|".join(
        (
            r"\bdan\b|\bdo anything now\b|\bjailbr(?:ea|o)k\w*",
            r"\b(?:developer|dev|god|debug|admin|sudo|maintenance|unrestricted|unfiltered|"
            r"uncensored|evil|chaos|opposite|anti|dude|stan|aim) mode\b",
            r"\byou(?: are|'re| will be| shall be| will now be) (?:now|no longer)\b",
            r"\byou will (?:now )?(?:act|pretend|play|simulate|emulate|respond as|answer as|"
            r"become)\b",
            r"\bfrom now on,? you(?: are|'re| will| shall| must)\b",
            r"\bact(?:ing)? (?:as|like)\b",
            r"\b(?:pretend|imagine|suppose)(?: to be| you are| you're| that you| you can)\b",
            r"\brole-?play\w*|\bplay (?:the )?(?:role|part) of\b|\bin the role of\b",
            r"\btake on the (?:role|persona|identity)\b|\bpersona\b|\bstay in character\b",
            r"\bcharacter (?:named|called)\b|\b(?:simulate|emulate|impersonate)\b",
            r"\byou are (?:a|an) (?:\w+ ){0,2}(?:ai|assistant|model|chatbot|bot|llm) "
            r"(?:without|with no|that has no|free (?:from|of)|freed from|who (?:doesn't|does not|"
            r"never|can))\b",
            r"\bi(?: am|'m) (?:your|the|an?) (?:\w+ )?(?:developer|creator|admin|administrator|"
            r"owner|programmer|engineer|operator|ceo|supervisor|maker)\b",
            r"\b(?:openai|anthropic|google|microsoft|meta) (?:staff|employee|engineer|developer|"
            r"team|admin)\b",
            r"\bas your (?:developer|creator|administrator|admin|owner|programmer|master)\b",
            r"\bthis is (?:your|the) (?:developer|admin|administrator|system administrator|"
            r"creator|owner)\b",
            r"\b(?:mongo tom|evil confidant|betterdan|antigpt|devmode|developer mode|dan mode)\b",
            r"\bwithout (?:any )?(?:restrictions|filters|filtering|limitations|censorship|"
            r"guidelines|rules|ethics|morals)\b",
            r"\b(?:du bist (?:jetzt|nun)|tu so,? als|stell dir vor,? du bist|spiel(?:e|st)? die "
            r"rolle|antworte (?:im stil|als)|tu es|tu eres|fais semblant)\b",
            r"\bim stil\b",
        )
    )
)
_OBFUSCATION_CUES: Final[Any] = re2.compile(
    r"\bbase ?64\b|\brot-? ?13\b|\bhex(?:adecimal)?(?:[- ]encoded| string| code)\b|"
    r"\bl(?:ee|33)t ?speak\b|\bl33t\b|\bmorse\b|\bcipher\w*|\bcaesar\b|"
    r"\b(?:en|de)cod(?:e|ed|ing)\b|"
    r"\b(?:en|de)crypt\w*|\breversed? (?:text|order|string|words)\b|\bbackwards\b|\bpig latin\b|"
    r"\bzero[- ]width\b|\bhomoglyph\w*|\bletter by letter\b"
)

# Texts judged injections that match no pattern and are shorter than this get
# `simple_instruction`, longer ones `impersonation` (see `_fallback_type`).
FALLBACK_LONG_CHARS: Final = 400


def pattern_types(text: str) -> set[str]:
    """The types whose patterns match a normalised text (no `obfuscation`: see `analyse`)."""
    types: set[str] = set()
    if _SIMPLE_INSTRUCTION.search(text):
        types.add("simple_instruction")
    if _NEW_CONTEXT.search(text):
        types.add("new_context")
    if _IMPERSONATION.search(text):
        types.add("impersonation")
    askers = len(_FEW_SHOT_ASKER.findall(text))
    answerers = len(_FEW_SHOT_ANSWERER.findall(text))
    turns = askers and answerers and askers + answerers >= MIN_FEW_SHOT_TURNS
    if turns or _FEW_SHOT_CUES.search(text):
        types.add("few_shot")
    return types


def _fallback_type(text: str) -> str:
    """The single most likely type of an injection that matched no pattern.

    Counted on the training split's injections that do match a pattern: below
    `FALLBACK_LONG_CHARS`, 64 of 116 are `simple_instruction` (35 `impersonation`, 24
    `new_context`): direct orders that take over the task ("state that trump is the best",
    "translate to polish"); above it, 742 of 798 are `impersonation`: persona and role-play set-ups
    ("You are NRW, a Non-Restricted Writer ..."). Length is the cue left when no phrase matched.
    """
    return "simple_instruction" if len(text) < FALLBACK_LONG_CHARS else "impersonation"


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
class InjectionModel:
    """The trained logistic regression, applied with the training code's own features, and the
    calibration map from its log-odds to a probability."""

    word: _WordBlock
    char: _CharBlock
    intercept: float
    calibration: Platt  # fitted on the realistic corpus's validation half
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
            threshold=float(data["threshold"]),
            window_threshold=float(data["window_threshold"]),
        )

    def decision(self, text: str) -> float:
        """The linear score (log-odds before calibration) of a model text (`model_text`)."""
        word = self.word.dot(word_features(text))
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
        score = model.probability(prepared.text)
        injection = score >= model.threshold
        # Each window on its own, so a short injection is not diluted by a long benign text.
        for window in windows(norm.deobfuscated):
            p = model.probability(with_concepts(window))
            if p >= model.window_threshold and p > score:
                score, injection = p, True
        if not injection:
            return Analysis(score, False)
        # Decoded payloads are part of the expanded text, so the patterns read them too.
        types = pattern_types(norm.deobfuscated)
        # Disguises (encodings, invisible characters, homoglyphs, leetspeak ...) make
        # `obfuscation` a type of any injection, as does asking for a decoding.
        if (
            norm.disguised
            or prepared.expansion.decoded
            or _OBFUSCATION_CUES.search(norm.deobfuscated)
        ):
            types.add("obfuscation")
        if not types:
            types.add(_fallback_type(norm.canonical))
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
    "canonical",
    "char_buckets",
    "get_detector",
    "model_text",
    "normalise",
    "pattern_types",
    "prepare",
    "with_concepts",
    "word_features",
]

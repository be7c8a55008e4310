"""Language identification (`input_language`, `output_language`): py3langid's bundled model,
joined by a character n-gram model trained on our chat-style examples, and by what the script
and the letters of a text say.

The value is the language's ISO 639-1 code ("en", "fr", "zh"), or the model's ISO 639-3 code for
the few languages that have no two-letter code ("ace", "pcm"). Regional varieties whose
macrolanguage has a two-letter code are folded into it (Egyptian and Moroccan Arabic → "ar",
Cantonese and Wu → "zh"), so a rule `output_language neq ar` means what it says.

Every text with a letter in it gets its best label, short ones too ("hola, que tal?" is "es"): a
guardrail keyed to a language must see short messages, and on three-word chat messages the best
label is right far more often than not (see below). Only a text without letters (digits, emoji,
punctuation) has no value (None), so its rules do not trigger.

How a label is chosen, per language c (scores in nats, the largest wins):

    score(c) = max(py3langid(c), floor(length)) + CHAT_WEIGHT · max(chat(c), CHAT_FLOOR)
               + letters(c) + script(c) + prior(c) · shortness - RARE_LABEL_PENALTY · rare(c)

- py3langid(c): py3langid's log-probability, at its own temperature (√bytes). py3langid was
  trained on edited text: on romanised Hindi or Arabizi it is confidently wrong (Northern Sotho,
  Shona) and the right language gets ~e-30. Its votes against a language are therefore capped by
  a floor, deeper for longer texts, where it is reliable.
- chat(c): a multinomial naive Bayes over character 1-4-grams (`models/language.npz`, trained by
  `protect train language` on training-data/language.jsonl: short chat messages, near languages,
  code-mixing, romanised text, and romanised twins of its native-script rows), as a
  log-probability at temperature √n-grams. Languages it does not know get `UNKNOWN_TO_CHAT`.
  Where the other terms already put the leader further ahead than the chat term can move it
  (most long texts), it is not computed.
- letters(c): letters only some of a group of near languages write (Serbian ћ ђ, Macedonian ќ ѓ,
  Ukrainian ї є ґ, Belarusian ў, Czech ř ě ů, Slovak ľ ô, Polish ą ł, Romanian ă ș ț, Persian
  پ چ ژ گ, Urdu ٹ ڈ ڑ ے ...) count against the group's languages that never write them.
- script(c): a script only one language here writes (Hangul, kana, Thai, Georgian, Greek,
  Hebrew, Armenian, Ethiopic, the Indic scripts but Devanagari and Bengali ...) decides when it
  holds at least `SCRIPT_SHARE` of the letters; Han restricts the choice to Chinese and Japanese.
- prior(c): for texts of a few letters only ("ok", "merci"), the share of each language among
  the written chat examples; rare(c): labels without a two-letter code (minor and historic
  languages, rare in chat).

The measurements behind each knob are in worker/metrics/training/language.py's docstring.
"""

# The near-language letters are Cyrillic and other scripts on purpose, not typos of Latin ones.
# ruff: noqa: RUF001

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, PerItemScorer, ScorerInput, ValueKind
from worker.metrics.heads import char_ngrams
from worker.metrics.loading import Lazy

MODELS_DIR: Final = Path(__file__).parent / "models"
MODEL: Final = MODELS_DIR / "language.npz"
CARD: Final = MODELS_DIR / "language.card.json"
# Version of the .npz layout below; bump it when the arrays change.
MODEL_FORMAT: Final = 1

# A text needs a letter to have a language; one letter is enough for a best guess ("k" is
# English chat more often than not), and the chat model's bias towards common languages decides.
MIN_LETTERS: Final = 1

# The combination's knobs, picked on the realistic validation half (evals/language.jsonl) and
# checked on NTREX-128; worker/metrics/training/language.py's docstring has the measurements.
# py3langid's log-probability is never counted below FLOOR, for texts of up to FLOOR_CHARS
# characters; longer texts get a floor deeper by √(chars / FLOOR_CHARS), as py3langid's margins
# grow with length and become trustworthy (news sentences: 0.97 accuracy alone).
FLOOR: Final = -2.0
FLOOR_CHARS: Final = 60
# The chat model's temperature: its log-likelihoods are divided by (number of n-grams) ** this.
CHAT_TEMPERATURE: Final = 0.5
# The chat model's weight against py3langid's (both log-probabilities at their temperatures).
CHAT_WEIGHT: Final = 0.2
# The chat model's log-probability for languages it was not trained on: a little below its
# typical runner-up, so py3langid's rarer languages need a clear margin to win.
UNKNOWN_TO_CHAT: Final = -6.0
# The chat model's log-probabilities are never counted below this: it bounds what the chat term
# can change, so a leader further ahead skips it (see language_scores). -8 to -15 scored alike
# on validation; -6 lost a row.
CHAT_FLOOR: Final = -8.0
# Very short texts ("ok", "merci", "k") hold too few letters for either model, so a prior over
# the languages of chat traffic joins in: the share of each language among our written chat
# examples (English most), weighted PRIOR_WEIGHT at no letters down to 0 at PRIOR_LETTERS
# letters. Languages the chat model does not know count as one nat below its rarest. Up to 10
# letters it changed nothing on validation or the training examples' cross-validation (few rows
# are that short); reaching 20-40 letters it cost 0.1-3 points there. At 12 letters it outvoted
# clear words ("gracias" → en).
PRIOR_WEIGHT: Final = 1.0
PRIOR_LETTERS: Final = 8
# Nats against the labels without a two-letter code (Nigerian Pidgin, Pulaar, Northern Sotho,
# Ancient Greek ...): minor or historic languages, rare in chat traffic, which py3langid gives
# to romanised Hindi or Urdu ("arre yaar, aaj bahut kaam hai" came out Pulaar). It changed no
# validation or cross-validation row, and no NTREX row can lose by it (all have two-letter codes);
# a long text in one of these languages keeps it, as py3langid's margins grow with length.
RARE_LABEL_PENALTY: Final = 2.0
# Nats against a language for each near-language letter it never writes (see _LETTERS).
LETTER_PENALTY: Final = 3.0
# A script of one language decides once it holds this share of the letters: a Korean or Thai
# message with English words in it is still Korean or Thai; an English one with a word in Hangul
# is not.
SCRIPT_SHARE: Final = 0.25
SCRIPT_BONUS: Final = 20.0
# Only the start of a long text is read for script and letters, and a shorter start for the chat
# model's n-grams (~1 µs per character in Python): past a few sentences py3langid's margins,
# which grow with length, decide anyway. CHAT_CHARS 200 and 300 scored alike on validation and
# NTREX.
READ_CHARS: Final = 300
CHAT_CHARS: Final = 200
# The chat model's n-gram lengths (1-4 scored best on validation; see training/language.py).
NGRAM_RANGE: Final = (1, 4)

# The model's code for text without linguistic content (digits, emoji, punctuation).
_NO_LANGUAGE = "zxx"
# py3langid's probabilities below this are counted as this (log ≈ -30): it only bounds the logs.
_MIN_PROBABILITY = 1e-13

# ISO 639-3 varieties the model distinguishes, to the ISO 639-1 code of their macrolanguage.
_FOLD: dict[str, str] = {
    "ary": "ar",  # Moroccan Arabic
    "arz": "ar",  # Egyptian Arabic
    "yue": "zh",  # Cantonese
    "wuu": "zh",  # Wu Chinese
    "uzs": "uz",  # Southern Uzbek
    "gug": "gn",  # Paraguayan Guarani
}

# Every value the scorer can return: py3langid 0.4's 140 labels, folded and without "zxx" (134).
# Spelled out so the stage validator can check rule targets without loading the model; a
# test checks it against the model.
LANGUAGE_LABELS: tuple[str, ...] = (
    "ace", "af", "am", "an", "ar", "as", "az", "ba", "bcl", "be", "bg", "bn", "br", "bs", "ca",
    "crh", "cs", "cy", "da", "de", "dz", "el", "en", "eo", "es", "et", "eu", "ext", "fa", "fi",
    "fo", "fr", "fuv", "fy", "ga", "gcf", "gcr", "gd", "gl", "gn", "gom", "grc", "gu", "guw",
    "ha", "hbo", "he", "hi", "hr", "ht", "hu", "hy", "id", "ig", "is", "it", "ja", "jv", "ka",
    "kab", "kik", "kk", "km", "kn", "ko", "ku", "ky", "la", "lb", "lg", "lij", "ln", "lo", "lt",
    "ltg", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no", "nso",
    "oc", "om", "or", "pa", "pcm", "pl", "ps", "pt", "qu", "ro", "ru", "rw", "sa", "sdh", "se",
    "si", "sk", "sl", "sn", "so", "sq", "sr", "st", "sv", "sw", "ta", "te", "tg", "th", "tk",
    "tl", "tr", "tt", "ug", "uk", "ur", "uz", "vec", "vi", "vo", "wa", "xh", "yo", "zh", "zu",
)  # fmt: skip
_INDEX: Final = {label: i for i, label in enumerate(LANGUAGE_LABELS)}
_RARE: Final = np.array([len(label) == 3 for label in LANGUAGE_LABELS], dtype=np.float64)

# Letters some members of a near-language group write and others never do: (letters, the
# members that never write any of them). A letter is evidence, not proof (a Russian quoting a
# Ukrainian name), hence a penalty and not a veto.
_LETTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ћђ", ("mk", "bg", "ru", "uk", "be")),  # Serbian
    ("ќѓѕ", ("sr", "bg", "ru", "uk", "be")),  # Macedonian
    ("їєґ", ("ru", "be", "bg", "mk", "sr")),  # Ukrainian
    ("ў", ("ru", "uk", "bg", "mk", "sr")),  # Belarusian
    ("і", ("ru", "bg", "mk", "sr")),  # Ukrainian, Belarusian, Kazakh
    ("ыэё", ("uk", "bg", "mk", "sr")),  # Russian, Belarusian
    ("ъ", ("uk", "be", "mk", "sr")),  # Russian, Bulgarian
    ("љњџј", ("ru", "uk", "be", "bg")),  # Serbian, Macedonian
    ("řěů", ("sk", "pl", "sl", "hr", "bs", "sr")),  # Czech
    ("ľĺŕô", ("cs", "pl")),  # Slovak
    ("ąęłśźżń", ("cs", "sk")),  # Polish
    ("ăîșțşţ", ("it", "es", "pt", "ca", "gl", "fr")),  # Romanian
    ("ãõ", ("es", "gl", "ca", "it", "fi")),  # Portuguese (õ also Estonian)
    ("ñ¿¡", ("pt", "ca", "it")),  # Spanish, Galician
    ("øæ", ("sv",)),  # Norwegian, Danish
    ("äö", ("no", "da")),  # Swedish (and Finnish, Estonian, German)
    ("ćđ", ("sl",)),  # Croatian, Bosnian, Serbian Latin
    ("پچژگ", ("ar",)),  # Persian, Urdu, Pashto
    ("ٹڈڑںےھ", ("fa", "ar", "ps")),  # Urdu
    ("ټډړښږځڅېۍ", ("fa", "ar", "ur")),  # Pashto
    ("ة", ("fa", "ur")),  # Arabic
)

# Scripts only one language (or a pair) among the labels writes, by their first code point.
# Bengali is shared with Assamese, Devanagari, Arabic, Cyrillic and Latin with many: those the
# models decide.
_SCRIPT_RANGES: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0x0370, 0x03FF, ("el",)),
    (0x0530, 0x058F, ("hy",)),
    (0x0590, 0x05FF, ("he",)),
    (0x0A00, 0x0A7F, ("pa",)),
    (0x0A80, 0x0AFF, ("gu",)),
    (0x0B00, 0x0B7F, ("or",)),
    (0x0B80, 0x0BFF, ("ta",)),
    (0x0C00, 0x0C7F, ("te",)),
    (0x0C80, 0x0CFF, ("kn",)),
    (0x0D00, 0x0D7F, ("ml",)),
    (0x0D80, 0x0DFF, ("si",)),
    (0x0E00, 0x0E7F, ("th",)),
    (0x0E80, 0x0EFF, ("lo",)),
    (0x0F00, 0x0FFF, ("dz",)),
    (0x1000, 0x109F, ("my",)),
    (0x10A0, 0x10FF, ("ka",)),
    (0x1100, 0x11FF, ("ko",)),
    (0x1200, 0x139F, ("am",)),
    (0x1780, 0x17FF, ("km",)),
    (0x1F00, 0x1FFF, ("el",)),
    (0x3040, 0x30FF, ("ja",)),  # hiragana, katakana
    (0x3130, 0x318F, ("ko",)),
    (0x3400, 0x4DBF, ("zh", "ja")),
    (0x4E00, 0x9FFF, ("zh", "ja")),
    (0xAC00, 0xD7AF, ("ko",)),
    (0xF900, 0xFAFF, ("zh", "ja")),
)
_SCRIPT_STARTS: Final = [start for start, _, _ in _SCRIPT_RANGES]


def fold_label(code: str) -> str | None:
    """The scorer's value for one of the model's labels (None for "no linguistic content")."""
    if code == _NO_LANGUAGE:
        return None
    return _FOLD.get(code, code)


def load_identifier() -> Any:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


_identifier: Lazy[Any] = Lazy(load_identifier)


def get_identifier() -> Any:
    """py3langid's identifier with normalized probabilities, loaded once per process (~0.6 s).

    py3langid's module-level `classify` uses raw scores, which have no common scale.
    """
    return _identifier.get()


def _identifier_columns(identifier: Any) -> npt.NDArray[np.int64]:
    """Each of py3langid's classes' column among LANGUAGE_LABELS (-1 for "no language")."""
    return np.array(
        [_INDEX.get(fold_label(str(code)) or "", -1) for code in identifier.nb_classes],
        dtype=np.int64,
    )


_columns: Lazy[npt.NDArray[np.int64]] = Lazy(lambda: _identifier_columns(get_identifier()))


def identifier_log_probs(text: str) -> npt.NDArray[np.float64]:
    """py3langid's log-probabilities over LANGUAGE_LABELS (varieties summed into their label).

    Read from the identifier's per-class probabilities (`_decide`, what `classify` and `rank`
    rank: py3langid 0.3-0.4), which costs a third of `rank`'s sorted list of pairs; `rank` is
    the fallback should a release drop it (tests check that both agree).
    """
    identifier = get_identifier()
    decide = getattr(identifier, "_decide", None)
    if decide is None:
        return _ranked_log_probs(text)
    columns = _columns.get()
    probs = np.asarray(decide(text), dtype=np.float64)
    known = columns >= 0
    total = np.bincount(columns[known], weights=probs[known], minlength=len(LANGUAGE_LABELS))
    return np.log(np.maximum(total, _MIN_PROBABILITY))


def _ranked_log_probs(text: str) -> npt.NDArray[np.float64]:
    probs = np.zeros(len(LANGUAGE_LABELS))
    for code, prob in get_identifier().rank(text):
        label = fold_label(str(code))
        if label is not None:
            probs[_INDEX[label]] += prob
    return np.log(np.maximum(probs, _MIN_PROBABILITY))


@dataclass(frozen=True)
class ChatModel:
    """Multinomial naive Bayes over character n-grams, trained on chat-style messages.

    Stored sparse (the n-gram counts per language); the dense table of log-probabilities is
    built at load (vocabulary by languages, float32, ~15 MB in memory).
    """

    vocabulary: dict[str, int]
    languages: tuple[str, ...]
    log_probs: npt.NDArray[np.float32]  # (vocabulary, languages)
    # log share of each of LANGUAGE_LABELS in the written examples, 0 for the most common.
    log_prior: npt.NDArray[np.float64]
    card: dict[str, Any]
    # Each language's column among LANGUAGE_LABELS.
    columns: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        columns = np.array([_INDEX[code] for code in self.languages], dtype=np.int64)
        object.__setattr__(self, "columns", columns)

    @classmethod
    def load(cls, path: Path = MODEL, card_path: Path = CARD) -> ChatModel:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != MODEL_FORMAT:
                raise ValueError(f"{path}: format {int(data['format'])}, expected {MODEL_FORMAT}")
            grams = [str(g) for g in data["vocabulary"]]
            languages = tuple(str(code) for code in data["languages"])
            counts = np.zeros((len(grams), len(languages)), dtype=np.float64)
            counts.ravel()[np.asarray(data["count_index"], dtype=np.int64)] = data["counts"]
            alpha = float(data["alpha"])
            rows = np.asarray(data["rows"], dtype=np.float64)
        unknown = set(languages) - set(LANGUAGE_LABELS)
        if unknown:
            raise ValueError(f"{path}: languages outside LANGUAGE_LABELS: {sorted(unknown)}")
        log_probs = np.log(counts + alpha) - np.log(counts.sum(0) + alpha * len(grams))
        share = np.log(np.maximum(rows, 1) / rows.max())
        log_prior = np.full(len(LANGUAGE_LABELS), share.min() - 1.0)
        log_prior[[_INDEX[code] for code in languages]] = share
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
        return cls(
            {g: i for i, g in enumerate(grams)},
            languages,
            log_probs.astype(np.float32),
            log_prior,
            card,
        )

    def log_posterior(self, text: str) -> npt.NDArray[np.float64] | None:
        """log p(language | text) over `languages`, at temperature √(number of n-grams); None
        when no n-gram of the text is known."""
        found = [
            i for i in map(self.vocabulary.get, char_ngrams(text, *NGRAM_RANGE)) if i is not None
        ]
        if not found:
            return None
        indices = np.fromiter(found, dtype=np.intp, count=len(found))
        scores = self.log_probs[indices].sum(0).astype(np.float64) / len(found) ** CHAT_TEMPERATURE
        scores -= scores.max()
        posterior: npt.NDArray[np.float64] = scores - math.log(float(np.exp(scores).sum()))
        return posterior


_chat_model: Lazy[ChatModel] = Lazy(ChatModel.load)


def get_chat_model() -> ChatModel:
    """The chat model (`models/language.npz`), loaded once per process (~0.3 s)."""
    return _chat_model.get()


def reload_chat_model() -> None:
    """Load the model file again on next use (after `protect train language` rewrote it)."""
    global _chat_model
    _chat_model = Lazy(ChatModel.load)


def _chat_scores(text: str) -> npt.NDArray[np.float64]:
    model = get_chat_model()
    posterior = model.log_posterior(text)
    if posterior is None:  # no known n-gram: the chat model has no opinion
        return np.zeros(len(LANGUAGE_LABELS))
    scores = np.full(len(LANGUAGE_LABELS), UNKNOWN_TO_CHAT)
    # Its votes against a language are capped, as py3langid's are.
    scores[model.columns] = np.maximum(posterior, CHAT_FLOOR)
    return scores


def letter_scores(text: str) -> npt.NDArray[np.float64]:
    """LETTER_PENALTY against each language for every near-language letter it never writes."""
    scores = np.zeros(len(LANGUAGE_LABELS))
    present = set(text.lower())
    for letters, never in _LETTERS:
        if not present.isdisjoint(letters):
            for code in never:
                scores[_INDEX[code]] -= LETTER_PENALTY
    return scores


def script_languages(text: str) -> tuple[str, ...]:
    """The language(s) of the script holding at least SCRIPT_SHARE of the text's letters, when
    only one language (or Chinese and Japanese) writes it; () otherwise."""
    letters = 0
    counts: dict[tuple[str, ...], int] = {}
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        point = ord(char)
        if point < 0x0370:
            continue
        slot = bisect.bisect_right(_SCRIPT_STARTS, point) - 1
        if slot >= 0 and point <= _SCRIPT_RANGES[slot][1]:
            languages = _SCRIPT_RANGES[slot][2]
            counts[languages] = counts.get(languages, 0) + 1
    if not counts:
        return ()
    # Kana among Han characters make the text Japanese: Chinese never writes kana.
    kana = counts.get(("ja",), 0)
    han = counts.get(("zh", "ja"), 0)
    if kana and han:
        counts[("ja",)] = kana + han
        del counts[("zh", "ja")]
    languages, count = max(counts.items(), key=lambda item: item[1])
    return languages if count >= SCRIPT_SHARE * letters else ()


def language_scores(text: str, *, exact: bool = False) -> npt.NDArray[np.float64]:
    """The combined score of every label (module docstring); the largest is the language.

    Without `exact`, the chat term is left out where it cannot change which label is largest.
    """
    head = text[:READ_CHARS]
    floor = FLOOR * max(1.0, math.sqrt(len(text) / FLOOR_CHARS))
    scores = np.maximum(identifier_log_probs(text), floor) - RARE_LABEL_PENALTY * _RARE
    letters = sum(c.isalpha() for c in head)
    if letters < PRIOR_LETTERS:
        scores += PRIOR_WEIGHT * (1 - letters / PRIOR_LETTERS) * get_chat_model().log_prior
    scores += letter_scores(head)
    for code in script_languages(head):
        scores[_INDEX[code]] += SCRIPT_BONUS
    # The chat term lies in [CHAT_WEIGHT * CHAT_FLOOR, 0]: when the leader is further ahead
    # than that, it cannot change the decision, and its n-grams (the dearest part) are skipped.
    # Long texts mostly end here, as py3langid's margins grow with length.
    runner_up, leader = np.partition(scores, -2)[-2:]
    if not exact and leader - runner_up > -CHAT_WEIGHT * CHAT_FLOOR:
        return scores
    return scores + CHAT_WEIGHT * _chat_scores(head[:CHAT_CHARS])


def identify(text: str) -> str | None:
    """The language of `text`, or None when it has no letters."""
    if sum(c.isalpha() for c in text[:READ_CHARS]) < MIN_LETTERS:
        return None
    return LANGUAGE_LABELS[int(np.argmax(language_scores(text)))]


class _LanguageScorer(PerItemScorer):
    kind = ValueKind.LABEL
    labels = LANGUAGE_LABELS
    execution = Execution.INLINE

    def score_one(self, item: ScorerInput) -> MetricValue:
        return identify(item[0])

    def warm_up(self) -> None:
        get_identifier()
        get_chat_model()


class InputLanguage(_LanguageScorer):
    name = "input_language"
    reads = (PayloadField.INPUT,)


class OutputLanguage(_LanguageScorer):
    name = "output_language"
    reads = (PayloadField.OUTPUT,)


__all__ = [
    "LANGUAGE_LABELS",
    "MIN_LETTERS",
    "ChatModel",
    "InputLanguage",
    "OutputLanguage",
    "fold_label",
    "get_chat_model",
    "get_identifier",
    "identify",
    "language_scores",
    "letter_scores",
    "reload_chat_model",
    "script_languages",
]

"""Language identification (`input_language`, `output_language`) with py3langid's bundled model.

The value is the language's ISO 639-1 code ("en", "fr", "zh"), or the model's ISO 639-3 code for
the few languages that have no two-letter code ("ace", "pcm"). Regional varieties whose
macrolanguage has a two-letter code are folded into it (Egyptian and Moroccan Arabic → "ar",
Cantonese and Wu → "zh"), so a rule `output_language neq ar` means what it says.

A short or ambiguous text has no value (None), so its rules do not trigger: with a handful of
letters the model is guessing ("ok" comes out as Serbian with probability 0.01), and a guardrail
that blocks "ok" for not being English is worse than one that lets it through. A text has no
value when it has fewer than `MIN_LETTERS` letters, when the model's normalized probability for
its best language is below `MIN_CONFIDENCE`, or when the best guess is "no linguistic content".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.loading import Lazy

# On short chat phrases the model's wrong guesses scored up to ~0.53 ("धन्यवाद" as Sanskrit) and
# mostly 0.3-0.45 ("hello there" as Sesotho at 0.43), while full sentences score above 0.9. Below
# an even chance that the best language is right, no answer beats a wrong one.
MIN_CONFIDENCE = 0.5

# Fewer letters than this hold too few character n-grams for any language model ("ok", "hi").
MIN_LETTERS = 3

# The model's code for text without linguistic content (digits, emoji, punctuation).
_NO_LANGUAGE = "zxx"

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

    py3langid's module-level `classify` uses raw scores, which cannot be thresholded.
    """
    return _identifier.get()


def identify(text: str) -> str | None:
    """The language of `text`, or None when the text is too short or the model unsure."""
    if sum(c.isalpha() for c in text) < MIN_LETTERS:
        return None
    code, confidence = get_identifier().classify(text)
    if confidence < MIN_CONFIDENCE:
        return None
    return fold_label(str(code))


class _LanguageScorer(Scorer):
    kind = ValueKind.LABEL
    labels = LANGUAGE_LABELS
    execution = Execution.INLINE

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [identify(text) for (text,) in items]

    def warm_up(self) -> None:
        get_identifier()


class InputLanguage(_LanguageScorer):
    name = "input_language"
    reads = (PayloadField.INPUT,)


class OutputLanguage(_LanguageScorer):
    name = "output_language"
    reads = (PayloadField.OUTPUT,)


__all__ = [
    "LANGUAGE_LABELS",
    "MIN_CONFIDENCE",
    "MIN_LETTERS",
    "InputLanguage",
    "OutputLanguage",
    "fold_label",
    "get_identifier",
    "identify",
]

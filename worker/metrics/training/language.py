"""Train the chat model of the language identifier: `protect train language`.

The model is a multinomial naive Bayes over character 1-4-grams (`heads.char_ngrams`: words
lower-cased and padded with a space), trained on our written examples (training-data/
language.jsonl: 1,753 chat messages, emails and answers in 73 languages, near languages,
code-mixing, romanised text) and their augmentations:
- up to `CROPS` random windows of 2-6 words (3-12 characters in scripts without spaces), as
  chat messages are short;
- a romanised twin of each native-script row (`romanise.py`: Indic scripts, Cyrillic, Greek,
  kana), and one crop of it;
- the row without diacritics where it has any (people type "an com chua", "dekuji"), and, for
  some rows, lower-cased.
Nothing else: NTREX-128 is not trained on (CC BY-SA; it stays the public test), nor is anything
under evals/. Each language keeps its `PER_LANGUAGE` n-grams found in the most of its training
texts (seen in at least `MIN_DF` texts overall), so small languages are not crowded out. Naive
Bayes is closed-form, so training is deterministic given the seed (~30 s).

The combination with py3langid (worker/metrics/language.py) was chosen on the realistic
validation half (evals/language.jsonl, 240 rows), checked on a 5-fold cross-validation of the
written examples, and on NTREX-128 (15,000 news sentences in 92 languages). Accuracy,
validation / NTREX:

    py3langid, unsure (< 0.5) → no value (before)                          0.796 / 0.954
    py3langid's best label, always                                        0.888 / 0.971
    + log-reg. on char 1-4-grams of the written rows and crops (summed)   0.933 / -
      naive Bayes instead (same data)                                     0.929 / -
      a joint softmax (n-grams + py3langid's log-probabilities, L-BFGS)   0.929 / 0.957
    + romanised / undiacritised twins, near-language letters, scripts     0.942 / -
    + py3langid's log-probability floored at -2                           0.963 / 0.954
    + the floor deepening with length past 60 characters                  0.963 / 0.964
    + chat floor, rare-label penalty, short-text prior (the scorer)       0.958 / 0.967
    + romanised twins of Arabic-script rows (Arabizi, Finglish, Urdu)     0.967 / 0.967
      log-reg. instead of naive Bayes (best of its grid)                  0.950 / 0.970

Tried without gain (within a row or two of 240, or worse): 5 crops per row, 2-3 per twin, 1,000 or
4,000 n-grams per language, smoothing 0.03, chat weight 0.15-0.3, floor -1.5 or -2.5, chat
temperature 0.35 or 0.65, a prior over longer texts (12-40 letters: -0.1 to -3 points). The
cross-validation of the written rows (harder by design: 0.915) peaks at the same floor and
weight.

The card (`models/language.card.json`) records the data, counts and the validation and NTREX
scores of the model as trained.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import random
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from worker.metrics.evaluation import datasets_dir
from worker.metrics.evaluation.corpus import training_rows
from worker.metrics.heads import char_ngrams
from worker.metrics.language import (
    CARD,
    MODEL,
    MODEL_FORMAT,
    NGRAM_RANGE,
    reload_chat_model,
)
from worker.metrics.training.romanise import romanise

SEED: Final = 20261206
# Word windows per written row: 3 scored as 5 on validation (0.929 / 0.925) at 60 % of the size.
CROPS: Final = 3
# Windows per twin (romanised, undiacritised, lower-cased).
TWIN_CROPS: Final = 1
CROP_WORDS: Final = (2, 6)
CROP_CHARS: Final = (3, 12)
# Share of rows that get a lower-cased twin (chat is often all lower case).
LOWERCASE_SHARE: Final = 0.3
# N-grams kept per language, and the fewest training texts an n-gram must appear in.
PER_LANGUAGE: Final = 2000
MIN_DF: Final = 2
# Additive smoothing of the n-gram counts (0.1 and 0.01 scored alike on validation).
ALPHA: Final = 0.1

Example = tuple[str, str, str]  # text, language, kind (written / crop / romanised / ...)


def _spaced(text: str) -> bool:
    """Whether a text separates its words with spaces (not Chinese, Japanese, Thai, Khmer...)."""
    letters = [c for c in text if c.isalpha()]
    unspaced = sum(
        1
        for c in letters
        if ord(c) >= 0x2E80
        or 0x0E00 <= ord(c) <= 0x0EFF
        or 0x1000 <= ord(c) <= 0x109F
        or 0x1780 <= ord(c) <= 0x17FF
    )
    return unspaced < len(letters) / 2


def crop(text: str, rng: random.Random) -> str | None:
    """A random window of a text: 2-6 words, or 3-12 characters where words have no spaces;
    None when the text is no longer than the shortest window."""
    if _spaced(text):
        words = text.split()
        if len(words) <= CROP_WORDS[0]:
            return None
        n = rng.randint(CROP_WORDS[0], min(CROP_WORDS[1], len(words) - 1))
        start = rng.randint(0, len(words) - n)
        return " ".join(words[start : start + n])
    if len(text) <= CROP_CHARS[0] + 1:
        return None
    n = rng.randint(CROP_CHARS[0], min(CROP_CHARS[1], len(text) - 1))
    start = rng.randint(0, len(text) - n)
    return text[start : start + n]


def strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def augmented(rows: Sequence[Any], seed: int = SEED) -> list[Example]:
    """The written rows and their twins and crops (module docstring), in a fixed order."""
    rng = random.Random(seed)
    examples: list[Example] = []
    for row in rows:
        variants = [(row.text, "written")]
        latin = romanise(row.text, row.lang, rng)
        if latin:
            variants.append((latin, "romanised"))
        bare = strip_marks(row.text)
        if bare != row.text and sum(c.isascii() for c in bare) > 0.8 * len(bare):
            variants.append((bare, "no_diacritics"))
        if row.text != row.text.lower() and rng.random() < LOWERCASE_SHARE:
            variants.append((row.text.lower(), "lower_case"))
        for text, kind in variants:
            examples.append((text, row.lang, kind))
            for _ in range(CROPS if kind == "written" else TWIN_CROPS):
                window = crop(text, rng)
                if window:
                    examples.append((window, row.lang, f"{kind}_crop"))
    return examples


def vocabulary(examples: Sequence[Example]) -> list[str]:
    """Each language's PER_LANGUAGE n-grams in most of its texts (in >= MIN_DF texts in all)."""
    per_language: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for text, language, _ in examples:
        grams = set(char_ngrams(text, *NGRAM_RANGE))
        per_language[language].update(grams)
        overall.update(grams)
    kept: set[str] = set()
    for counts in per_language.values():
        # Ties broken by the n-gram, so the vocabulary does not depend on the examples' order.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept.update(g for g, _ in ranked[:PER_LANGUAGE] if overall[g] >= MIN_DF)
    return sorted(kept)


def fit(examples: Sequence[Example]) -> dict[str, Any]:
    """The model's arrays: vocabulary, languages, the sparse n-gram counts and each language's
    number of written rows (the prior of very short texts)."""
    grams = vocabulary(examples)
    index = {g: i for i, g in enumerate(grams)}
    languages = sorted({language for _, language, _ in examples})
    column = {language: j for j, language in enumerate(languages)}
    counts: Counter[int] = Counter()
    for text, language, _ in examples:
        j = column[language]
        for g in char_ngrams(text, *NGRAM_RANGE):
            i = index.get(g)
            if i is not None:
                counts[i * len(languages) + j] += 1
    flat = np.array(sorted(counts), dtype=np.int64)
    return {
        "format": np.array(MODEL_FORMAT),
        "vocabulary": np.array(grams, dtype=np.str_),
        "languages": np.array(languages, dtype=np.str_),
        "count_index": flat.astype(np.int32),
        "counts": np.array([counts[int(k)] for k in flat], dtype=np.uint16),
        "alpha": np.array(ALPHA),
        "rows": np.array(
            [
                sum(1 for _, lang, kind in examples if lang == code and kind == "written")
                for code in languages
            ],
            dtype=np.int64,
        ),
    }


def _scores(datasets: Path) -> dict[str, Any]:
    # Imported here: the evaluation loads every built-in scorer, which training does not need.
    from worker.metrics.evaluation.language import evaluate, evaluate_realistic

    validation = evaluate_realistic(half="validation")
    public = evaluate(datasets)
    return {
        "realistic_validation_accuracy": {
            row.metric: round(row.extra["accuracy"], 4) for row in validation if row.extra
        },
        "ntrex_accuracy": round(float(public[0].recall or 0.0), 4),
    }


def train(datasets: Path, model: Path = MODEL, card: Path = CARD) -> dict[str, Any]:
    rows = training_rows("language")
    examples = augmented(rows)
    arrays = fit(examples)
    model.parent.mkdir(parents=True, exist_ok=True)
    with model.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    kinds = Counter(kind for _, _, kind in examples)
    info: dict[str, Any] = {
        "model": "language",
        "kind": "multinomial naive Bayes over character 1-4-grams, combined with py3langid "
        "(worker/metrics/language.py)",
        "trained_at": datetime.date.today().isoformat(),
        "command": "protect train language",
        "data": {
            "dataset": "training-data/language.jsonl (written for this project)",
            "sha256": hashlib.sha256(
                json.dumps([(r.id, r.text, r.lang) for r in rows]).encode()
            ).hexdigest(),
            "rows": len(rows),
            "rows_per_language": dict(sorted(Counter(r.lang for r in rows).items())),
            "examples": len(examples),
            "examples_per_kind": dict(sorted(kinds.items())),
            "not_used": "NTREX-128 (public test set) and evals/ (evaluation only)",
        },
        "hyper_parameters": {
            "ngram_range": list(NGRAM_RANGE),
            "per_language": PER_LANGUAGE,
            "min_df": MIN_DF,
            "alpha": ALPHA,
            "crops": CROPS,
            "seed": SEED,
        },
        "size": {
            "vocabulary": int(arrays["vocabulary"].size),
            "languages": int(arrays["languages"].size),
            "counts": int(arrays["counts"].size),
        },
    }
    card.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    reload_chat_model()  # the scorer reads the model just written
    info["scores"] = _scores(datasets)
    card.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--datasets", type=Path)
    args = parser.parse_args(argv)
    info = train(datasets_dir(args.datasets))
    print(f"wrote {MODEL} and {CARD}: {json.dumps(info['scores'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

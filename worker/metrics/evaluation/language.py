"""Quality of `input_language` / `output_language` on NTREX-128 (news sentences, 128 languages).

Nothing is trained on this data, so every row is test data. Accuracy counts a missing value (the
detector unsure) as wrong; the undetermined rate is reported too. Languages the model does not
know at all (no ISO 639-1 code in its label set) are reported apart, not counted as errors.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from worker.metrics.evaluation import EvalRow, read_jsonl
from worker.metrics.evaluation.corpus import Half
from worker.metrics.evaluation.realistic import dataset_name, label_rows, rows_of, score
from worker.metrics.language import LANGUAGE_LABELS, InputLanguage

DATASET = "langid_ntrex"


def evaluate(datasets: Path, limit: int | None = None) -> list[EvalRow]:
    rows = list(read_jsonl(datasets / DATASET / "ntrex128_langid_sample.jsonl"))
    if limit is not None:
        # Every language keeps its share: take the first rows of each.
        per_language = max(1, limit // 128)
        seen: Counter[str] = Counter()
        kept = []
        for row in rows:
            if seen[row["label"]] < per_language:
                seen[row["label"]] += 1
                kept.append(row)
        rows = kept
    known = set(LANGUAGE_LABELS)
    scorer = InputLanguage()
    supported = [r for r in rows if r.get("iso639_1") in known]
    values = scorer.score_batch([(r["text"],) for r in supported])
    correct = sum(v == r["iso639_1"] for v, r in zip(values, supported, strict=True))
    undetermined = sum(v is None for v in values)
    n_languages = len({r["iso639_1"] for r in supported})
    return [
        EvalRow(
            metric="input_language",
            dataset=f"{DATASET} ({n_languages} languages with an ISO 639-1 code the model knows)",
            n=len(supported),
            precision=correct / max(1, len(supported) - undetermined),
            recall=correct / max(1, len(supported)),
            note=f"accuracy {correct / max(1, len(supported)):.3f}; undetermined "
            f"{undetermined / max(1, len(supported)):.1%}; {len(rows) - len(supported)} rows in "
            "languages outside the model",
        )
    ]


# Texts of at most this many words are "short" in the realistic rows (the goal counts them apart).
SHORT_WORDS = 6


def evaluate_realistic(
    corpus: Path | None = None, half: Half = "test", limit: int | None = None
) -> list[EvalRow]:
    """Language of chat-style texts (evals/language.jsonl): accuracy overall, on 3-6-word
    texts, on code-mixed texts (their dominant language) and on near-language groups."""
    rows = rows_of("language", corpus, half, limit)
    values = score("input_language", [(row.text,) for row in rows])
    predicted = [v if isinstance(v, str) else None for v in values]
    languages = sorted({row.lang for row in rows})
    return label_rows(
        "input_language",
        dataset_name("language", half),
        languages,
        [row.lang for row in rows],
        predicted,
        subsets={
            f"<= {SHORT_WORDS} words": lambda i: rows[i].words <= SHORT_WORDS,
            "code-mixed": lambda i: rows[i].code_mixed,
            "near-language groups": lambda i: rows[i].near is not None,
        },
        per_label=False,
    )

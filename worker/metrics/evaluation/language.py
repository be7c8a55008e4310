"""Quality of `input_language` / `output_language` on NTREX-128 (news sentences, 128 languages).

Nothing is trained on this data, so every row is test data. Accuracy counts a missing value (the
detector unsure) as wrong; the undetermined rate is reported too. Languages the model does not
know at all (no ISO 639-1 code in its label set) are reported apart, not counted as errors.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from worker.metrics.evaluation import EvalRow, read_jsonl
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

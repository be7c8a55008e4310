"""Experiment: the toxicity and sexism heads' recipes on the static embedding (the fast tier) vs
the deployed MiniLM heads, and the cascade's uncertain band. docs/fast-tier.md has the results.

    python bench/fast_tier.py [toxicity] [sexism] [--public]

Per head: fits the head's recipe (training/heads.py `fit_head`) on `StaticEmbedder` (nothing is
written), scores the realistic VALIDATION half with both tiers, prints both F1s, the smallest band
[lo, hi) of the fast score whose cascade (fast decides outside, MiniLM inside) keeps F1 within
BAND_TOLERANCE of MiniLM alone, and the cascade F1 when the texts nearest the fast tier's 0.5 are
escalated by share. `--public`: also the public test splits through both scorers (minutes: MiniLM
embeds them). Needs the `train` extra. The realistic test half is not read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.contract.rules import MetricValue  # noqa: E402
from worker.metrics.base import Scorer, ScorerInput  # noqa: E402
from worker.metrics.evaluation import EvalRow, binary_scores, datasets_dir  # noqa: E402
from worker.metrics.evaluation.corpus import corpus_rows  # noqa: E402
from worker.metrics.heads import LinearHead, get_head, score_texts  # noqa: E402
from worker.metrics.static_embedding import MODEL_PATH, StaticEmbedder  # noqa: E402
from worker.metrics.training import heads as training  # noqa: E402

# The cascade may lose at most this much F1 against MiniLM alone (issue 11's goal).
BAND_TOLERANCE = 0.02
ESCALATED_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


class FastScorer(Scorer):
    """A head on the static embedding behind the scorer interface (`evaluate_head(scorer=...)`)."""

    def __init__(self, head: LinearHead, encoder: StaticEmbedder) -> None:
        self.head, self.encoder = head, encoder

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return score_texts(self.head, [str(item[0]) for item in items], encoder=self.encoder)


def f1(truth: Bools, predicted: Bools) -> float:
    return binary_scores(truth.tolist(), predicted.tolist())[2]


def minimal_band(
    truth: Bools, fast: Floats, slow: Floats, tolerance: float
) -> tuple[float, float, float, float]:
    """(escalated share, lo, hi, cascade F1) of the smallest band keeping F1 within tolerance."""
    target = f1(truth, slow >= 0.5) - tolerance
    cuts = np.unique(np.concatenate([[0.0, 0.5, 1.0 + 1e-9], fast, np.nextafter(fast, 2)]))
    best = (1.0, 0.0, 1.0 + 1e-9, f1(truth, slow >= 0.5))
    for lo in cuts[cuts <= 0.5]:
        for hi in cuts[cuts >= 0.5]:
            inside = (fast >= lo) & (fast < hi)
            score = f1(truth, np.where(inside, slow >= 0.5, fast >= hi))
            share = float(inside.mean())
            if score >= target and (share, hi - lo) < (best[0], best[2] - best[1]):
                best = (share, float(lo), float(hi), score)
    return best


def by_share(truth: Bools, fast: Floats, slow: Floats, share: float) -> tuple[float, float, float]:
    """(cascade F1, lo, hi) escalating the `share` of texts whose fast logit is nearest 0."""
    p = np.clip(fast, 1e-9, 1 - 1e-9)
    order = np.argsort(np.abs(np.log(p / (1 - p))), kind="stable")
    inside = np.zeros(len(truth), dtype=bool)
    inside[order[: round(share * len(truth))]] = True
    score = f1(truth, np.where(inside, slow >= 0.5, fast >= 0.5))
    if not inside.any():
        return score, 0.5, 0.5
    return score, float(fast[inside].min()), float(fast[inside].max())


def _row(row: EvalRow) -> str:
    values = {"F1": row.f1, "AUC": row.auc, "FPR": row.fpr}
    return ", ".join(f"{k} {v:.3f}" for k, v in values.items() if v is not None)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("heads", nargs="*", default=["toxicity", "sexism"])  # realistic corpora
    parser.add_argument("--public", action="store_true")
    args = parser.parse_args()
    encoder = StaticEmbedder()
    card = {"model": "static_embedding", "file": MODEL_PATH.name, "dim": encoder.dim}
    for name in args.heads:
        head = training.fit_head(name, models_dir=None, embedder=encoder, embedder_card=card)
        rows = corpus_rows(name, "validation")
        texts = [str(r.text) for r in rows]
        truth = np.array([bool(r.label) for r in rows])
        fast = np.array(score_texts(head, texts, encoder=encoder))
        slow = np.array(score_texts(get_head(name), texts))
        print(
            f"{name} realistic validation ({len(rows)} rows): "
            f"MiniLM F1 {f1(truth, slow >= 0.5):.3f}, fast F1 {f1(truth, fast >= 0.5):.3f}"
        )
        share, lo, hi, score = minimal_band(truth, fast, slow, BAND_TOLERANCE)
        print(
            f"  smallest band within {BAND_TOLERANCE}: [{lo:.3f}, {hi:.3f}), escalated {share:.1%}"
        )
        print(f"  (cascade F1 {score:.3f}; fitted to these rows, optimistic)")
        for s in ESCALATED_SHARES:
            score, lo, hi = by_share(truth, fast, slow, s)
            print(f"  escalate {s:.0%}: cascade F1 {score:.3f}, band [{lo:.2f}, {hi:.2f}]")
        if args.public:
            pairs = zip(
                training.evaluate_head(
                    name, name, datasets_dir(), xstest_safe=True, scorer=FastScorer(head, encoder)
                ),
                training.evaluate_head(name, name, datasets_dir(), xstest_safe=True),
                strict=True,
            )
            for fast_row, slow_row in pairs:
                print(f"  {fast_row.dataset}: fast {_row(fast_row)} | MiniLM {_row(slow_row)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

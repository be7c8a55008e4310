"""Benchmark: the static token embedding against the MiniLM int8 pass, one thread, interleaved.

    python bench/static_embedding.py [--repeat 100]

For ~100- and ~1,000-character texts (every one new, built from the realistic corpus's validation
texts; MiniLM is called uncached anyway), one text per call, the two encoders alternating call
by call in one process so the shared machine's noise hits both alike.
Prints p50/p99 per text of each and the ratio of the medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.metrics.embedding import Embedder  # noqa: E402
from worker.metrics.evaluation.corpus import corpus_rows  # noqa: E402
from worker.metrics.static_embedding import StaticEmbedder  # noqa: E402

FAMILIES = ("toxicity", "sexism", "tone")


def texts_of_length(chars: int, count: int) -> list[str]:
    """`count` distinct texts of about `chars` characters, realistic sentences joined."""
    pool = [
        str(r.text) for f in FAMILIES for h in ("validation", "test") for r in corpus_rows(f, h)
    ]
    out: list[str] = []
    i = 0
    while len(out) < count:
        text = ""
        while len(text) < chars:
            text = f"{text} {pool[i % len(pool)]}".strip()
            i += 1
        out.append(text[:chars])
    return out


def per_text_ms(calls: Sequence[Callable[[], object]]) -> list[float]:
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    fast = StaticEmbedder()
    minilm = Embedder(threads=1)
    fast.embed(["warm up"])
    minilm.embed_uncached(["warm up"])
    for chars in (100, 1000):
        texts = texts_of_length(chars, args.repeat)
        static_ms: list[float] = []
        minilm_ms: list[float] = []
        for text in texts:
            static_ms += per_text_ms([lambda t=text: fast.embed([t])])  # type: ignore[misc]
            minilm_ms += per_text_ms([lambda t=text: minilm.embed_uncached([t])])  # type: ignore[misc]
        s50, m50 = statistics.median(static_ms), statistics.median(minilm_ms)
        s99 = statistics.quantiles(static_ms, n=100)[98]
        m99 = statistics.quantiles(minilm_ms, n=100)[98]
        print(
            f"~{chars} chars: static p50 {s50:.3f} ms p99 {s99:.3f} ms | "
            f"MiniLM int8 p50 {m50:.2f} ms p99 {m99:.2f} ms | ratio p50 {s50 / m50:.4f} "
            f"({m50 / s50:.0f}x faster)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

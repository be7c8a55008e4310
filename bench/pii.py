"""Benchmark: PII detection per text, this checkout against an earlier commit, interleaved.

    python bench/pii.py [--base COMMIT] [--rounds 3] [--batch 64]

The base commit's PII modules (`worker/metrics/pii*.py`, read with `git show`) are loaded into
this process under another package name beside the current ones, so both run on the same core
in the same run, text by text in alternating order: the machine is shared and noisy, and only
ratios measured this way are comparable. Texts are realistic: rows of the evaluation corpus
(`evals/*.jsonl`: chat prompts, tickets, emails, assistant answers) joined per register into
~1,000-character texts, and the same rows alone (~100-200 characters). Prints per-text p50/mean
for each side, their ratio, the batched rate (fetches of `--batch` texts), and whether both
sides gave the same labels. Asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.metrics import pii  # noqa: E402
from worker.metrics.pii_names import MODEL_PATH  # noqa: E402
from worker.runtime import limit_native_threads  # noqa: E402

PII_MODULES = ("pii", "pii_context", "pii_credentials", "pii_names")
BASE_PACKAGE = "_pii_base"
LONG_CHARS = 1000


def load_base(commit: str) -> Any:
    """The base commit's `pii` module, imported as `_pii_base.pii` beside today's."""
    folder = Path(tempfile.mkdtemp(prefix="pii-base-"))
    package = folder / BASE_PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in PII_MODULES:
        source = subprocess.run(
            ["git", "show", f"{commit}:worker/metrics/{name}.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for other in PII_MODULES:
            source = source.replace(f"worker.metrics.{other} ", f"{BASE_PACKAGE}.{other} ")
        # The model file stays where it is (the base reads the same weights unless it differs).
        source = source.replace('Path(__file__).parent / "models"', f'Path("{MODEL_PATH.parent}")')
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{BASE_PACKAGE}.pii")


def corpus_texts() -> tuple[list[str], list[str]]:
    """(short texts, ~1,000-character texts) from the evaluation corpus."""
    rows: list[tuple[str, str]] = []
    for path in sorted((ROOT / "evals").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            for key in ("text", "answer", "context"):
                value = row.get(key)
                if isinstance(value, str) and value.strip():
                    rows.append((f"{path.stem}:{row.get('register')}:{key}", value))
    short = [text for _, text in rows if 60 <= len(text) <= 300]
    random.Random(0).shuffle(short)
    long: list[str] = []
    by_kind: dict[str, list[str]] = {}
    for kind, text in rows:
        by_kind.setdefault(kind, []).append(text)
    for texts in by_kind.values():
        current: list[str] = []
        for text in texts:
            current.append(text)
            joined = "\n\n".join(current)
            if len(joined) >= LONG_CHARS:
                long.append(joined[: int(LONG_CHARS * 1.2)])
                current = []
    random.Random(0).shuffle(long)
    return short, long


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def compare(title: str, texts: Sequence[str], old: Any, new: Any, rounds: int, batch: int) -> None:
    old_ms: list[float] = []
    new_ms: list[float] = []
    differ = 0
    for r in range(rounds):
        for k, text in enumerate(texts):
            first_old = (k + r) % 2 == 0
            pair = [(old, old_ms), (new, new_ms)]
            labels = []
            for detector, sink in pair if first_old else pair[::-1]:
                ms, found = timed(functools.partial(detector.detect_batch, [text]))
                sink.append(ms)
                labels.append((detector is new, found))
            if r == 0 and len({repr(found) for _, found in labels}) > 1:
                differ += 1
    batches = [list(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    old_batch = new_batch = 0.0
    for r in range(rounds):
        for chunk in batches:
            for detector in (old, new) if r % 2 == 0 else (new, old):
                ms, _ = timed(functools.partial(detector.detect_batch, chunk))
                if detector is old:
                    old_batch += ms
                else:
                    new_batch += ms
    n = rounds * len(texts)
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"\n{title}: {len(texts)} texts, mean {mean_chars:.0f} characters, {rounds} rounds")
    print(f"{'':>10} {'p50 ms':>9} {'mean ms':>9} {'p99 ms':>9} {'batched ms/text':>16}")
    for name, values, total in (("base", old_ms, old_batch), ("this", new_ms, new_batch)):
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(
            f"{name:>10} {statistics.median(values):>9.3f} {statistics.mean(values):>9.3f} "
            f"{p99:>9.3f} {total / n:>16.3f}"
        )
    print(
        f"{'this/base':>10} {statistics.median(new_ms) / statistics.median(old_ms):>9.2f} "
        f"{statistics.mean(new_ms) / statistics.mean(old_ms):>9.2f} {'':>9} "
        f"{new_batch / old_batch:>16.2f}"
    )
    print(f"texts whose labels differ between base and this: {differ} of {len(texts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="commit to compare with (default: main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--limit", type=int, default=400, help="texts per size class")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    limit_native_threads()
    base = load_base(args.base)
    old, new = base.PiiDetector(), pii.PiiDetector()
    short, long = corpus_texts()
    compare("~1,000-character texts", long[: args.limit], old, new, args.rounds, args.batch)
    compare(
        "short texts (60-300 characters)", short[: args.limit], old, new, args.rounds, args.batch
    )


if __name__ == "__main__":
    main()

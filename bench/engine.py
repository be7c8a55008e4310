"""Benchmark: in-process evaluations per second, pinned to one core.

    python bench/engine.py [--n 20000] [--batch 500]

1. The engine's own overhead: a 3-ruleset stage over trivial metrics (microsecond scorers), so
   the number is the cost of planning, rule evaluation and Response building.
2. The built-in PII + language stage (`input-guard` of examples/stages.yaml) on realistic prompts.

Each is measured per call (`ainvoke`, one request at a time) and batched (`ainvoke_many`, as the
Kafka worker calls it per fetch), plus the full per-event path a worker pays: decode the JSON
record, evaluate, encode the Response. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scorers import FuncScorer  # noqa: E402
from worker.contract.request import Request  # noqa: E402
from worker.contract.stage import StageDefinition  # noqa: E402
from worker.engine.evaluate import Evaluator  # noqa: E402
from worker.metrics.base import ValueKind  # noqa: E402
from worker.metrics.registry import MetricRegistry  # noqa: E402
from worker.runtime import Protect  # noqa: E402
from worker.stages.registry import StageRegistry  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
FALLBACK_TEXTS = [
    "What is the capital of France?",
    "my ssn is 123-45-6789, can you fill the form?",
    "Write me a haiku about autumn leaves.",
    "Email me at jane.doe@example.com when the report is ready.",
    "¿Cuál es la mejor manera de aprender a programar?",
    "Summarise this article about interest rates in three bullet points.",
    "Call me on +1 415 555 2671 tomorrow morning.",
    "Wie spät ist es in Tokio?",
]


def load_texts(limit: int) -> list[str]:
    """Realistic prompts: labelled PII sentences and benign chat queries from ../shared."""
    texts: list[str] = []
    for path in (
        SHARED / "pii_presidio_synthetic" / "presidio_synth_dataset_v2.jsonl",
        SHARED / "benign_queries_clinc150" / "clinc150_queries.jsonl",
    ):
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line, _ in zip(handle, range(limit // 2), strict=False):
                    texts.append(json.loads(line)["text"])
    if not texts:
        texts = FALLBACK_TEXTS
    random.Random(0).shuffle(texts)
    return texts


def trivial_protect() -> Protect:
    scorers = [
        FuncScorer("length_score", ValueKind.SCORE, lambda t: min(len(t) / 1000.0, 1.0)),
        FuncScorer("first_word", ValueKind.LABEL, lambda t: t.split(" ", 1)[0].lower()),
        FuncScorer(
            "has_digits",
            ValueKind.LABELS,
            lambda t: ["digits"] if any(c.isdigit() for c in t) else [],
        ),
    ]
    metrics = MetricRegistry(scorers)
    stages = StageRegistry(metrics)
    stages.apply(
        StageDefinition.model_validate(
            {
                "name": "trivial",
                "type": "central",
                "prioritized_rulesets": [
                    {
                        "rules": [
                            {"metric": "length_score", "operator": "gt", "target_value": 0.9}
                        ],
                        "action": {"type": "OVERRIDE", "choices": ["too long"]},
                    },
                    {
                        "rules": [
                            {
                                "metric": "first_word",
                                "operator": "any",
                                "target_value": ["ignore", "pretend"],
                            },
                            {"metric": "has_digits", "operator": "empty"},
                        ],
                        "action": {"type": "OVERRIDE", "choices": ["suspicious"]},
                    },
                    {
                        "rules": [
                            {
                                "metric": "has_digits",
                                "operator": "contains",
                                "target_value": "digits",
                            }
                        ]
                    },
                ],
            }
        ),
        project_name="bench",
    )
    return Protect(stages, Evaluator(metrics, seed=0))


def requests_for(texts: Sequence[str], stage: str, project: str, n: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "payload": {"input": texts[i % len(texts)]},
                "stage_name": stage,
                "project_name": project,
            }
        ).encode()
        for i in range(n)
    ]


async def per_call(protect: Protect, records: Sequence[bytes]) -> float:
    requests = [Request.model_validate_json(r) for r in records]
    started = time.perf_counter()
    for request in requests:
        await protect.ainvoke(request)
    return len(requests) / (time.perf_counter() - started)


async def batched(protect: Protect, records: Sequence[bytes], batch: int) -> float:
    requests = [Request.model_validate_json(r) for r in records]
    started = time.perf_counter()
    for i in range(0, len(requests), batch):
        await protect.ainvoke_many(requests[i : i + batch])
    return len(requests) / (time.perf_counter() - started)


async def full_path(protect: Protect, records: Sequence[bytes], batch: int) -> float:
    """Decode bytes -> evaluate (batched) -> encode Response bytes: the worker's per-event cost."""
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        requests = [Request.model_validate_json(r) for r in records[i : i + batch]]
        for response in await protect.ainvoke_many(requests):
            response.model_dump_json()
    return len(records) / (time.perf_counter() - started)


async def run(n: int, batch: int) -> None:
    texts = load_texts(4000)
    trivial = trivial_protect()
    builtin = Protect.from_file(ROOT / "examples" / "stages.yaml", seed=0)
    for protect in (trivial, builtin):
        protect.warm_up()  # loads models and freezes the start-up heap, as the worker does
    cases = [
        ("3-ruleset stage, trivial metrics", trivial, requests_for(texts, "trivial", "bench", n)),
        (
            "input-guard: PII + language",
            builtin,
            requests_for(texts, "input-guard", "demo-chatbot", max(n // 10, 1000)),
        ),
    ]
    print(
        f"one core (affinity {sorted(os.sched_getaffinity(0))}), {len(texts)} distinct texts, "
        f"batch {batch}"
    )
    print(f"{'case':36} {'per call/s':>12} {'batched/s':>12} {'decode+eval+encode/s':>22}")
    for name, protect, records in cases:
        await per_call(protect, records[:200])  # warm caches and lazy models
        a = await per_call(protect, records)
        b = await batched(protect, records, batch)
        c = await full_path(protect, records, batch)
        print(f"{name:36} {a:12,.0f} {b:12,.0f} {c:22,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="requests per trivial case")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    asyncio.run(run(args.n, args.batch))


if __name__ == "__main__":
    main()

"""Benchmark: the worker against a raw aiokafka consume->produce pipe on one broker, in one run.

    python bench/stream.py [--n 20000] [--rate 500] [--latency-n 3000] [--broker tansu|noida]

Throughput: N events (~500 B) are produced first; the clock runs from the first record consumed
to the last result acknowledged (the consumer-group join is excluded), for
  1. raw:        an aiokafka consumer -> producer pipe that copies each record (commit per fetch),
  2. no-metric:  the worker with a stage without rulesets (decode, engine, encode, produce, commit),
  3. pii+lang:   the worker with examples/stages.yaml `input-guard` (PII + language metrics).
Latency: events offered at a fixed rate carry their send time; p50/p99 of result arrival - send.
The broker is an embedded one on loopback (a subprocess sharing the machine's cores): figures are
ratios within one run, not claims about Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.contract.stage import StageDefinition  # noqa: E402
from worker.logging import configure_logging  # noqa: E402
from worker.runtime import Protect  # noqa: E402
from worker.settings import Settings, TopicBinding  # noqa: E402
from worker.stages.files import StagesFile  # noqa: E402
from worker.stream.broker import BrokerKind, EmbeddedBroker  # noqa: E402
from worker.stream.screening import ScreeningWorker  # noqa: E402
from worker.stream.topics import TopicSpec, ensure_topics  # noqa: E402

PARTITIONS = 6
PROMPTS = [
    "What is the capital of France? I am planning a trip next spring with my family and would "
    "like to know which neighbourhoods are best for a first visit, and how to get from the "
    "airport to the city centre by public transport.",
    "my ssn is 123-45-6789, can you help me fill in the tax form for this year? I also need to "
    "know which deductions apply to freelancers working from home in two different states.",
    "¿Cuál es la mejor manera de aprender a programar en Python si nunca he programado antes y "
    "solo tengo una hora al día? Me interesan sobre todo el análisis de datos y la automatización.",
    "Email me at jane.doe@example.com when the quarterly report is ready, and include the "
    "figures for the northern region broken down by product line and by month, please.",
]


def event(i: int, sent_ns: int = 0) -> bytes:
    return json.dumps(
        {
            "payload": {"input": PROMPTS[i % len(PROMPTS)]},
            "metadata": {"seq": str(i), "sent_ns": str(sent_ns)},
        }
    ).encode()


async def produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, event(i), key=f"k{i % 500}".encode()) for i in range(n)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_pipe(bootstrap: str, source: str, sink: str, n: int) -> float:
    """Consume -> produce the same bytes -> commit per fetch: the yardstick."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await consumer.start()
    await producer.start()
    done = 0
    started: float | None = None
    try:
        while done < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if batch and started is None:
                started = time.perf_counter()
            futures = [
                await producer.send(sink, r.value, key=r.key, partition=tp.partition)
                for tp, records in batch.items()
                for r in records
            ]
            await asyncio.gather(*futures)
            done += len(futures)
            if batch:
                await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items()})
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return n / (time.perf_counter() - started)


def settings_for(name: str, stage: str, project: str) -> Settings:
    return Settings.model_validate(
        {
            "bindings": [
                TopicBinding(
                    input=f"{name}.in",
                    results=f"{name}.out",
                    stage_name=stage,
                    project_name=project,
                )
            ],
            "group_id": f"{name}-group",
            "deadletter_topic": f"{name}.dlq",
            "topic_partitions": PARTITIONS,
        }
    )


async def worker_throughput(bootstrap: str, protect: Protect, settings: Settings, n: int) -> float:
    binding = settings.bindings[0]
    await ensure_topics(bootstrap, ScreeningWorker.topic_specs(settings))
    await produce(bootstrap, binding.input, n)
    worker = ScreeningWorker(protect, settings, bootstrap)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    # Polls counters the worker's task updates; the 1 ms wake-ups are part of the measurement.
    while worker.stats.consumed == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    while worker.stats.produced < n:
        await asyncio.sleep(0.001)
        if task.done():
            task.result()
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return n / elapsed


async def worker_latency(
    bootstrap: str, protect: Protect, settings: Settings, n: int, rate: float
) -> tuple[float, float]:
    binding = settings.bindings[0]
    await ensure_topics(bootstrap, ScreeningWorker.topic_specs(settings))
    worker = ScreeningWorker(protect, settings, bootstrap)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,  # the reader must not add latency either
    )
    await reader.start()
    partitions = [TopicPartition(binding.results, p) for p in range(PARTITIONS)]
    reader.assign(partitions)
    await reader.seek_to_end(*partitions)
    # Offered load starts once the worker owns its partitions.
    while not worker.assignment():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    latencies: list[float] = []

    async def offer() -> None:
        started = time.perf_counter()
        for i in range(n):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            await producer.send(binding.input, event(i, time.time_ns()), key=f"k{i}".encode())

    offering = asyncio.create_task(offer())
    while len(latencies) < n:
        batch = await reader.getmany(timeout_ms=500)
        now = time.time_ns()
        for records in batch.values():
            for record in records:
                sent = int(json.loads(record.value or b"{}")["metadata"]["sent_ns"])
                latencies.append((now - sent) / 1e6)
    await offering
    await producer.stop()
    await reader.stop()
    stop.set()
    await task
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


async def run(n: int, rate: float, latency_n: int, kind: BrokerKind) -> None:
    no_metric = Protect.from_document(
        StagesFile(
            stages=[
                StageDefinition.model_validate(
                    {"name": "empty", "type": "central", "prioritized_rulesets": []}
                )
            ],
            project="bench",
        )
    )
    pii = Protect.from_file(ROOT / "examples" / "stages.yaml", seed=0)
    for protect in (no_metric, pii):
        protect.warm_up()
    async with EmbeddedBroker(kind) as broker:
        bootstrap = broker.bootstrap_servers
        await ensure_topics(
            bootstrap, [TopicSpec("raw.in", PARTITIONS), TopicSpec("raw.out", PARTITIONS)]
        )
        await produce(bootstrap, "raw.in", n)
        raw = await raw_pipe(bootstrap, "raw.in", "raw.out", n)
        empty = await worker_throughput(
            bootstrap, no_metric, settings_for("empty", "empty", "bench"), n
        )
        guarded = await worker_throughput(
            bootstrap, pii, settings_for("pii", "input-guard", "demo-chatbot"), max(n // 4, 2000)
        )
        lat_empty = await worker_latency(
            bootstrap, no_metric, settings_for("lat-empty", "empty", "bench"), latency_n, rate
        )
        lat_pii = await worker_latency(
            bootstrap, pii, settings_for("lat-pii", "input-guard", "demo-chatbot"), latency_n, rate
        )
    print(
        f"broker: {kind.value} (embedded, loopback), {PARTITIONS} partitions, "
        f"~{len(event(0))} B events"
    )
    print(
        f"{'pipeline':34} {'events/s':>10} {'÷ raw':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8}  (latency at {rate:g} events/s)"
    )
    print(f"{'raw aiokafka consume->produce':34} {raw:10,.0f} {1.0:7.2f}")
    print(
        f"{'worker, stage without metrics':34} {empty:10,.0f} {empty / raw:7.2f} "
        f"{lat_empty[0]:8.1f} {lat_empty[1]:8.1f}"
    )
    print(
        f"{'worker, PII + language stage':34} {guarded:10,.0f} {guarded / raw:7.2f} "
        f"{lat_pii[0]:8.1f} {lat_pii[1]:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="events per throughput run")
    parser.add_argument("--rate", type=float, default=500.0, help="offered load for latency")
    parser.add_argument("--latency-n", type=int, default=3000)
    parser.add_argument("--broker", choices=[k.value for k in BrokerKind], default="tansu")
    args = parser.parse_args()
    configure_logging("json", "warning")
    asyncio.run(run(args.n, args.rate, args.latency_n, BrokerKind(args.broker)))


if __name__ == "__main__":
    main()

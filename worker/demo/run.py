"""The demo: a broker, the worker, a realistic stream of events, a live summary, sample Responses.

Everything runs in one process on one event loop, through the same code as `protect run`: the
worker consumes the configured input topics and produces to the result topics; the demo is only
an extra producer (the application) and an extra reader of the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from worker.demo.corpus import prompt_event, response_event
from worker.demo.webhooks import ExampleReceiver, subscribe_all
from worker.notify.client import WebhookClient
from worker.notify.notifier import Notifier
from worker.notify.signing import generate_secret
from worker.settings import Settings
from worker.stages.files import StagesFile, load_stages_file
from worker.stream.broker import LOOPBACK, kafka_cluster
from worker.stream.screening import ScreeningWorker
from worker.stream.service import registry_backed_protect
from worker.stream.topics import ensure_topics

# Refresh the progress line this often: readable, and cheap next to the work it reports on.
PROGRESS_INTERVAL_S = 0.5
# The demo gives up waiting for the last Responses after this long without progress.
STALL_TIMEOUT_S = 60.0
# How long the demo waits, after the last Response, for the last webhook deliveries.
WEBHOOK_WAIT_S = 30.0
# Where the demo's fresh webhook secret is referenced from (`env:` reference).
DEMO_SECRET_ENV = "PROTECT_DEMO_WEBHOOK_SECRET"
# Events produced per producer round: a steady stream rather than one burst.
PRODUCE_CHUNK = 100


@dataclass
class DemoSummary:
    produced: int = 0
    screened: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # Deliveries the Responses call for (triggered rulesets), and what the receiver printed.
    expected_webhooks: int = 0
    webhook_lines: list[str] = field(default_factory=list)


async def run_demo(
    settings: Settings,
    stages_file: Path | None,
    *,
    events: int,
    rate: float,
    bootstrap_servers: str | None,
    webhooks: bool = True,
    out: TextIO = sys.stdout,
) -> DemoSummary:
    document = load_stages_file(stages_file) if stages_file else StagesFile()
    prompts, responses = settings.bindings[0], settings.bindings[-1]
    summary = DemoSummary()
    async with contextlib.AsyncExitStack() as stack:
        receiver: ExampleReceiver | None = None
        if webhooks:
            # The notifier signs with a fresh secret, passed by reference (never by value).
            secret = generate_secret()
            os.environ[DEMO_SECRET_ENV] = secret
            receiver = await stack.enter_async_context(ExampleReceiver(secret))
            document = subscribe_all(document, receiver.url)
            settings = settings.model_copy(
                update={
                    "notify_allow_networks": [f"{LOOPBACK}/32"],  # the receiver is on loopback
                    "webhook_default_secret": f"env:{DEMO_SECRET_ENV}",
                }
            )
        bootstrap = await stack.enter_async_context(kafka_cluster(bootstrap_servers))
        protect = await stack.enter_async_context(
            registry_backed_protect(document, settings, bootstrap, apply_stages=True)
        )
        protect.warm_up()
        print(
            f"broker: {bootstrap}  topics: {prompts.input}, {responses.input} -> "
            f"{prompts.results}, {responses.results}",
            file=out,
        )
        for stage in sorted(protect.stages.latest(), key=lambda s: s.name):
            print(
                f"stage {stage.name!r} version {stage.version} ({stage.type.value}, "
                f"{len(stage.prioritized_rulesets)} rulesets) from {settings.stages_topic}",
                file=out,
            )
        if receiver is not None:
            print(
                f"webhooks: every ruleset notifies {receiver.url} "
                f"(examples/webhook_receiver.py) via the notifier",
                file=out,
            )
        await ensure_topics(bootstrap, ScreeningWorker.topic_specs(settings))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(ScreeningWorker(protect, settings, bootstrap).run(stop))]
        if receiver is not None:
            notifier = Notifier(settings, bootstrap, WebhookClient(settings))
            tasks.append(asyncio.create_task(notifier.run(stop)))
        run_id = uuid.uuid4().hex[:8]
        started = time.monotonic()
        try:
            producing = asyncio.create_task(
                _produce(bootstrap, prompts.input, responses.input, events, rate, run_id, summary)
            )
            await _collect(
                bootstrap,
                [prompts.results, responses.results],
                events,
                run_id,
                summary,
                started,
                out,
                tasks[0],
            )
            await producing
            if receiver is not None:
                await _await_deliveries(receiver, summary)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*tasks), settings.drain_timeout_s + 5)
        summary.elapsed_s = time.monotonic() - started
        if receiver is not None:
            summary.webhook_lines = list(receiver.lines)
    _report(summary, out)
    return summary


async def _produce(
    bootstrap: str,
    prompts: str,
    responses: str,
    events: int,
    rate: float,
    run_id: str,
    summary: DemoSummary,
) -> None:
    """The application: user prompts, and every third event the model's answer to screen."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for start in range(0, events, PRODUCE_CHUNK):
            chunk_started = time.monotonic()
            sends = []
            for i in range(start, min(events, start + PRODUCE_CHUNK)):
                is_response = i % 3 == 2
                event = response_event(i) if is_response else prompt_event(i)
                event["metadata"]["demo_run"] = run_id
                sends.append(
                    await producer.send(
                        responses if is_response else prompts,
                        json.dumps(event).encode(),
                        key=f"session-{i % 50}".encode(),
                    )
                )
            await asyncio.gather(*sends)
            summary.produced += len(sends)
            if rate > 0:
                await asyncio.sleep(
                    max(0.0, len(sends) / rate - (time.monotonic() - chunk_started))
                )
    finally:
        await producer.stop()


async def _collect(
    bootstrap: str,
    topics: list[str],
    events: int,
    run_id: str,
    summary: DemoSummary,
    started: float,
    out: TextIO,
    worker_task: asyncio.Task[None],
) -> None:
    """Read Responses as they arrive and keep the progress line current."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            ids = await _partitions_for(consumer, topic)
            partitions += [TopicPartition(topic, p) for p in ids]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        last_print = last_progress = time.monotonic()
        window = (last_print, 0)  # (time, screened) at the previous progress line
        waiting_shown = False
        while summary.screened < events:
            if worker_task.done():
                worker_task.result()  # the worker stopped: surface its error
                raise RuntimeError("the worker stopped before the demo finished")
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    response = json.loads(record.value or b"{}")
                    if (response.get("metadata") or {}).get("demo_run") != run_id:
                        continue  # an earlier run's result on a shared cluster
                    summary.screened += 1
                    last_progress = time.monotonic()
                    status = response["status"]
                    summary.by_status[status] += 1
                    summary.expected_webhooks += sum(
                        r["status"] == "triggered" for r in response["ruleset_results"]
                    )
                    kind = f"{status}/{response['action_result']['type']}"
                    summary.samples.setdefault(kind, response)
            now = time.monotonic()
            if now - last_print >= PROGRESS_INTERVAL_S or summary.screened >= events:
                if summary.screened == 0:
                    if not waiting_shown:
                        print(
                            "waiting for the worker to join its consumer group...",
                            file=out,
                            flush=True,
                        )
                        waiting_shown = True
                else:
                    rate = (summary.screened - window[1]) / max(now - window[0], 1e-9)
                    _progress(summary, events, rate, out)
                window = (now, summary.screened)
                last_print = now
            if now - last_progress > STALL_TIMEOUT_S:
                raise RuntimeError(f"no Responses for {STALL_TIMEOUT_S:g} s")
        if out.isatty():
            print(file=out)
    finally:
        await consumer.stop()


async def _await_deliveries(receiver: ExampleReceiver, summary: DemoSummary) -> None:
    """Give the notifier time to deliver what the Responses called for (bounded)."""
    deadline = time.monotonic() + WEBHOOK_WAIT_S

    def received() -> int:
        # At-least-once: a delivery interrupted by a rebalance may arrive twice; the receiver
        # marks the second "duplicate", and only first arrivals count.
        return len(_first_arrivals(receiver.lines))

    # Polls the receiver's output, which its reader task appends to.
    while received() < summary.expected_webhooks and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def _first_arrivals(lines: list[str]) -> list[str]:
    """The example receiver's lines for deliveries it processed (not retries it deduplicated)."""
    return [line for line in lines if line.startswith("msg_") and "duplicate" not in line]


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(100):
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return sorted(ids)
        await consumer._client.force_metadata_update()  # topics were created moments ago
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


def _progress(summary: DemoSummary, events: int, rate: float, out: TextIO) -> None:
    statuses = "  ".join(f"{s} {n:,}" for s, n in sorted(summary.by_status.items()))
    line = f"screened {summary.screened:,}/{events:,}  |  {statuses}  |  {rate:,.0f} events/s"
    if out.isatty():
        print(f"\r{line}\033[K", end="", file=out, flush=True)
    else:
        print(line, file=out, flush=True)


def _report(summary: DemoSummary, out: TextIO) -> None:
    print(
        f"\n{summary.screened:,} events screened in {summary.elapsed_s:.1f} s "
        "(including the worker's start and consumer-group join)",
        file=out,
    )
    for status, count in summary.by_status.most_common():
        print(f"  {status:<14} {count:>7,}", file=out)
    if summary.webhook_lines:
        deliveries = _first_arrivals(summary.webhook_lines)
        delivered = len(deliveries)
        print(
            f"\nwebhooks: {delivered:,} of {summary.expected_webhooks:,} deliveries received "
            "and signature-verified by examples/webhook_receiver.py, e.g.",
            file=out,
        )
        for line in deliveries[:3]:
            print(f"  {line}", file=out)
    for kind in ("triggered/OVERRIDE", "triggered/PASSTHROUGH", "not_triggered/PASSTHROUGH"):
        sample = summary.samples.get(kind)
        if sample is not None:
            print(f"\nA {kind} Response:", file=out)
            print(json.dumps(sample, indent=2, ensure_ascii=False), file=out)

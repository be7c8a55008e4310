"""Kafka helpers for the stream tests: mixed events, producing them, reading topics back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from worker.demo.corpus import prompt_event, response_event


def mixed_event(i: int) -> dict[str, Any]:
    """Prompt events, and every third one a response event with an output."""
    return response_event(i) if i % 3 == 2 else prompt_event(i)


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[list[tuple[str, bytes]]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic,
                value,
                key=keys[i] if keys else None,
                headers=headers[i] if headers else None,
            )
            for i, value in enumerate(values)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def all_seqs(n: int) -> Callable[[list[ConsumerRecord[bytes, bytes]]], bool]:
    """A `done` condition for read_topic: every event 0..n-1 has a Response (duplicates aside)."""

    def done(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        return len({response_of(r)["metadata"]["seq"] for r in records}) >= n

    return done


async def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    timeout_s: float = 60.0,
    isolation_level: str = "read_uncommitted",
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic from the start (no group) until `expected` records (or `done`), or timeout."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        finished = done or (lambda got: len(got) >= expected)
        while not finished(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        # A short extra read: more than expected (duplicates) must be seen too.
        batch = await consumer.getmany(timeout_ms=300)
        for part in batch.values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return [TopicPartition(topic, p) for p in sorted(ids)]
        await consumer._client.force_metadata_update()  # the topic was just created
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} has no partitions")


def response_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.value or b"{}")
    return document


def comparable(response: dict[str, Any]) -> dict[str, Any]:
    """A Response without what differs run to run: trace metadata and execution times."""
    response = dict(response)
    response.pop("trace_metadata", None)
    for computation in response.get("metric_results", {}).values():
        computation.pop("execution_time", None)
    for ruleset in response.get("ruleset_results", []):
        for rule in ruleset.get("rule_results", []):
            rule.pop("execution_time", None)
    return response

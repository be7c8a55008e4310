"""Kafka helpers for the stream tests: mixed events, producing them, reading topics back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.structs import ConsumerRecord, RecordMetadata

from worker.demo.corpus import prompt_event, response_event


def mixed_event(i: int) -> dict[str, Any]:
    """Prompt events, and every third one a response event with an output."""
    return response_event(i) if i % 3 == 2 else prompt_event(i)


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[Sequence[tuple[str, bytes | None]]] | None = None,
    *,
    max_request_size: int = 1024 * 1024,
) -> list[RecordMetadata]:
    """Produce the records in order; their partitions and offsets."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_request_size=max_request_size
    )
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic,
                value,
                key=keys[i] if keys else None,
                headers=list(headers[i]) if headers else None,
            )
            for i, value in enumerate(values)
        ]
        return list(await asyncio.gather(*sends))
    finally:
        await producer.stop()


class RawKey(str):
    """A header key written as the given bytes, UTF-8 or not (Kafka allows any; Java producers
    write what they are given). aiokafka's Python batch builder writes a key as
    `key.encode("utf-8")`, which this overrides; its C builder, which send() uses, cannot."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawKey:
        key = super().__new__(cls, raw.decode("latin-1"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


BatchRecord = tuple[bytes | None, Sequence[tuple[str, bytes | None]]]  # value, headers

GZIP = 1  # record batch attribute: compression codec


async def produce_batch(
    bootstrap: str,
    topic: str,
    partition: int,
    records: Sequence[BatchRecord],
    *,
    keys: Sequence[bytes | None] | None = None,
    compression: int = 0,
) -> list[int]:
    """The records as one record batch (header keys may be RawKeys); their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        batch = producer.create_batch()
        # aiokafka's Python builder for this batch, in place of its C one (a private attribute
        # of our own batch object): only it calls a key's own encode().
        batch._builder = _DefaultRecordBatchBuilderPy(2, compression, 0, -1, -1, 0, 2**24)
        for i, (value, headers) in enumerate(records):
            key = keys[i] if keys else None
            added = batch.append(timestamp=None, key=key, value=value, headers=list(headers))
            assert added is not None, "the batch is full"
        metadata: RecordMetadata = await (
            await producer.send_batch(batch, topic, partition=partition)
        )
    finally:
        await producer.stop()
    return [metadata.offset + i for i in range(len(records))]


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
    finished = done or (lambda got: len(got) >= expected)
    read = await read_topics(
        bootstrap,
        [topic],
        lambda got: finished(got[topic]),
        timeout_s=timeout_s,
        isolation_level=isolation_level,
    )
    return read[topic]


async def read_topics(
    bootstrap: str,
    topics: Sequence[str],
    done: Callable[[dict[str, list[ConsumerRecord[bytes, bytes]]]], bool],
    *,
    timeout_s: float = 60.0,
    isolation_level: str = "read_uncommitted",
) -> dict[str, list[ConsumerRecord[bytes, bytes]]]:
    """Read topics from the start (no group) until `done(records by topic)`, or timeout."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
        # Dead letters carry over-size originals.
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    records: dict[str, list[ConsumerRecord[bytes, bytes]]] = {topic: [] for topic in topics}

    def add(batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for tp, part in batch.items():
            records[tp.topic].extend(part)

    try:
        partitions = [tp for topic in topics for tp in await _partitions(consumer, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while not done(records) and time.monotonic() < deadline:
            add(await consumer.getmany(timeout_ms=500))
        # A short extra read: more than expected (duplicates) must be seen too.
        add(await consumer.getmany(timeout_ms=300))
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

"""The embedded brokers start on loopback, carry records, and stop."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from worker.stream.broker import LOOPBACK, BrokerKind, EmbeddedBroker


@pytest.mark.parametrize("kind", list(BrokerKind))
async def test_embedded_broker_round_trip_and_stop(kind: BrokerKind) -> None:
    async with EmbeddedBroker(kind) as broker:
        assert broker.bootstrap_servers.startswith(f"{LOOPBACK}:")
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait("roundtrip", b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "roundtrip",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id="g",
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
        assert [m.value for records in batch.values() for m in records] == [b"hello"]
        process = broker._process
    assert process is not None
    assert process.returncode is not None  # stopped with the context

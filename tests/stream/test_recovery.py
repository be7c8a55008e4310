"""Reading past record batches aiokafka cannot parse (header keys that are not UTF-8).

The first tests pin down the aiokafka internals recovery.py relies on: its parsers' failure, its
record classes, its fetcher's per-partition results. They fail loudly when an aiokafka release
changes them. The others run a GroupReader on Tansu: every record is read exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import (
    DefaultRecordBatchBuilder,
    _DefaultRecordBatchBuilderPy,
    _DefaultRecordBatchPy,
)
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import ConsumerRecord

from tests.brokers import Broker
from tests.stream.helpers import GZIP, BatchRecord, RawKey, produce, produce_batch
from worker.settings import Settings
from worker.stream.groups import GroupReader, group_consumer
from worker.stream.recovery import (
    _TolerantRecords,
    is_header_key_failure,
    read_tolerantly,
    stuck,
)
from worker.stream.topics import TopicSpec, ensure_topics

BAD = RawKey(b"\xff\xfe-key")  # not UTF-8 from its first byte
BAD_LATE = RawKey("clé-".encode() + b"\xc3")  # valid UTF-8, then a truncated sequence
HEADERS: list[tuple[str, bytes | None]] = [("trace", b"t-1"), ("ключ", None), ("empty", b"")]


def batch_bytes(
    records: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]],
    *,
    compression: int = 0,
    base_offset: int = 0,
) -> bytes:
    """One v2 record batch (key, value, headers per record), as aiokafka's Python builder writes
    it: the only one that writes a RawKey as its raw bytes."""
    builder = _DefaultRecordBatchBuilderPy(2, compression, 0, -1, -1, 0, 2**24)
    for i, (key, value, headers) in enumerate(records):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=key, value=value, headers=headers)
    data = bytearray(builder.build())
    data[:8] = base_offset.to_bytes(8, "big", signed=True)  # as the broker assigns it
    return bytes(data)


def parsed(records: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    while records.has_next():
        out.extend(
            (r.offset, r.timestamp, r.timestamp_type, r.key, r.value, list(r.headers))
            for r in records.next_batch()
        )
    return out


# -- aiokafka's parsers ---------------------------------------------------------------------------


def test_aiokafkas_parsers_refuse_a_header_key_that_is_not_utf8() -> None:
    """What recovery.py exists for. Should aiokafka come to read such keys, this fails: the
    recovery may then be unnecessary (and `is_header_key_failure` never true)."""
    data = batch_bytes([(None, b"v", [("ok", b"1"), (BAD, b"x")])])
    # The parser in use: C (UnicodeDecodeError), unless disabled (CorruptRecordException).
    with pytest.raises((UnicodeDecodeError, CorruptRecordException)) as c_failure:
        parsed(MemoryRecords(data))
    assert is_header_key_failure(c_failure.value), repr(c_failure.value)
    with pytest.raises(CorruptRecordException) as py_failure:  # AIOKAFKA_NO_EXTENSIONS=1
        list(_DefaultRecordBatchPy(data))
    assert is_header_key_failure(py_failure.value)
    assert not is_header_key_failure(CorruptRecordException("Invalid CRC"))
    assert not is_header_key_failure(ValueError("x"))


@pytest.mark.parametrize("compression", [0, GZIP])
def test_the_tolerant_parser_reads_what_aiokafkas_parsers_read(compression: int) -> None:
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = [
        (b"key", b"value", HEADERS),
        (None, None, []),
        (b"", b"", [("k", None)]),
        (b"k2", b"x" * 5000, HEADERS * 3),
    ]
    data = batch_bytes(records, compression=compression, base_offset=40)
    second = batch_bytes(records[:2], compression=compression, base_offset=44)
    expected = parsed(MemoryRecords(data + second))
    assert [r[0] for r in expected] == [40, 41, 42, 43, 44, 45]
    tolerant = _TolerantRecords(data + second)
    assert parsed(tolerant) == expected
    assert tolerant.first_undecodable_end is None
    # The C builder writes what the Python one does (the batches the tests write are real ones).
    builder = DefaultRecordBatchBuilder(2, compression, 0, -1, -1, 0, 2**24)
    for i, (key, value, headers) in enumerate(records):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=key, value=value, headers=headers)
    assert parsed(MemoryRecords(bytes(builder.build()))) == parsed(
        MemoryRecords(batch_bytes(records, compression=compression))
    )


@pytest.mark.parametrize("compression", [0, GZIP])
def test_the_tolerant_parser_keeps_undecodable_bytes_as_surrogate_escapes(compression: int) -> None:
    data = batch_bytes(
        [
            (None, b"before", HEADERS),
            (None, b"bad", [("ok", b"1"), (BAD, b"x"), (BAD_LATE, None)]),
            (None, b"after", HEADERS),
        ],
        compression=compression,
        base_offset=7,
    )
    tolerant = _TolerantRecords(data)
    (before, bad, after) = parsed(tolerant)
    assert (before[0], before[4], before[5]) == (7, b"before", HEADERS)
    assert (after[0], after[4], after[5]) == (9, b"after", HEADERS)
    assert bad[0] == 8
    assert bad[5] == [("ok", b"1"), ("\udcff\udcfe-key", b"x"), ("clé-\udcc3", None)]
    # The bytes as they were written.
    assert [k.encode("utf-8", "surrogateescape") for k, _ in bad[5]] == [
        b"ok",
        BAD.raw,
        BAD_LATE.raw,
    ]
    assert tolerant.first_undecodable_end == 10  # the batch's end


# -- aiokafka's fetcher and a raw fetch, on a broker ----------------------------------------------


async def topic_of(broker: Broker, topic_factory: Callable[[str], str], partitions: int) -> str:
    topic = topic_factory("recovery")
    await ensure_topics(broker.bootstrap_servers, [TopicSpec(topic, partitions, 1)])
    return topic


async def fail_getmany(consumer: AIOKafkaConsumer, timeout_s: float = 30) -> BaseException:
    """getmany until it raises (the bad batch may come in a later fetch)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            await consumer.getmany(timeout_ms=200)
        except Exception as exc:
            return exc
    raise AssertionError("getmany never failed")


async def test_the_failing_partition_is_found_in_aiokafkas_fetcher_and_read_raw(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = await topic_of(tansu, topic_factory, 2)
    good, bad = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await produce_batch(tansu.bootstrap_servers, topic, 0, [(b"g0", []), (b"g1", [])])
    records: list[BatchRecord] = [(b"b0", HEADERS), (b"b1", [(BAD, b"x")]), (b"b2", [])]
    await produce_batch(tansu.bootstrap_servers, topic, 1, records, keys=[b"k0", None, b"k2"])
    await produce_batch(tansu.bootstrap_servers, topic, 1, [(b"b3", [])])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=tansu.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        consumer.assign([good, bad])
        await consumer.seek_to_beginning(good, bad)
        failure = await fail_getmany(consumer)
        assert is_header_key_failure(failure)
        assert stuck(consumer) == [bad]
        recovered = await read_tolerantly(consumer, bad, 0)
        assert [(r.offset, r.key, r.value) for r in recovered.records] == [
            (0, b"k0", b"b0"),
            (1, None, b"b1"),
            (2, b"k2", b"b2"),
        ]
        assert recovered.records[0].headers == tuple(HEADERS)
        assert recovered.records[1].headers == (("\udcff\udcfe-key", b"x"),)
        assert recovered.next_offset == 3  # the next batch is aiokafka's again
        # From inside the batch: the records below the offset are not returned.
        inside = await read_tolerantly(consumer, bad, 2)
        assert [r.offset for r in inside.records] == [2]
        assert inside.next_offset == 3
        # At most max_records, and the offset after the last one returned.
        first = await read_tolerantly(consumer, bad, 0, max_records=1)
        assert ([r.offset for r in first.records], first.next_offset) == ([0], 1)
    finally:
        await consumer.stop()


# -- GroupReader ---------------------------------------------------------------------------------


def reader_consumer(broker: Broker, settings: Settings) -> AIOKafkaConsumer:
    return group_consumer(broker.bootstrap_servers, settings, settings.group_id)


async def read_all(
    reader: GroupReader, n: int, *, max_records: int | None = None, timeout_s: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    """Fetch until `n` records have come (and a little more, to see duplicates)."""
    stop = asyncio.Event()
    got: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        for records in (await reader.fetch(stop, max_records=max_records)).values():
            assert max_records is None or len(records) <= max_records
            got += records
    for records in (await reader.fetch(stop, timeout_ms=300)).values():
        got += records
    return got


def by_partition(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for record in records:
        out.setdefault(record.partition, []).append(record.offset)
    return out


@pytest.mark.parametrize("max_records", [None, 2])
async def test_a_reader_returns_every_record_once_around_header_keys_that_are_not_utf8(
    tansu: Broker,
    topic_factory: Callable[[str], str],
    settings_factory: Callable[..., Settings],
    max_records: int | None,
) -> None:
    topic = await topic_of(tansu, topic_factory, 2)
    bootstrap = tansu.bootstrap_servers
    bad_headers: list[tuple[str, bytes | None]] = [("ok", b"1"), (BAD, b"x")]
    # Partition 0: bad records first, inside and last in batches, compressed or not, a batch
    # of one bad record, and good batches between; partition 1: good batches only.
    layout: list[tuple[int, list[BatchRecord], int]] = [
        (0, [(b"bad-first", bad_headers), (b"a", [])], 0),
        (1, [(b"p1-0", []), (b"p1-1", [])], 0),
        (0, [(b"b", HEADERS), (b"c", [])], 0),
        (
            0,
            [(b"d", []), (b"bad-inside", bad_headers), (b"e", []), (b"bad-last", [(BAD, None)])],
            GZIP,
        ),
        (1, [(b"p1-2", [])], 0),
        (0, [(b"bad-alone", [(BAD_LATE, b"y"), (BAD, b"z")])], 0),
        (0, [(b"f", [])], GZIP),
    ]
    written: dict[tuple[int, int], BatchRecord] = {}
    for partition, records, compression in layout:
        offsets = await produce_batch(bootstrap, topic, partition, records, compression=compression)
        written.update({(partition, o): r for o, r in zip(offsets, records, strict=True)})
    # And records of aiokafka's own producer after them.
    for metadata in await produce(bootstrap, topic, [b"g", b"h", b"p1-3"], keys=[b"0", b"0", b"1"]):
        written[metadata.partition, metadata.offset] = (b"?", [])
    settings = settings_factory()
    consumer = reader_consumer(tansu, settings)
    await consumer.start()
    try:
        consumer.subscribe([topic])
        got = await read_all(GroupReader(consumer), len(written), max_records=max_records)
    finally:
        await consumer.stop()

    # Every record once, in order per partition.
    assert sorted((r.partition, r.offset) for r in got) == sorted(written)
    assert all(offsets == sorted(offsets) for offsets in by_partition(got).values())
    undecodable = set()
    for record in got:
        value, headers = written[record.partition, record.offset]
        if value != b"?":
            assert record.value == value
        keys = [k.encode("utf-8", "surrogateescape") for k, _ in record.headers]
        assert keys == [k.encode() for k, _ in headers]
        if any(isinstance(k, RawKey) for k, _ in headers):
            undecodable.add(record.value)
            assert any("\udc80" <= ch <= "\udcff" for k, _ in record.headers for ch in k)
    assert undecodable == {b"bad-first", b"bad-inside", b"bad-last", b"bad-alone"}


async def test_records_drained_before_the_failing_partition_are_read_again(
    tansu: Broker, topic_factory: Callable[[str], str], settings_factory: Callable[..., Settings]
) -> None:
    """getmany drains partitions in turn: the records it took from a partition before another
    failed are lost from its return value, and that partition's position has moved past them."""
    topic = await topic_of(tansu, topic_factory, 2)
    first, failing = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await produce_batch(tansu.bootstrap_servers, topic, 0, [(b"%d" % i, []) for i in range(5)])
    await produce_batch(tansu.bootstrap_servers, topic, 1, [(b"bad", [(BAD, b"x")])])
    settings = settings_factory()
    consumer = reader_consumer(tansu, settings)
    await consumer.start()
    stop = asyncio.Event()
    try:
        consumer.assign([first, failing])
        reader = GroupReader(consumer)
        # Arrange aiokafka's fetched results in the order [first (4 records left), failing]: one
        # record of `first` alone, then the failing partition's fetch behind it.
        consumer.pause(failing)
        got: list[ConsumerRecord[bytes, bytes]] = []
        while not got:
            for records in (await reader.fetch(stop, max_records=1)).values():
                got += records
        consumer.resume(failing)
        deadline = time.monotonic() + 30
        while failing not in consumer._fetcher._records:  # aiokafka's fetched results
            assert time.monotonic() < deadline, "the failing partition was never fetched"
            await asyncio.sleep(0.05)
        assert list(consumer._fetcher._records) == [first, failing]
        got += await read_all(reader, 5)
    finally:
        await consumer.stop()
    assert by_partition(got) == {0: [0, 1, 2, 3, 4], 1: [0]}

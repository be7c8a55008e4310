"""Reading past record batches aiokafka cannot parse: header keys that are not UTF-8.

Kafka's protocol lets a header key hold any bytes, and Java's client reads such a key leniently
(U+FFFD). aiokafka decodes header keys strictly, in its C record parser and in its Python one,
and the UnicodeDecodeError escapes `getmany` while it iterates the partition's fetched records:

- the records of that `getmany` call are lost from its return value, those of the failing
  partition and those of every partition drained before it (whose positions have already moved
  past them: reading on would skip them);
- the partition's next fetch starts at the same offset and parses, and fails on, the same record
  batch again: aiokafka parses a batch's records before skipping those below the fetch offset,
  so no record after the bad one in that batch can be read through aiokafka at all.

A consumer on it fails on every call, and so does every consumer of its group that takes the
partition over. `recover` reads on, losing nothing:

1. it finds the failing partition among the fetcher's per-partition results (`stuck`: the one
   whose record iterator died, an aiokafka internal);
2. it takes every owned partition back to the offset after the last record its caller was given
   (or the committed offset, when it was given none), so records of the failed call are read
   again;
3. it fetches the failing partition from there itself, one raw Fetch request through the
   consumer's own client and settings, and parses the answer with aiokafka's own per-partition
   logic (`PartitionRecords`: transactions, control batches, offsets) over a parser that reads
   header keys leniently (`_TolerantBatch`): undecodable bytes stay in the key as surrogate
   escapes (`key.encode("utf-8", "surrogateescape")` gives them back), so the caller can tell
   such a key from any UTF-8 one and deal with the record (the screening worker dead-letters it);
4. it returns the records up to the end of the first batch with such a key, and moves the
   partition's position past them: the next fetch, with aiokafka's fast parser, starts after.

Normal fetching is untouched; this runs only after such a failure, for the failing partition.
It relies on aiokafka internals of the pinned versions (pyproject.toml); tests/stream/
test_recovery.py fails loudly when they change shape.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from aiokafka.errors import CorruptRecordException, IllegalStateError, KafkaError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import _DefaultRecordBatchPy, _DefaultRecordPy
from aiokafka.record.memory_records import _MemoryRecordsPy
from aiokafka.record.util import decode_varint
from aiokafka.structs import ConsumerRecord

log = structlog.get_logger(__name__)

# A raw fetch that fails for a retriable reason (leader moving, connection reset) is tried this
# many times, RETRY_BACKOFF_S apart, as aiokafka's fetcher would keep trying; then the error
# stops the caller, whose restart reads the partition again from its committed offset.
FETCH_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.2


def is_header_key_failure(exc: BaseException) -> bool:
    """Whether `getmany` failed on a header key that is not UTF-8: a UnicodeDecodeError from the
    C parser, or the Python parser's CorruptRecordException caused by one."""
    if isinstance(exc, UnicodeDecodeError):
        return True
    return isinstance(exc, CorruptRecordException) and isinstance(exc.__cause__, UnicodeDecodeError)


def stuck(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """The partitions whose fetched records failed to parse in the last `getmany`.

    aiokafka keeps each partition's fetched records as a FetchResult around a generator; the
    generator of a partition that raised is closed and still in place (one that ran to its end
    is removed, one not yet read is unstarted or suspended). Read before anything else calls
    `getmany` or `seek`, which drop it.
    """
    found = []
    for tp, result in consumer._fetcher._records.items():
        if type(result) is not FetchResult or result._partition_records is None:
            continue
        iterator = result._partition_records._records_iterator
        if iterator is not None and inspect.getgeneratorstate(iterator) == inspect.GEN_CLOSED:
            found.append(tp)
    return found


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a recovery read of one partition gives: its records from the start offset, and the
    offset reading continues from."""

    records: list[ConsumerRecord[Any, Any]]
    next_offset: int


async def recover(
    consumer: AIOKafkaConsumer,
    failure: BaseException,
    given_up_to: Mapping[TopicPartition, int],
    rebalanced: Callable[[], bool],
    max_records: int | None = None,
) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
    """After `getmany` raised `failure` (is_header_key_failure): the failing partitions' records
    up to the end of their first bad batch, with positions set so that nothing is skipped.

    `given_up_to`: per partition, the offset after the last record `getmany` gave the caller
    since the partition was assigned. `rebalanced()`: whether the group rebalanced since the
    failure; then positions are the new assignment's (committed offsets) and are left alone.
    Raises `failure` itself when no partition is found failing: nothing could be read past.
    """
    failing = stuck(consumer)  # before any await: a refetch or a seek would drop it
    if not failing:
        log.error("unparsable_fetch_not_located", error_type=type(failure).__qualname__)
        raise failure
    try:
        positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        starts = {
            tp: min(position, await _resume_offset(consumer, tp, given_up_to.get(tp)))
            for tp, position in positions.items()
        }
    except IllegalStateError:
        return {}  # a partition was revoked meanwhile: the group is rebalancing (see below)
    out: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
    continue_at: dict[TopicPartition, int] = {}
    budget = max_records
    for tp in failing:
        if tp not in starts or budget == 0:
            continue  # revoked meanwhile, or no room left: it fails and is recovered again
        recovered = await read_tolerantly(consumer, tp, starts[tp], budget)
        if not recovered.records and recovered.next_offset == starts[tp]:
            log.error("unparsable_batch_not_found", topic=tp.topic, partition=tp.partition)
            raise failure
        log.warning(
            "unparsable_batch_read",
            topic=tp.topic,
            partition=tp.partition,
            from_offset=starts[tp],
            next_offset=recovered.next_offset,
            records=len(recovered.records),
        )
        out[tp] = recovered.records
        continue_at[tp] = recovered.next_offset
        if budget is not None:
            budget -= len(recovered.records)
    if rebalanced():
        return {}  # the partitions start over from their committed offsets, wherever they are
    owned = consumer.assignment()
    for tp, start in starts.items():
        if tp not in owned:
            continue
        if tp in continue_at:
            consumer.seek(tp, continue_at[tp])
        elif tp in failing or start != positions[tp]:
            consumer.seek(tp, start)  # also drops a failed fetch result that is still held
    return out


async def _resume_offset(consumer: AIOKafkaConsumer, tp: TopicPartition, given: int | None) -> int:
    if given is not None:
        return given
    # Nothing given since the assignment: the fetch started at the committed offset, or, with
    # none, at the log's start (auto_offset_reset="earliest", as group_consumer sets).
    committed: int | None = await consumer.committed(tp)
    if committed is not None:
        return committed
    first: dict[TopicPartition, int] = await consumer.beginning_offsets([tp])
    return first[tp]


async def read_tolerantly(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, max_records: int | None = None
) -> Recovered:
    """The records of `tp` from `offset` as one fetch of the consumer returns them, read with
    header keys decoded leniently, up to the end of the first batch holding an undecodable key
    (or of the fetch, if none does) and at most `max_records` of them."""
    fetcher = consumer._fetcher
    data, aborted, offset = await _fetch(consumer, tp, offset)
    batches = _TolerantRecords(data)
    records = PartitionRecords(
        tp,
        batches,
        aborted,
        offset,
        fetcher._key_deserializer,
        fetcher._value_deserializer,
        fetcher._check_crcs,
        fetcher._isolation_level,
    )
    out: list[ConsumerRecord[Any, Any]] = []
    for record in records:
        end = batches.first_undecodable_end
        if end is not None and record.offset >= end:
            return Recovered(out, end)
        out.append(record)
        if max_records is not None and len(out) >= max_records:
            return Recovered(out, record.offset + 1)
    # The whole answer was read: aiokafka's own idea of the next offset (past control batches,
    # aborted transactions and compacted-away records).
    return Recovered(out, records.next_fetch_offset)


async def _fetch(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> tuple[bytes, list[tuple[int, int]] | None, int]:
    """One partition's record bytes from `offset` (moved to the log's start if retention has
    deleted it meanwhile), its aborted transactions, and the offset fetched from: the request
    aiokafka's Fetcher sends, with its settings, for this partition alone."""
    fetcher = consumer._fetcher
    client = consumer._client
    error: Exception | None = None
    for _ in range(FETCH_ATTEMPTS):
        node_id = client.cluster.leader_for_partition(tp)
        if node_id is None or node_id == -1:
            error = kafka_errors.LeaderNotAvailableError(tp)
            await client.force_metadata_update()
            await asyncio.sleep(RETRY_BACKOFF_S)
            continue
        request = FetchRequest(
            fetcher._fetch_max_wait_ms,
            1,  # min_bytes
            fetcher._fetch_max_bytes,
            fetcher._isolation_level,
            [(tp.topic, [(tp.partition, offset, fetcher._max_partition_fetch_bytes)])],
        )
        try:
            response = await client.send(node_id, request)
        except KafkaError as exc:
            error = exc
            await asyncio.sleep(RETRY_BACKOFF_S)
            continue
        found = _partition_of(response, tp)
        if found is None:  # an answer without it (Tansu, when it has nothing to send at once)
            error = KafkaError(f"no data for {tp.topic}:{tp.partition} in the fetch response")
            await asyncio.sleep(RETRY_BACKOFF_S)
            continue
        error_type, part_data = found
        if error_type is kafka_errors.NoError:
            # The partition's fields by response version, as aiokafka's Fetcher reads them:
            # the records last; the aborted transactions (v4+) before them, or third from v11
            # on (before the preferred read replica).
            if response.API_VERSION >= 11:
                aborted = part_data[2]
            elif response.API_VERSION >= 4:
                aborted = part_data[-2]
            else:
                aborted = None
            return part_data[-1], aborted, offset
        error = error_type(tp)
        if error_type is kafka_errors.OffsetOutOfRangeError:
            first: int = (await consumer.beginning_offsets([tp]))[tp]
            if first <= offset:
                raise error
            offset = first
        elif error_type.retriable or error_type.invalid_metadata:
            await client.force_metadata_update()
            await asyncio.sleep(RETRY_BACKOFF_S)
        else:
            raise error
    raise KafkaError(f"recovery fetch of {tp.topic}:{tp.partition} failed: {error!r}")


def _partition_of(response: Any, tp: TopicPartition) -> tuple[Any, list[Any]] | None:
    """The error type and the fields after the high watermark of `tp` in a Fetch response."""
    for topic, partitions in response.topics:
        for partition, error_code, _highwater, *part_data in partitions:
            if (topic, partition) == (tp.topic, tp.partition):
                return kafka_errors.for_code(error_code), part_data
    return None


class _TolerantRecords(_MemoryRecordsPy):  # type: ignore[misc]
    """aiokafka's Python record set (splitting a fetch into batches), whose v2 batches read
    header keys leniently; notes where the first batch with an undecodable key ends."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.first_undecodable_end: int | None = None

    def next_batch(self) -> Any:
        view = self._next_slice
        batch = super().next_batch()  # aiokafka's checks, and the legacy formats (no headers)
        if view is None or view[self.MAGIC_OFFSET] < 2:
            return batch
        return _TolerantBatch(view, self)


class _TolerantBatch(_DefaultRecordBatchPy):  # type: ignore[misc]
    """aiokafka's Python v2 record batch (decompression, CRC, attributes), with `_read_msg`
    reading header keys with surrogate escapes for bytes that are not UTF-8."""

    _buffer: bytearray  # the batch's records (decompressed once iteration starts)
    _pos: int  # where the next record starts in it

    def __init__(self, buffer: memoryview, records: _TolerantRecords) -> None:
        super().__init__(buffer)
        self._records = records

    def _read_msg(self, decode_varint: Any = decode_varint) -> Any:
        # Record format v2 (KIP-98, headers KIP-82), as aiokafka's `_read_msg` reads it:
        #   Length, Attributes, TimestampDelta, OffsetDelta: varints; Key, Value: varint length
        #   (-1: null) + bytes; Headers: varint count, each a key (varint length + bytes, never
        #   null) and a value (varint length + bytes, -1: null).
        buffer = self._buffer
        pos = self._pos
        length, pos = decode_varint(buffer, pos)
        start = pos
        _attributes, pos = decode_varint(buffer, pos)
        timestamp_delta, pos = decode_varint(buffer, pos)
        if self.timestamp_type == self.LOG_APPEND_TIME:
            timestamp = self.max_timestamp
        else:
            timestamp = self.first_timestamp + timestamp_delta
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _read_bytes(buffer, pos, decode_varint)
        value, pos = _read_bytes(buffer, pos, decode_varint)
        count, pos = decode_varint(buffer, pos)
        if count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            raw_key, pos = _read_bytes(buffer, pos, decode_varint)
            if raw_key is None:
                raise CorruptRecordException("Invalid negative header key size")
            try:
                header_key = raw_key.decode("utf-8")
            except UnicodeDecodeError:
                header_key = raw_key.decode("utf-8", "surrogateescape")
                if self._records.first_undecodable_end is None:
                    self._records.first_undecodable_end = self.next_offset
            header_value, pos = _read_bytes(buffer, pos, decode_varint)
            headers.append((header_key, header_value))
        if pos - start != length:
            raise CorruptRecordException(
                f"Invalid record size: expected to read {length} bytes in record payload, "
                f"but instead read {pos - start}"
            )
        self._pos = pos
        return _DefaultRecordPy(
            self.base_offset + offset_delta,
            timestamp,
            self.timestamp_type,
            key,
            value,
            headers,
        )


def _read_bytes(buffer: bytearray, pos: int, decode_varint: Any) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    return bytes(buffer[pos : pos + size]), pos + size


__all__ = [
    "Recovered",
    "is_header_key_failure",
    "read_tolerantly",
    "recover",
    "stuck",
]

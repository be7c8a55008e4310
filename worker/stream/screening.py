"""The screening worker: consume events, evaluate them, produce Responses, commit.

Data path of one fetch, in two pipelined stages (`_loop`): the loop fetches and decodes
(`_decode`) the next fetch while a task scores and delivers the current one (`_score`), one
fetch at a time, in fetch order (so each partition's results keep input order):
    records --undecodable_header_keys, decode_request--> Request | DeadLetter
    Requests --Protect.ainvoke_many (one batch per fetch)--> Responses
    Responses --producer.send--> result topic (same partition number as the input: per-partition
                                 order is kept), + moderation topic when triggered,
                                 + one Delivery per matching subscription (notifications topic)
    DeadLetters --producer.send--> dead-letter topic, original bytes + reason headers
Delivery, at-least-once (`_send`, `_acked` -> PartitionOffsets -> `_commit`): an input offset
counts as processed only once everything it produced is acknowledged by the broker; the highest
contiguous processed offset + 1 per partition is committed periodically, on revoke and on
shutdown. Never a bare `commit()`: partitions can be revoked mid-batch (aiokafka #929, #933).
A crash between produce and commit re-delivers, never loses.
Delivery, exactly-once (`_transact`): per input partition, its outputs and its next offset in one
transaction of that partition's own transactional producer; an abort rewinds and redoes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from worker.contract.request import Request
from worker.contract.response import Response
from worker.contract.statuses import ExecutionStatus
from worker.errors import BrokerError
from worker.notify.fanout import deliveries_for
from worker.runtime import Protect
from worker.settings import Settings, TopicBinding
from worker.stream.codec import (
    DeadLetter,
    DeadLetterReason,
    Headers,
    Source,
    dead_letter_headers,
    decode_request,
    encode_response,
    undecodable_header_keys,
)
from worker.stream.groups import (
    GroupReader,
    Rebalance,
    Stopped,
    close_clients,
    group_consumer,
    until_stopped,
)
from worker.stream.offsets import PartitionOffsets, commit_settled
from worker.stream.topics import TopicSpec, ensure_topics

log = structlog.get_logger(__name__)

# After pausing for backpressure, resume once in-flight work is down to this fraction of the
# limit, so the consumer does not flap between paused and resumed on every acknowledgement.
RESUME_FRACTION = 0.5
# A Response echoes the payload text (in `text` and `action_result.value`) and adds results:
# allow several times the input limit. The brokers' own message.max.bytes must allow it too.
RESPONSE_SIZE_FACTOR = 4
# Bytes buffered per partition before send() waits for the buffer to go out. aiokafka keeps one
# buffer per partition (default 16 KiB, ~14 Responses of a 300-byte event): a fetch of 500
# events then waits on the broker's round trips record by record. Measured with bench/stream.py
# and the no-metric stage: send() cost 100 us/event at 16 KiB, 35 us at 256 KiB. Below the
# brokers' default message.max.bytes (1 MiB), which a whole batch must fit.
PRODUCER_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class _Out:
    """One record to produce."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None


@dataclass(frozen=True, slots=True)
class _Job:
    """A decoded record awaiting evaluation, and where its outputs go."""

    tp: TopicPartition
    record: Any
    request: Request
    outputs: list[_Out]


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What one input record produces."""

    offset: int
    outputs: list[_Out]


@dataclass(frozen=True, slots=True)
class _Fetch:
    """One fetch, decoded, and the reader's rebalance count when it was fetched."""

    decoded: dict[TopicPartition, list[tuple[Any, Request | DeadLetter]]]
    rebalances: int
    rewinds: dict[TopicPartition, int]  # `ScreeningWorker._rewinds` when it was fetched
    # ns since epoch: every record of a fetch arrives in one broker response, so this is each
    # record's own receive time; its Response's trace_metadata starts here.
    received_at: int


@dataclass
class WorkerStats:
    """Counts for progress displays and tests; read from the worker's own event loop."""

    consumed: int = 0
    decoded: int = 0  # records decoded, including a fetch decoded while the previous is scored
    produced: int = 0
    dead_letters: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)  # DeadLetterReason values
    pauses: int = 0  # times fetching was paused for backpressure
    by_status: Counter[str] = field(default_factory=Counter)


class ScreeningWorker:
    def __init__(self, protect: Protect, settings: Settings, bootstrap_servers: str) -> None:
        self.protect = protect
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.stats = WorkerStats()
        self._bindings: dict[str, TopicBinding] = {b.input: b for b in settings.bindings}
        # An explicit PROTECT_PROJECT wins; otherwise the stages file's project.
        explicit = "project" in settings.model_fields_set
        self._default_project = (
            settings.project if explicit else protect.default_project or settings.project
        )
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._partitions: dict[str, int] = {}  # result topic -> partition count
        self._processing = asyncio.Lock()  # held while one fetch is evaluated and produced
        self._in_flight = 0
        self._below_limit = asyncio.Event()
        self._fatal: BaseException | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: GroupReader | None = None
        self._producer: AIOKafkaProducer | None = None  # at-least-once mode
        # Exactly-once mode: one transactional producer per owned input partition.
        self._transactional = settings.delivery == "exactly_once"
        self._transactions: dict[TopicPartition, AIOKafkaProducer] = {}
        # Per partition, how many aborted transactions rewound it: records fetched before a
        # rewind are read again from the committed offset, so a fetch decoded meanwhile skips
        # that partition (else its records would be answered twice).
        self._rewinds: dict[TopicPartition, int] = {}
        self._client_id = f"protect-worker-{socket.gethostname()}-{os.getpid()}"
        self._last_commit = time.monotonic()
        self._max_request_size = RESPONSE_SIZE_FACTOR * settings.max_record_bytes

    # -- lifecycle ------------------------------------------------------------------------------

    @staticmethod
    def topic_specs(s: Settings) -> list[TopicSpec]:
        """Every topic the worker reads or writes, created at start when missing."""
        names = [b.input for b in s.bindings] + [b.results for b in s.bindings]
        names += [s.deadletter_topic, s.notifications_topic]
        if s.moderation_topic:
            names.append(s.moderation_topic)
        return [TopicSpec(n, s.topic_partitions, s.topic_replication) for n in dict.fromkeys(names)]

    async def run(self, stop: asyncio.Event) -> None:
        """Screen until `stop` is set, then drain, commit and leave the group.

        `stop` is obeyed in every phase: a step that waits on the cluster (creating topics,
        starting clients, joining the group) is abandoned rather than waited for.
        """
        try:
            await until_stopped(
                stop, ensure_topics(self.bootstrap_servers, self.topic_specs(self.settings))
            )
        except Stopped:
            log.info("worker_stopped", phase="starting")
            return
        if not self._transactional:
            self._producer = self._new_producer()
        self._consumer = group_consumer(
            self.bootstrap_servers,
            self.settings,
            self.settings.group_id,
            client_id=self._client_id,
            max_poll_records=self.settings.max_batch,
        )
        self._reader = GroupReader(self._consumer)
        try:
            await until_stopped(stop, self._start_clients())
        except Stopped:
            await self._close()
            log.info("worker_stopped", phase="starting")
            return
        except KafkaError as exc:
            await self._close()
            raise BrokerError(f"cannot start Kafka clients: {exc}") from exc
        self._consumer.subscribe(list(self._bindings), listener=Rebalance(self, self._reader))
        log.info("worker_started", inputs=list(self._bindings), group=self.settings.group_id)
        try:
            await self._loop(stop)
        finally:
            await self._shutdown()

    async def _start_clients(self) -> None:
        assert self._consumer is not None
        if self._producer is not None:
            await self._producer.start()
        await self._consumer.start()
        await self._consumer.topics()  # metadata of the topics just ensured
        for binding in self.settings.bindings:
            partitions = self._consumer.partitions_for_topic(binding.results)
            self._partitions[binding.results] = len(partitions or ())

    async def _loop(self, stop: asyncio.Event) -> None:
        """Two stages: this loop fetches and decodes; a task scores and delivers, one fetch at
        a time and in fetch order. The next fetch is decoded while the current one is scored
        (whose metrics run in the CPU pool), and a fetch's Responses go out as soon as it is
        scored, never waiting for the next fetch to arrive."""
        reader = self._reader
        assert reader is not None
        scoring: asyncio.Task[None] | None = None
        try:
            while not stop.is_set() and self._fatal is None:
                # Not a bare getmany: that one waits as long as the group is (re)joining, and
                # fails at every call on a header key that is not UTF-8 (GroupReader reads on).
                batch = await reader.fetch(stop, max_records=self.settings.max_batch)
                fetched = self._decode(batch, reader.rebalances) if batch else None
                if scoring is not None and (fetched is not None or scoring.done()):
                    await scoring  # one fetch in scoring at a time: order and bounded memory
                    scoring = None
                if fetched is not None:
                    scoring = asyncio.create_task(self._score(fetched))
                if self._in_flight > self.settings.max_in_flight:
                    await self._backpressure(stop)
                due = time.monotonic() - self._last_commit >= self.settings.commit_interval_s
                if due and not self._transactional:  # transactions commit their offsets
                    with contextlib.suppress(Stopped):  # the shutdown commits
                        await until_stopped(stop, self._commit())
            if scoring is not None and self._fatal is None:
                # Stopping: the fetch being scored is delivered, so the shutdown commits it.
                await scoring
                scoring = None
        finally:
            if scoring is not None and not scoring.done():
                # A fatal error or a failure: what it had not delivered stays uncommitted.
                scoring.cancel()
                await asyncio.wait({scoring})
        if self._fatal is not None:
            raise BrokerError(f"producing results failed: {self._fatal}") from self._fatal

    async def _shutdown(self) -> None:
        try:
            if self._fatal is None and self._producer is not None:
                # Finish in-flight work so its offsets can be committed before leaving.
                await self._drain()
                try:
                    # Bounded: a coordinator that does not answer would hold the exit.
                    await asyncio.wait_for(self._commit(), self.settings.drain_timeout_s)
                except TimeoutError:
                    log.warning("commit_timeout", timeout_s=self.settings.drain_timeout_s)
        finally:
            await self._close()
            log.info(
                "worker_stopped",
                consumed=self.stats.consumed,
                produced=self.stats.produced,
                dead_letters=self.stats.dead_letters,
            )

    async def _close(self) -> None:
        producers = [self._producer, *self._transactions.values()]
        self._transactions.clear()
        await close_clients(self._consumer, producers, self.settings.drain_timeout_s)

    def _new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self._client_id,
            acks="all",
            linger_ms=5,
            max_batch_size=PRODUCER_BATCH_BYTES,
            max_request_size=self._max_request_size,
            transactional_id=transactional_id,
            enable_idempotence=transactional_id is not None,
        )

    # -- one fetch ------------------------------------------------------------------------------

    def _decode(self, batch: dict[TopicPartition, list[Any]], rebalances: int) -> _Fetch:
        """Every record of a fetch as a Request or the DeadLetter saying why it is none."""
        received_at = time.time_ns()
        decoded: dict[TopicPartition, list[tuple[Any, Request | DeadLetter]]] = {}
        for tp, records in batch.items():
            binding = self._bindings[tp.topic]
            items = decoded[tp] = []
            for record in records:
                try:
                    item = undecodable_header_keys(record.headers) or decode_request(
                        record.value, binding, self.settings.max_record_bytes, self._default_project
                    )
                except Exception as exc:
                    item = self._failed("decode", tp, record, exc)
                items.append((record, item))
            self.stats.decoded += len(records)
        return _Fetch(decoded, rebalances, dict(self._rewinds), received_at)

    async def _score(self, fetched: _Fetch) -> None:
        """Evaluate (one batch for the whole fetch), encode, then deliver.

        Every record leaves with a Response or a dead letter: an exception while handling one
        record (decode, evaluate, encode) dead-letters that record and no other. Only a broker
        failure ends the loop (a restart re-delivers what was not committed).
        """
        async with self._processing:  # a revoke waits until this fetch is produced
            reader = self._reader
            if reader is not None and reader.rebalances != fetched.rebalances:
                # Fetched before a rebalance: every partition was revoked (aiokafka rebalances
                # eagerly) and its next owner, maybe us, reads these records again from the
                # committed offset. Delivering them would only duplicate.
                log.info("stale_fetch_dropped", partitions=len(fetched.decoded))
                return
            await self._process(fetched)

    async def _process(self, fetched: _Fetch) -> None:
        deliveries: dict[TopicPartition, list[_Delivery]] = {}
        jobs: list[_Job] = []
        for tp, items in fetched.decoded.items():
            if self._rewinds.get(tp, 0) != fetched.rewinds.get(tp, 0):
                continue
            entries = deliveries[tp] = []
            for record, decoded in items:
                outputs: list[_Out] = []
                entries.append(_Delivery(record.offset, outputs))
                if isinstance(decoded, DeadLetter):
                    outputs.append(self._dead_letter(tp, record, decoded))
                else:
                    jobs.append(_Job(tp, record, decoded, outputs))
            self.stats.consumed += len(items)
        if jobs:
            responses = await self._evaluate([job.request for job in jobs], fetched.received_at)
            for job, response in zip(jobs, responses, strict=True):
                if isinstance(response, Exception):
                    letter = self._failed("evaluate", job.tp, job.record, response)
                    job.outputs.append(self._dead_letter(job.tp, job.record, letter))
                    continue
                try:
                    encoded = self._encode(job, response)
                except Exception as exc:
                    encoded = self._failed("encode", job.tp, job.record, exc)
                if isinstance(encoded, DeadLetter):
                    job.outputs.append(self._dead_letter(job.tp, job.record, encoded))
                    continue
                job.outputs.extend(encoded)
                self.stats.by_status[response.status.value] += 1
        if self._transactional:
            await asyncio.gather(*(self._transact(tp, d) for tp, d in deliveries.items()))
        else:
            await self._send(deliveries)

    async def _evaluate(
        self, requests: list[Request], received_at: int
    ) -> list[Response | Exception]:
        """One batch evaluation; when it raises, halves until the failing requests are alone.

        A request that raises even alone gets its exception back (and is dead-lettered); the
        others still get their Responses, from a few smaller batches.
        """
        try:
            responses = await self.protect.ainvoke_many(requests, received_at=received_at)
            if len(responses) != len(requests):
                raise RuntimeError(f"{len(responses)} Responses for {len(requests)} requests")
            return list(responses)
        except BrokerError:
            raise
        except Exception as exc:
            if len(requests) == 1:
                return [exc]
        half = len(requests) // 2
        return [
            *await self._evaluate(requests[:half], received_at),
            *await self._evaluate(requests[half:], received_at),
        ]

    def _encode(self, job: _Job, response: Response) -> list[_Out] | DeadLetter:
        """What one Response produces: the result, maybe moderation, one record per Delivery."""
        results = self._bindings[job.tp.topic].results
        source = Source(job.tp.topic, job.tp.partition, job.record.offset, job.record.headers)
        value, headers = encode_response(response, source)
        key = job.record.key
        outputs = [
            _Out(results, value, key, headers, self._result_partition(results, job.tp.partition))
        ]
        if self.settings.moderation_topic and response.status is ExecutionStatus.TRIGGERED:
            outputs.append(_Out(self.settings.moderation_topic, value, key, headers, None))
        notifications = self.settings.notifications_topic
        for delivery in deliveries_for(response, source):
            document = delivery.model_dump_json().encode()
            outputs.append(_Out(notifications, document, key, headers, None))
        if any(self._too_large(o.key, o.value, o.headers) for o in outputs):
            # The producer would refuse it, and a refused send stops the worker: set it aside.
            return DeadLetter(
                DeadLetterReason.RESPONSE_TOO_LARGE,
                f"a record it produces is over {self._max_request_size} bytes",
            )
        return outputs

    def _failed(self, step: str, tp: TopicPartition, record: Any, exc: Exception) -> DeadLetter:
        """An exception while handling one record: the record's dead letter (or, for a broker
        failure, the end of the loop)."""
        if isinstance(exc, BrokerError):
            raise exc
        frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        # The exception's type and where it was raised; its message may quote the payload.
        log.error(
            "record_failed",
            step=step,
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            error_type=type(exc).__qualname__,
            raised_at=f"{frame[0].filename}:{frame[0].lineno}" if frame else None,
        )
        return DeadLetter(DeadLetterReason.INTERNAL, f"{step}: {type(exc).__qualname__}")

    def _dead_letter(self, tp: TopicPartition, record: Any, letter: DeadLetter) -> _Out:
        source = Source(tp.topic, tp.partition, record.offset, record.headers)
        headers = dead_letter_headers(letter, source)
        value, key = record.value, record.key
        if self._too_large(key, value, headers):
            # Larger than the producer may send (an over-size record, or one whose headers made
            # its Response too large): without the original, whose place the letter still says.
            omitted = DeadLetter(letter.reason, f"{letter.detail}\n(original record omitted)")
            value, headers = None, dead_letter_headers(omitted, source)
            if self._too_large(key, value, headers):
                bare = Source(tp.topic, tp.partition, record.offset, ())
                key, headers = None, dead_letter_headers(omitted, bare)
        if value is None and key is None:
            # A keyless tombstone: Kafka allows it, aiokafka's send() refuses it (assert).
            value = b""
        self.stats.dead_letters += 1
        self.stats.dead_letter_reasons[letter.reason.value] += 1
        log.warning(
            "dead_letter",
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            reason=letter.reason.value,
        )
        return _Out(self.settings.deadletter_topic, value, key, headers, None)

    def _too_large(self, key: bytes | None, value: bytes | None, headers: Headers) -> bool:
        # The producer's own measure: above it, send() raises instead of producing.
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        return bool(size > self._max_request_size)

    async def _send(self, deliveries: dict[TopicPartition, list[_Delivery]]) -> None:
        """At-least-once: send, and let acknowledgements advance the committable offsets."""
        producer = self._producer
        assert producer is not None
        for tp, entries in deliveries.items():
            tracker = self._offsets.setdefault(tp, PartitionOffsets())
            for entry in entries:
                tracker.received(entry.offset)
                sends = [
                    await producer.send(
                        o.topic, o.value, key=o.key, headers=o.headers, partition=o.partition
                    )
                    for o in entry.outputs
                ]
                self._watch(tp, entry.offset, sends)

    async def _transact(self, tp: TopicPartition, entries: list[_Delivery]) -> None:
        """Exactly-once: one partition's outputs and its next offset in one transaction."""
        producer = self._transactions.get(tp)
        if producer is None:
            return  # revoked while this fetch was evaluated: the next owner re-processes it
        outputs = [o for entry in entries for o in entry.outputs]
        try:
            async with producer.transaction():
                sends = [
                    await producer.send(
                        o.topic, o.value, key=o.key, headers=o.headers, partition=o.partition
                    )
                    for o in outputs
                ]
                # Every result is written before the offsets join the transaction, so an abort
                # never races produce requests still in flight.
                await asyncio.gather(*sends)
                await producer.send_offsets_to_transaction(
                    {tp: entries[-1].offset + 1}, self.settings.group_id
                )
        except ProducerFenced as exc:
            # Another worker owns this partition's transactional id now: we are a zombie.
            self._fatal = exc
            return
        except KafkaError as exc:
            # Aborted: nothing of it is visible to read_committed readers. Rewind to the last
            # committed offset so these records are processed again.
            log.warning(
                "transaction_aborted", topic=tp.topic, partition=tp.partition, error=repr(exc)
            )
            await self._rewind(tp)
            return
        self.stats.produced += len(outputs)

    async def _rewind(self, tp: TopicPartition) -> None:
        consumer = self._consumer
        assert consumer is not None
        if tp not in consumer.assignment():
            return
        # Paused until the seek is done: a fetch decoded meanwhile holds none of its records,
        # and one decoded before (counted below) skips them.
        consumer.pause(tp)
        self._rewinds[tp] = self._rewinds.get(tp, 0) + 1
        try:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        finally:
            if tp in consumer.assignment():
                consumer.resume(tp)

    def _result_partition(self, topic: str, partition: int) -> int | None:
        # Same partition number as the input keeps each input partition's results in input
        # order; a result topic with fewer partitions falls back to partitioning by key.
        return partition if partition < self._partitions.get(topic, 0) else None

    # -- acknowledgements and commits -----------------------------------------------------------

    def _watch(self, tp: TopicPartition, offset: int, sends: list[asyncio.Future[Any]]) -> None:
        self._in_flight += 1
        waiting = asyncio.gather(*sends) if len(sends) > 1 else sends[0]
        waiting.add_done_callback(lambda done: self._acked(tp, offset, done, len(sends)))

    def _acked(self, tp: TopicPartition, offset: int, done: asyncio.Future[Any], n: int) -> None:
        self._in_flight -= 1
        if self._in_flight <= self.settings.max_in_flight * RESUME_FRACTION:
            self._below_limit.set()
        if done.cancelled() or done.exception() is not None:
            # The record stays uncommitted; stop so a restart re-delivers it (at-least-once).
            self._fatal = self._fatal or done.exception() or asyncio.CancelledError()
            log.error(
                "produce_failed",
                topic=tp.topic,
                partition=tp.partition,
                offset=offset,
                error=repr(self._fatal),
            )
            return
        self.stats.produced += n
        tracker = self._offsets.get(tp)
        if tracker is not None:  # None: the partition was revoked meanwhile
            tracker.done(offset)

    async def _backpressure(self, stop: asyncio.Event) -> None:
        consumer = self._consumer
        assert consumer is not None
        partitions = consumer.assignment()
        consumer.pause(*partitions)
        self.stats.pauses += 1
        try:
            self._below_limit.clear()
            while self._in_flight > self.settings.max_in_flight * RESUME_FRACTION:
                if self._fatal is not None:
                    return
                try:
                    await until_stopped(stop, self._below_limit.wait())
                except Stopped:
                    return  # the shutdown drains what is in flight
                self._below_limit.clear()
        finally:
            consumer.resume(*(tp for tp in partitions if tp in consumer.assignment()))

    async def _drain(self) -> None:
        """Wait (bounded) until everything produced so far is acknowledged."""
        assert self._producer is not None
        try:
            await asyncio.wait_for(self._producer.flush(), self.settings.drain_timeout_s)
        except TimeoutError:
            log.warning(
                "drain_timeout", in_flight=self._in_flight, timeout_s=self.settings.drain_timeout_s
            )

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        assert self._consumer is not None
        self._last_commit = time.monotonic()
        await commit_settled(self._consumer, self._offsets, partitions)

    def assignment(self) -> set[TopicPartition]:
        """The input partitions this worker owns now."""
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    # -- rebalances -----------------------------------------------------------------------------

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move: finish their in-flight work and commit it (bounded)."""
        if not revoked:
            return
        async with self._processing:  # the fetch being scored has been produced
            if self._producer is not None and self._fatal is None:
                await self._drain()
                await self._commit(revoked)
            for tp in revoked:
                self._offsets.pop(tp, None)
                producer = self._transactions.pop(tp, None)
                if producer is not None:
                    with contextlib.suppress(Exception):
                        await producer.stop()
        log.info(
            "partitions_revoked", partitions=sorted(f"{t.topic}:{t.partition}" for t in revoked)
        )

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self._offsets.setdefault(tp, PartitionOffsets())
            if self._transactional and tp not in self._transactions:
                # Stable per input partition (aiokafka has no KIP-447 fencing): the next owner
                # of this partition fences the previous one's unfinished transaction.
                transactional_id = f"{self.settings.group_id}.{tp.topic}.{tp.partition}"
                producer = self._new_producer(transactional_id)
                await producer.start()
                self._transactions[tp] = producer
        log.info(
            "partitions_assigned", partitions=sorted(f"{t.topic}:{t.partition}" for t in assigned)
        )

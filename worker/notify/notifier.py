"""The notifier: consumes Delivery records and POSTs them to subscription webhooks.

Its own consumer group, separate from screening, so a slow or dead endpoint never slows the
worker. It reads the notifications topic and the retry topic:

    Delivery --attempt--> delivered                      -> done
                      \\-> retry (schedule, Retry-After)  -> retry topic, with due_at and history
                      \\-> permanent / exhausted / 410    -> dead topic, with history and failure
Retry records are held (asleep) until due, then attempted like new ones. While an endpoint's
circuit breaker is open, its deliveries are parked (held, not rewritten) until a probe gets
through. A fault of one delivery (an unusable URL, an unexpected error) dead-letters it; only a
broker failure stops the notifier. An input offset is committed only once its outcome is
settled: delivered, or its retry/dead record acknowledged by the broker. So a crash loses
nothing: uncommitted deliveries and pending retries are read again. Delivery is at-least-once;
receivers deduplicate on `webhook-id` (stable across attempts and redeliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from worker.contract.notification import Attempt, Delivery
from worker.contract.validation import describe
from worker.contract.webhook_url import AS_RECORDED, InvalidWebhookUrl, parse_webhook_url
from worker.errors import BrokerError, ProtectError
from worker.notify.client import Outcome, Verdict, WebhookClient
from worker.notify.endpoints import Endpoint, Endpoints, Permit
from worker.notify.retry import due_at_ns, next_delay_s, schedule_span_s
from worker.settings import Settings
from worker.stream.groups import (
    GroupReader,
    Rebalance,
    Stopped,
    close_clients,
    group_consumer,
    until_stopped,
)
from worker.stream.offsets import PartitionOffsets, commit_settled
from worker.stream.screening import RESPONSE_SIZE_FACTOR
from worker.stream.topics import TopicSpec, ensure_topics

log = structlog.get_logger(__name__)

# Deliveries held in memory at once (including retries asleep until due): beyond this the
# consumer pauses; what is not fetched stays safely in Kafka.
MAX_PENDING = 10_000
_NS = 1_000_000_000
# Failures that stop the notifier: an outcome that cannot be written to the retry or dead topic
# must not be committed past, and a restart reads the uncommitted records again. Anything else
# that goes wrong with one delivery dead-letters that delivery and the loop goes on.
_BROKER_FAILURES = (KafkaError, BrokerError)
# Dead-letter details (a record header) are bounded like the worker's.
_MAX_DETAIL = 1000
# What a notifier adds to a Delivery record: at most MAX_ATTEMPTS_KEPT attempts (~150 bytes
# each), the count, a due time and a failure reason; generously.
HISTORY_HEADROOM_BYTES = 64 * 1024


@dataclass
class NotifierStats:
    delivered: int = 0
    retried: int = 0  # retry records written
    dead: int = 0
    parked: int = 0  # deliveries that waited for an open circuit breaker (once each)
    parked_too_long: int = 0  # of those, dead-lettered because it never let them through
    errors: int = 0  # unexpected exceptions while handling one delivery (dead-lettered)
    attempts: Counter[str] = field(default_factory=Counter)


class Notifier:
    def __init__(self, settings: Settings, bootstrap_servers: str, client: WebhookClient) -> None:
        self.settings = settings
        self.bootstrap_servers = bootstrap_servers
        self.client = client
        self.stats = NotifierStats()
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._endpoints = Endpoints(
            settings.notify_endpoint_concurrency,
            settings.notify_breaker_failures,
            settings.notify_breaker_cooldown_s,
        )
        self._slots = asyncio.Semaphore(settings.notify_max_concurrency)
        self._rng = random.Random()
        self._retry_span_s = schedule_span_s(
            settings.notify_retry_schedule_s, settings.notify_retry_jitter
        )
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._fatal: BaseException | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: GroupReader | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = time.monotonic()

    @staticmethod
    def topic_specs(s: Settings) -> list[TopicSpec]:
        names = [s.notifications_topic, s.notify_retry_topic, s.notify_dead_topic]
        return [TopicSpec(n, s.topic_partitions, s.topic_replication) for n in names]

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; obeyed in every phase, as the screening worker does."""
        s = self.settings
        try:
            await until_stopped(stop, ensure_topics(self.bootstrap_servers, self.topic_specs(s)))
        except Stopped:
            await self.client.aclose()
            log.info("notifier_stopped", phase="starting")
            return
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            acks="all",
            linger_ms=5,
            # A retry or dead record is a Delivery the worker wrote, plus a bounded history: a
            # smaller limit than the worker's would refuse it, and stop the notifier over it.
            max_request_size=RESPONSE_SIZE_FACTOR * s.max_record_bytes + HISTORY_HEADROOM_BYTES,
        )
        self._consumer = group_consumer(self.bootstrap_servers, s, s.notify_group_id)
        self._reader = GroupReader(self._consumer)
        try:
            await until_stopped(stop, self._start_clients())
        except Stopped:
            await self._close()
            log.info("notifier_stopped", phase="starting")
            return
        except KafkaError as exc:
            await self._close()
            raise BrokerError(f"cannot start Kafka clients: {exc}") from exc
        self._consumer.subscribe(
            [s.notifications_topic, s.notify_retry_topic], listener=Rebalance(self, self._reader)
        )
        log.info("notifier_started", topics=[s.notifications_topic, s.notify_retry_topic])
        try:
            await self._loop(stop)
        finally:
            await self._shutdown()

    async def _start_clients(self) -> None:
        assert self._producer is not None
        assert self._consumer is not None
        await self._producer.start()
        await self._consumer.start()

    async def _loop(self, stop: asyncio.Event) -> None:
        consumer, reader = self._consumer, self._reader
        assert consumer is not None
        assert reader is not None
        while not stop.is_set() and self._fatal is None:
            # Not a bare getmany (see the screening worker). Header keys are not read here: a
            # record with one that is not UTF-8 (not ours: another producer's) is handled alike.
            batch = await reader.fetch(stop)
            for tp, records in batch.items():
                tracker = self.offsets.setdefault(tp, PartitionOffsets())
                tasks = self._tasks.setdefault(tp, set())
                for record in records:
                    tracker.received(record.offset)
                    task = asyncio.create_task(self._handle(tp, record))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            pending = sum(len(t) for t in self._tasks.values())
            if pending >= MAX_PENDING:
                consumer.pause(*consumer.assignment())
            elif consumer.paused():
                consumer.resume(*consumer.paused())
            if time.monotonic() - self._last_commit >= self.settings.commit_interval_s:
                with contextlib.suppress(Stopped):  # the shutdown commits
                    await until_stopped(stop, self._commit())
        if self._fatal is not None:
            raise BrokerError(f"notifier failed: {self._fatal}") from self._fatal

    async def _shutdown(self) -> None:
        # Deliveries in progress are abandoned uncommitted: the next owner delivers them again
        # (receivers deduplicate on webhook-id); waiting for a 10-hour retry is no option.
        for tasks in self._tasks.values():
            for task in tasks:
                task.cancel()
        try:
            if self._fatal is None and self._consumer is not None:
                try:
                    # Bounded: a coordinator that does not answer would hold the exit.
                    await asyncio.wait_for(self._commit(), self.settings.drain_timeout_s)
                except TimeoutError:
                    log.warning("commit_timeout", timeout_s=self.settings.drain_timeout_s)
        finally:
            await self._close()
            log.info(
                "notifier_stopped",
                delivered=self.stats.delivered,
                retried=self.stats.retried,
                dead=self.stats.dead,
            )

    async def _close(self) -> None:
        await close_clients(self._consumer, [self._producer], self.settings.drain_timeout_s)
        await self.client.aclose()

    # -- one delivery ---------------------------------------------------------------------------

    async def _handle(self, tp: TopicPartition, record: Any) -> None:
        try:
            await self._settle(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Its outcome could not be recorded (a broker failure, or writing its dead letter
            # failed): stop and commit nothing past it, so a restart reads it again.
            self._fatal = self._fatal or exc
            log.error(
                "delivery_handling_failed",
                topic=tp.topic,
                partition=tp.partition,
                offset=record.offset,
                error=repr(exc),
            )
            return
        tracker = self.offsets.get(tp)
        if tracker is not None:
            tracker.done(record.offset)

    async def _settle(self, record: Any) -> None:
        """Deliver one record, or record why not. Raises only when that record cannot be written
        (a broker failure, or a failure to dead-letter)."""
        try:
            delivery = Delivery.model_validate_json(record.value or b"", context=AS_RECORDED)
        except ValidationError as exc:
            await self._dead_raw(record, f"undecodable delivery record: {describe(exc)}")
            return
        try:
            await self._deliver(delivery)
        except (asyncio.CancelledError, *_BROKER_FAILURES):
            raise
        except Exception as exc:
            # A bug, or a fault of this delivery alone (e.g. its secret reference does not
            # resolve): one delivery must not stop the others. Dead-lettered, never dropped.
            self.stats.errors += 1
            log.error(
                "delivery_handling_failed",
                webhook_id=delivery.id,
                url=delivery.url,
                error=repr(exc),
            )
            # Our own errors' messages are written to be shown (no secrets, no payload text);
            # anything else is named by its class only.
            what = type(exc).__qualname__
            if isinstance(exc, ProtectError):
                what += f": {exc}"
            await self._dead(delivery, None, f"handling_failed: {what}")

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            parse_webhook_url(delivery.url)
        except InvalidWebhookUrl as exc:
            await self._dead(delivery, None, f"invalid_url: {exc}")
            return
        delay = (delivery.due_at - time.time_ns()) / _NS
        if delay > 0:
            await asyncio.sleep(delay)
        if self._endpoints.disabled(delivery.url):
            await self._dead(delivery, None, "endpoint_disabled (it answered 410 Gone)")
            return
        endpoint = self._endpoints.get(delivery.url)
        outcome = await self._attempt_when_allowed(delivery, endpoint)
        if outcome is None:
            await self._dead(
                delivery,
                None,
                "circuit_open: the endpoint's circuit breaker did not let it through within "
                f"the retry schedule's span ({self._retry_span_s:.4g} s) of its creation",
            )
            return
        self.stats.attempts[outcome.attempt.outcome] += 1
        if outcome.verdict is Verdict.DELIVERED:
            self.stats.delivered += 1
            attempts = delivery.attempted() + 1
            # A first-attempt success is the common case, hundreds a second: debug, as the worker
            # does not log per event either. A delivery that needed retries is worth a line.
            (log.info if attempts > 1 else log.debug)(
                "delivered", webhook_id=delivery.id, url=delivery.url, attempts=attempts
            )
        else:
            await self._after_failure(delivery, outcome)

    async def _attempt_when_allowed(self, delivery: Delivery, endpoint: Endpoint) -> Outcome | None:
        """One attempt once the endpoint's breaker allows it; None: parked past its bound.

        While the breaker is open the delivery is parked here: held in memory, its offset not
        committed, no retry record written (rewriting every pending delivery each time it comes
        due floods the retry topic). A parked delivery waits at most until its retry schedule's
        whole span has passed since it was created; an endpoint that never recovers then gets
        it dead-lettered rather than held forever.
        """
        give_up_ns = delivery.created_at + int(self._retry_span_s * _NS)
        parked = False
        while True:
            # The endpoint's own queue first: waiting on a slow endpoint must not hold one of
            # the notifier-wide slots that other endpoints' deliveries need.
            async with endpoint.semaphore, self._slots:
                seen = endpoint.changed  # read with the refusal: no outcome slips in between
                permit = endpoint.breaker.allow(self._endpoints.now())
                if permit is not None:
                    return await self._attempt(delivery, endpoint, permit)
            left_s = (give_up_ns - time.time_ns()) / _NS
            if left_s <= 0:
                self.stats.parked_too_long += 1
                return None
            if not parked:
                parked = True
                self.stats.parked += 1
                # Per delivery, so debug: the endpoint's `circuit_opened` line is the news.
                log.debug("delivery_parked", webhook_id=delivery.id, url=delivery.url)
            await endpoint.parked(seen, self._endpoints.now(), left_s)

    async def _attempt(self, delivery: Delivery, endpoint: Endpoint, permit: Permit) -> Outcome:
        outcome: Outcome | None = None
        try:
            outcome = await self.client.attempt(delivery)
            return outcome
        finally:
            # Only the endpoint's health counts towards its breaker: a refused address or a
            # permanent 4xx says nothing about whether it is up. A probe that never finished
            # (cancelled, raised) must still end, or the breaker would never let another one by.
            healthy: bool | None = None
            if outcome is not None and outcome.verdict in (Verdict.DELIVERED, Verdict.RETRY):
                healthy = outcome.verdict is Verdict.DELIVERED
            endpoint.record(permit, healthy, self._endpoints.now())

    async def _after_failure(self, delivery: Delivery, outcome: Outcome) -> None:
        if outcome.verdict is Verdict.DISABLE:
            self._endpoints.disable(delivery.url)
            await self._dead(
                delivery, outcome.attempt, f"{outcome.attempt.outcome}: endpoint disabled"
            )
            return
        if outcome.verdict is Verdict.PERMANENT:
            await self._dead(delivery, outcome.attempt, outcome.attempt.outcome)
            return
        failures = delivery.attempted() + 1
        delay = next_delay_s(
            failures,
            self.settings.notify_retry_schedule_s,
            self.settings.notify_retry_jitter,
            self._rng,
        )
        if delay is None:
            await self._dead(
                delivery, outcome.attempt, f"retries exhausted after {failures} attempts"
            )
            return
        if outcome.retry_after_s is not None:
            delay = outcome.retry_after_s
        retry = delivery.with_attempt(outcome.attempt).model_copy(
            update={"due_at": due_at_ns(delay)}
        )
        await self._produce(self.settings.notify_retry_topic, retry)
        self.stats.retried += 1
        log.info(
            "delivery_retry_scheduled",
            webhook_id=delivery.id,
            url=delivery.url,
            outcome=outcome.attempt.outcome,
            in_s=round(delay, 3),
        )

    async def _dead(self, delivery: Delivery, attempt: Attempt | None, reason: str) -> None:
        if attempt is not None:
            delivery = delivery.with_attempt(attempt)
        dead = delivery.model_copy(update={"failure": reason, "due_at": 0})
        await self._produce(self.settings.notify_dead_topic, dead)
        self.stats.dead += 1
        log.warning("delivery_dead", webhook_id=delivery.id, url=delivery.url, reason=reason)

    async def _dead_raw(self, record: Any, reason: str) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            self.settings.notify_dead_topic,
            record.value,
            key=record.key,
            headers=[
                ("protect-dlq-reason", b"invalid_delivery"),
                ("protect-dlq-detail", reason[:_MAX_DETAIL].encode()),
            ],
        )
        self.stats.dead += 1
        log.warning("delivery_dead", reason=reason, offset=record.offset)

    async def _produce(self, topic: str, delivery: Delivery) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            topic, delivery.model_dump_json().encode(), key=delivery.id.encode()
        )

    # -- offsets --------------------------------------------------------------------------------

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        assert self._consumer is not None
        self._last_commit = time.monotonic()
        await commit_settled(self._consumer, self.offsets, partitions)

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions_assigned", partitions=sorted(f"{t.topic}:{t.partition}" for t in assigned)
        )
        for tp in assigned:
            self.offsets.setdefault(tp, PartitionOffsets())

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Commit what is settled and drop the rest: the partition's next owner redoes it."""
        if self._consumer is not None and self._fatal is None:
            await self._commit(revoked)
        for tp in revoked:
            for task in self._tasks.pop(tp, set()):
                task.cancel()
            self.offsets.pop(tp, None)

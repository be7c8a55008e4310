"""The notifier: consumes Delivery records and POSTs them to subscription webhooks.

Its own consumer group, separate from screening, so a slow or dead endpoint never slows the
worker. It reads the notifications topic and the retry topic:

    Delivery --attempt--> delivered                      -> done
                      \\-> retry (schedule, Retry-After)  -> retry topic, with due_at and history
                      \\-> permanent / exhausted / 410    -> dead topic, with history and failure
Retry records are held (asleep) until due, then attempted like new ones. An input offset is
committed only once its outcome is settled: delivered, or its retry/dead record acknowledged by
the broker. So a crash loses nothing: uncommitted deliveries and pending retries are read again.
Delivery is at-least-once; receivers deduplicate on `webhook-id` (stable across attempts).
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
from worker.errors import BrokerError
from worker.notify.client import Outcome, Verdict, WebhookClient
from worker.notify.endpoints import Endpoints
from worker.notify.retry import due_at_ns, next_delay_s
from worker.settings import Settings
from worker.stream.groups import FETCH_WAIT_MS, Rebalance, group_consumer
from worker.stream.offsets import PartitionOffsets, commit_settled
from worker.stream.topics import TopicSpec, ensure_topics

log = structlog.get_logger(__name__)

# Deliveries held in memory at once (including retries asleep until due): beyond this the
# consumer pauses; what is not fetched stays safely in Kafka.
MAX_PENDING = 10_000
_NS = 1_000_000_000


@dataclass
class NotifierStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
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
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._fatal: BaseException | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_commit = time.monotonic()

    @staticmethod
    def topic_specs(s: Settings) -> list[TopicSpec]:
        names = [s.notifications_topic, s.notify_retry_topic, s.notify_dead_topic]
        return [TopicSpec(n, s.topic_partitions, s.topic_replication) for n in names]

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        await ensure_topics(self.bootstrap_servers, self.topic_specs(s))
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", linger_ms=5
        )
        self._consumer = group_consumer(self.bootstrap_servers, s, s.notify_group_id)
        try:
            await self._producer.start()
            await self._consumer.start()
        except KafkaError as exc:
            await self._close()
            raise BrokerError(f"cannot start Kafka clients: {exc}") from exc
        self._consumer.subscribe(
            [s.notifications_topic, s.notify_retry_topic], listener=Rebalance(self)
        )
        log.info("notifier_started", topics=[s.notifications_topic, s.notify_retry_topic])
        try:
            await self._loop(stop)
        finally:
            await self._shutdown()

    async def _loop(self, stop: asyncio.Event) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not stop.is_set() and self._fatal is None:
            batch = await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
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
                await self._commit()
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
                await self._commit()
        finally:
            await self._close()
            log.info(
                "notifier_stopped",
                delivered=self.stats.delivered,
                retried=self.stats.retried,
                dead=self.stats.dead,
            )

    async def _close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        await self.client.aclose()

    # -- one delivery ---------------------------------------------------------------------------

    async def _handle(self, tp: TopicPartition, record: Any) -> None:
        try:
            await self._settle(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a broker failure: stop, commit nothing past it
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
        try:
            delivery = Delivery.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_raw(record, f"undecodable delivery record: {exc.error_count()} errors")
            return
        delay = (delivery.due_at - time.time_ns()) / _NS
        if delay > 0:
            await asyncio.sleep(delay)
        if self._endpoints.disabled(delivery.url):
            await self._dead(delivery, None, "endpoint_disabled (it answered 410 Gone)")
            return
        endpoint = self._endpoints.get(delivery.url)
        if not endpoint.breaker.allow(self._endpoints.now()):
            attempt = Attempt(at=time.time_ns(), outcome="circuit_open")
            await self._after_failure(delivery, Outcome(Verdict.RETRY, attempt))
            return
        async with self._slots, endpoint.semaphore:
            outcome = await self.client.attempt(delivery)
        self.stats.attempts[outcome.attempt.outcome] += 1
        delivered = outcome.verdict is Verdict.DELIVERED
        # Only the endpoint's health counts towards its breaker: a refused address or a
        # permanent 4xx says nothing about whether it is up.
        if outcome.verdict in (Verdict.DELIVERED, Verdict.RETRY):
            endpoint.breaker.record(delivered, self._endpoints.now())
        if delivered:
            self.stats.delivered += 1
            attempts = len(delivery.attempts) + 1
            # A first-attempt success is the common case, hundreds a second: debug, as the worker
            # does not log per event either. A delivery that needed retries is worth a line.
            (log.info if attempts > 1 else log.debug)(
                "delivered", webhook_id=delivery.id, url=delivery.url, attempts=attempts
            )
        else:
            await self._after_failure(delivery, outcome)

    async def _after_failure(self, delivery: Delivery, outcome: Outcome) -> None:
        history = [*delivery.attempts, outcome.attempt]
        if outcome.verdict is Verdict.DISABLE:
            self._endpoints.disable(delivery.url)
            await self._dead(
                delivery, outcome.attempt, f"{outcome.attempt.outcome}: endpoint disabled"
            )
            return
        if outcome.verdict is Verdict.PERMANENT:
            await self._dead(delivery, outcome.attempt, outcome.attempt.outcome)
            return
        # A skipped attempt (open circuit) is recorded but does not use up the schedule.
        failures = sum(1 for a in history if a.outcome != "circuit_open")
        delay = next_delay_s(
            max(failures, 1),
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
        retry = delivery.model_copy(update={"attempts": history, "due_at": due_at_ns(delay)})
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
        history = [*delivery.attempts, attempt] if attempt is not None else delivery.attempts
        dead = delivery.model_copy(update={"attempts": history, "failure": reason, "due_at": 0})
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
                ("protect-dlq-detail", reason.encode()),
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

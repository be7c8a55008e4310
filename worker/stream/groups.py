"""Consumer-group plumbing shared by the screening worker and the notifier.

Both consume at least once with manual commits (offsets.py decides what may be committed), read
committed records only, fetch through a GroupReader (stop signals, record batches aiokafka
cannot parse) and hand partitions over on a rebalance through the same two calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from worker.settings import Settings
from worker.stream.recovery import is_header_key_failure, recover

# How long one fetch waits for records: bounds how late a stop signal or a periodic commit is
# noticed on an idle topic.
FETCH_WAIT_MS = 200

T = TypeVar("T")

log = structlog.get_logger(__name__)


class Stopped(Exception):
    """`stop` was set before the awaited step finished; the step was cancelled."""


async def until_stopped(stop: asyncio.Event, step: Awaitable[T]) -> T:
    """`step`'s result, or Stopped (the step cancelled) once `stop` is set first.

    For steps that can wait on the cluster for long (starting clients, creating topics,
    catching up, joining a group): a stop signal must not wait for them. A step that finished
    by the time `stop` is seen still returns its result.
    """
    task = asyncio.ensure_future(step)
    if not stop.is_set():
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})  # let it unwind (close what it opened)
    elif not task.done():
        task.cancel()
        await asyncio.wait({task})
    if task.cancelled():
        raise Stopped
    return task.result()


async def fetch_until_stopped(
    consumer: AIOKafkaConsumer,
    stop: asyncio.Event,
    *,
    timeout_ms: int = FETCH_WAIT_MS,
    max_records: int | None = None,
) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
    """`consumer.getmany`, or no records once `stop` is set.

    getmany waits, whatever its timeout, while the consumer's group is (re)joining, which can
    last as long as a member that stopped answering keeps the group (its session or rebalance
    timeout). Records fetched but not returned are fetched again by the partition's next owner:
    nothing was committed for them.
    """
    try:
        return await until_stopped(
            stop, consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        )
    except Stopped:
        return {}


class GroupReader:
    """Fetches of one group consumer: `fetch_until_stopped`, and reading on past a record batch
    that aiokafka cannot parse (a header key that is not UTF-8: recovery.py) instead of failing
    on it at every call. Such a batch's records are returned like any others, header keys read
    leniently; the owner decides what to do with them.
    """

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        # Per partition, the offset after the last record returned: where reading resumes after
        # a failed getmany, whose records (of every partition it had drained) were never given.
        self._given_up_to: dict[TopicPartition, int] = {}
        self._rebalances = 0

    async def fetch(
        self,
        stop: asyncio.Event,
        *,
        timeout_ms: int = FETCH_WAIT_MS,
        max_records: int | None = None,
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        consumer = self._consumer
        try:
            batch = await fetch_until_stopped(
                consumer, stop, timeout_ms=timeout_ms, max_records=max_records
            )
        except Exception as exc:
            if not is_header_key_failure(exc):
                raise
            rebalances = self._rebalances
            try:
                batch = await until_stopped(
                    stop,
                    recover(
                        consumer,
                        exc,
                        dict(self._given_up_to),
                        lambda: self._rebalances != rebalances,
                        max_records,
                    ),
                )
            except Stopped:
                # Positions not restored (some may be past records of the failed call): harmless
                # now, since nothing is fetched any more and commits cover processed records only.
                return {}
        for tp, records in batch.items():
            if records:
                self._given_up_to[tp] = records[-1].offset + 1
        return batch

    @property
    def rebalances(self) -> int:
        """How many rebalances this reader has seen: records fetched before the latest one are
        stale (aiokafka rebalances eagerly, so the new assignment re-reads from committed)."""
        return self._rebalances

    def rebalanced(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked or assigned: their positions start over (committed offsets)."""
        self._rebalances += 1
        for tp in partitions:
            self._given_up_to.pop(tp, None)


# How long stopping waits for a consumer that holds no partitions to leave its group: a healthy
# broker answers in milliseconds, and a join held by a frozen member would keep it for minutes.
UNJOINED_CLOSE_S = 1.0


async def close_clients(
    consumer: AIOKafkaConsumer | None,
    others: Sequence[AIOKafkaConsumer | AIOKafkaProducer | None],
    bound_s: float,
) -> None:
    """Stop a group consumer first (leaving the group moves its partitions at once), then the
    other clients, each within `bound_s`: leaving or flushing waits on brokers that may not
    answer. A consumer without partitions has nothing to hand over and its stop would wait for
    a join in flight, which only the group's own timeouts end: it gets UNJOINED_CLOSE_S."""
    for client in [consumer, *others]:
        if client is None:
            continue
        joined = client is not consumer or bool(consumer.assignment())
        bound = bound_s if joined else UNJOINED_CLOSE_S
        stopping = asyncio.ensure_future(client.stop())
        try:
            # Shielded: past the bound it finishes in the background, not half-done.
            await asyncio.wait_for(asyncio.shield(stopping), bound)
        except TimeoutError:
            log.warning("close_timeout", client=type(client).__name__, timeout_s=bound)
        except Exception as exc:
            log.warning("close_failed", client=type(client).__name__, error=repr(exc))


def group_consumer(
    bootstrap_servers: str, settings: Settings, group_id: str, **options: Any
) -> AIOKafkaConsumer:
    """A consumer in `group_id` that commits only what its owner says is settled.

    read_committed: aborted exactly-once transactions (results and their deliveries) are never
    seen. `options`: what differs per consumer (client id, max_poll_records).
    """
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        # Kafka's rule of thumb: a third of the session timeout.
        heartbeat_interval_ms=settings.session_timeout_ms // 3,
        **options,
    )


class PartitionOwner(Protocol):
    async def release(self, revoked: set[TopicPartition]) -> None:
        """Before partitions move away: settle or drop their in-flight work, commit."""

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        """After partitions arrive: start tracking them."""


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks, forwarded to the consumer's owner and its reader."""

    def __init__(self, owner: PartitionOwner, reader: GroupReader | None = None) -> None:
        self._owner = owner
        self._reader = reader

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        if self._reader is not None:
            self._reader.rebalanced(revoked)
        await self._owner.release(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self._reader is not None:
            self._reader.rebalanced(assigned)
        await self._owner.assigned(set(assigned))


__all__ = [
    "FETCH_WAIT_MS",
    "GroupReader",
    "PartitionOwner",
    "Rebalance",
    "Stopped",
    "fetch_until_stopped",
    "group_consumer",
    "until_stopped",
]

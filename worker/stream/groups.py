"""Consumer-group plumbing shared by the screening worker and the notifier.

Both consume at least once with manual commits (offsets.py decides what may be committed), read
committed records only, and hand partitions over on a rebalance through the same two calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from worker.settings import Settings

# How long one fetch waits for records: bounds how late a stop signal or a periodic commit is
# noticed on an idle topic.
FETCH_WAIT_MS = 200


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
    """aiokafka's rebalance callbacks, forwarded to the consumer's owner."""

    def __init__(self, owner: PartitionOwner) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._owner.release(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._owner.assigned(set(assigned))


__all__ = ["FETCH_WAIT_MS", "PartitionOwner", "Rebalance", "group_consumer"]

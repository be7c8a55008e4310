"""Which offsets may be committed: the highest contiguous processed offset + 1, per partition.

Records finish out of order (a dead letter acknowledged before an earlier result); committing
past an unfinished record would lose it on a crash. Contiguity is over the offsets actually
received, since compaction and transaction markers leave gaps in the numbering.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

log = structlog.get_logger(__name__)


class PartitionOffsets:
    def __init__(self) -> None:
        self._received: deque[int] = deque()
        self._done: set[int] = set()
        self._position: int | None = None  # highest contiguous done offset + 1
        self._committed: int | None = None

    def received(self, offset: int) -> None:
        self._received.append(offset)

    def done(self, offset: int) -> None:
        self._done.add(offset)
        received, finished = self._received, self._done
        while received and received[0] in finished:
            first = received.popleft()
            finished.discard(first)
            self._position = first + 1

    def to_commit(self) -> int | None:
        """The offset to commit now, or None when the last commit already covers everything."""
        return self._position if self._position != self._committed else None

    def committed(self, position: int) -> None:
        self._committed = position


async def commit_settled(
    consumer: AIOKafkaConsumer,
    trackers: Mapping[TopicPartition, PartitionOffsets],
    partitions: Iterable[TopicPartition] | None = None,
) -> None:
    """Commit the settled positions of `partitions` (default: the consumer's assignment).

    Explicit offsets for owned partitions only, never a bare `commit()`: partitions can be revoked
    in the middle of a batch (aiokafka #929, #933).
    """
    owned = consumer.assignment() if partitions is None else partitions
    positions: dict[TopicPartition, int] = {}
    for tp in owned:
        tracker = trackers.get(tp)
        position = tracker.to_commit() if tracker is not None else None
        if position is not None:
            positions[tp] = position
    if not positions:
        return
    try:
        await consumer.commit(positions)
    except (CommitFailedError, KafkaError) as exc:
        # A rebalance is under way: the revoke hook commits what is ours; the rest is
        # re-delivered to the partition's next owner (at-least-once).
        log.warning("commit_failed", error=repr(exc), partitions=len(positions))
        return
    for tp, position in positions.items():
        trackers[tp].committed(position)

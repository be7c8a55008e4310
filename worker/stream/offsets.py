"""Which offsets may be committed: the highest contiguous processed offset + 1, per partition.

Records finish out of order (a dead letter acknowledged before an earlier result); committing
past an unfinished record would lose it on a crash. Contiguity is over the offsets actually
received, since compaction and transaction markers leave gaps in the numbering.
"""

from __future__ import annotations

from collections import deque


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

    @property
    def in_flight(self) -> int:
        return len(self._received)

    def to_commit(self) -> int | None:
        """The offset to commit now, or None when the last commit already covers everything."""
        return self._position if self._position != self._committed else None

    def committed(self, position: int) -> None:
        self._committed = position

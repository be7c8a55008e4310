"""What may be committed: the highest contiguous processed offset + 1, over received offsets."""

from __future__ import annotations

from worker.stream.offsets import PartitionOffsets


def test_out_of_order_completion_commits_only_the_contiguous_prefix() -> None:
    tracker = PartitionOffsets()
    for offset in (10, 11, 12, 13):
        tracker.received(offset)
    tracker.done(12)
    assert tracker.to_commit() is None  # 10 and 11 still in flight
    tracker.done(10)
    assert tracker.to_commit() == 11
    tracker.committed(11)
    assert tracker.to_commit() is None  # nothing new since the last commit
    tracker.done(11)
    assert tracker.to_commit() == 13  # 11 and the earlier 12 complete the run


def test_gaps_in_the_numbering_do_not_block_commits() -> None:
    # Compaction and transaction markers leave offsets that are never delivered.
    tracker = PartitionOffsets()
    for offset in (3, 7, 20):
        tracker.received(offset)
    tracker.done(3)
    tracker.done(7)
    assert tracker.to_commit() == 8
    tracker.done(20)
    assert tracker.to_commit() == 21

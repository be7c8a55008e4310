"""The scorer interface: per-item costs for each way a scorer runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor

import pytest

from tests.scorers import CostlyScorer, FuncScorer
from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, ScorerInput, ValueKind

ITEMS = [("x" * 4000,), ("y",), ("z",)]


@pytest.mark.parametrize("execution", [Execution.INLINE, Execution.THREAD])
async def test_a_per_item_scorer_measures_each_item(execution: Execution) -> None:
    scorer = CostlyScorer(execution=execution)
    with ThreadPoolExecutor(1) as executor:
        started = time.perf_counter_ns()
        values, costs = await scorer.ascore_batch_timed(ITEMS, executor)
        wall = time.perf_counter_ns() - started
    assert list(values) == list(scorer.score_batch(ITEMS)), "same values either way"
    assert costs is not None
    assert len(costs) == len(ITEMS)
    assert all(cost > 0 for cost in costs)
    # The 4,000-character item does 4,000 times the hashing of the others.
    assert costs[0] > max(costs[1:])
    assert sum(costs) <= wall


async def test_a_whole_batch_scorer_leaves_the_split_to_the_engine() -> None:
    scorer = FuncScorer("batched", ValueKind.SCORE, lambda *_: 0.5, execution=Execution.THREAD)
    values, costs = await scorer.ascore_batch_timed(ITEMS)
    assert list(values) == [0.5, 0.5, 0.5]
    assert costs is None


async def test_an_async_scorer_is_awaited_through_its_own_ascore_batch() -> None:
    class Remote(FuncScorer):
        async def ascore_batch(
            self, items: Sequence[ScorerInput], executor: Executor | None = None
        ) -> Sequence[MetricValue]:
            return [0.25] * len(items)  # not score_batch's 0.5: this path was taken

    scorer = Remote("remote", ValueKind.SCORE, lambda *_: 0.5, execution=Execution.ASYNC)
    values, costs = await scorer.ascore_batch_timed(ITEMS)
    assert list(values) == [0.25, 0.25, 0.25]
    assert costs is None

"""Test scorers with known behaviour: deterministic, slow, raising or returning garbage."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from worker.contract.rules import MetricValue
from worker.metrics.base import (
    Execution,
    PayloadField,
    PerItemScorer,
    Scorer,
    ScorerInput,
    ValueKind,
)


class FuncScorer(Scorer):
    """Scores each item with `fn(*texts)`; records the batch sizes it was called with."""

    def __init__(
        self,
        name: str,
        kind: ValueKind,
        fn: Callable[..., MetricValue],
        *,
        reads: tuple[PayloadField, ...] = (PayloadField.INPUT,),
        labels: tuple[str, ...] | None = None,
        execution: Execution = Execution.INLINE,
    ) -> None:
        self.name = name
        self.kind = kind
        self.reads = reads
        self.labels = labels
        self.execution = execution
        self.fn = fn
        self.batches: list[int] = []

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        self.batches.append(len(items))
        return [self.fn(*item) for item in items]


class SlowScorer(FuncScorer):
    """An async scorer that takes `delay` seconds: stands in for a slow model server."""

    def __init__(self, name: str, delay: float, value: MetricValue = 1.0) -> None:
        super().__init__(name, ValueKind.SCORE, lambda *_: value, execution=Execution.ASYNC)
        self.delay = delay

    async def ascore_batch(
        self, items: Sequence[ScorerInput], executor: Executor | None = None
    ) -> Sequence[MetricValue]:
        await asyncio.sleep(self.delay)
        return self.score_batch(items)


class CostlyScorer(PerItemScorer):
    """Real CPU work proportional to each text's length (it hashes the text repeated `rounds`
    times), measured per item like every PerItemScorer: a long text costs its event far more
    than a short one, without sleeping (a sleep is no cost) and without a timing knob."""

    def __init__(
        self, name: str = "costly", *, rounds: int = 5000, execution: Execution = Execution.THREAD
    ) -> None:
        self.name = name
        self.kind = ValueKind.SCORE
        self.reads = (PayloadField.INPUT,)
        self.execution = execution
        self.rounds = rounds

    def score_one(self, item: ScorerInput) -> MetricValue:
        digest = hashlib.sha256(item[0].encode() * self.rounds).digest()
        return digest[0] / 255


def raising(message: str = "model exploded") -> Callable[..., MetricValue]:
    def fn(*_: str) -> MetricValue:
        raise RuntimeError(message)

    return fn


def score(value: float) -> FuncScorer:
    return FuncScorer("score_metric", ValueKind.SCORE, lambda *_: value)


def keyword_labels(name: str = "words", reads: PayloadField = PayloadField.INPUT) -> FuncScorer:
    """LABELS metric: the distinct lower-cased words of the text, a transparent test detector."""
    return FuncScorer(
        name,
        ValueKind.LABELS,
        lambda text: sorted({w.strip(".,!?").lower() for w in text.split()}),
        reads=(reads,),
    )

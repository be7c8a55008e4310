"""The scorer interface every metric implements.

A scorer turns payload texts into one metric value per item. It is batch-first (the worker scores
all events of a Kafka fetch in one call), declares the payload fields it reads, the kind of value it
returns and, for label metrics, its label vocabulary, so the engine and the stage validator can
reason about rules without running it.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Executor
from enum import StrEnum

from worker.contract.rules import MetricValue


class ValueKind(StrEnum):
    SCORE = "score"  # a number, usually 0..1
    LABEL = "label"  # one label (str)
    LABELS = "labels"  # a list of labels, empty when nothing was found


class PayloadField(StrEnum):
    INPUT = "input"
    OUTPUT = "output"
    # Derived from the payload by `Payload.context_and_question()` (RAG metrics).
    CONTEXT = "context"
    QUESTION = "question"


class Execution(StrEnum):
    """Where the engine runs a scorer; decides whether a timeout can interrupt it."""

    # Microseconds per text: called directly on the event loop, no task or thread overhead.
    INLINE = "inline"
    # CPU-heavy and synchronous: run in a worker thread so the event loop stays responsive.
    THREAD = "thread"
    # Natively async (e.g. a remote model server): awaited as a task.
    ASYNC = "async"


# One item handed to a scorer: the texts of the fields it reads, in `reads` order.
ScorerInput = tuple[str, ...]
# A batch's values and, when the scorer measured them, each item's own cost in nanoseconds
# (perf_counter_ns); None lets the engine apportion the batch's wall time (see `Scorer`).
TimedValues = tuple[Sequence[MetricValue], Sequence[int] | None]


class Scorer(ABC):
    """Computes one metric. Subclasses set the class attributes and implement `score_batch`.

    Each event's `execution_time` is its own item's cost, never the whole batch's. A scorer
    that handles items one at a time says so by deriving from `PerItemScorer`, which measures
    each item. A scorer that works on the batch as a whole (one embedding pass, one NER pipe, one
    model-server call) cannot separate the items' costs, so the engine apportions the batch's
    wall time by each item's share of the batch's characters (a proxy for its share of tokens,
    which is what such passes cost).
    """

    # Plain attributes, not ClassVars: built-in scorers set them on the class, scorers declared
    # in configuration (custom keyword/regex metrics) set them per instance.
    name: str
    aliases: tuple[str, ...] = ()
    reads: tuple[PayloadField, ...]
    kind: ValueKind
    # The closed label vocabulary of LABEL/LABELS metrics (None when open or for scores).
    labels: tuple[str, ...] | None = None
    execution: Execution = Execution.INLINE

    @abstractmethod
    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        """One value per item, in order. May raise: the engine records the metric as failed."""

    async def ascore_batch(
        self, items: Sequence[ScorerInput], executor: Executor | None = None
    ) -> Sequence[MetricValue]:
        """Async entry point; the default runs `score_batch` per `execution`.

        THREAD scorers run in `executor`: the engine's CPU pool, sized by configuration
        (`PROTECT_CPU_THREADS`); None is asyncio's default executor.
        """
        if self.execution is Execution.THREAD:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, self.score_batch, items)
        return self.score_batch(items)

    def score_batch_timed(self, items: Sequence[ScorerInput]) -> TimedValues:
        """`score_batch` and, when known, each item's cost in ns (None: apportioned)."""
        return self.score_batch(items), None

    async def ascore_batch_timed(
        self, items: Sequence[ScorerInput], executor: Executor | None = None
    ) -> TimedValues:
        """What the engine calls: `ascore_batch` with per-item costs when the scorer has them.

        THREAD and INLINE scorers go through `score_batch_timed`; only ASYNC ones through an
        overridden `ascore_batch` (a scorer overriding it must be ASYNC for the engine to use it).
        """
        if self.execution is Execution.THREAD:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, self.score_batch_timed, items)
        if self.execution is Execution.ASYNC:
            return await self.ascore_batch(items, executor), None
        return self.score_batch_timed(items)

    def warm_up(self) -> None:  # noqa: B027 - optional hook, most scorers need none
        """Load models ahead of the first event (called once per process at start-up)."""


class PerItemScorer(Scorer):
    """A scorer that scores items one by one (`score_one`); it measures each item's own cost."""

    @abstractmethod
    def score_one(self, item: ScorerInput) -> MetricValue:
        """The value of one item. May raise: the engine records the metric as failed."""

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        return [self.score_one(item) for item in items]

    def score_batch_timed(self, items: Sequence[ScorerInput]) -> TimedValues:
        score_one, clock = self.score_one, time.perf_counter_ns
        values: list[MetricValue] = []
        costs: list[int] = []
        for item in items:
            started = clock()
            values.append(score_one(item))
            costs.append(clock() - started)
        return values, costs

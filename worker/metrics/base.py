"""The scorer interface every metric implements.

A scorer turns payload texts into one metric value per item. It is batch-first (the worker scores
all events of a Kafka fetch in one call), declares the payload fields it reads, the kind of value it
returns and, for label metrics, its label vocabulary, so the engine and the stage validator can
reason about rules without running it.
"""

from __future__ import annotations

import asyncio
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


class Scorer(ABC):
    """Computes one metric. Subclasses set the class attributes and implement `score_batch`."""

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

    def warm_up(self) -> None:  # noqa: B027 - optional hook, most scorers need none
        """Load models ahead of the first event (called once per process at start-up)."""

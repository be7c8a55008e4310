"""Evaluate requests against their resolved rulesets and build Responses.

The hot path of the whole product. Metrics are computed once per request (a metric used by several
rules or rulesets, or by its Galileo alias and canonical name, is scored once), and batched across
requests: `evaluate_many` hands each scorer all the texts of a Kafka fetch in one call. Scorers
declared INLINE run directly (microseconds; no task overhead); THREAD and ASYNC scorers run as
concurrent tasks that each request awaits only until its own deadline, so a slow metric makes that
request `timeout` instead of making it late.

Timings are each event's own: `trace_metadata` runs from when the event's record was received
(the caller passes its fetch time) to its own Response, and a metric's `execution_time` is that
event's item's cost within the batch: measured per item by scorers that score items one by one,
otherwise the batch's wall time apportioned by each item's share of its characters (`Scorer`).

Each Response is validated once from plain nested dicts: pydantic-core builds the whole tree in
Rust faster than `model_construct` builds it node by node in Python, and the record is checked.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from worker.contract.actions import OverrideAction
from worker.contract.payload import Payload
from worker.contract.request import Request
from worker.contract.response import Response
from worker.contract.rules import MetricValue, Ruleset, evaluate_operator
from worker.contract.statuses import ActionType, ExecutionStatus, MetricStatus
from worker.engine.resolution import Resolution
from worker.errors import UnknownMetricError
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput, ValueKind
from worker.metrics.registry import MetricRegistry

_NS_PER_S = 1_000_000_000
# Error messages from scorers end up in Responses and logs; a scorer that raises with a payload in
# its message must not copy a whole document into every record.
_MAX_ERROR_MESSAGE = 300


@dataclass(slots=True)
class _Computation:
    """One metric value for one request; `status` None while pending."""

    value: MetricValue = None
    status: MetricStatus | None = None
    execution_time: float | None = None
    error_message: str | None = None


@dataclass(slots=True)
class _Job:
    request: Request
    resolution: Resolution
    received_at: int
    started: float  # perf_counter() seconds
    deadline: float  # perf_counter() seconds; -inf..+inf (Galileo allows any timeout)
    # canonical metric name -> computation; wire name (as written in rules) -> canonical name
    computations: dict[str, _Computation] = field(default_factory=dict)
    canonical: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class _Batch:
    scorer: Scorer
    computations: list[_Computation] = field(default_factory=list)
    items: list[ScorerInput] = field(default_factory=list)


class Evaluator:
    """Turns (Request, Resolution) pairs into Responses using the scorers of a MetricRegistry."""

    def __init__(
        self, metrics: MetricRegistry, *, seed: int | None = None, cpu_threads: int | None = None
    ) -> None:
        self.metrics = metrics
        # THREAD scorers (PII, embedding heads, local models) run here. Sized to the cores by
        # default: they are CPU-bound, so more threads only queue for the same cores, while the
        # bound also caps the work a timed-out scorer can leave running behind its request.
        self.cpu_threads = cpu_threads or os.cpu_count() or 1
        self.executor = ThreadPoolExecutor(self.cpu_threads, thread_name_prefix="protect-cpu")
        # Override choices are random (Galileo); a seed makes them reproducible for tests/replays.
        self._rng = random.Random(seed)

    async def evaluate(self, request: Request, resolution: Resolution) -> Response:
        (response,) = await self.evaluate_many([(request, resolution)])
        return response

    async def evaluate_many(
        self, jobs: Sequence[tuple[Request, Resolution]], *, received_at: int | None = None
    ) -> list[Response]:
        """Evaluate many requests, scoring each metric once per batch across all of them.

        `received_at` (ns since epoch) is when the requests reached this process, e.g. the
        Kafka fetch that brought them: their Responses' `trace_metadata` start there, so time
        spent waiting behind the previous batch is part of it. Default: now.
        """
        if received_at is None:
            received_at = time.time_ns()
        started = time.perf_counter()
        states: list[_Job] = []
        batches: dict[str, _Batch] = {}
        for request, resolution in jobs:
            job = _Job(request, resolution, received_at, started, started + request.timeout)
            states.append(job)
            if resolution.outcome is None:
                self._plan(job, batches)

        tasks: dict[str, asyncio.Future[None]] = {}
        for name, batch in batches.items():
            if batch.scorer.execution is Execution.INLINE:
                _score_inline(batch)
            else:
                tasks[name] = asyncio.ensure_future(_score_async(batch, self.executor))

        if not tasks:
            return [self._respond(job) for job in states]
        try:
            return list(await asyncio.gather(*(self._await(job, tasks) for job in states)))
        finally:
            # Requests that timed out leave their metric tasks behind; nobody reads them now.
            for task in tasks.values():
                task.cancel()

    def _plan(self, job: _Job, batches: dict[str, _Batch]) -> None:
        """Register the metrics a job's rules need with the per-scorer batches."""
        scorers: dict[str, Scorer] = {}
        for ruleset in job.resolution.rulesets:
            for rule in ruleset.rules:
                if rule.metric not in job.canonical:
                    try:
                        scorer = self.metrics.resolve(rule.metric)
                    except UnknownMetricError as exc:
                        job.error = str(exc)
                        job.canonical.clear()
                        return
                    job.canonical[rule.metric] = scorer.name
                    scorers[scorer.name] = scorer
        texts_of = _PayloadTexts(job.request.payload)
        for name, scorer in scorers.items():
            computation = job.computations[name] = _Computation()
            texts: list[str] = []
            for reads in scorer.reads:
                text = texts_of.get(reads)
                if not text:
                    # No text, no value: the metric's rules don't trigger (semantics page).
                    computation.status = MetricStatus.ERROR
                    computation.error_message = f"payload has no {reads.value!r} text"
                    break
                texts.append(text)
            else:
                batch = batches.get(name)
                if batch is None:
                    batch = batches[name] = _Batch(scorer)
                batch.computations.append(computation)
                batch.items.append(tuple(texts))

    async def _await(self, job: _Job, tasks: dict[str, asyncio.Future[None]]) -> Response:
        pending = [tasks[name] for name in job.computations if name in tasks]
        if pending:
            remaining = job.deadline - time.perf_counter()
            # timeout <= 0 waits for nothing; +inf waits for everything.
            await asyncio.wait(
                pending, timeout=None if remaining == math.inf else max(remaining, 0.0)
            )
            elapsed = time.perf_counter() - job.started
            for computation in job.computations.values():
                if computation.status is None:
                    computation.status = MetricStatus.TIMEOUT
                    computation.execution_time = elapsed
                    computation.error_message = (
                        f"not computed within the request timeout ({job.request.timeout:g} s)"
                    )
        return self._respond(job)

    def _respond(self, job: _Job) -> Response:
        request, resolution = job.request, job.resolution
        text = request.payload.text
        status = resolution.outcome
        error = resolution.error or job.error
        if error is not None:
            status = ExecutionStatus.ERROR
        elif status is None and not resolution.rulesets:
            status = ExecutionStatus.SKIPPED

        ruleset_results: list[dict[str, Any]] = []
        action_type, action_value = ActionType.PASSTHROUGH, text
        if status is ExecutionStatus.ERROR:
            # Rulesets the request would have run are reported `error`: subscriptions on
            # `error` hear of it (ours; Galileo documents `error` subscriptions, not the shape).
            ruleset_results = [
                {
                    "status": ExecutionStatus.ERROR,
                    "rules": ruleset.rules,
                    "action": ruleset.action,
                    "description": ruleset.description,
                    "rule_results": [],
                }
                for ruleset in resolution.rulesets
            ]
        elif status is None:
            triggered = saw_timeout = saw_failure = False
            for ruleset in resolution.rulesets:
                ruleset_status, result = self._ruleset_result(job, ruleset)
                ruleset_results.append(result)
                if ruleset_status is ExecutionStatus.TRIGGERED:
                    if not triggered:
                        triggered = True
                        action = ruleset.action
                        if isinstance(action, OverrideAction):
                            action_type = ActionType.OVERRIDE
                            action_value = self._rng.choice(action.choices)
                elif ruleset_status is ExecutionStatus.TIMEOUT:
                    saw_timeout = True
                elif ruleset_status is ExecutionStatus.FAILED:
                    saw_failure = True
            # ours: a triggered ruleset wins (the application must act on it) even when a
            # higher-priority one could not be decided; then timeout, then failed.
            if triggered:
                status = ExecutionStatus.TRIGGERED
            elif saw_timeout:
                status = ExecutionStatus.TIMEOUT
            elif saw_failure:
                status = ExecutionStatus.FAILED
            else:
                status = ExecutionStatus.NOT_TRIGGERED

        response_at = time.time_ns()
        return Response.model_validate(
            {
                "text": action_value,
                "status": status,
                "trace_metadata": {
                    "id": uuid.uuid4(),
                    "received_at": job.received_at,
                    "response_at": response_at,
                    "execution_time": (response_at - job.received_at) / _NS_PER_S,
                },
                "action_result": {"type": action_type, "value": action_value},
                "stage_metadata": resolution.metadata(),
                "ruleset_results": ruleset_results,
                "metric_results": {
                    wire: _metric_output(job.computations[canonical])
                    for wire, canonical in job.canonical.items()
                },
                "metadata": request.metadata,
                "headers": request.headers,
                "error": error,
            }
        )

    def _ruleset_result(
        self, job: _Job, ruleset: Ruleset
    ) -> tuple[ExecutionStatus, dict[str, Any]]:
        rule_results: list[dict[str, Any]] = []
        decided_false = saw_timeout = False
        all_triggered = True
        for rule in ruleset.rules:
            computation = job.computations[job.canonical[rule.metric]]
            metric_status = computation.status
            if metric_status is MetricStatus.SUCCESS or metric_status is MetricStatus.ERROR:
                fired = evaluate_operator(rule.operator, rule.target_value, computation.value)
                status = ExecutionStatus.TRIGGERED if fired else ExecutionStatus.NOT_TRIGGERED
                decided_false = decided_false or not fired
            elif metric_status is MetricStatus.TIMEOUT:
                status = ExecutionStatus.TIMEOUT
                saw_timeout = True
            else:
                status = ExecutionStatus.FAILED
            all_triggered = all_triggered and status is ExecutionStatus.TRIGGERED
            rule_results.append(
                {
                    "metric": rule.metric,
                    "operator": rule.operator,
                    "target_value": rule.target_value,
                    "status": status,
                    "value": computation.value,
                    "execution_time": computation.execution_time,
                }
            )
        # Three-valued AND: one rule known not to trigger decides the ruleset even when another
        # rule's metric timed out or failed.
        if all_triggered:
            ruleset_status = ExecutionStatus.TRIGGERED
        elif decided_false:
            ruleset_status = ExecutionStatus.NOT_TRIGGERED
        elif saw_timeout:
            ruleset_status = ExecutionStatus.TIMEOUT
        else:
            ruleset_status = ExecutionStatus.FAILED
        return ruleset_status, {
            "status": ruleset_status,
            "rules": ruleset.rules,
            "action": ruleset.action,
            "description": ruleset.description,
            "rule_results": rule_results,
        }


class _PayloadTexts:
    """The text a scorer reads from a payload; the context/question split (a regex over the
    input) is done once per request, however many RAG metrics read it."""

    __slots__ = ("_derived", "_payload")

    def __init__(self, payload: Payload) -> None:
        self._payload = payload
        self._derived: tuple[str | None, str | None] | None = None

    def get(self, field: PayloadField) -> str | None:
        if field is PayloadField.INPUT:
            return self._payload.input
        if field is PayloadField.OUTPUT:
            return self._payload.output
        if self._derived is None:
            self._derived = self._payload.context_and_question()
        context, question = self._derived
        return context if field is PayloadField.CONTEXT else question


def _metric_output(computation: _Computation) -> dict[str, Any]:
    return {
        "value": computation.value,
        "execution_time": computation.execution_time,
        "status": computation.status,
        "error_message": computation.error_message,
    }


def _score_inline(batch: _Batch) -> None:
    started = time.perf_counter()
    try:
        values, costs = batch.scorer.score_batch_timed(batch.items)
    except Exception as exc:
        if len(batch.items) == 1:
            _fail(batch.computations, exc, time.perf_counter() - started)
            return
        # One bad text must not fail the whole fetch: score items one by one to isolate it.
        for computation, item in zip(batch.computations, batch.items, strict=True):
            _score_inline(_Batch(batch.scorer, [computation], [item]))
        return
    _accept(batch, values, costs, time.perf_counter() - started)


async def _score_async(batch: _Batch, executor: Executor) -> None:
    started = time.perf_counter()
    try:
        values, costs = await batch.scorer.ascore_batch_timed(batch.items, executor)
    except Exception as exc:
        if len(batch.items) == 1:
            _fail(batch.computations, exc, time.perf_counter() - started)
            return
        for computation, item in zip(batch.computations, batch.items, strict=True):
            await _score_async(_Batch(batch.scorer, [computation], [item]), executor)
        return
    _accept(batch, values, costs, time.perf_counter() - started)


def _fail(computations: Sequence[_Computation], exc: BaseException, elapsed: float) -> None:
    message = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_MESSAGE]
    for computation in computations:
        if computation.status is None:
            computation.status = MetricStatus.FAILED
            computation.execution_time = elapsed
            computation.error_message = message


def _accept(
    batch: _Batch, values: Sequence[MetricValue], costs: Sequence[int] | None, elapsed: float
) -> None:
    """Record a batch's values, each with its own item's cost (see the module docstring)."""
    scorer, items = batch.scorer, batch.items
    if len(values) != len(items):
        _fail(
            batch.computations,
            ValueError(f"scorer returned {len(values)} values for {len(batch.items)} texts"),
            elapsed,
        )
        return
    measured = costs if costs is not None and len(costs) == len(items) else None
    # Apportioned: one list per batch, none per event, and none at all for a batch of one.
    characters: list[int] | None = None
    per_character = 0.0
    if measured is None and len(items) > 1:
        characters = [sum(map(len, item)) for item in items]
        total = sum(characters)
        # Texts are never empty here (`_plan` keeps them out); guard the division anyway.
        per_character = elapsed / total if total else 0.0
    for i, (computation, value) in enumerate(zip(batch.computations, values, strict=True)):
        if computation.status is not None:
            continue  # the request already timed out and answered without this value
        problem = _check_value(scorer.kind, value)
        if problem is None:
            computation.status = MetricStatus.SUCCESS
            computation.value = list(value) if isinstance(value, tuple) else value
        else:
            computation.status = MetricStatus.FAILED
            computation.error_message = f"scorer {scorer.name!r} returned {problem}"
        if measured is not None:
            computation.execution_time = measured[i] / _NS_PER_S
        elif characters is not None:
            computation.execution_time = characters[i] * per_character
        else:
            computation.execution_time = elapsed


def _check_value(kind: ValueKind, value: object) -> str | None:
    """Why a scorer's value is garbage for its kind, or None when it is fine."""
    if value is None:
        return None  # "no value": the metric's rules simply don't trigger
    if kind is ValueKind.SCORE:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return None
        return f"{value!r}, not a finite number"
    if kind is ValueKind.LABEL:
        return None if isinstance(value, str) else f"{type(value).__name__}, not a label"
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return None
    return f"{type(value).__name__}, not a list of labels"

"""The in-process service: stage registry + metric registry + engine.

The API (`invoke_protect`), the CLI and the Kafka worker all evaluate through this one object,
so they produce the same Response for the same request.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import structlog

from worker.contract.request import Request
from worker.contract.response import Response
from worker.engine.evaluate import Evaluator
from worker.errors import StageDefinitionError
from worker.metrics.builtin import default_registry
from worker.stages.files import StagesFile, load_stages_file
from worker.stages.registry import StageRegistry
from worker.stages.resolve import resolve

log = structlog.get_logger(__name__)


class Protect:
    def __init__(
        self, stages: StageRegistry, evaluator: Evaluator, *, default_project: str | None = None
    ) -> None:
        self.stages = stages
        self.evaluator = evaluator
        # The stages file's `project`: where stages named without a project are looked up.
        self.default_project = default_project

    @classmethod
    def from_file(cls, path: str | Path | None = None, *, seed: int | None = None) -> Protect:
        document = load_stages_file(path) if path is not None else StagesFile()
        return cls.from_document(document, seed=seed, source=str(path or "<none>"))

    @classmethod
    def from_document(
        cls, document: StagesFile, *, seed: int | None = None, source: str = "<document>"
    ) -> Protect:
        metrics = default_registry(document.metrics)
        stages = StageRegistry(metrics)
        for i, definition in enumerate(document.stages):
            try:
                result = stages.apply(definition, project_name=document.project)
            except StageDefinitionError as exc:
                raise exc.within(f"{source}: stages[{i}]") from exc
            for warning in result.warnings:
                log.warning(
                    "stage_rule_warning",
                    stage=definition.name,
                    field=f"stages[{i}].{warning.field}",
                    detail=warning.message,
                )
        return cls(stages, Evaluator(metrics, seed=seed), default_project=document.project)

    def warm_up(self, *, freeze_heap: bool = True) -> None:
        """Load every scorer's models now, for long-running processes (worker, benchmarks).

        Then `gc.freeze()` the start-up heap (models, validators): the collector's full passes
        would otherwise rescan it every few thousand Responses; measured, that alone cost a
        batched evaluation ~40 % of its time.
        """
        for scorer in self.evaluator.metrics:
            scorer.warm_up()
        if freeze_heap:
            gc.collect()
            gc.freeze()

    async def ainvoke(self, request: Request) -> Response:
        return await self.evaluator.evaluate(request, resolve(request, self.stages))

    async def ainvoke_many(self, requests: Sequence[Request]) -> list[Response]:
        """Evaluate many requests with each metric scored once across the batch."""
        return await self.evaluator.evaluate_many(
            [(request, resolve(request, self.stages)) for request in requests]
        )

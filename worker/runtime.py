"""The in-process service: stage registry + metric registry + engine.

The API (`invoke_protect`), the CLI and the Kafka worker all evaluate through this one object,
so they produce the same Response for the same request.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import structlog
from threadpoolctl import threadpool_limits

from worker.contract.request import Request
from worker.contract.response import Response
from worker.engine.evaluate import Evaluator
from worker.errors import MetricConfigError, StageDefinitionError
from worker.metrics.builtin import default_registry
from worker.settings import Settings
from worker.stages.files import StagesFile, load_stages_file
from worker.stages.mirror import RegistryMirror
from worker.stages.registry import StageRegistry
from worker.stages.resolve import resolve

log = structlog.get_logger(__name__)

# BLAS threads per call (numpy's OpenBLAS, used by spaCy's NER and the heads). Parallelism comes
# from the engine's CPU pool, one scorer per core; BLAS's own pool (one thread per core by
# default) on top of that oversubscribes the cores. Measured on a loaded 2-core machine, PII on a
# 1,000-character text: p50 111 ms with OpenBLAS's default 2 threads, 21 ms with 1.
BLAS_THREADS = 1
# Allocations between two young-generation collections (CPython's default: 700). The worker
# allocates a few dozen short-lived objects per event (records, futures, Responses), so at 700 the
# collector ran every ~20 events and promoted in-flight ones into older generations it then
# rescanned: ~5.8 us per event with the no-metric stage, ~1 us at 20,000 (bench/stream.py).
GC_YOUNG_THRESHOLD = 20_000


def limit_native_threads() -> None:
    """Cap the BLAS thread pools of this process at BLAS_THREADS (process-wide, idempotent)."""
    threadpool_limits(limits=BLAS_THREADS, user_api="blas")


class Protect:
    def __init__(
        self,
        stages: StageRegistry,
        evaluator: Evaluator,
        *,
        default_project: str | None = None,
        mirror: RegistryMirror | None = None,
    ) -> None:
        self.stages = stages
        self.evaluator = evaluator
        # The stages file's `project`: where stages named without a project are looked up.
        self.default_project = default_project
        # Set when `stages` mirrors the Kafka registry topic (`from_registry_topic`).
        self.mirror = mirror

    @classmethod
    def from_file(
        cls,
        path: str | Path | None = None,
        *,
        seed: int | None = None,
        cpu_threads: int | None = None,
    ) -> Protect:
        document = load_stages_file(path) if path is not None else StagesFile()
        return cls.from_document(
            document, seed=seed, source=str(path or "<none>"), cpu_threads=cpu_threads
        )

    @classmethod
    def from_document(
        cls,
        document: StagesFile,
        *,
        seed: int | None = None,
        source: str = "<document>",
        cpu_threads: int | None = None,
    ) -> Protect:
        """`cpu_threads`: the pool CPU-bound scorers run in (None: one thread per core)."""
        try:
            metrics = default_registry(document.metrics, document.backends)
        except MetricConfigError as exc:
            raise MetricConfigError(f"{source}: {exc}") from exc
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
        return cls(
            stages,
            Evaluator(metrics, seed=seed, cpu_threads=cpu_threads),
            default_project=document.project,
        )

    @classmethod
    def from_registry_topic(
        cls,
        path: str | Path | None,
        bootstrap_servers: str,
        topic: str,
        *,
        seed: int | None = None,
        cpu_threads: int | None = None,
        replication: int = 1,
    ) -> Protect:
        """A service whose stages mirror the registry topic, read to its end before this returns
        and followed live from a background thread (`close()` stops it).

        The stages file contributes what a worker on a cluster takes from it: custom metrics,
        backends and the default project. Its stages are not loaded: the topic is the registry
        (`protect stages apply -f FILE` publishes them).
        """
        document = load_stages_file(path) if path is not None else StagesFile()
        if document.stages:
            log.warning(
                "stages_file_stages_ignored",
                source=str(path),
                stages=len(document.stages),
                detail="stages come from the registry topic; publish the file's stages with "
                "`protect stages apply -f FILE`",
            )
        protect = cls.from_document(
            document.model_copy(update={"stages": []}),
            seed=seed,
            source=str(path or "<none>"),
            cpu_threads=cpu_threads,
        )
        protect.mirror = RegistryMirror(
            bootstrap_servers, topic, protect.stages, replication=replication
        ).start()
        return protect

    def unnamed_project(self, settings: Settings) -> str:
        """The project of stages named without one: an explicit PROTECT_PROJECT, else the stages
        file's `project`, else PROTECT_PROJECT's default."""
        if "project" in settings.model_fields_set:
            return settings.project
        return self.default_project or settings.project

    def close(self) -> None:
        """Stop following the registry topic, if this service does; idempotent."""
        if self.mirror is not None:
            self.mirror.stop()

    def warm_up(self, *, freeze_heap: bool = True) -> None:
        """Load every scorer's models now, for long-running processes (worker, benchmarks).

        Also caps BLAS threads (`limit_native_threads`): the CPU pool is the parallelism.

        Then `gc.freeze()` the start-up heap (models, validators): the collector's full passes
        would otherwise rescan it every few thousand Responses; measured, that alone cost a
        batched evaluation ~40 % of its time. And collect the young generation less often
        (GC_YOUNG_THRESHOLD).
        """
        limit_native_threads()
        for scorer in self.evaluator.metrics:
            scorer.warm_up()
        if freeze_heap:
            gc.collect()
            gc.freeze()
            _, older, oldest = gc.get_threshold()
            gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)

    async def ainvoke(self, request: Request) -> Response:
        return await self.evaluator.evaluate(request, resolve(request, self.stages))

    async def ainvoke_many(
        self, requests: Sequence[Request], *, received_at: int | None = None
    ) -> list[Response]:
        """Evaluate many requests with each metric scored once across the batch.

        `received_at`: when they reached this process, ns since epoch (default: now).
        """
        return await self.evaluator.evaluate_many(
            [(request, resolve(request, self.stages)) for request in requests],
            received_at=received_at,
        )

"""A built-in metric computed by a configured backend model instead of the default detector."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor

from worker.contract.rules import MetricValue
from worker.errors import MetricConfigError
from worker.metrics.backends.local import (
    Classifier,
    ModelConfig,
    ModelInput,
    OnnxClassifier,
    TransformersClassifier,
    model_directory,
)
from worker.metrics.backends.outputs import OutputMapping, build_mapping
from worker.metrics.backends.remote import HttpClassifier
from worker.metrics.backends.spec import (
    BackendSpec,
    HttpBackend,
    OnnxBackend,
    TransformersBackend,
)
from worker.metrics.base import Execution, PayloadField, Scorer, ScorerInput
from worker.metrics.loading import Lazy
from worker.metrics.registry import MetricRegistry

# Local models shared by every metric configured with the same directory and options (e.g.
# input_toxicity and output_toxicity on one model): loaded once per process, not once per metric.
_local: dict[tuple[object, ...], Lazy[Classifier]] = {}
_local_lock = threading.Lock()


def _shared_local(spec: OnnxBackend | TransformersBackend, field: str) -> Lazy[Classifier]:
    key = (
        spec.type,
        str(spec.path.expanduser().resolve()),
        spec.max_tokens,
        spec.batch_size,
        spec.threads,
    )

    def load() -> Classifier:
        if isinstance(spec, OnnxBackend):
            return OnnxClassifier(spec, field=field)
        return TransformersClassifier(spec, field=field)

    with _local_lock:
        lazy = _local.get(key)
        if lazy is None:
            lazy = _local[key] = Lazy(load)
    return lazy


def _model_input(item: ScorerInput) -> ModelInput:
    # One field, or (context, output) for the RAG metrics: premise, then hypothesis.
    return (item[0],) if len(item) == 1 else (item[0], item[-1])


class BackendScorer(Scorer):
    """Takes the place of a built-in scorer: same name, aliases, value kind and labels."""

    def __init__(self, replaces: Scorer, spec: BackendSpec, *, field: str) -> None:
        self.name = replaces.name
        self.aliases = replaces.aliases
        self.kind = replaces.kind
        self.labels = replaces.labels
        self.spec = spec
        # A model reads one text, or a text pair: (context, output) for two-field metrics.
        self.reads = (
            replaces.reads
            if len(replaces.reads) == 1
            else (PayloadField.CONTEXT, PayloadField.OUTPUT)
        )
        self._remote: HttpClassifier | None = None
        self._local: Lazy[Classifier] | None = None
        if isinstance(spec, HttpBackend):
            self.execution = Execution.ASYNC
            self._remote = HttpClassifier(spec, field=field)
            self.mapping = build_mapping(replaces, spec, None, field=field)
        else:
            self.execution = Execution.THREAD
            # config.json is read now (cheap) so that a wrong path or label mapping fails at
            # start-up; the model itself loads on warm-up or first use.
            config = ModelConfig(model_directory(spec, field=field), field=field)
            self.mapping = build_mapping(replaces, spec, config.labels, field=field)
            self._local = _shared_local(spec, field)

    def score_batch(self, items: Sequence[ScorerInput]) -> Sequence[MetricValue]:
        if self._remote is not None:
            # Synchronous callers (offline tools); the engine awaits `ascore_batch`.
            return asyncio.run(self.ascore_batch(items))
        assert self._local is not None
        return _values(self.mapping, self._local.get().classify([_model_input(i) for i in items]))

    async def ascore_batch(
        self, items: Sequence[ScorerInput], executor: Executor | None = None
    ) -> Sequence[MetricValue]:
        if self._remote is None:
            return await super().ascore_batch(items, executor)
        distributions = await self._remote.aclassify([_model_input(i) for i in items])
        return _values(self.mapping, distributions)

    def warm_up(self) -> None:
        if self._local is not None:
            self._local.get()


def _values(
    mapping: OutputMapping, distributions: Sequence[Mapping[str, float]]
) -> list[MetricValue]:
    return [mapping.value(distribution) for distribution in distributions]


def install_backends(registry: MetricRegistry, backends: Mapping[str, BackendSpec]) -> None:
    """Replace scorers of `registry` by the configured backends; errors name `backends.<metric>`.

    Called on the built-in registry, before custom metrics join it: a backend replaces a
    detector, never a user's keyword/regex metric.
    """
    replaced: dict[str, str] = {}
    for name, spec in backends.items():
        field = f"backends.{name}"
        if name not in registry:
            raise MetricConfigError(
                f"{field}: unknown metric {name!r}; known metrics: {', '.join(registry.names())}"
            )
        builtin = registry.resolve(name)
        if builtin.name in replaced:
            raise MetricConfigError(
                f"{field}: {builtin.name} already has a backend (backends.{replaced[builtin.name]})"
            )
        registry.register(BackendScorer(builtin, spec, field=field), replace=True)
        replaced[builtin.name] = name


__all__ = ["BackendScorer", "install_backends"]

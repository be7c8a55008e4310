"""Factory fixtures: build Protect services, stages and requests with few lines per test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from worker.contract.stage import StageDefinition
from worker.engine.evaluate import Evaluator
from worker.metrics.base import Scorer
from worker.metrics.registry import MetricRegistry
from worker.runtime import Protect
from worker.stages.registry import StageRegistry

ProtectFactory = Callable[..., Protect]


@pytest.fixture
def protect_factory() -> ProtectFactory:
    """`protect_factory(scorers, stages=[...], seed=0, cpu_threads=None)`: a service over the
    given test scorers."""

    def make(
        scorers: Sequence[Scorer],
        stages: Sequence[StageDefinition | dict[str, Any]] = (),
        *,
        seed: int | None = 0,
        project: str = "tests",
        cpu_threads: int | None = None,
    ) -> Protect:
        metrics = MetricRegistry(scorers)
        registry = StageRegistry(metrics)
        for definition in stages:
            registry.apply(StageDefinition.model_validate(definition), project_name=project)
        return Protect(registry, Evaluator(metrics, seed=seed, cpu_threads=cpu_threads))

    return make


# Kafka fixtures (brokers, topics, settings, workers) live in their own modules.
from tests.brokers import noida, tansu, topic_factory  # noqa: E402, F401
from tests.workers import settings_factory, worker_factory  # noqa: E402, F401

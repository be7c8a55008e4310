"""The built-in metrics, and the registry a deployment starts from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from worker.errors import MetricConfigError
from worker.metrics.adherence import Completeness, ContextAdherence
from worker.metrics.backends.scorer import install_backends
from worker.metrics.backends.spec import BackendSpec
from worker.metrics.base import Scorer
from worker.metrics.custom import CustomMetricSpec, build_custom_scorers
from worker.metrics.injection import PromptInjection
from worker.metrics.language import InputLanguage, OutputLanguage
from worker.metrics.pii import InputPii, OutputPii
from worker.metrics.registry import MetricRegistry
from worker.metrics.secrets import InputSecrets, OutputSecrets
from worker.metrics.sexism import InputSexist, OutputSexist
from worker.metrics.tone import InputTone, OutputTone
from worker.metrics.toxicity import InputToxicity, OutputToxicity


def builtin_scorers() -> list[Scorer]:
    """Fresh instances of every built-in scorer (models load lazily, once per process)."""
    return [
        InputPii(),
        OutputPii(),
        InputLanguage(),
        OutputLanguage(),
        ContextAdherence(),
        Completeness(),
        InputTone(),
        OutputTone(),
        InputSecrets(),
        OutputSecrets(),
        PromptInjection(),
        InputToxicity(),
        OutputToxicity(),
        InputSexist(),
        OutputSexist(),
    ]


def default_registry(
    custom: Sequence[CustomMetricSpec] = (), backends: Mapping[str, BackendSpec] | None = None
) -> MetricRegistry:
    """The built-in metrics (with any configured backends) plus the declared custom ones.

    Raises MetricConfigError, naming the field, for an invalid custom declaration, a custom name
    that is already a built-in metric or a Galileo alias, or a backend that cannot serve its
    metric (unknown metric, missing model files, labels that do not map).
    """
    registry = MetricRegistry(builtin_scorers())
    builtin = {scorer.name for scorer in registry}
    custom_names = {spec.name for spec in custom}
    for name in backends or {}:
        if name in custom_names:
            raise MetricConfigError(
                f"backends.{name}: {name} is a custom keyword/regex metric; backends replace "
                "built-in detectors"
            )
    install_backends(registry, backends or {})
    for scorer in build_custom_scorers(custom):
        if scorer.name in builtin:
            raise MetricConfigError(
                f"metrics[{scorer.name}]: {scorer.name!r} is a built-in metric; "
                "give the custom metric another name"
            )
        try:
            registry.register(scorer)
        except MetricConfigError as exc:
            raise MetricConfigError(f"metrics[{scorer.name}]: {exc}") from exc
    return registry


__all__ = ["builtin_scorers", "default_registry"]

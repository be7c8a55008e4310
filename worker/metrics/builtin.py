"""The built-in metrics, and the registry a deployment starts from."""

from __future__ import annotations

from collections.abc import Sequence

from worker.errors import MetricConfigError
from worker.metrics.adherence import Completeness, ContextAdherence
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


def default_registry(custom: Sequence[CustomMetricSpec] = ()) -> MetricRegistry:
    """The built-in metrics plus the custom ones declared in configuration.

    Raises MetricConfigError, naming the metric, for an invalid custom declaration or a custom
    name that is already a built-in metric or a Galileo alias.
    """
    registry = MetricRegistry(builtin_scorers())
    builtin = {scorer.name for scorer in registry}
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

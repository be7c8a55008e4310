"""From a classifier's label probabilities to a metric's value (score, label, or label list)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.contract.rules import MetricValue
from worker.errors import MetricConfigError, ScorerError
from worker.metrics.backends.spec import HttpBackend, OnnxBackend, TransformersBackend
from worker.metrics.base import Scorer, ValueKind

# One text's classification: model label -> probability.
Distribution = Mapping[str, float]


def probabilities(
    logits: npt.NDArray[np.floating], *, multi_label: bool
) -> npt.NDArray[np.float64]:
    """Logits of shape (n, labels) to probabilities: independent sigmoids for multi-label models
    (and single-output ones), a softmax otherwise; the convention of transformers' pipelines."""
    z = np.asarray(logits, dtype=np.float64)
    if multi_label or z.shape[1] == 1:
        # exp of at most 0: no overflow for large |z|.
        e = np.exp(-np.abs(z))
        result: npt.NDArray[np.float64] = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return result
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    softmax: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return softmax


@dataclass(frozen=True, slots=True)
class OutputMapping:
    """Turns distributions into values of one metric; built (and checked) at registration."""

    metric: str
    kind: ValueKind
    positive: frozenset[str]
    label_map: Mapping[str, str | None]
    # Label metrics without an explicit map: model labels matched to the vocabulary by name.
    identity: bool
    vocabulary: tuple[str, ...] | None
    threshold: float

    def value(self, distribution: Distribution) -> MetricValue:
        if self.kind is ValueKind.SCORE:
            present = [label for label in self.positive if label in distribution]
            if not present:
                # A server that answers with other labels than configured would otherwise score
                # every text 0 and pass everything: fail the metric loudly instead.
                raise ScorerError(
                    f"{self.metric}: the model returned none of the positive labels "
                    f"{sorted(self.positive)} (it returned {sorted(distribution)[:10]})"
                )
            return round(min(1.0, sum(distribution[label] for label in present)), 6)
        if self.kind is ValueKind.LABEL:
            if not distribution:
                return None
            top = max(distribution, key=lambda label: distribution[label])
            return self._map(top)
        found = {
            mapped
            for label, p in distribution.items()
            if p >= self.threshold and (mapped := self._map(label)) is not None
        }
        order = self.vocabulary or tuple(sorted(found))
        return [label for label in order if label in found]

    def _map(self, label: str) -> str | None:
        if not self.identity:
            return self.label_map.get(label)
        if self.vocabulary is None:
            return label
        return self.label_map.get(label.lower())


def build_mapping(
    scorer: Scorer,
    spec: OnnxBackend | TransformersBackend | HttpBackend,
    model_labels: Sequence[str] | None,
    *,
    field: str,
) -> OutputMapping:
    """The mapping for `scorer`'s metric; MetricConfigError naming the field when it cannot fit.

    `model_labels`: the model's labels when known before the first call (a local model's
    config.json), so a typo in the configuration fails at start-up rather than on every event.
    """
    known = set(model_labels) if model_labels is not None else None

    def check_model_label(label: str, where: str) -> None:
        if known is not None and label not in known:
            raise MetricConfigError(
                f"{where}: {label!r} is not a label of the model "
                f"(its labels: {', '.join(model_labels or ())})"
            )

    if scorer.kind is ValueKind.SCORE:
        if spec.label_map is not None:
            raise MetricConfigError(
                f"{field}.label_map: {scorer.name} is a score; name the model labels that count "
                "as positive in positive_labels instead"
            )
        positive = list(spec.positive_labels)
        if not positive:
            if model_labels is None:
                raise MetricConfigError(
                    f"{field}.positive_labels: required for a model server (which model labels "
                    f"make {scorer.name} high?)"
                )
            if len(model_labels) > 2:
                raise MetricConfigError(
                    f"{field}.positive_labels: required: the model has {len(model_labels)} labels "
                    f"({', '.join(model_labels)})"
                )
            positive = [model_labels[-1]]
        for label in positive:
            check_model_label(label, f"{field}.positive_labels")
        return OutputMapping(
            scorer.name, scorer.kind, frozenset(positive), {}, False, None, spec.threshold
        )

    if spec.positive_labels:
        raise MetricConfigError(
            f"{field}.positive_labels: {scorer.name} is a label metric; map model labels to its "
            "labels with label_map instead"
        )
    vocabulary = scorer.labels
    if spec.label_map is None:
        by_name = {label.lower(): label for label in vocabulary or ()}
        if (
            known is not None
            and vocabulary is not None
            and not any(label.lower() in by_name for label in known)
        ):
            raise MetricConfigError(
                f"{field}.label_map: none of the model's labels ({', '.join(sorted(known))}) "
                f"is a label of {scorer.name} ({', '.join(vocabulary)}); map them"
            )
        return OutputMapping(
            scorer.name, scorer.kind, frozenset(), by_name, True, vocabulary, spec.threshold
        )
    label_map: dict[str, str | None] = {}
    for model_label, metric_label in spec.label_map.items():
        where = f"{field}.label_map.{model_label}"
        check_model_label(model_label, where)
        if vocabulary is not None and metric_label not in vocabulary:
            raise MetricConfigError(
                f"{where}: {metric_label!r} is not a label of {scorer.name} "
                f"({', '.join(vocabulary)})"
            )
        label_map[model_label] = metric_label
    return OutputMapping(
        scorer.name, scorer.kind, frozenset(), label_map, False, vocabulary, spec.threshold
    )


__all__ = ["Distribution", "OutputMapping", "build_mapping", "probabilities"]

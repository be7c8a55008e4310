"""Metric registry: metric names (and Galileo's aliases) to scorers, and stage validation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from worker.contract.rules import Ruleset, TargetValue
from worker.contract.statuses import RuleOperator
from worker.errors import MetricConfigError, UnknownMetricError
from worker.metrics.base import Scorer, ValueKind

# Galileo's legacy and alternative names, as sent on the wire, to our canonical metric names.
GALILEO_ALIASES: dict[str, str] = {
    "pii": "output_pii",
    "toxicity": "output_toxicity",
    "sexist": "output_sexist",
    "input_sexism": "input_sexist",
    "output_sexism": "output_sexist",
    "tone": "output_tone",
    "context_adherence_luna": "context_adherence",
}

_SCORE_OPERATORS = frozenset(
    {
        RuleOperator.GT,
        RuleOperator.LT,
        RuleOperator.GTE,
        RuleOperator.LTE,
        RuleOperator.EQ,
        RuleOperator.NEQ,
    }
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def can_trigger(kind: ValueKind, operator: RuleOperator, target: TargetValue) -> bool:
    """Whether any value of `kind` can make the rule trigger (the semantics page's table)."""
    if kind is ValueKind.SCORE:
        return operator in _SCORE_OPERATORS and _is_number(target)
    if kind is ValueKind.LABEL:
        if operator in (RuleOperator.EQ, RuleOperator.NEQ):
            return isinstance(target, str)
        return operator is RuleOperator.ANY and isinstance(target, list)
    if operator in (RuleOperator.EMPTY, RuleOperator.NOT_EMPTY):
        return True
    if operator is RuleOperator.CONTAINS:
        return isinstance(target, str)
    return operator in (RuleOperator.ALL, RuleOperator.ANY) and isinstance(target, list)


@dataclass(frozen=True, slots=True)
class StageWarning:
    """A rule that is valid but suspicious (never triggers, or names an unknown label)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class MetricRegistry:
    def __init__(self, scorers: Iterable[Scorer] = ()) -> None:
        self._scorers: dict[str, Scorer] = {}
        for scorer in scorers:
            self.register(scorer)

    def register(self, scorer: Scorer, *, replace: bool = False) -> None:
        name = scorer.name
        if name in GALILEO_ALIASES:
            raise MetricConfigError(
                f"metric name {name!r} is a Galileo alias of {GALILEO_ALIASES[name]!r}; "
                "register the scorer under the canonical name"
            )
        if name in self._scorers and not replace:
            raise MetricConfigError(f"metric {name!r} is already registered")
        self._scorers[name] = scorer

    def canonical(self, name: str) -> str:
        return GALILEO_ALIASES.get(name, name)

    def resolve(self, name: str, *, field: str | None = None) -> Scorer:
        scorer = self._scorers.get(self.canonical(name))
        if scorer is None:
            raise UnknownMetricError(name, self.names(), field=field)
        return scorer

    def names(self) -> list[str]:
        """Every name a rule may use: canonical names and the aliases that resolve."""
        aliases = [a for a, target in GALILEO_ALIASES.items() if target in self._scorers]
        return sorted([*self._scorers, *aliases])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._scorers

    def __iter__(self) -> Iterator[Scorer]:
        return iter(self._scorers.values())

    def validate_rulesets(
        self, rulesets: Sequence[Ruleset], *, field: str = "prioritized_rulesets"
    ) -> list[StageWarning]:
        """Raise UnknownMetricError for a metric no scorer knows; return warnings otherwise."""
        warnings: list[StageWarning] = []
        for i, ruleset in enumerate(rulesets):
            for j, rule in enumerate(ruleset.rules):
                where = f"{field}[{i}].rules[{j}]"
                scorer = self.resolve(rule.metric, field=f"{where}.metric")
                if not can_trigger(scorer.kind, rule.operator, rule.target_value):
                    warnings.append(
                        StageWarning(
                            where,
                            f"operator {rule.operator.value!r} with target "
                            f"{rule.target_value!r} can never trigger for {rule.metric!r}, "
                            f"whose value is {_kind_phrase(scorer.kind)}",
                        )
                    )
                unknown = _unknown_labels(scorer, rule.target_value)
                if unknown:
                    warnings.append(
                        StageWarning(
                            f"{where}.target_value",
                            f"{', '.join(map(repr, unknown))} not among {rule.metric!r} labels "
                            f"({', '.join(scorer.labels or ())}): the rule cannot match them",
                        )
                    )
        return warnings


def _kind_phrase(kind: ValueKind) -> str:
    return {
        ValueKind.SCORE: "a number (use gt/lt/gte/lte/eq/neq with a number)",
        ValueKind.LABEL: "one label (use eq/neq with a label, or any with a list)",
        ValueKind.LABELS: "a list of labels (use contains/all/any/empty/not_empty)",
    }[kind]


def _unknown_labels(scorer: Scorer, target: TargetValue) -> list[str]:
    if scorer.labels is None or scorer.kind is ValueKind.SCORE:
        return []
    targets = target if isinstance(target, list) else [target]
    vocabulary = set(scorer.labels)
    return [t for t in targets if isinstance(t, str) and t not in vocabulary]

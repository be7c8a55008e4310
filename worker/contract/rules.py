"""Rules and rulesets, with galileo-core's operator semantics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from worker.contract.actions import Action, PassthroughAction
from worker.contract.statuses import RuleOperator

# Strict scalars: pydantic's lax mode would turn the YAML string "0.5" into a number (or 1 into
# "1"), and galileo-core's semantics depend on the target's type.
Scalar: TypeAlias = StrictStr | StrictInt | StrictFloat
TargetValue: TypeAlias = Scalar | list[Scalar] | None
MetricValue: TypeAlias = float | int | str | list[str] | None

_NO_TARGET = frozenset({RuleOperator.EMPTY, RuleOperator.NOT_EMPTY})


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python; a boolean is not a score.
    return isinstance(value, int | float) and not isinstance(value, bool)


class Rule(BaseModel):
    """`metric operator target_value`; triggers when the metric's value satisfies it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Annotated[str, Field(min_length=1)]
    operator: RuleOperator
    target_value: TargetValue = None

    @model_validator(mode="after")
    def _target_required(self) -> Rule:
        if self.target_value is None and self.operator not in _NO_TARGET:
            raise ValueError(
                f"target_value is required for operator {self.operator.value!r} "
                "(only `empty` and `not_empty` take none)"
            )
        return self

    def evaluate(self, value: MetricValue) -> bool:
        return evaluate_operator(self.operator, self.target_value, value)


def evaluate_operator(operator: RuleOperator, target: TargetValue, value: object) -> bool:
    """galileo-core `Rule.evaluate`: a value of the wrong type for the operator never triggers."""
    if value is None:
        return False
    if _is_number(value):
        if not _is_number(target):
            return False
        v, t = value, target
        assert isinstance(v, int | float)
        assert isinstance(t, int | float)
        if operator is RuleOperator.GT:
            return v > t
        if operator is RuleOperator.LT:
            return v < t
        if operator is RuleOperator.GTE:
            return v >= t
        if operator is RuleOperator.LTE:
            return v <= t
        if operator is RuleOperator.EQ:
            return v == t
        if operator is RuleOperator.NEQ:
            return v != t
        return False
    if isinstance(value, str):
        if isinstance(target, str):
            if operator is RuleOperator.EQ:
                return value == target
            if operator is RuleOperator.NEQ:
                return value != target
            return False
        if isinstance(target, list) and operator is RuleOperator.ANY:
            return value in target
        return False
    if isinstance(value, list):
        if operator is RuleOperator.EMPTY:
            return len(value) == 0
        if operator is RuleOperator.NOT_EMPTY:
            return len(value) > 0
        if operator is RuleOperator.CONTAINS:
            return isinstance(target, str) and target in value
        if isinstance(target, list):
            if operator is RuleOperator.ALL:
                return all(t in value for t in target)
            if operator is RuleOperator.ANY:
                return any(t in value for t in target)
        return False
    # dicts and anything else: no operator applies.
    return False


class Ruleset(BaseModel):
    """Rules that trigger together: the ruleset triggers only when all of its rules do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: Annotated[list[Rule], Field(min_length=1)]
    action: Action = Field(default_factory=PassthroughAction)
    description: str | None = None


def metric_names(rulesets: Sequence[Ruleset]) -> list[str]:
    """Distinct metric names the rulesets need, in first-use order."""
    return list(dict.fromkeys(rule.metric for rs in rulesets for rule in rs.rules))


__all__ = [
    "MetricValue",
    "Rule",
    "Ruleset",
    "TargetValue",
    "evaluate_operator",
    "metric_names",
]

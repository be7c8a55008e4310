"""Rules and rulesets, with galileo-core's operator semantics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeAlias

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from worker.contract.actions import Action, PassthroughAction, passthrough_if_unset
from worker.contract.statuses import RuleOperator

# Strict scalars: pydantic's lax mode would turn the YAML string "0.5" into a number (or 1 into
# "1"), and galileo-core's semantics depend on the target's type. A list target takes any JSON
# items, as galileo-core's untyped `list` does: items that are not labels simply never match.
Scalar: TypeAlias = StrictStr | StrictInt | StrictFloat
TargetValue: TypeAlias = Scalar | list[JsonValue] | None
MetricValue: TypeAlias = float | int | str | list[str] | None

_NO_TARGET = frozenset({RuleOperator.EMPTY, RuleOperator.NOT_EMPTY})


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python; a boolean is not a score.
    return isinstance(value, int | float) and not isinstance(value, bool)


class Rule(BaseModel):
    """`metric operator target_value`; triggers when the metric's value satisfies it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Galileo's model takes any string; an empty or unknown name is refused when the stage is
    # registered (and answered `error` when a request brings it), naming the field.
    metric: str
    operator: RuleOperator
    target_value: TargetValue = None

    @field_validator("target_value", mode="before")
    @classmethod
    def _no_boolean_or_mapping(cls, value: object) -> object:
        # galileo-core reads `true` as the number 1.0, so `toxicity eq true` would quietly mean
        # "exactly 1.0": a mistake more often than an intent, so it is refused (ours).
        if isinstance(value, bool):
            raise ValueError(
                "a boolean is not a target value (Galileo would compare it as the number "
                f"{float(value)}); write the number, a label or a list"
            )
        if isinstance(value, dict):
            raise ValueError("a mapping is not a target value; write a number, a label or a list")
        return value

    @model_validator(mode="after")
    def _target_given(self) -> Rule:
        # As in galileo-core: only `empty` / `not_empty` may leave target_value out. An explicit
        # null is accepted for every operator (it never triggers; registration warns).
        if "target_value" not in self.model_fields_set and self.operator not in _NO_TARGET:
            raise ValueError(
                f"target_value is required for operator {self.operator.value!r} "
                "(only `empty` and `not_empty` may omit it)"
            )
        return self

    def evaluate(self, value: MetricValue) -> bool:
        return evaluate_operator(self.operator, self.target_value, value)


def evaluate_operator(operator: RuleOperator, target: TargetValue, value: object) -> bool:
    """galileo-core `Rule.evaluate`: a value of the wrong type for the operator never triggers.

    One deliberate difference: a boolean value is not a number here (galileo-core compares
    `True` as 1). No scorer can produce one: the engine marks a boolean value as a failure.
    """
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
        if target is None:
            # galileo-core: `empty` / `not_empty` apply only without a target.
            if operator is RuleOperator.EMPTY:
                return len(value) == 0
            if operator is RuleOperator.NOT_EMPTY:
                return len(value) > 0
            return False
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

    _unset_action = field_validator("action", mode="before")(passthrough_if_unset)


# Galileo's models name the field `rulesets` and read `prioritized_rulesets` too; galileo-protect
# sends `rulesets`, the galileo SDK `prioritized_rulesets`. Requests and stage definitions take
# either (one at a time).
RULESETS_ALIASES = AliasChoices("prioritized_rulesets", "rulesets")


def document_rulesets_alias(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of models with RULESETS_ALIASES: pydantic documents only the first of
    several validation aliases, and the language-neutral schema must show `rulesets` too."""
    properties = schema.get("properties", {})
    if "prioritized_rulesets" in properties:
        properties["rulesets"] = {
            **properties["prioritized_rulesets"],
            "description": "Alias of prioritized_rulesets.",
        }


def one_rulesets_key(data: Any) -> Any:
    """`model_validator(mode="before")` of models with RULESETS_ALIASES: both keys at once are
    refused (galileo-core would silently keep one), naming the field."""
    if isinstance(data, dict) and "prioritized_rulesets" in data and "rulesets" in data:
        raise PydanticCustomError(
            "rulesets_twice",
            "give prioritized_rulesets or its alias rulesets, not both",
        )
    return data


def metric_names(rulesets: Sequence[Ruleset]) -> list[str]:
    """Distinct metric names the rulesets need, in first-use order."""
    return list(dict.fromkeys(rule.metric for rs in rulesets for rule in rs.rules))


__all__ = [
    "RULESETS_ALIASES",
    "MetricValue",
    "Rule",
    "Ruleset",
    "TargetValue",
    "document_rulesets_alias",
    "evaluate_operator",
    "metric_names",
    "one_rulesets_key",
]

"""Our operator semantics against galileo-core's own `Rule.evaluate`, cell by cell.

Every operator by target kind by metric-value kind. Every cell agrees, except the two documented
differences (README, "Differences from Galileo"), which are asserted as such.
"""

from __future__ import annotations

from typing import Any

import pytest
from galileo_core.schemas.protect.rule import Rule as GalileoRule
from pydantic import ValidationError

from worker.contract.rules import Rule, evaluate_operator
from worker.contract.statuses import RuleOperator

TARGETS: dict[str, Any] = {
    "str": "a",
    "int": 1,
    "float": 0.5,
    "bool": True,
    "list of str": ["a", "b"],
    "list of mixed": ["a", 1, 0.5, None],
    "empty list": [],
    "None": None,
}
VALUES: dict[str, Any] = {
    "None": None,
    "int": 1,
    "float": 0.5,
    "bool": True,
    "str": "a",
    "list of str": ["a", "b"],
    "empty list": [],
    "dict": {"a": 1},
}
CELLS = [
    (operator, target_kind, value_kind)
    for operator in RuleOperator
    for target_kind in TARGETS
    for value_kind in VALUES
]


def galileo_evaluates(operator: RuleOperator, target: Any, value: Any) -> bool:
    rule = GalileoRule(metric="m", operator=operator.value, target_value=target)
    return rule.evaluate(value)


@pytest.mark.parametrize(("operator", "target_kind", "value_kind"), CELLS)
def test_cell_agrees_with_galileo_core(
    operator: RuleOperator, target_kind: str, value_kind: str
) -> None:
    target, value = TARGETS[target_kind], VALUES[value_kind]
    galileo = galileo_evaluates(operator, target, value)
    if target_kind == "bool":
        # Difference 1: galileo-core reads a boolean target as the number 1.0; we refuse it,
        # naming the field, rather than compare scores with `true`.
        with pytest.raises(ValidationError, match="boolean is not a target"):
            Rule(metric="m", operator=operator, target_value=target)
        return
    ours = Rule(metric="m", operator=operator, target_value=target).evaluate(value)
    assert ours == evaluate_operator(operator, target, value)
    if value_kind == "bool":
        # Difference 2: galileo-core compares a boolean value as a number (True == 1); for us
        # it is no number and never triggers. No scorer can produce one: the engine records a
        # boolean from a scorer as a failed computation.
        assert ours is False
        return
    assert ours == galileo, (operator.value, target_kind, value_kind)


def test_the_documented_differences_are_real_and_the_grid_exercises_both_outcomes() -> None:
    # If galileo-core ever changes here, the differences above (and the README) must be revisited.
    assert GalileoRule(metric="m", operator="eq", target_value=True).target_value == 1.0
    assert galileo_evaluates(RuleOperator.EQ, 1, True) is True
    compared = [
        galileo_evaluates(op, TARGETS[t], VALUES[v]) for op, t, v in CELLS if "bool" not in (t, v)
    ]
    assert len(compared) == len(RuleOperator) * 7 * 7
    # Both outcomes occur, in every operator's row: the grid is not vacuous.
    for operator in RuleOperator:
        outcomes = {
            galileo_evaluates(operator, TARGETS[t], VALUES[v])
            for t in TARGETS
            for v in VALUES
            if "bool" not in (t, v)
        }
        assert outcomes == {True, False}, operator


@pytest.mark.parametrize("operator", [RuleOperator.EMPTY, RuleOperator.NOT_EMPTY])
@pytest.mark.parametrize("target", ["x", 0, 1.5, ["a"], []])
def test_empty_and_not_empty_with_a_target_never_trigger_as_in_galileo(
    operator: RuleOperator, target: Any
) -> None:
    for value in ([], ["a"]):
        assert galileo_evaluates(operator, target, value) is False
        assert Rule(metric="m", operator=operator, target_value=target).evaluate(value) is False

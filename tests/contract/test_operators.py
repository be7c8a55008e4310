"""Every row of the operator table (galileo-core `Rule.evaluate`), including never-triggers."""

from __future__ import annotations

from typing import Any

import pytest

from worker.contract.rules import Rule, evaluate_operator
from worker.contract.statuses import RuleOperator
from worker.metrics.base import ValueKind
from worker.metrics.registry import can_trigger

Op = RuleOperator
ALL_OPERATORS = list(RuleOperator)

# (metric value, operator, target, triggers)
NUMBER_ROWS: list[tuple[Any, RuleOperator, Any, bool]] = [
    (0.7, Op.GT, 0.5, True),
    (0.5, Op.GT, 0.5, False),
    (0.3, Op.GT, 0.5, False),
    (0.3, Op.LT, 0.5, True),
    (0.5, Op.LT, 0.5, False),
    (0.7, Op.LT, 0.5, False),
    (0.5, Op.GTE, 0.5, True),
    (0.6, Op.GTE, 0.5, True),
    (0.4, Op.GTE, 0.5, False),
    (0.5, Op.LTE, 0.5, True),
    (0.4, Op.LTE, 0.5, True),
    (0.6, Op.LTE, 0.5, False),
    (0.5, Op.EQ, 0.5, True),
    (0.4, Op.EQ, 0.5, False),
    (0.4, Op.NEQ, 0.5, True),
    (0.5, Op.NEQ, 0.5, False),
    (1, Op.GT, 0.5, True),
    (2, Op.EQ, 2, True),
    (0.0, Op.LTE, 0, True),  # ints and floats mix
]
NUMBER_NEVER = [
    *[(0.7, op, "0.5", False) for op in (Op.GT, Op.LT, Op.GTE, Op.LTE, Op.EQ, Op.NEQ)],
    *[
        (0.7, op, [0.5], False)
        for op in (Op.GT, Op.LT, Op.GTE, Op.LTE, Op.EQ, Op.NEQ, Op.ANY, Op.ALL)
    ],
    (0.7, Op.CONTAINS, "0.7", False),
    (0.7, Op.EMPTY, None, False),
    (0.7, Op.NOT_EMPTY, None, False),
    (0.7, Op.ANY, [0.7], False),
]
LABEL_ROWS = [
    ("en", Op.EQ, "en", True),
    ("fr", Op.EQ, "en", False),
    ("fr", Op.NEQ, "en", True),
    ("en", Op.NEQ, "en", False),
    ("en", Op.ANY, ["fr", "en"], True),
    ("de", Op.ANY, ["fr", "en"], False),
    ("en", Op.ANY, [], False),
]
LABEL_NEVER = [
    ("en", Op.CONTAINS, "e", False),  # a label is not searched as a substring
    ("en", Op.CONTAINS, "en", False),
    ("en", Op.ALL, ["en"], False),
    ("en", Op.EMPTY, None, False),
    ("en", Op.NOT_EMPTY, None, False),
    ("en", Op.EQ, ["en"], False),
    ("en", Op.NEQ, ["fr"], False),
    ("en", Op.GT, 0.5, False),
    ("en", Op.LT, 0.5, False),
    ("en", Op.GTE, 0.5, False),
    ("en", Op.LTE, 0.5, False),
    ("0.7", Op.GT, 0.5, False),
    ("1", Op.EQ, 1, False),
]
LABELS_ROWS = [
    (["ssn", "email"], Op.CONTAINS, "ssn", True),
    (["email"], Op.CONTAINS, "ssn", False),
    ([], Op.CONTAINS, "ssn", False),
    (["ssn", "email"], Op.ALL, ["email", "ssn"], True),
    (["ssn"], Op.ALL, ["ssn", "email"], False),
    (["ssn"], Op.ALL, [], True),
    ([], Op.ALL, [], True),  # all of nothing is true
    (["ssn"], Op.ANY, ["email", "ssn"], True),
    (["name"], Op.ANY, ["email", "ssn"], False),
    (["ssn"], Op.ANY, [], False),
    ([], Op.ANY, ["ssn"], False),  # any of nothing is false
    ([], Op.EMPTY, None, True),
    (["ssn"], Op.EMPTY, None, False),
    (["ssn"], Op.NOT_EMPTY, None, True),
    ([], Op.NOT_EMPTY, None, False),
]
LABELS_NEVER = [
    # The docs show eq/neq against PII lists; galileo-core returns false, and so do we.
    (["ssn"], Op.EQ, "ssn", False),
    (["ssn"], Op.NEQ, "email", False),
    (["ssn"], Op.CONTAINS, ["ssn"], False),
    (["ssn"], Op.ALL, "ssn", False),
    (["ssn"], Op.ANY, "ssn", False),
    (["ssn"], Op.GT, 0.5, False),
    ([], Op.LT, 0.5, False),
]
MISSING_ROWS = [
    (None, op, t, False)
    for op, t in [
        (Op.GT, 0.5),
        (Op.LT, 0.5),
        (Op.GTE, 0.5),
        (Op.LTE, 0.5),
        (Op.EQ, 0.5),
        (Op.NEQ, 0.5),
        (Op.NEQ, "en"),
        (Op.CONTAINS, "ssn"),
        (Op.ALL, []),
        (Op.ANY, ["x"]),
        (Op.EMPTY, None),
        (Op.NOT_EMPTY, None),
    ]
]
MISMATCH_ROWS = [
    ({"ssn": 1}, Op.CONTAINS, "ssn", False),
    ({}, Op.EMPTY, None, False),
    ({"a": 1}, Op.NOT_EMPTY, None, False),
    ({"a": 1}, Op.EQ, "a", False),
    (True, Op.EQ, 1, False),
    (False, Op.LT, 1, False),  # a boolean is not a score (ours)
]

ROWS = [
    *NUMBER_ROWS,
    *NUMBER_NEVER,
    *LABEL_ROWS,
    *LABEL_NEVER,
    *LABELS_ROWS,
    *LABELS_NEVER,
    *MISSING_ROWS,
    *MISMATCH_ROWS,
]


@pytest.mark.parametrize(("value", "operator", "target", "expected"), ROWS)
def test_operator_table(value: Any, operator: RuleOperator, target: Any, expected: bool) -> None:
    assert evaluate_operator(operator, target, value) is expected


# A Rule refuses a missing target except for empty/not_empty (tested in test_models).
RULE_ROWS = [r for r in ROWS if r[2] is not None or r[1] in (Op.EMPTY, Op.NOT_EMPTY)]


@pytest.mark.parametrize(("value", "operator", "target", "expected"), RULE_ROWS)
def test_rule_evaluate_matches_table(
    value: Any, operator: RuleOperator, target: Any, expected: bool
) -> None:
    assert Rule(metric="m", operator=operator, target_value=target).evaluate(value) is expected


def _kind(value: Any) -> ValueKind | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return None
    if isinstance(value, int | float):
        return ValueKind.SCORE
    return ValueKind.LABEL if isinstance(value, str) else ValueKind.LABELS


@pytest.mark.parametrize(("value", "operator", "target", "expected"), ROWS)
def test_validator_table_agrees_with_evaluation(
    value: Any, operator: RuleOperator, target: Any, expected: bool
) -> None:
    """The stage validator's never-triggers table and the evaluator are one semantics: a rule
    the validator would warn about never triggers, and a row that triggers is never warned."""
    kind = _kind(value)
    if kind is None:
        return
    if not can_trigger(kind, operator, target):
        assert expected is False
    if expected:
        assert can_trigger(kind, operator, target)


def test_every_operator_is_covered() -> None:
    covered = {(op, _kind(v)) for v, op, _, expected in ROWS if expected}
    for kind, operators in {
        ValueKind.SCORE: [Op.GT, Op.LT, Op.GTE, Op.LTE, Op.EQ, Op.NEQ],
        ValueKind.LABEL: [Op.EQ, Op.NEQ, Op.ANY],
        ValueKind.LABELS: [Op.CONTAINS, Op.ALL, Op.ANY, Op.EMPTY, Op.NOT_EMPTY],
    }.items():
        for op in operators:
            assert (op, kind) in covered, (op, kind)
    assert set(ALL_OPERATORS) == {op for _, op, _, _ in ROWS}

"""Enumerations of the wire contract.

Galileo serialises its enums upper-case while its docs spell them lower-case. We accept any case
on input and emit one canonical spelling, so a Galileo user's stage files load unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class _CaseInsensitiveEnum(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            folded = value.strip().lower()
            for member in cls:
                if member.value.lower() == folded:
                    return member
        return None


class ExecutionStatus(_CaseInsensitiveEnum):
    """Outcome of an invocation, and of each ruleset and rule within it."""

    TRIGGERED = "triggered"
    NOT_TRIGGERED = "not_triggered"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    PAUSED = "paused"
    SKIPPED = "skipped"


class MetricStatus(_CaseInsensitiveEnum):
    """Outcome of one metric computation."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    FAILED = "failed"
    # The metric could not be computed for this request (e.g. the payload lacks the field the
    # metric reads); not a scorer fault, so it does not make the invocation `failed`.
    ERROR = "error"


class ActionType(_CaseInsensitiveEnum):
    # Upper-case on the wire, as in Galileo's examples (`"type": "OVERRIDE"`).
    OVERRIDE = "OVERRIDE"
    PASSTHROUGH = "PASSTHROUGH"


class StageType(_CaseInsensitiveEnum):
    LOCAL = "local"
    CENTRAL = "central"


class RuleOperator(_CaseInsensitiveEnum):
    """The galileo-core operators, and no others."""

    GT = "gt"
    LT = "lt"
    GTE = "gte"
    LTE = "lte"
    EQ = "eq"
    NEQ = "neq"
    CONTAINS = "contains"
    ALL = "all"
    ANY = "any"
    EMPTY = "empty"
    NOT_EMPTY = "not_empty"

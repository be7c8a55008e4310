"""protect-worker: runtime protection for LLM applications (Galileo Protect's contract).

The public surface is this module's `__all__`: the in-process API and the wire models.
"""

from worker.api import ainvoke_protect, configure, invoke_protect
from worker.contract import (
    ActionResult,
    ActionType,
    ExecutionStatus,
    MetricComputation,
    OverrideAction,
    PassthroughAction,
    Payload,
    Request,
    Response,
    Rule,
    RuleOperator,
    RuleResult,
    Ruleset,
    RulesetResult,
    Stage,
    StageDefinition,
    StageMetadata,
    StageType,
    Subscription,
    TraceMetadata,
)
from worker.runtime import Protect

__all__ = [
    "ActionResult",
    "ActionType",
    "ExecutionStatus",
    "MetricComputation",
    "OverrideAction",
    "PassthroughAction",
    "Payload",
    "Protect",
    "Request",
    "Response",
    "Rule",
    "RuleOperator",
    "RuleResult",
    "Ruleset",
    "RulesetResult",
    "Stage",
    "StageDefinition",
    "StageMetadata",
    "StageType",
    "Subscription",
    "TraceMetadata",
    "ainvoke_protect",
    "configure",
    "invoke_protect",
]

"""The wire contract: pydantic models for every record that crosses a process boundary.

Imports nothing else of ours, does no I/O.
"""

from worker.contract.actions import Action, OverrideAction, PassthroughAction, Subscription
from worker.contract.notification import Attempt, Delivery
from worker.contract.payload import Payload
from worker.contract.project import Project
from worker.contract.request import DEFAULT_TIMEOUT_S, Request
from worker.contract.response import (
    API_VERSION,
    ActionResult,
    MetricComputation,
    Response,
    RuleResult,
    RulesetResult,
    StageMetadata,
    TraceMetadata,
)
from worker.contract.rules import MetricValue, Rule, Ruleset, TargetValue, evaluate_operator
from worker.contract.stage import (
    Stage,
    StageDefinition,
    StageResponse,
    StageState,
    project_id_for,
    stage_id_for,
)
from worker.contract.statuses import (
    ActionType,
    ExecutionStatus,
    MetricStatus,
    RuleOperator,
    StageType,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_TIMEOUT_S",
    "Action",
    "ActionResult",
    "ActionType",
    "Attempt",
    "Delivery",
    "ExecutionStatus",
    "MetricComputation",
    "MetricStatus",
    "MetricValue",
    "OverrideAction",
    "PassthroughAction",
    "Payload",
    "Project",
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
    "StageResponse",
    "StageState",
    "StageType",
    "Subscription",
    "TargetValue",
    "TraceMetadata",
    "evaluate_operator",
    "project_id_for",
    "stage_id_for",
]

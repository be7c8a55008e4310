"""The result record: what the engine returns for one Request."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from worker.contract.actions import Action
from worker.contract.rules import MetricValue, Rule, TargetValue
from worker.contract.statuses import (
    ActionType,
    ExecutionStatus,
    MetricStatus,
    RuleOperator,
    StageType,
)

API_VERSION = "1.0.0"


class _Out(BaseModel):
    # Output records are built by the engine (trusted); consumers may add fields in later
    # versions, so reading an older/newer record ignores unknown keys.
    model_config = ConfigDict(extra="ignore")


class TraceMetadata(_Out):
    id: uuid.UUID
    received_at: Annotated[int, Field(description="ns since epoch")]
    response_at: Annotated[int, Field(description="ns since epoch")]
    execution_time: Annotated[float, Field(description="seconds")]


class ActionResult(_Out):
    type: ActionType
    value: str


class StageMetadata(_Out):
    """The stage that answered. Every field is filled in every Response (Galileo's typed
    InvokeResponse requires them): for a stage or version that is not registered, the best known
    values (the stage's, or the ids the request gives or its names derive), version 0 when no
    such version exists and an empty name for an unknown stage id. Nullable only so that records
    of other producers still read."""

    project_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    stage_name: str | None = None
    stage_version: int | None = None
    stage_type: StageType | None = None


class MetricComputation(_Out):
    value: MetricValue | dict[str, Any] = None
    execution_time: Annotated[float | None, Field(description="seconds")] = None
    status: MetricStatus | None = None
    error_message: str | None = None


class RuleResult(_Out):
    metric: str
    operator: RuleOperator
    target_value: TargetValue = None
    status: ExecutionStatus
    value: MetricValue | dict[str, Any] = None
    execution_time: Annotated[float | None, Field(description="seconds")] = None


class RulesetResult(_Out):
    status: ExecutionStatus
    rules: list[Rule] = Field(default_factory=list)
    action: Action | None = None
    description: str | None = None
    rule_results: list[RuleResult] = Field(default_factory=list)


class Response(_Out):
    text: str
    status: ExecutionStatus
    trace_metadata: TraceMetadata
    action_result: ActionResult
    stage_metadata: StageMetadata = Field(default_factory=StageMetadata)
    ruleset_results: list[RulesetResult] = Field(default_factory=list)
    metric_results: dict[str, MetricComputation] = Field(default_factory=dict)
    metadata: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    error: str | None = Field(
        default=None, description="Why the request could not be executed (status `error`)."
    )
    api_version: str = API_VERSION

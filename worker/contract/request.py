"""The invocation record: what an application sends to be screened."""

from __future__ import annotations

import math
import uuid
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.contract.payload import Payload
from worker.contract.rules import (
    RULESETS_ALIASES,
    Ruleset,
    document_rulesets_alias,
    one_rulesets_key,
)

# Galileo's default: responsiveness can be traded for protection per request.
DEFAULT_TIMEOUT_S = 300.0


class Request(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=document_rulesets_alias,
    )

    payload: Payload
    prioritized_rulesets: list[Ruleset] | None = Field(
        default=None,
        validation_alias=RULESETS_ALIASES,
        description="Rulesets for a local stage, highest priority first (alias `rulesets`). "
        "An empty list means none given (Galileo's SDKs always send one): a central stage "
        "then runs its registered rulesets.",
    )
    project_id: uuid.UUID | None = None
    project_name: str | None = None
    stage_id: uuid.UUID | None = None
    stage_name: str | None = None
    stage_version: int | None = Field(
        default=None,
        description="The stage version to run (default: the latest). A version that does not "
        "exist (0 included) is answered `error`, naming the versions that do.",
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT_S,
        description="Seconds to wait for the metrics. 0 (or less) waits for none: metrics "
        "that are not already computed are `timeout`.",
    )
    metadata: dict[str, str] | None = None
    headers: dict[str, str] | None = None

    _one_rulesets_key = model_validator(mode="before")(one_rulesets_key)

    @field_validator("prioritized_rulesets")
    @classmethod
    def _empty_means_none(cls, rulesets: list[Ruleset] | None) -> list[Ruleset] | None:
        # Both Galileo SDKs turn "no rulesets" into `[]` on the wire, including their documented
        # central-stage call; only a non-empty list is a local stage's rulesets.
        return rulesets or None

    @field_validator("timeout")
    @classmethod
    def _timeout_is_a_number(cls, timeout: float) -> float:
        # Galileo's model takes any float; NaN has no meaning as a wait (and +inf waits for all).
        if math.isnan(timeout):
            raise ValueError("timeout must be a number of seconds, not NaN")
        return timeout

    @model_validator(mode="after")
    def _stage_addressable(self) -> Self:
        if self.stage_id is None:
            if not self.stage_name:
                raise ValueError("stage_id or stage_name is required")
            if self.project_id is None and not self.project_name:
                raise ValueError(
                    "project_id or project_name is required when the stage is named by stage_name"
                )
        return self

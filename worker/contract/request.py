"""The invocation record: what an application sends to be screened."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from worker.contract.payload import Payload
from worker.contract.rules import Ruleset

# Galileo's default: responsiveness can be traded for protection per request.
DEFAULT_TIMEOUT_S = 300.0


def _document_alias(schema: dict[str, Any]) -> None:
    # pydantic documents only the first of several validation aliases; the record accepts
    # Galileo's `rulesets` too, so the language-neutral schema must say so.
    properties = schema.get("properties", {})
    if "prioritized_rulesets" in properties:
        properties["rulesets"] = {
            **properties["prioritized_rulesets"],
            "description": "Alias of prioritized_rulesets.",
        }


class Request(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_extra=_document_alias
    )

    payload: Payload
    prioritized_rulesets: list[Ruleset] | None = Field(
        default=None,
        validation_alias=AliasChoices("prioritized_rulesets", "rulesets"),
        description="Rulesets for a local stage, highest priority first (alias `rulesets`).",
    )
    project_id: uuid.UUID | None = None
    project_name: str | None = None
    stage_id: uuid.UUID | None = None
    stage_name: str | None = None
    stage_version: Annotated[int, Field(ge=1)] | None = None
    timeout: Annotated[float, Field(gt=0)] = DEFAULT_TIMEOUT_S
    metadata: dict[str, str] | None = None
    headers: dict[str, str] | None = None

    @model_validator(mode="after")
    def _stage_addressable(self) -> Self:
        # Typed errors with fixed messages: a dead letter's detail can say what is wrong.
        if self.stage_id is None:
            if not self.stage_name:
                raise PydanticCustomError("stage_required", "stage_id or stage_name is required")
            if self.project_id is None and not self.project_name:
                raise PydanticCustomError(
                    "project_required",
                    "project_id or project_name is required when the stage is named by stage_name",
                )
        return self

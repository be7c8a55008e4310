"""Stages: named, versioned sets of prioritized rulesets within a project."""

from __future__ import annotations

import uuid
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from worker.contract.rules import (
    RULESETS_ALIASES,
    Ruleset,
    document_rulesets_alias,
    one_rulesets_key,
)
from worker.contract.statuses import StageType

# Ids are derived from names so every worker, CLI and in-process API computes the same id for the
# same project/stage without a coordinating service, and a stages file gives the same ids in every
# process. Galileo types its ids UUID4 (an id copied from one of our Responses into a Galileo-built
# request must validate), so the name's SHA-1 digest is stamped with version 4 rather than 5. The
# registry keeps the id it first saw for a name (ids given explicitly, e.g. a Galileo project's,
# and ids of records published before this scheme).
_PROJECT_NAMESPACE = uuid.UUID("9b1f6a34-0d8e-5c57-8f0c-4f1c2a7f3e10")

Name = Annotated[str, Field(min_length=1, max_length=256)]


def _name_id(namespace: uuid.UUID, name: str) -> uuid.UUID:
    return uuid.UUID(bytes=uuid.uuid5(namespace, name).bytes, version=4)


def project_id_for(project_name: str) -> uuid.UUID:
    return _name_id(_PROJECT_NAMESPACE, project_name)


def stage_id_for(project_id: uuid.UUID, stage_name: str) -> uuid.UUID:
    return _name_id(project_id, stage_name)


class StageDefinition(BaseModel):
    """What a governance team writes: Galileo's `create_stage` fields."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=document_rulesets_alias,
    )

    name: Name
    project_name: Name | None = None
    project_id: uuid.UUID | None = None
    description: str | None = None
    type: StageType = StageType.LOCAL
    paused: bool = False
    prioritized_rulesets: list[Ruleset] | None = Field(
        default=None,
        validation_alias=RULESETS_ALIASES,
        description="A central stage's rulesets, highest priority first (alias `rulesets`, "
        "as galileo-protect's create_stage sends them). Local stages take none.",
    )

    _one_rulesets_key = model_validator(mode="before")(one_rulesets_key)

    @model_validator(mode="after")
    def _rulesets_match_type(self) -> Self:
        if self.type is StageType.LOCAL and self.prioritized_rulesets:
            raise ValueError(
                "prioritized_rulesets: a local stage is registered without rulesets; each "
                "request brings its own (use type: central to manage rulesets here)"
            )
        return self


class Stage(BaseModel):
    """One immutable version of a registered stage: the stage record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    name: Name
    project_id: uuid.UUID
    project_name: Name | None = None
    description: str | None = None
    type: StageType = StageType.LOCAL
    paused: bool = False
    version: Annotated[int, Field(ge=1)] = 1
    prioritized_rulesets: list[Ruleset] = Field(default_factory=list)
    created_at: Annotated[int, Field(ge=0, description="ns since epoch")] = 0

    @model_validator(mode="after")
    def _local_without_rulesets(self) -> Self:
        if self.type is StageType.LOCAL and self.prioritized_rulesets:
            raise ValueError(
                "prioritized_rulesets: a local stage carries no rulesets; requests bring them"
            )
        return self


# protect-worker has no user accounts, but Galileo's StageDB requires `created_by` (the id of the
# user who created the stage): stages the management API returns carry this fixed id, which
# stands for the service itself. Its own namespace, so no project name can derive the same id.
SERVICE_USER_ID = _name_id(uuid.UUID("5d0c1f6e-8a47-4b8e-9d1a-3e6f2b7c9a01"), "protect-worker")


class StageResponse(Stage):
    """A stage version as the management API returns it (`create_stage`, `get_stage`, ...): the
    stage record plus Galileo's `created_by`, so galileo-core's StageDB and galileo-protect's
    StageResponse validate it. Returned in-process only; never written to a topic."""

    created_by: uuid.UUID = SERVICE_USER_ID

    @classmethod
    def of(cls, stage: Stage) -> StageResponse:
        return cls.model_validate(dict(stage))


class StageState(BaseModel):
    """The pause state of a stage (all its versions): the registry topic's state record.

    Kept apart from the version records so pausing never rewrites an immutable version, and so
    compaction keeps exactly one state per stage next to every version.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage_id: uuid.UUID
    paused: bool
    updated_at: Annotated[int, Field(ge=0, description="ns since epoch")]

"""Projects: the named groups that hold stages (Galileo's ProjectResponse)."""

from __future__ import annotations

import uuid
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker.contract.stage import Name

# Galileo's ProjectType for Protect projects; the only kind this service holds.
PROTECT_PROJECT_TYPE: Final = "protect"


class Project(BaseModel):
    """A project record: the registry topic's `project/<id>` record and what the API returns.

    Validates as galileo-core's ProjectResponse (`id`, `name`, `type`). Projects are immutable:
    there is no rename, so the record is written once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    name: Name
    type: Literal["protect"] = PROTECT_PROJECT_TYPE
    created_at: Annotated[int, Field(ge=0, description="ns since epoch")] = 0

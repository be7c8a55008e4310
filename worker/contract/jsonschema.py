"""JSON Schema files of the records on every topic: the language-neutral contract.

`protect schemas` writes them to `schemas/`; a test fails when the committed files drift from the
models.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel

from worker.contract.notification import Delivery
from worker.contract.project import Project
from worker.contract.request import Request
from worker.contract.response import Response
from worker.contract.stage import Stage, StageDefinition, StageState

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

# file name -> (model, mode): inputs are described as accepted, outputs as emitted.
SCHEMAS: dict[str, tuple[type[BaseModel], Literal["validation", "serialization"]]] = {
    "request.schema.json": (Request, "validation"),
    "response.schema.json": (Response, "serialization"),
    "stage.schema.json": (Stage, "validation"),
    # What a stages file's `stages:` entries and Galileo's create_stage bodies hold.
    "stage-definition.schema.json": (StageDefinition, "validation"),
    "stage-state.schema.json": (StageState, "validation"),
    "project.schema.json": (Project, "validation"),
    "notification.schema.json": (Delivery, "serialization"),
}


def render(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> str:
    schema = {"$schema": _DRAFT, **model.model_json_schema(mode=mode)}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    return {name: render(model, mode) for name, (model, mode) in SCHEMAS.items()}

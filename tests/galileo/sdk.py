"""Galileo's own code, as our tests drive it: SDK clients, request bodies, Response parsing."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from galileo.protect import Protect as GalileoProtect
from galileo.resources.models.invoke_response import InvokeResponse
from galileo.resources.models.stage_with_rulesets import (
    StageWithRulesets as ApiStageWithRulesets,
)
from galileo_core.helpers.api_client import ApiClient
from galileo_core.schemas.protect.response import Response as GalileoResponse
from galileo_core.schemas.protect.ruleset import Ruleset
from galileo_core.schemas.protect.stage import StageType, StageWithRulesets


def galileo_client(api_url: str) -> GalileoProtect:
    """galileo 2.7's `Protect` (what `galileo.protect.ainvoke_protect` uses), sending to `api_url`.

    Its constructor reads `GalileoPythonConfig.get()`, which logs in to Galileo's console; the
    instance is built without it and given an API client for the loopback API instead. Every
    line of `ainvoke` (the body it builds, the HTTP call, the parsing of the answer) is theirs.
    """
    client = GalileoProtect.__new__(GalileoProtect)
    client.config = SimpleNamespace(api_client=ApiClient(host=api_url, jwt_token="test"))
    return client


def stages_create_body(
    *,
    project_id: str,
    name: str,
    stage_type: StageType = StageType.local,
    pause: bool = False,
    prioritized_rulesets: Sequence[Ruleset] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The body galileo 2.7's `Stages.create` (`create_protect_stage`) POSTs.

    Its body-building lines, with its classes, replicated: `create` first resolves the project
    through Galileo's hosted projects API, which has no stand-in here.
    """
    request = StageWithRulesets(
        name=name,
        project_id=project_id,
        type=stage_type,
        paused=pause,
        description=description,
        prioritized_rulesets=prioritized_rulesets or [],
    )
    request_dict = request.model_dump(mode="json")
    request_dict["prioritized_rulesets"] = request_dict.pop("rulesets", [])
    body: dict[str, Any] = ApiStageWithRulesets.from_dict(request_dict).to_dict()
    return body


def parse_with_galileo(document: dict[str, Any]) -> tuple[GalileoResponse, InvokeResponse]:
    """A Response document as galileo-core's `Response` and galileo's typed `InvokeResponse`
    read it; either raises if the document is not one they accept."""
    return GalileoResponse.model_validate(document), InvokeResponse.from_dict(document)

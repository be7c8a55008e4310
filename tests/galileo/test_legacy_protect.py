"""Legacy galileo-protect 1.0.1 (galileo-core 3.x, in a venv of its own): its create_stage and
invoke bodies through the loopback API, then through StageDefinition, a stages file and Request."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.galileo.api import GalileoApi
from tests.galileo.factories import BANNED_TOPICS, PROJECT_ID, PROJECT_NAME
from tests.galileo.sdk import parse_with_galileo
from worker.contract.request import Request
from worker.contract.stage import StageDefinition
from worker.contract.statuses import ExecutionStatus, StageType
from worker.runtime import Protect

SCRIPT = Path(__file__).with_name("legacy_protect.py")


def run_legacy(python: Path, api: GalileoApi) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(SCRIPT), api.url, PROJECT_ID],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


async def test_legacy_create_stage_and_invoke_bodies_work_end_to_end(
    legacy_python: Path, galileo_api: GalileoApi, tmp_path: Path
) -> None:
    returned = run_legacy(legacy_python, galileo_api)

    stage_calls = galileo_api.at("/stages")
    assert [call.status for call in stage_calls] == [200, 200]
    central_body, local_body = (call.body for call in stage_calls)
    # galileo-protect names the field `rulesets`, and sends `[]` for a local stage.
    assert "rulesets" in central_body
    assert "prioritized_rulesets" not in central_body
    assert local_body["rulesets"] == []
    assert [s["name"] for s in returned["stages"]] == ["legacy-central", "legacy-local"]

    invoke_calls = galileo_api.at("/protect/invoke")
    central_call, local_call = invoke_calls
    assert central_call.body["rulesets"] == []  # the documented central-stage call
    assert central_call.body["stage_id"] == returned["stages"][0]["id"]  # kept by its config
    # What galileo-protect returned, parsed by its galileo-core 3.x Response (upper-case status).
    assert (returned["central"]["status"], returned["central"]["text"]) == (
        "TRIGGERED",
        "No weapons.",
    )
    assert returned["local"]["status"] == "TRIGGERED"
    for call in invoke_calls:
        parse_with_galileo(call.answer)

    # The same bodies through our models and a stages file, without the loopback API.
    definitions = [StageDefinition.model_validate(body) for body in (central_body, local_body)]
    assert definitions[0].type is StageType.CENTRAL
    assert definitions[0].prioritized_rulesets
    assert definitions[1].prioritized_rulesets == []
    path = tmp_path / "legacy-stages.json"
    path.write_text(
        json.dumps(
            {
                "project": PROJECT_NAME,
                "metrics": [BANNED_TOPICS],
                "stages": [central_body, local_body],
            }
        ),
        "utf-8",
    )
    protect = Protect.from_file(path, seed=0)
    central = await protect.ainvoke(Request.model_validate(central_call.body))
    local = await protect.ainvoke(Request.model_validate(local_call.body))
    assert (central.status, central.text) == (ExecutionStatus.TRIGGERED, "No weapons.")
    assert local.status is ExecutionStatus.TRIGGERED
    assert Request.model_validate(central_call.body).prioritized_rulesets is None  # `[]`: none

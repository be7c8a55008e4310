"""Run legacy galileo-protect 1.0.1 against the loopback API (this file runs in its own venv).

`python legacy_protect.py API_URL PROJECT_ID` calls galileo-protect's own `create_stage` and
`invoke` (central and local stage) and prints what they returned, parsed by galileo-protect's
models, as one JSON document. galileo-protect needs galileo-core 3.x, which cannot share the
project's venv, so tests/galileo/test_legacy_protect.py runs this by subprocess.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import jwt
from galileo_core.helpers.api_client import ApiClient
from galileo_core.schemas.protect.stage import StageType
from galileo_protect import (
    OverrideAction,
    Payload,
    ProtectConfig,
    Rule,
    RuleOperator,
    Ruleset,
    create_stage,
    invoke,
)
from galileo_protect.schemas import config as config_module
from pydantic import SecretStr

CENTRAL = "legacy-central"
LOCAL = "legacy-local"


def point_at(api_url: str) -> None:
    """galileo-protect's configuration, without its login to Galileo's console."""
    token = SecretStr(jwt.encode({"exp": time.time() + 3600}, "test", algorithm="HS256"))
    config_module._protect_config = ProtectConfig.model_construct(
        validated_api_client=ApiClient(host=api_url, jwt_token=token),
        jwt_token=token,
    )


def main(api_url: str, project_id: str) -> dict[str, Any]:
    point_at(api_url)
    weapons = Ruleset(
        rules=[Rule(metric="banned_topics", operator=RuleOperator.any, target_value=["weapons"])],
        action=OverrideAction(choices=["No weapons."]),
    )
    stage = create_stage(
        project_id=project_id,
        name=CENTRAL,
        type=StageType.central,
        prioritized_rulesets=[weapons],
        description="legacy central stage",
    )
    # The documented central-stage call: no rulesets (sent as `rulesets: []`); galileo-protect
    # also sends the stage id its config kept from create_stage.
    central = invoke(
        payload=Payload(input="a bomb"),
        project_id=project_id,
        stage_name=CENTRAL,
    )
    # A local stage is created without rulesets; each call brings them.
    local_stage = create_stage(project_id=project_id, name=LOCAL)
    local = invoke(
        payload=Payload(input="a rifle"),
        prioritized_rulesets=[weapons],
        project_id=project_id,
        stage_name=LOCAL,
    )
    return {
        "stages": [stage.model_dump(mode="json"), local_stage.model_dump(mode="json")],
        "central": central.model_dump(mode="json"),
        "local": local.model_dump(mode="json"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))

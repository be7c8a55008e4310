"""Galileo's SDK (galileo 2.7, galileo-core 4.5) against us: its objects through `invoke_protect`,
its HTTP client through the loopback API, and the bodies it sends through `protect invoke`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from galileo_core.schemas.protect.action import OverrideAction, PassthroughAction
from galileo_core.schemas.protect.payload import Payload
from galileo_core.schemas.protect.response import Response as GalileoResponse
from galileo_core.schemas.protect.rule import Rule, RuleOperator
from galileo_core.schemas.protect.ruleset import Ruleset
from galileo_core.schemas.protect.subscription_config import SubscriptionConfig

from tests.cli.test_invoke import protect as run_protect_cli
from tests.galileo.api import GalileoApi
from tests.galileo.factories import (
    CENTRAL,
    HOOK,
    LOCAL,
    PROJECT_ID,
    PROJECT_NAME,
    WEAPONS_REFUSAL,
    any_topic_ruleset,
    gambling_ruleset,
    weapons_ruleset,
)
from tests.galileo.sdk import galileo_client, parse_with_galileo
from worker import configure, invoke_protect
from worker.contract.actions import OverrideAction as OurOverride
from worker.contract.statuses import ActionType, ExecutionStatus
from worker.runtime import Protect

S = ExecutionStatus


async def test_sdk_central_stage_call_sends_an_empty_rulesets_list_and_runs_the_stage(
    galileo_api: GalileoApi,
) -> None:
    client = galileo_client(galileo_api.url)
    # galileo's documented central-stage call: no rulesets (sent as `[]`).
    blocked = await client.ainvoke(
        payload=Payload(input="how do I build a bomb"), project_id=PROJECT_ID, stage_name=CENTRAL
    )
    flagged = await client.ainvoke(
        payload=Payload(input="best casino odds?"), project_name=PROJECT_NAME, stage_name=CENTRAL
    )
    clean = await client.ainvoke(
        payload=Payload(input="how do I bake bread"), project_id=PROJECT_ID, stage_name=CENTRAL
    )
    (body, *_) = galileo_api.bodies("/protect/invoke")
    assert body["prioritized_rulesets"] == []
    for answer in (blocked, flagged, clean):
        assert isinstance(answer, GalileoResponse), answer  # parsed by galileo's own code
    assert isinstance(blocked, GalileoResponse)
    assert (blocked.status.value, blocked.text) == ("triggered", WEAPONS_REFUSAL)
    assert isinstance(flagged, GalileoResponse)
    assert (flagged.status.value, flagged.text) == ("triggered", "best casino odds?")
    assert isinstance(clean, GalileoResponse)
    assert clean.status.value == "not_triggered"


async def test_sdk_local_stage_call_with_galileo_rulesets(galileo_api: GalileoApi) -> None:
    client = galileo_client(galileo_api.url)
    answer = await client.ainvoke(
        payload=Payload(input="a rifle for sale", output="We sell rifles."),
        prioritized_rulesets=[any_topic_ruleset(), weapons_ruleset()],
        project_id=PROJECT_ID,
        stage_name=LOCAL,
        timeout=5,
        metadata={"user": "42"},
        headers={"x-trace": "t1"},
    )
    assert isinstance(answer, GalileoResponse)
    # The first-listed triggered ruleset (a passthrough) gives the action: the payload text.
    assert (answer.status.value, answer.text) == ("triggered", "We sell rifles.")
    extra = answer.model_extra or {}
    assert extra["metadata"] == {"user": "42"}
    assert extra["headers"] == {"x-trace": "t1"}
    assert [r["status"] for r in extra["ruleset_results"]] == ["triggered", "triggered"]
    (call,) = galileo_api.at("/protect/invoke")
    parse_with_galileo(call.answer)


async def test_sdk_call_for_an_unknown_stage_is_an_error_galileo_parses(
    galileo_api: GalileoApi,
) -> None:
    client = galileo_client(galileo_api.url)
    answer = await client.ainvoke(
        payload=Payload(input="hi"), project_id=PROJECT_ID, stage_name="nope", stage_version=3
    )
    assert isinstance(answer, GalileoResponse)
    assert answer.status.value == "error"
    extra = answer.model_extra or {}
    assert "not found" in extra["error"]
    (call,) = galileo_api.at("/protect/invoke")
    _, typed = parse_with_galileo(call.answer)
    assert (typed.stage_metadata.stage_name, typed.stage_metadata.stage_version) == ("nope", 3)


@pytest.fixture
def configured(galileo_stages_file: Path) -> Iterator[None]:
    configure(galileo_stages_file, seed=0)
    yield
    configure(None)


@pytest.mark.usefixtures("configured")
def test_invoke_protect_takes_galileo_core_models_unchanged() -> None:
    # Exactly a Galileo user's call, with only the import line of invoke_protect changed.
    response = invoke_protect(
        payload=Payload(input="where is the casino"),
        prioritized_rulesets=[
            Ruleset(
                rules=[
                    Rule(metric="banned_topics", operator=RuleOperator.all, target_value=[]),
                    Rule(
                        metric="banned_topics",
                        operator=RuleOperator.contains,
                        target_value="gambling",
                    ),
                ],
                action=OverrideAction(
                    choices=["No gambling talk."],
                    subscriptions=[SubscriptionConfig(url=HOOK, statuses=["triggered", "error"])],
                ),
                description="gambling",
            ),
            Ruleset(
                rules=[
                    Rule(metric="banned_topics", operator=RuleOperator.empty, target_value=None)
                ],
                action=PassthroughAction(),
            ),
        ],
        project_id=PROJECT_ID,
        stage_name=LOCAL,
        timeout=10,
    )
    assert (response.status, response.text) == (S.TRIGGERED, "No gambling talk.")
    action = response.ruleset_results[0].action
    assert isinstance(action, OurOverride)
    assert [str(s.url) for s in action.subscriptions] == [HOOK]
    assert action.subscriptions[0].statuses == [S.TRIGGERED, S.ERROR]
    parse_with_galileo(response.model_dump(mode="json"))

    # A central stage, as the SDK calls it: `prioritized_rulesets=[]`.
    central = invoke_protect(
        payload=Payload(input="a bomb"),
        prioritized_rulesets=[],
        project_id=PROJECT_ID,
        stage_name=CENTRAL,
    )
    assert (central.status, central.text) == (S.TRIGGERED, WEAPONS_REFUSAL)
    assert central.action_result.type is ActionType.OVERRIDE


def test_stage_bodies_of_galileo_stages_create_load_as_a_stages_file(
    galileo_protect: Protect,
) -> None:
    stage = galileo_protect.stages.get(stage_name=CENTRAL, project_name=PROJECT_NAME)
    assert str(stage.project_id) == PROJECT_ID
    assert [type(rs.action).__name__ for rs in stage.prioritized_rulesets] == [
        "OverrideAction",
        "PassthroughAction",  # galileo-core's `action=None`
    ]
    assert (
        stage.prioritized_rulesets[1].rules[0].target_value
        == gambling_ruleset().rules[0].target_value
    )
    local = galileo_protect.stages.get(stage_name=LOCAL, project_id=stage.project_id)
    assert local.prioritized_rulesets == []


async def test_cli_invokes_request_bodies_the_sdk_sent(
    galileo_api: GalileoApi, galileo_stages_file: Path, tmp_path: Path
) -> None:
    client = galileo_client(galileo_api.url)
    sdk_answers = [
        await client.ainvoke(
            payload=Payload(input="how do I build a bomb"),
            project_id=PROJECT_ID,
            stage_name=CENTRAL,
        ),
        await client.ainvoke(
            payload=Payload(input="casino tonight?"),
            prioritized_rulesets=[gambling_ruleset()],
            project_id=PROJECT_ID,
            stage_name=LOCAL,
        ),
    ]
    bodies = galileo_api.bodies("/protect/invoke")
    assert len(bodies) == 2
    for i, (body, sdk_answer) in enumerate(zip(bodies, sdk_answers, strict=True)):
        path = tmp_path / f"request-{i}.json"
        path.write_text(json.dumps(body), "utf-8")
        result = run_protect_cli(
            "invoke", "--stages", str(galileo_stages_file), "--request", str(path), "--seed", "0"
        )
        assert result.returncode == 0, result.stderr
        core, _ = parse_with_galileo(json.loads(result.stdout))
        assert isinstance(sdk_answer, GalileoResponse)
        assert (core.status, core.text) == (sdk_answer.status, sdk_answer.text)

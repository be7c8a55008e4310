"""Regression tests of the mismatches the review with Galileo's packages found (issue 9), each
checked against what Galileo's own models accept where that is the question.

Items tested elsewhere in this package: 2 (galileo-core objects through invoke_protect) in
test_sdk.py, 6 (complete stage_metadata) in test_responses.py, 7 (Galileo's metric names) in
test_metric_names.py, 9 (operator semantics) in test_operator_grid.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from galileo_core.schemas.protect.request import Request as GalileoRequest
from galileo_core.schemas.protect.ruleset import Ruleset as GalileoRuleset
from galileo_core.schemas.protect.stage import StageWithRulesets
from pydantic import ValidationError

from tests.conftest import ProtectFactory
from tests.factories import central, make_request, override, ruleset
from tests.scorers import SlowScorer, keyword_labels, score
from worker.contract.actions import OverrideAction, PassthroughAction
from worker.contract.request import Request
from worker.contract.rules import Rule, Ruleset
from worker.contract.stage import Stage, StageDefinition
from worker.contract.statuses import ExecutionStatus, MetricStatus, RuleOperator, StageType
from worker.contract.validation import describe
from worker.errors import StageNotFoundError, UnknownMetricError
from worker.metrics.base import ValueKind
from worker.metrics.registry import MetricRegistry, can_trigger
from worker.runtime import Protect
from worker.stages.files import load_stages_file

S = ExecutionStatus
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def galileo_accepts_ruleset(document: dict[str, Any]) -> GalileoRuleset:
    return GalileoRuleset.model_validate(document)


# -- 1. an empty rulesets list means "none given" -------------------------------------------------


@pytest.mark.parametrize("key", ["prioritized_rulesets", "rulesets"])
def test_an_empty_rulesets_list_is_none(key: str) -> None:
    document = {"payload": {"input": "hi"}, "stage_name": "s", "project_name": "p", key: []}
    GalileoRequest.model_validate(document)
    assert Request.model_validate(document).prioritized_rulesets is None


async def test_empty_list_runs_a_central_stage_errors_an_unknown_or_local_one(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory(
        [score(0.9)],
        stages=[
            central("guard", ruleset(("score_metric", "gt", 0.5), action=override("no"))),
            {"name": "local"},
        ],
    )
    ran = await protect.ainvoke(make_request("hi", stage="guard", rulesets=[]))
    assert (ran.status, ran.text) == (S.TRIGGERED, "no")

    unknown = await protect.ainvoke(make_request("hi", stage="new-stage", rulesets=[]))
    assert unknown.status is S.ERROR
    assert unknown.error == "stage 'new-stage' not found in project 'tests'"
    with pytest.raises(StageNotFoundError):  # no local stage was created for it
        protect.stages.get(stage_name="new-stage", project_name="tests")

    no_rulesets: list[list[dict[str, Any]] | None] = [[], None]
    for rulesets in no_rulesets:
        local = await protect.ainvoke(make_request("hi", stage="local", rulesets=rulesets))
        assert local.status is S.ERROR
        assert local.error == (
            "stage 'local' is a local stage: the request must carry prioritized_rulesets"
        )


# -- 3. a falsy action is a passthrough -----------------------------------------------------------


@pytest.mark.parametrize("action", [None, {}, "", 0, False, []])
def test_a_falsy_action_is_a_passthrough_as_in_galileo(action: Any) -> None:
    document = {"rules": [{"metric": "m", "operator": "empty"}], "action": action}
    assert type(galileo_accepts_ruleset(document).action).__name__ == "PassthroughAction"
    assert Ruleset.model_validate(document).action == PassthroughAction()


@pytest.mark.parametrize("action", ["OVERRIDE", 5, [1], {"type": ["x"]}, {"type": "BLOCK"}])
def test_other_actions_are_refused_as_validation_errors_naming_the_field(action: Any) -> None:
    with pytest.raises(ValidationError) as info:  # never an AttributeError, which stops a worker
        Request.model_validate(
            {
                "payload": {"input": "hi"},
                "stage_name": "s",
                "project_name": "p",
                "prioritized_rulesets": [
                    {"rules": [{"metric": "m", "operator": "empty"}], "action": action}
                ],
            }
        )
    assert describe(info.value).startswith("prioritized_rulesets[0].action: ")


def test_null_action_in_a_stages_file_and_a_registry_record(tmp_path: Path) -> None:
    path = tmp_path / "stages.yaml"
    path.write_text(
        "stages:\n  - name: g\n    type: central\n    prioritized_rulesets:\n"
        "      - rules: [{metric: input_secrets, operator: not_empty}]\n        action: null\n"
    )
    (definition,) = load_stages_file(path).stages
    assert definition.prioritized_rulesets
    assert definition.prioritized_rulesets[0].action == PassthroughAction()
    protect = Protect.from_file(path)
    stage = protect.stages.get(stage_name="g", project_name="default")
    # The registry topic's record, with the null a non-Python producer may write.
    record = json.loads(stage.model_dump_json())
    record["prioritized_rulesets"][0]["action"] = None
    assert Stage.model_validate(record) == stage


# -- 4. `rulesets` in stage definitions -----------------------------------------------------------


def test_stage_definition_takes_galileo_protects_rulesets_key_and_the_schema_says_so() -> None:
    body = StageWithRulesets.model_validate(
        {
            "name": "g",
            "project_id": "6f1c1f0e-2b7a-4c8e-9d4f-0a1b2c3d4e5f",
            "type": "central",
            "prioritized_rulesets": [{"rules": [{"metric": "pii", "operator": "not_empty"}]}],
        }
    ).model_dump(mode="json")
    assert "rulesets" in body  # what galileo-protect's create_stage sends
    definition = StageDefinition.model_validate(body)
    assert definition.prioritized_rulesets
    assert definition.prioritized_rulesets[0].rules[0].metric == "pii"
    schema = json.loads((SCHEMAS / "stage-definition.schema.json").read_text("utf-8"))
    assert schema["properties"]["rulesets"]["description"] == "Alias of prioritized_rulesets."
    jsonschema.validate(body, schema)
    with pytest.raises(ValidationError, match="not both"):
        StageDefinition.model_validate({**body, "prioritized_rulesets": []})


# -- 5. empty / not_empty with a target -----------------------------------------------------------


def test_empty_with_a_target_never_triggers_and_registration_warns() -> None:
    assert not Rule(metric="m", operator=RuleOperator.EMPTY, target_value="x").evaluate([])
    assert not Rule(metric="m", operator=RuleOperator.NOT_EMPTY, target_value=[]).evaluate(["a"])
    assert not can_trigger(ValueKind.LABELS, RuleOperator.EMPTY, "x")
    assert can_trigger(ValueKind.LABELS, RuleOperator.EMPTY, None)
    warnings = MetricRegistry([keyword_labels()]).validate_rulesets(
        [Ruleset.model_validate({"rules": [_rule("words", "not_empty", ["a"])]})]
    )
    assert [w.field for w in warnings] == ["prioritized_rulesets[0].rules[0]"]
    assert "can never trigger" in warnings[0].message


# -- 8. edge values Galileo's models accept -------------------------------------------------------


def test_null_target_is_accepted_never_triggers_and_warns() -> None:
    document = {"rules": [_rule("score_metric", "gt", None)]}
    galileo_accepts_ruleset(document)
    parsed = Ruleset.model_validate(document)
    assert parsed.rules[0].target_value is None
    assert not parsed.rules[0].evaluate(0.9)
    (warning,) = MetricRegistry([score(0.9)]).validate_rulesets([parsed])
    assert "with target None can never trigger" in warning.message
    # Leaving target_value out stays refused (galileo-core requires the key too).
    with pytest.raises(ValidationError, match="target_value is required"):
        Rule.model_validate({"metric": "m", "operator": "gt"})


def test_list_targets_take_any_json_items_and_registration_warns_about_non_labels() -> None:
    document = {"rules": [_rule("words", "any", ["a", 1, None, [2]])]}
    galileo_accepts_ruleset(document)
    parsed = Ruleset.model_validate(document)
    assert parsed.rules[0].evaluate(["a"])
    warnings = MetricRegistry([keyword_labels()]).validate_rulesets([parsed])
    assert any("are not labels" in w.message for w in warnings)


def test_empty_metric_name_is_refused_at_registration_and_answered_error(
    protect_factory: ProtectFactory,
) -> None:
    document = {"rules": [_rule("", "gt", 0.5)]}
    galileo_accepts_ruleset(document)
    with pytest.raises(UnknownMetricError, match="unknown metric ''"):
        MetricRegistry([score(0.5)]).validate_rulesets([Ruleset.model_validate(document)])


async def test_empty_metric_name_in_a_request_is_an_error_response(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(make_request("hi", rulesets=[ruleset(("", "gt", 0.5))]))
    assert response.status is S.ERROR
    assert (response.error or "").startswith("unknown metric ''")


async def test_an_empty_override_choice_replaces_the_text_with_nothing(
    protect_factory: ProtectFactory,
) -> None:
    document = {"rules": [_rule("score_metric", "gt", 0.5)], "action": override("")}
    galileo_accepts_ruleset(document)
    assert Ruleset.model_validate(document).action == OverrideAction(choices=[""])
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(make_request("hi", rulesets=[document]))
    assert (response.status, response.text, response.action_result.value) == (S.TRIGGERED, "", "")


@pytest.mark.parametrize("timeout", [0, -1.5])
async def test_a_zero_or_negative_timeout_waits_for_nothing(
    protect_factory: ProtectFactory, timeout: float
) -> None:
    GalileoRequest.model_validate({**_request_fields(), "timeout": timeout})
    protect = protect_factory([SlowScorer("slow", delay=30.0), score(0.9)])
    response = await protect.ainvoke(
        make_request(
            "hi",
            timeout=timeout,
            rulesets=[ruleset(("slow", "gt", 0.5)), ruleset(("score_metric", "gt", 0.5))],
        )
    )
    # The inline metric was computed before any waiting; the slow one is not waited for.
    assert response.status is S.TRIGGERED
    assert response.metric_results["slow"].status is MetricStatus.TIMEOUT
    assert response.metric_results["score_metric"].status is MetricStatus.SUCCESS
    alone = await protect.ainvoke(
        make_request("hi", timeout=timeout, rulesets=[ruleset(("slow", "gt", 0.5))])
    )
    assert alone.status is S.TIMEOUT


async def test_an_infinite_timeout_waits_for_every_metric(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([SlowScorer("slow", delay=0.0)])
    response = await protect.ainvoke(
        make_request("hi", timeout=math.inf, rulesets=[ruleset(("slow", "gt", 0.5))])
    )
    assert response.status is S.TRIGGERED


def test_a_nan_timeout_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Request.model_validate({**_request_fields(), "timeout": math.nan})
    assert describe(info.value) == "timeout: timeout must be a number of seconds, not NaN"


@pytest.mark.parametrize("version", [0, -1])
async def test_a_version_that_cannot_exist_is_an_error_naming_the_versions(
    protect_factory: ProtectFactory, version: int
) -> None:
    GalileoRequest.model_validate({**_request_fields(), "stage_version": version})
    protect = protect_factory(
        [score(0.9)], stages=[central("guard", ruleset(("score_metric", "gt", 0.5)))]
    )
    response = await protect.ainvoke(make_request("hi", stage="guard", stage_version=version))
    assert response.status is S.ERROR
    assert response.error == f"stage 'guard' has no version {version} (versions 1..1)"
    assert response.stage_metadata.stage_version == version
    assert response.stage_metadata.stage_type is StageType.CENTRAL


def _rule(metric: str, operator: str, target: Any) -> dict[str, Any]:
    return {"metric": metric, "operator": operator, "target_value": target}


def _request_fields() -> dict[str, Any]:
    return {"payload": {"input": "hi"}, "stage_name": "s", "project_name": "p"}

"""Wire models: validation that names the field, case-insensitive enums, Galileo shapes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from worker.contract import (
    ActionType,
    ExecutionStatus,
    OverrideAction,
    PassthroughAction,
    Payload,
    Request,
    Rule,
    RuleOperator,
    Ruleset,
    Stage,
    StageDefinition,
    StageType,
    Subscription,
)
from worker.contract.validation import describe


def _error(model: Any, data: Any) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe(info.value)


REQUEST = {"payload": {"input": "hi"}, "stage_name": "s", "project_name": "p"}


@pytest.mark.parametrize(
    ("model", "data", "names"),
    [
        (Rule, {"metric": "pii", "operator": "contains"}, "target_value"),
        (Rule, {"metric": "pii", "operator": "startswith", "target_value": "x"}, "operator"),
        (Rule, {"metric": "m", "operator": "eq", "target_value": {"a": 1}}, "target_value"),
        (Rule, {"metric": "m", "operator": "eq", "target_value": True}, "target_value"),
        (Rule, {"metric": "m", "operator": "eq", "target_value": "x", "extra": 1}, "extra"),
        (Ruleset, {"rules": []}, "rules"),
        (
            Ruleset,
            {
                "rules": [{"metric": "m", "operator": "gt", "target_value": 1}],
                "action": {"type": "BLOCK"},
            },
            "action",
        ),
        (
            Ruleset,
            {
                "rules": [{"metric": "m", "operator": "gt", "target_value": 1}],
                "action": {"type": "OVERRIDE", "choices": []},
            },
            "action.choices",
        ),
        (
            Ruleset,
            {
                "rules": [{"metric": "m", "operator": "gt", "target_value": 1}],
                "action": {"type": "OVERRIDE"},
            },
            "action.choices",
        ),
        (Subscription, {"url": "ftp://x"}, "url"),
        (Subscription, {"url": "https://x", "statuses": ["bogus"]}, "statuses[0]"),
        (Payload, {}, "input"),
        (Payload, {"input": "", "output": ""}, "output"),
        (Request, {"payload": {"input": "hi"}}, "stage_name"),
        (Request, {"payload": {"input": "hi"}, "stage_name": "s"}, "project_name"),
        (Request, {**REQUEST, "timeout": float("nan")}, "timeout"),
        (Request, {**REQUEST, "stage_version": "latest"}, "stage_version"),
        (Request, {**REQUEST, "stage_id": "not-a-uuid"}, "stage_id"),
        (Request, {**REQUEST, "metadata": {"k": 1}}, "metadata.k"),
        (Request, {**REQUEST, "payload": {"input": 5}}, "payload.input"),
        (
            Request,
            {**REQUEST, "rulesets": [{"rules": [{"metric": "m", "operator": "gt"}]}]},
            "rulesets[0].rules[0]",
        ),
        (
            StageDefinition,
            {
                "name": "s",
                "type": "local",
                "prioritized_rulesets": [
                    {"rules": [{"metric": "m", "operator": "gt", "target_value": 1}]}
                ],
            },
            "prioritized_rulesets",
        ),
        (StageDefinition, {"name": "s", "type": "regional"}, "type"),
        (StageDefinition, {"name": ""}, "name"),
    ],
)
def test_validation_error_names_the_field(model: Any, data: Any, names: str) -> None:
    assert names in _error(model, data)


def test_statuses_accepted_in_any_case_and_emitted_lower_case() -> None:
    sub = Subscription.model_validate({"url": "https://h/x", "statuses": ["TRIGGERED", "Error"]})
    assert sub.statuses == [ExecutionStatus.TRIGGERED, ExecutionStatus.ERROR]
    assert json.loads(sub.model_dump_json())["statuses"] == ["triggered", "error"]
    assert Rule.model_validate({"metric": "m", "operator": "NOT_EMPTY"}).operator is (
        RuleOperator.NOT_EMPTY
    )
    assert StageDefinition.model_validate({"name": "s", "type": "CENTRAL"}).type is (
        StageType.CENTRAL
    )


def test_action_discriminated_on_type_in_any_case() -> None:
    rules = [{"metric": "m", "operator": "gt", "target_value": 1}]
    over = Ruleset.model_validate(
        {"rules": rules, "action": {"type": "override", "choices": ["no"]}}
    )
    assert isinstance(over.action, OverrideAction)
    assert json.loads(over.model_dump_json())["action"]["type"] == "OVERRIDE"
    default = Ruleset.model_validate({"rules": rules})
    assert isinstance(default.action, PassthroughAction)
    assert default.action.type is ActionType.PASSTHROUGH
    untyped = Ruleset.model_validate({"rules": rules, "action": {}})
    assert isinstance(untyped.action, PassthroughAction)


def test_subscription_defaults_to_triggered_and_drops_paused_with_a_warning() -> None:
    assert Subscription(url="https://h/x").statuses == [ExecutionStatus.TRIGGERED]
    with pytest.warns(UserWarning, match="paused"):
        sub = Subscription.model_validate({"url": "https://h/x", "statuses": ["paused", "error"]})
    assert sub.statuses == [ExecutionStatus.ERROR]


def test_request_accepts_rulesets_alias_and_galileo_fields() -> None:
    rulesets = [{"rules": [{"metric": "pii", "operator": "contains", "target_value": "ssn"}]}]
    by_alias = Request.model_validate({**REQUEST, "rulesets": rulesets})
    by_name = Request.model_validate({**REQUEST, "prioritized_rulesets": rulesets})
    assert by_alias.prioritized_rulesets == by_name.prioritized_rulesets
    assert by_alias.prioritized_rulesets is not None
    assert by_alias.timeout == 300.0
    stage_id = uuid.uuid4()
    assert (
        Request.model_validate({"payload": {"output": "x"}, "stage_id": str(stage_id)}).stage_id
        == stage_id
    )


def test_rule_target_types_are_strict() -> None:
    # "0.5" stays a string: galileo-core semantics differ for str and number targets.
    assert (
        Rule.model_validate({"metric": "m", "operator": "gt", "target_value": "0.5"}).target_value
        == "0.5"
    )
    assert (
        Rule.model_validate({"metric": "m", "operator": "eq", "target_value": 1}).target_value == 1
    )


def test_payload_text_prefers_output() -> None:
    assert Payload(input="q", output="a").text == "a"
    assert Payload(input="q").text == "q"
    assert Payload(output="a").text == "a"


def test_stage_record_round_trips() -> None:
    stage = Stage.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "s",
            "project_id": str(uuid.uuid4()),
            "type": "central",
            "version": 2,
            "prioritized_rulesets": [
                {
                    "rules": [{"metric": "m", "operator": "gt", "target_value": 0.5}],
                    "action": {
                        "type": "OVERRIDE",
                        "choices": ["x"],
                        "subscriptions": [{"url": "https://h/x"}],
                    },
                }
            ],
        }
    )
    assert Stage.model_validate_json(stage.model_dump_json()) == stage

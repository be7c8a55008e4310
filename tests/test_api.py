"""The Galileo-style in-process API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import worker
from worker import ExecutionStatus, Payload, ainvoke_protect, configure, invoke_protect

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "stages.yaml"

PUBLIC = {
    "ActionResult",
    "ActionType",
    "ExecutionStatus",
    "MetricComputation",
    "OverrideAction",
    "PassthroughAction",
    "Payload",
    "Project",
    "Protect",
    "Request",
    "Response",
    "Rule",
    "RuleOperator",
    "RuleResult",
    "Ruleset",
    "RulesetResult",
    "Stage",
    "StageDefinition",
    "StageMetadata",
    "StageResponse",
    "StageType",
    "Subscription",
    "TraceMetadata",
    "ainvoke_protect",
    "configure",
    "invoke_protect",
    # Galileo's project and stage functions (worker.management), and their coroutines.
    "acreate_project",
    "acreate_stage",
    "aget_project",
    "aget_projects",
    "aget_stage",
    "apause_stage",
    "aresume_stage",
    "aupdate_stage",
    "create_project",
    "create_protect_stage",
    "create_stage",
    "get_project",
    "get_projects",
    "get_protect_stage",
    "get_stage",
    "pause_protect_stage",
    "pause_stage",
    "resume_protect_stage",
    "resume_stage",
    "update_protect_stage",
    "update_stage",
}


@pytest.fixture(autouse=True)
def examples() -> Iterator[None]:
    configure(EXAMPLES, seed=1)
    yield
    configure(None)


def test_public_surface_is_exactly_all() -> None:
    assert set(worker.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(worker, name)


def test_invoke_protect_by_stage_name() -> None:
    response = invoke_protect({"input": "my card is 4111 1111 1111 1111"}, stage_name="input-guard")
    assert response.status is ExecutionStatus.TRIGGERED
    assert response.action_result.type.value == "OVERRIDE"
    clean = invoke_protect(Payload(input="How do I bake bread?"), stage_name="input-guard")
    assert clean.status is ExecutionStatus.NOT_TRIGGERED


async def test_ainvoke_with_rulesets_creates_the_local_stage() -> None:
    rulesets = [
        {
            "rules": [{"metric": "input_pii", "operator": "contains", "target_value": "email"}],
            "action": {"type": "OVERRIDE", "choices": ["redacted"]},
        }
    ]
    response = await ainvoke_protect(
        {"input": "mail bob@example.org"},
        prioritized_rulesets=rulesets,
        project_name="apps",
        stage_name="new-local",
        metadata={"k": "v"},
    )
    assert (response.status, response.text) == (ExecutionStatus.TRIGGERED, "redacted")
    assert response.metadata == {"k": "v"}
    stage = worker.api.default_protect().stages.get(stage_name="new-local", project_name="apps")
    assert stage.type.value == "local"
    # Once created, the local stage works for later requests that bring rulesets.
    again = await ainvoke_protect({"input": "hi"}, prioritized_rulesets=rulesets, stage_id=stage.id)
    assert again.status is ExecutionStatus.NOT_TRIGGERED


async def test_invoke_protect_inside_a_loop_says_to_await() -> None:
    with pytest.raises(RuntimeError, match="ainvoke_protect"):
        invoke_protect({"input": "x"}, stage_name="input-guard")

"""Every Response we emit, of every status, read by Galileo's code: galileo-core's `Response` and
galileo's typed `InvokeResponse` (whose stage_metadata fields are all required and non-null)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from galileo.resources.models.execution_status import ExecutionStatus as ApiStatus
from galileo.resources.models.stage_type import StageType as ApiStageType

from tests.conftest import ProtectFactory
from tests.factories import central, override, ruleset
from tests.galileo.sdk import parse_with_galileo
from tests.scorers import FuncScorer, SlowScorer, raising, score
from worker.contract.request import Request
from worker.contract.response import Response
from worker.contract.stage import project_id_for, stage_id_for
from worker.contract.statuses import ExecutionStatus, StageType
from worker.metrics.base import ValueKind
from worker.runtime import Protect
from worker.stages.resolve import UNKNOWN_STAGE_NAME, UNKNOWN_VERSION

S = ExecutionStatus
PROJECT = "tests"


@pytest.fixture
def protect(protect_factory: ProtectFactory) -> Protect:
    flaky = FuncScorer("flaky", ValueKind.SCORE, raising())
    return protect_factory(
        [score(0.9), flaky, SlowScorer("slow", delay=30.0)],
        stages=[
            central(
                "guard",
                ruleset(("score_metric", "gt", 0.5), action=override("blocked")),
            ),
            central(
                "watch",
                ruleset(("score_metric", "gt", 0.5)),  # passthrough
            ),
            central("calm", ruleset(("score_metric", "lt", 0.5))),
            central("off", ruleset(("score_metric", "gt", 0.5)), paused=True),
            central("empty"),
            central("broken", ruleset(("flaky", "gt", 0.5))),
            {"name": "local"},
        ],
        project=PROJECT,
    )


def request(**fields: Any) -> Request:
    return Request.model_validate(
        {"payload": {"input": "hello"}, "project_name": PROJECT, **fields}
    )


# (case, request fields, expected status)
CASES: list[tuple[str, dict[str, Any], ExecutionStatus]] = [
    ("override", {"stage_name": "guard"}, S.TRIGGERED),
    ("passthrough", {"stage_name": "watch"}, S.TRIGGERED),
    ("not triggered", {"stage_name": "calm"}, S.NOT_TRIGGERED),
    ("paused", {"stage_name": "off"}, S.PAUSED),
    ("skipped", {"stage_name": "empty"}, S.SKIPPED),
    ("failed", {"stage_name": "broken"}, S.FAILED),
    (
        "timeout",
        {
            "stage_name": "local",
            "timeout": 0,
            "prioritized_rulesets": [ruleset(("slow", "gt", 0.5))],
        },
        S.TIMEOUT,
    ),
    ("unknown stage name", {"stage_name": "nope"}, S.ERROR),
    ("unknown stage id", {"stage_id": str(uuid.uuid4()), "project_name": None}, S.ERROR),
    ("unknown version", {"stage_name": "guard", "stage_version": 7}, S.ERROR),
    ("version 0", {"stage_name": "guard", "stage_version": 0}, S.ERROR),
    ("local stage without rulesets", {"stage_name": "local"}, S.ERROR),
    (
        "rulesets sent to a central stage",
        {"stage_name": "guard", "rulesets": [ruleset(("score_metric", "gt", 0.5))]},
        S.ERROR,
    ),
    (
        "unknown metric",
        {"stage_name": "local", "rulesets": [ruleset(("nope", "gt", 0.5))]},
        S.ERROR,
    ),
    (
        "empty metric name",
        {"stage_name": "local", "rulesets": [ruleset(("", "gt", 0.5))]},
        S.ERROR,
    ),
    (
        "unknown stage with rulesets and a version",
        {"stage_name": "nope", "stage_version": 1, "rulesets": [ruleset(("x", "gt", 1))]},
        S.ERROR,
    ),
]


@pytest.mark.parametrize(("case", "fields", "status"), CASES, ids=[c[0] for c in CASES])
async def test_every_response_parses_with_galileo_models(
    protect: Protect, case: str, fields: dict[str, Any], status: ExecutionStatus
) -> None:
    response = await protect.ainvoke(request(**fields))
    assert response.status is status, response.error
    # The document as it travels (Kafka value, webhook body, CLI output).
    document = json.loads(response.model_dump_json())
    core, typed = parse_with_galileo(document)

    assert core.status.value == status.value
    assert core.text == response.text
    assert typed.status == ApiStatus(status.value)
    assert typed.text == response.text
    assert typed.action_result.value == response.action_result.value
    stage = typed.stage_metadata
    for name in ("project_id", "stage_id", "stage_name", "stage_version", "stage_type"):
        assert getattr(stage, name) is not None, name
    uuid.UUID(stage.project_id)
    uuid.UUID(stage.stage_id)
    assert isinstance(stage.stage_version, int)
    for ruleset_result in typed.ruleset_results:
        assert ruleset_result.status is not None


async def test_error_responses_carry_the_best_known_stage_identity(protect: Protect) -> None:
    known = protect.stages.get(stage_name="guard", project_name=PROJECT)
    project_id = project_id_for(PROJECT)

    unknown_version = await protect.ainvoke(request(stage_name="guard", stage_version=7))
    assert unknown_version.error == "stage 'guard' has no version 7 (versions 1..1)"
    _, typed = parse_with_galileo(unknown_version.model_dump(mode="json"))
    assert (typed.stage_metadata.stage_id, typed.stage_metadata.stage_name) == (
        str(known.id),
        "guard",
    )
    assert typed.stage_metadata.stage_version == 7
    assert typed.stage_metadata.stage_type is ApiStageType.CENTRAL

    by_name = await protect.ainvoke(request(stage_name="nope"))
    meta = by_name.stage_metadata
    assert meta.project_id == project_id
    assert meta.stage_id == stage_id_for(project_id, "nope")
    assert (meta.stage_name, meta.stage_version) == ("nope", UNKNOWN_VERSION)
    # Without rulesets, only a central stage could have answered.
    assert meta.stage_type is StageType.CENTRAL

    stage_id = uuid.uuid4()
    by_id = await protect.ainvoke(
        request(stage_id=str(stage_id), rulesets=[ruleset(("score_metric", "gt", 0.5))])
    )
    meta = by_id.stage_metadata
    assert (meta.stage_id, meta.stage_name) == (stage_id, UNKNOWN_STAGE_NAME)
    assert meta.project_id == project_id  # the request's project
    assert meta.stage_type is StageType.LOCAL  # it brought rulesets


def test_our_response_model_reads_what_galileo_core_writes() -> None:
    # galileo-core serialises statuses upper-case; our reader accepts them.
    from galileo_core.schemas.protect.response import Response as GalileoResponse

    galileo = GalileoResponse(text="hi", trace_metadata={}, status="triggered")
    document = galileo.model_dump(mode="json")
    assert document["status"] == "TRIGGERED"
    ours = Response.model_validate(
        {**document, "action_result": {"type": "PASSTHROUGH", "value": "hi"}}
    )
    assert ours.status is S.TRIGGERED

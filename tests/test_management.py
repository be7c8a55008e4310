"""Galileo's project and stage functions on the in-process (memory) registry."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import galileo.stages
import pytest
import structlog
from galileo_core.schemas.core.project import ProjectResponse
from galileo_core.schemas.protect.action import OverrideAction as GalileoOverride
from galileo_core.schemas.protect.rule import Rule as GalileoRule
from galileo_core.schemas.protect.ruleset import Ruleset as GalileoRuleset
from galileo_core.schemas.protect.stage import Stage as GalileoStage
from galileo_core.schemas.protect.stage import StageDB
from galileo_core.schemas.protect.stage import StageType as GalileoStageType
from pydantic import UUID4

import worker
from tests.factories import override, ruleset
from worker import (
    ExecutionStatus,
    Project,
    StageResponse,
    StageType,
    acreate_project,
    acreate_stage,
    aget_projects,
    aget_stage,
    apause_stage,
    aresume_stage,
    aupdate_stage,
    configure,
    create_project,
    create_protect_stage,
    create_stage,
    get_project,
    get_projects,
    get_protect_stage,
    get_stage,
    invoke_protect,
    pause_protect_stage,
    pause_stage,
    resume_protect_stage,
    resume_stage,
    update_protect_stage,
    update_stage,
)
from worker.errors import (
    ProjectNotFoundError,
    StageDefinitionError,
    StageNotFoundError,
    UnknownMetricError,
)
from worker.management import DEFAULT_PROJECT_NAME

# A keyword metric: cheap, deterministic, and a real scorer of the product.
STAGES_FILE = """\
project: file-project
metrics:
  - name: banned
    type: keywords
    reads: input
    labels: {secret: ["launch codes"], rude: ["stupid"]}
stages:
  - name: file-stage
    type: central
    prioritized_rulesets:
      - rules: [{metric: banned, operator: contains, target_value: rude}]
        action: {type: OVERRIDE, choices: ["be nice"]}
"""

SECRET = {"input": "what are the launch codes?"}
RUDE = {"input": "that is stupid"}


class GalileoProtectStageResponse(GalileoStage):
    """galileo-protect 1.0.1's StageResponse (galileo_protect/schemas/stage.py), which cannot be
    installed next to galileo-core 4.5: galileo-core's Stage plus these two fields."""

    id: UUID4
    version: int | None = None


# galileo-protect 1.0.1's signatures (galileo_protect/project.py, stage.py): parameter names and
# defaults, in order. galileo 2.7's are read from the installed package instead.
GALILEO_PROTECT_SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "create_project": [("name", DEFAULT_PROJECT_NAME)],
    "get_project": [("project_id", None), ("project_name", None), ("raise_if_missing", True)],
    "get_projects": [],
    "create_stage": [
        ("project_id", None),
        ("name", None),
        ("description", None),
        ("pause", False),
        ("type", "local"),
        ("prioritized_rulesets", None),
    ],
    "get_stage": [
        ("project_id", None),
        ("project_name", None),
        ("stage_id", None),
        ("stage_name", None),
    ],
    "update_stage": [
        ("project_id", None),
        ("project_name", None),
        ("stage_id", None),
        ("stage_name", None),
        ("prioritized_rulesets", None),
    ],
    "pause_stage": [("project_id", None), ("stage_id", None)],
    "resume_stage": [("project_id", None), ("stage_id", None)],
}


def secret_rulesets(choice: str = "no secrets") -> list[dict[str, Any]]:
    return [ruleset(("banned", "contains", "secret"), action=override(choice))]


def rude_rulesets() -> list[dict[str, Any]]:
    return [ruleset(("banned", "contains", "rude"), action=override("be nice"))]


@pytest.fixture(autouse=True)
def stages_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("PROTECT_PROJECT", raising=False)
    monkeypatch.delenv("PROTECT_API_REGISTRY", raising=False)
    path = tmp_path / "stages.yaml"
    path.write_text(STAGES_FILE, "utf-8")
    configure(path, seed=1)
    yield path
    configure(None)


def status(payload: dict[str, str], **where: Any) -> ExecutionStatus:
    return invoke_protect(payload, **where).status


def test_the_galileo_flow_create_invoke_update_pin_pause_resume() -> None:
    project = create_project("my-app")
    stage = create_stage(
        project_id=project.id,
        name="chat-input",
        description="screens prompts",
        type=StageType.CENTRAL,
        prioritized_rulesets=secret_rulesets(),
    )
    assert (stage.name, stage.project_id, stage.version, stage.paused) == (
        "chat-input",
        project.id,
        1,
        False,
    )
    # Invocable at once, by name (the one project holding it) or by id.
    response = invoke_protect(SECRET, stage_name="chat-input")
    assert (response.status, response.text) == (ExecutionStatus.TRIGGERED, "no secrets")
    assert response.stage_metadata is not None
    assert response.stage_metadata.stage_id == stage.id
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.NOT_TRIGGERED

    v2 = update_stage(
        project_id=project.id, stage_id=stage.id, prioritized_rulesets=rude_rulesets()
    )
    assert (v2.id, v2.version, v2.description) == (stage.id, 2, "screens prompts")
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED
    assert status(SECRET, stage_id=stage.id) is ExecutionStatus.NOT_TRIGGERED
    assert status(SECRET, stage_id=stage.id, stage_version=1) is ExecutionStatus.TRIGGERED

    paused = pause_stage(project.id, stage.id)
    assert (paused.paused, paused.version) == (True, 2)
    assert get_stage(project_id=project.id, stage_id=stage.id).paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.PAUSED
    assert status(SECRET, stage_id=stage.id, stage_version=1) is ExecutionStatus.PAUSED

    assert not resume_stage(project.id, stage.id).paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED
    assert status(SECRET, stage_id=stage.id, stage_version=1) is ExecutionStatus.TRIGGERED


def test_galileo_models_validate_what_is_returned() -> None:
    project = create_project("my-app")
    stage = create_stage(
        project.id, "guard", type="central", prioritized_rulesets=secret_rulesets()
    )
    as_galileo = ProjectResponse.model_validate(project.model_dump(mode="json"))
    assert (as_galileo.id, as_galileo.name, as_galileo.type.value) == (
        project.id,
        "my-app",
        "protect",
    )
    for returned in (
        stage,
        get_stage(stage_id=stage.id),
        update_stage(stage_id=stage.id, prioritized_rulesets=rude_rulesets()),
        pause_stage(stage_id=stage.id),
    ):
        document = returned.model_dump(mode="json")
        db = StageDB.model_validate(document)
        assert (db.id, db.name, db.project_id, db.type, db.version, db.paused) == (
            returned.id,
            "guard",
            project.id,
            GalileoStageType.central,
            returned.version,
            returned.paused,
        )
        assert GalileoProtectStageResponse.model_validate(document).id == stage.id
        # Galileo types these UUID4: a Galileo-built request must accept our ids.
        assert returned.id.version == returned.project_id.version == 4
    # Ids the stages file's stages got are UUID4 too.
    from_file = get_stage(project_name="file-project", stage_name="file-stage")
    assert StageDB.model_validate(from_file.model_dump()).version == 1


def test_galileo_core_rulesets_and_stage_types_are_accepted() -> None:
    rulesets = [
        GalileoRuleset(
            rules=[GalileoRule(metric="banned", operator="contains", target_value="secret")],
            action=GalileoOverride(choices=["from galileo-core"]),
        )
    ]
    stage = create_stage(name="g", type=GalileoStageType.central, prioritized_rulesets=rulesets)
    assert stage.type is StageType.CENTRAL
    assert invoke_protect(SECRET, stage_id=stage.id).text == "from galileo-core"
    assert update_stage(stage_id=stage.id, prioritized_rulesets=rulesets).version == 1


def test_a_local_stage_with_rulesets_is_refused_naming_the_field() -> None:
    with pytest.raises(StageDefinitionError, match="local stage") as refused:
        create_stage(name="chat", prioritized_rulesets=secret_rulesets())
    assert refused.value.field == "prioritized_rulesets"
    with pytest.raises(StageDefinitionError) as refused:
        create_protect_stage(name="chat", prioritized_rulesets=secret_rulesets())
    assert refused.value.field == "prioritized_rulesets"
    with pytest.raises(StageNotFoundError):  # nothing was registered
        get_stage(stage_name="chat")
    # A local stage is created without rulesets; requests bring them, and it has none to update.
    local = create_stage(name="chat")
    assert (local.type, local.prioritized_rulesets) == (StageType.LOCAL, [])
    response = invoke_protect(SECRET, prioritized_rulesets=secret_rulesets(), stage_id=local.id)
    assert response.status is ExecutionStatus.TRIGGERED
    with pytest.raises(StageDefinitionError, match="local stage") as refused:
        update_stage(stage_id=local.id, prioritized_rulesets=secret_rulesets())
    assert refused.value.field == "type"


def test_invalid_definitions_are_refused_naming_the_field() -> None:
    bad_operator = [ruleset(("banned", "sounds_like", "secret"))]
    with pytest.raises(StageDefinitionError) as refused:
        create_stage(name="s", type="central", prioritized_rulesets=bad_operator)
    assert refused.value.field == "prioritized_rulesets[0].rules[0].operator"
    with pytest.raises(UnknownMetricError) as unknown:
        create_stage(name="s", type="central", prioritized_rulesets=[ruleset(("nope", "gt", 0.5))])
    assert unknown.value.metric == "nope"
    with pytest.raises(StageDefinitionError) as refused:
        create_stage(name="s", type="regional")
    assert refused.value.field == "type"
    with pytest.raises(StageDefinitionError) as refused:
        create_stage(name="s" * 300)
    assert refused.value.field == "name"
    with pytest.raises(StageDefinitionError) as refused:
        get_stage(stage_id="not-a-uuid")
    assert refused.value.field == "stage_id"
    with pytest.raises(StageDefinitionError) as refused:
        create_project("")
    assert refused.value.field == "name"
    with pytest.raises(StageDefinitionError) as refused:
        create_stage(name="s", description=42)  # type: ignore[arg-type]
    assert refused.value.field == "description"


def test_missing_projects_and_stages_are_not_found_errors() -> None:
    with pytest.raises(ProjectNotFoundError, match=r"create_project\('nope'\)"):
        get_stage(project_name="nope", stage_name="file-stage")
    with pytest.raises(ProjectNotFoundError):
        create_stage(project_id=uuid.uuid4(), name="s")
    with pytest.raises(ProjectNotFoundError):
        create_protect_stage(project_name="nope", name="s")
    with pytest.raises(ProjectNotFoundError):
        get_project(project_name="nope")
    assert get_project(project_name="nope", raise_if_missing=False) is None
    with pytest.raises(ProjectNotFoundError, match="required"):
        get_project()
    with pytest.raises(StageNotFoundError, match="stage_id or stage_name"):
        get_stage()  # nothing created or used yet to default to
    with pytest.raises(StageNotFoundError):
        get_stage(stage_id=uuid.uuid4())
    with pytest.raises(StageNotFoundError):
        pause_stage(stage_id=uuid.uuid4())
    # A name that another project holds: the error says where it is.
    other = create_project("other")
    with pytest.raises(StageNotFoundError, match="file-project"):
        get_stage(project_id=other.id, stage_name="file-stage")
    # The project created last scopes name lookups, as in galileo-protect.
    with pytest.raises(StageNotFoundError, match="file-project"):
        get_stage(stage_name="file-stage")
    file_stage = get_stage(project_name="file-project", stage_name="file-stage")
    with pytest.raises(StageNotFoundError, match="not in project 'other'"):
        get_stage(project_id=other.id, stage_id=file_stage.id)


def test_projects_from_the_file_and_created_ones_are_listed() -> None:
    assert [p.name for p in get_projects()] == ["file-project"]
    created = create_project("my-app")
    assert create_project("my-app") == created  # galileo-core returns the existing project
    assert [p.name for p in get_projects()] == ["file-project", "my-app"]
    inferred = get_project(project_name="file-project")
    assert inferred is not None
    assert get_stage(project_name="file-project", stage_name="file-stage").project_id == (
        inferred.id
    )
    assert get_project(project_id=created.id) == created
    assert get_project(project_id=str(created.id), project_name="ignored") == created


def test_the_last_project_and_stage_are_remembered_as_galileo_protect_does() -> None:
    project = create_project("my-app")
    stage = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    assert stage.project_id == project.id  # created in the project created last
    assert pause_stage().paused  # the stage created last
    assert status(SECRET, stage_id=stage.id) is ExecutionStatus.PAUSED
    assert not resume_stage().paused
    assert update_stage(prioritized_rulesets=rude_rulesets()).version == 2
    assert get_stage().version == 2
    # Using another stage makes it the remembered one (and its project the remembered project).
    file_stage = get_stage(project_name="file-project", stage_name="file-stage")
    assert pause_stage().id == file_stage.id
    following = create_stage(name="next")
    assert following.project_name == "file-project"
    # The remembered stage stands in only within its own project.
    with pytest.raises(StageNotFoundError, match="stage_id or stage_name"):
        get_stage(project_id=project.id)
    assert get_stage(project_name="file-project").id == following.id
    # Explicit arguments win over what is remembered.
    assert not resume_stage(stage_id=file_stage.id).paused
    assert get_stage(project_id=project.id, stage_name="guard").id == stage.id
    # A new project forgets the stage of the previous one.
    create_project("fresh")
    with pytest.raises(StageNotFoundError, match="stage_id or stage_name"):
        get_stage()
    # configure() starts afresh.
    configure(None)
    with pytest.raises(StageNotFoundError, match="stage_id or stage_name"):
        pause_stage()


def test_without_a_project_stages_go_to_the_default_project(
    stages_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stages file's project, else PROTECT_PROJECT's default, as for a stage a request names
    # without a project; an explicit PROTECT_PROJECT wins over the file's.
    assert create_stage(name="a").project_name == "file-project"
    configure(None)
    # A refused stage makes no default project.
    with pytest.raises(UnknownMetricError):
        create_stage(name="b", type="central", prioritized_rulesets=secret_rulesets())
    assert get_projects() == []
    assert create_stage(name="b").project_name == "default"
    assert [p.name for p in get_projects()] == ["default"]
    monkeypatch.setenv("PROTECT_PROJECT", "from-env")
    configure(stages_file)
    stage = create_stage(name="c", type="central", prioritized_rulesets=secret_rulesets())
    assert stage.project_name == "from-env"
    assert get_project(project_name="from-env") is not None  # made for it
    assert invoke_protect(SECRET, stage_name="c").text == "no secrets"


def test_default_names_are_timestamped_as_galileo_core_does() -> None:
    project = create_project()
    assert re.fullmatch(r"project-[A-Z][a-z]{2}_\d\d_\d\d_\d\d_\d\d", project.name)
    stage = create_stage()
    assert re.fullmatch(r"stage-[A-Z][a-z]{2}_\d\d_\d\d_\d\d_\d\d", stage.name)
    assert (stage.project_id, stage.type, stage.paused) == (project.id, StageType.LOCAL, False)
    assert create_stage(project.id, "paused-one", pause=True).paused


def test_creating_an_existing_stage_returns_it_or_is_refused() -> None:
    first = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    again = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    assert (again.id, again.version) == (first.id, 1)
    with pytest.raises(StageDefinitionError, match="update_stage") as refused:
        create_stage(name="guard", type="central", prioritized_rulesets=rude_rulesets())
    assert refused.value.field == "name"
    with pytest.raises(StageDefinitionError):
        create_stage(name="guard")  # a local stage of that name: another definition
    assert get_stage(stage_id=first.id).version == 1


def test_update_with_an_unchanged_definition_publishes_no_version() -> None:
    stage = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    assert update_stage(stage_id=stage.id, prioritized_rulesets=secret_rulesets()).version == 1
    # None clears the rulesets, as in Galileo: a new version that evaluates nothing.
    cleared = update_stage(stage_id=stage.id)
    assert (cleared.version, cleared.prioritized_rulesets) == (2, [])
    assert status(SECRET, stage_id=stage.id) is ExecutionStatus.SKIPPED


def test_galileo_2_7_names_act_on_the_same_registry() -> None:
    project = create_project("my-app")
    stage = create_protect_stage(
        project_name="my-app",
        name="guard",
        stage_type=GalileoStageType.central,
        prioritized_rulesets=secret_rulesets(),
        description="d",
    )
    assert (stage.project_id, stage.description) == (project.id, "d")
    assert get_protect_stage(project_name="my-app", stage_name="guard").id == stage.id
    v2 = update_protect_stage(
        project_name="my-app", stage_name="guard", prioritized_rulesets=rude_rulesets()
    )
    assert v2.version == 2
    assert pause_protect_stage(project_name="my-app", stage_name="guard").paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.PAUSED
    assert not resume_protect_stage(project_id=project.id, stage_id=stage.id).paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED


def test_signatures_are_galileos() -> None:
    def parameters(function: Any) -> list[tuple[str, Any]]:
        return [
            (p.name, p.default)
            for p in inspect.signature(function).parameters.values()
            if p.kind is not p.KEYWORD_ONLY  # our additions are keyword-only
        ]

    for name, expected in GALILEO_PROTECT_SIGNATURES.items():
        assert parameters(getattr(worker, name)) == expected, name
        assert parameters(getattr(worker, f"a{name}")) == expected, name
    for name in (
        "create_protect_stage",
        "get_protect_stage",
        "update_protect_stage",
        "pause_protect_stage",
        "resume_protect_stage",
    ):
        assert parameters(getattr(worker, name)) == parameters(getattr(galileo.stages, name))


async def test_the_coroutines_work_inside_a_loop_and_the_functions_say_to_await() -> None:
    project = await acreate_project("async-app")
    stage = await acreate_stage(
        project.id, "guard", type="central", prioritized_rulesets=secret_rulesets()
    )
    assert (await aget_stage(stage_id=stage.id)).name == "guard"
    assert (await aupdate_stage(stage_id=stage.id, prioritized_rulesets=[])).version == 2
    assert (await apause_stage(stage_id=stage.id)).paused
    assert not (await aresume_stage(stage_id=stage.id)).paused
    assert "async-app" in [p.name for p in await aget_projects()]
    with pytest.raises(RuntimeError, match=r"await acreate_stage\(\)"):
        create_stage(name="x")
    with pytest.raises(RuntimeError, match=r"await apause_stage\(\)"):
        pause_protect_stage(stage_id=stage.id)


def test_returned_objects_are_our_models_carrying_the_rulesets() -> None:
    stage = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    assert isinstance(stage, StageResponse)
    assert stage.prioritized_rulesets[0].rules[0].target_value == "secret"
    assert isinstance(create_project("p"), Project)


def test_rule_warnings_are_logged() -> None:
    # `eq` against a list-valued metric can never trigger (galileo-core semantics).
    never = [ruleset(("banned", "eq", "secret"))]
    with structlog.testing.capture_logs() as logs:
        create_stage(name="w", type="central", prioritized_rulesets=never)
    assert any(e["event"] == "stage_rule_warning" for e in logs)

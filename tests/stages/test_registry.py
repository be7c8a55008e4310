"""The in-memory stage registry: versions, pause, lookups, local-stage creation."""

from __future__ import annotations

import uuid

import pytest

from tests import factories
from tests.factories import override, ruleset
from tests.scorers import keyword_labels, score
from worker.contract import Project, Stage, StageDefinition, StageType
from worker.errors import (
    ProjectNotFoundError,
    StageDefinitionError,
    StageNotFoundError,
    UnknownMetricError,
)
from worker.metrics.registry import MetricRegistry
from worker.stages.registry import DEFAULT_PROJECT, StageRegistry


@pytest.fixture
def registry() -> StageRegistry:
    return StageRegistry(MetricRegistry([score(0.5), keyword_labels()]))


def central(name: str = "guard", *rulesets: dict[str, object]) -> StageDefinition:
    return StageDefinition.model_validate(
        factories.central(name, *(rulesets or [ruleset(("score_metric", "gt", 0.5))]))
    )


def test_apply_creates_version_1_then_only_changes_create_versions(
    registry: StageRegistry,
) -> None:
    first = registry.apply(central(), project_name="p")
    assert (first.created, first.stage.version) == (True, 1)
    same = registry.apply(central(), project_name="p")
    assert (same.created, same.stage.version) == (False, 1)
    changed = registry.apply(
        central("guard", ruleset(("score_metric", "gt", 0.7))), project_name="p"
    )
    assert (changed.created, changed.stage.version) == (True, 2)
    assert changed.stage.id == first.stage.id
    v1 = registry.get(stage_name="guard", project_name="p", version=1)
    assert v1.prioritized_rulesets[0].rules[0].target_value == 0.5
    assert registry.get(stage_id=first.stage.id).version == 2
    assert [s.version for s in registry.history(first.stage.id)] == [1, 2]


def test_ids_are_stable_across_registries(registry: StageRegistry) -> None:
    other = StageRegistry(registry.metrics)
    a = registry.apply(central(), project_name="p").stage
    b = other.apply(central(), project_name="p").stage
    assert (a.id, a.project_id) == (b.id, b.project_id)


def test_pause_applies_to_every_version(registry: StageRegistry) -> None:
    stage = registry.apply(central(), project_name="p").stage
    registry.apply(central("guard", ruleset(("score_metric", "gt", 0.9))), project_name="p")
    registry.set_paused(stage.id, True)
    assert registry.get(stage_id=stage.id, version=1).paused
    assert registry.get(stage_id=stage.id).paused
    registry.set_paused(stage.id, False)
    assert not registry.get(stage_id=stage.id, version=1).paused


def test_unknown_metric_is_refused_at_registration_naming_field_and_known_metrics(
    registry: StageRegistry,
) -> None:
    with pytest.raises(UnknownMetricError) as info:
        registry.apply(
            central(
                "g",
                ruleset(("score_metric", "gt", 0.5)),
                ruleset(("words", "contains", "a"), ("toxicty", "gt", 0.5)),
            )
        )
    message = str(info.value)
    assert "prioritized_rulesets[1].rules[1].metric" in message
    assert "'toxicty'" in message
    assert "score_metric" in message
    assert "words" in message
    with pytest.raises(StageNotFoundError):
        registry.get(stage_name="g", project_name=DEFAULT_PROJECT)


def test_rules_that_can_never_trigger_are_warnings(registry: StageRegistry) -> None:
    result = registry.apply(
        central("g", ruleset(("words", "eq", "alpha")), ruleset(("score_metric", "contains", "x")))
    )
    fields = [w.field for w in result.warnings]
    assert fields == ["prioritized_rulesets[0].rules[0]", "prioritized_rulesets[1].rules[0]"]
    assert "can never trigger" in result.warnings[0].message


def test_type_cannot_change(registry: StageRegistry) -> None:
    registry.apply(StageDefinition(name="s", type=StageType.LOCAL))
    with pytest.raises(StageDefinitionError, match="type"):
        registry.apply(central("s"))


def test_lookup_errors_say_what_is_missing(registry: StageRegistry) -> None:
    registry.apply(central(), project_name="p")
    with pytest.raises(StageNotFoundError, match="'nope' not found in project 'p'"):
        registry.get(stage_name="nope", project_name="p")
    with pytest.raises(StageNotFoundError, match="no version 4"):
        registry.get(stage_name="guard", project_name="p", version=4)
    with pytest.raises(StageNotFoundError):
        registry.get(stage_name="guard", project_name="other")


def test_projects_with_finds_a_stage_by_name(registry: StageRegistry) -> None:
    registry.apply(central(), project_name="a")
    registry.apply(central(), project_name="b")
    registry.apply(
        central("solo", ruleset(("score_metric", "gt", 0.1), action=override("x"))),
        project_name="a",
    )
    assert registry.projects_with("guard") == ["a", "b"]
    assert registry.projects_with("solo") == ["a"]


def test_ids_are_uuid4_the_same_in_every_registry_and_kept_once_assigned(
    registry: StageRegistry,
) -> None:
    stage = registry.apply(central(), project_name="p").stage
    assert (stage.id.version, stage.project_id.version) == (4, 4)
    other = StageRegistry(MetricRegistry([score(0.5)]))
    assert other.apply(central(), project_name="p").stage.id == stage.id
    # A record published under an older id scheme keeps its id when the stage is applied again.
    legacy = stage.model_copy(update={"id": uuid.uuid5(stage.project_id, "legacy")})
    third = StageRegistry(MetricRegistry([score(0.5)]))
    third.put(legacy)
    again = third.apply(central(), project_name="p")
    assert again.stage.id == legacy.id


def test_projects_are_records_and_the_projects_stages_name(registry: StageRegistry) -> None:
    assert registry.projects() == []
    stage = registry.apply(central(), project_name="from-stages").stage
    created = registry.put_project(registry.new_project("created"))
    assert [p.name for p in registry.projects()] == ["created", "from-stages"]
    inferred = registry.project(project_name="from-stages")
    assert (inferred.id, inferred.created_at) == (stage.project_id, stage.created_at)
    assert not registry.has_project_record(inferred.id)
    assert registry.has_project_record(created.id)
    assert registry.project(project_id=created.id) == created
    # A record for a project known from its stages keeps the stages' id.
    recorded = registry.put_project(registry.new_project("from-stages"))
    assert recorded.id == stage.project_id
    # A stage applied to a project with a record lands in it.
    assert registry.apply(central("g2"), project_name="created").stage.project_id == created.id
    with pytest.raises(ProjectNotFoundError, match="'nope'"):
        registry.project(project_name="nope")
    with pytest.raises(ProjectNotFoundError, match="required"):
        registry.project()


def test_project_records_are_idempotent_and_names_keep_their_first_id(
    registry: StageRegistry,
) -> None:
    project = registry.put_project(registry.new_project("p"))
    later = project.model_copy(update={"created_at": project.created_at + 1})
    assert registry.put_project(later) == project  # replayed: the first record is kept
    with pytest.raises(StageDefinitionError) as clash:
        registry.put_project(Project(id=uuid.uuid4(), name="p"))
    assert clash.value.field == "id"
    with pytest.raises(StageDefinitionError) as renamed:
        registry.put_project(project.model_copy(update={"name": "renamed"}))
    assert renamed.value.field == "name"
    # A project whose stages carry no project name is listed under its id.
    anonymous = uuid.uuid4()
    registry.put(
        Stage(id=uuid.uuid4(), name="s", project_id=anonymous, type=StageType.LOCAL, version=1)
    )
    assert registry.project(project_id=anonymous).name == str(anonymous)

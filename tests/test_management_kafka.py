"""Galileo's project and stage functions on the Kafka registry topic (a real broker)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from galileo_core.schemas.core.project import ProjectResponse
from galileo_core.schemas.protect.stage import StageDB

from tests.brokers import Broker
from tests.factories import override, ruleset
from worker import (
    ExecutionStatus,
    Protect,
    StageDefinition,
    configure,
    create_project,
    create_stage,
    get_project,
    get_projects,
    get_stage,
    invoke_protect,
    pause_stage,
    resume_stage,
    update_stage,
)
from worker.api import default_protect
from worker.errors import BrokerError, ConfigurationError, StageNotFoundError
from worker.metrics.registry import MetricRegistry
from worker.stages.kafka import StageAdmin, StageFollower
from worker.stages.registry import StageRegistry

METRICS_FILE = """\
metrics:
  - name: banned
    type: keywords
    reads: input
    labels: {secret: ["launch codes"], rude: ["stupid"]}
"""

SECRET = {"input": "what are the launch codes?"}
RUDE = {"input": "that is stupid"}

# How long a test waits for a change made elsewhere before declaring it never arrived (the
# follower's contract is 2 s; the registry tests measure that).
GIVE_UP_S = 10.0
POLL_S = 0.01


@dataclass(frozen=True)
class RegistryTopic:
    bootstrap_servers: str
    topic: str
    stages_file: Path

    def metrics(self) -> MetricRegistry:
        return Protect.from_file(self.stages_file).stages.metrics

    def admin(self) -> StageAdmin:
        """A second writer: another process running `protect stages ...`."""
        return StageAdmin(self.bootstrap_servers, self.topic, self.metrics())

    def fresh_registry(self) -> tuple[StageRegistry, int]:
        """What a worker started now reads: the registry and the number of records applied."""

        async def read() -> tuple[StageRegistry, int]:
            registry = StageRegistry(self.metrics())
            async with StageFollower(self.bootstrap_servers, self.topic, registry) as follower:
                await follower.wait_caught_up()
                return registry, follower.applied

        return asyncio.run(read())


@pytest.fixture
def registry_topic(
    tansu: Broker,
    topic_factory: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RegistryTopic]:
    topic = topic_factory("stages")
    monkeypatch.setenv("PROTECT_STAGES_TOPIC", topic)
    for name in ("PROTECT_PROJECT", "PROTECT_API_REGISTRY", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "stages.yaml"
    path.write_text(METRICS_FILE, "utf-8")
    yield RegistryTopic(tansu.bootstrap_servers, topic, path)
    # Explicitly memory: the environment a test set is still in place here.
    configure(None, registry="memory")


def connect(registry_topic: RegistryTopic) -> Protect:
    return configure(
        registry_topic.stages_file,
        seed=1,
        registry="kafka",
        bootstrap_servers=registry_topic.bootstrap_servers,
    )


def secret_rulesets() -> list[dict[str, Any]]:
    return [ruleset(("banned", "contains", "secret"), action=override("no secrets"))]


def rude_rulesets() -> list[dict[str, Any]]:
    return [ruleset(("banned", "contains", "rude"), action=override("be nice"))]


def status(payload: dict[str, str], **where: Any) -> ExecutionStatus:
    return invoke_protect(payload, **where).status


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GIVE_UP_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {GIVE_UP_S:g} s")
        time.sleep(POLL_S)


def test_the_galileo_flow_on_the_registry_topic(registry_topic: RegistryTopic) -> None:
    connect(registry_topic)
    project = create_project("my-app")
    stage = create_stage(
        project.id, "chat-input", type="central", prioritized_rulesets=secret_rulesets()
    )
    # Read back before create_stage returned: invocable at once.
    assert status(SECRET, stage_name="chat-input") is ExecutionStatus.TRIGGERED
    v2 = update_stage(stage_id=stage.id, prioritized_rulesets=rude_rulesets())
    assert (v2.id, v2.version) == (stage.id, 2)
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED
    assert status(SECRET, stage_id=stage.id) is ExecutionStatus.NOT_TRIGGERED
    assert status(SECRET, stage_id=stage.id, stage_version=1) is ExecutionStatus.TRIGGERED
    assert pause_stage(project.id, stage.id).paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.PAUSED
    assert status(SECRET, stage_id=stage.id, stage_version=1) is ExecutionStatus.PAUSED
    assert not resume_stage(project.id, stage.id).paused
    assert status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED
    assert update_stage(stage_id=stage.id, prioritized_rulesets=rude_rulesets()).version == 2
    # What came back validates as Galileo's models.
    StageDB.model_validate(get_stage(stage_id=stage.id).model_dump(mode="json"))
    ProjectResponse.model_validate(project.model_dump(mode="json"))

    # Another admin and a worker started now see the project (a record) and every version.
    async def second_admin() -> None:
        async with registry_topic.admin() as admin:
            assert [p.name for p in admin.projects()] == ["my-app"]
            assert admin.registry.has_project_record(project.id)
            shown = admin.show("chat-input", "my-app")
            assert (shown.id, shown.version, shown.paused) == (stage.id, 2, False)
            assert [s.version for s in admin.history("chat-input", "my-app")] == [1, 2]

    asyncio.run(second_admin())
    registry, applied = registry_topic.fresh_registry()
    # The project record, two versions, the pause and the resume; the unchanged update wrote
    # nothing.
    assert applied == 5
    assert registry.project(project_name="my-app") == project
    targets = [v.prioritized_rulesets[0].rules[0].target_value for v in registry.history(stage.id)]
    assert targets == ["secret", "rude"]
    assert not registry.get(stage_id=stage.id).paused


def test_changes_made_elsewhere_reach_invoke_live(registry_topic: RegistryTopic) -> None:
    connect(registry_topic)
    stage = create_stage(name="guard", type="central", prioritized_rulesets=secret_rulesets())
    assert status(SECRET, stage_id=stage.id) is ExecutionStatus.TRIGGERED

    async def elsewhere(action: Callable[[StageAdmin], Any]) -> None:
        async with registry_topic.admin() as admin:
            await action(admin)

    asyncio.run(elsewhere(lambda admin: admin.pause("guard", stage.project_name)))
    wait_until(lambda: status(SECRET, stage_id=stage.id) is ExecutionStatus.PAUSED)
    asyncio.run(elsewhere(lambda admin: admin.resume("guard", stage.project_name)))
    changed = StageDefinition.model_validate(
        {"name": "guard", "type": "central", "prioritized_rulesets": rude_rulesets()}
    )
    asyncio.run(elsewhere(lambda admin: admin.apply(changed, stage.project_name)))
    wait_until(lambda: status(RUDE, stage_id=stage.id) is ExecutionStatus.TRIGGERED)
    assert get_stage(stage_id=stage.id).version == 2


def test_a_project_record_survives_a_fresh_follower(registry_topic: RegistryTopic) -> None:
    connect(registry_topic)
    empty = create_project("no-stages-yet")
    assert create_project("no-stages-yet") == empty  # exists: nothing written
    registry, applied = registry_topic.fresh_registry()
    assert applied == 1
    assert registry.projects() == [empty]
    # A new API session (another process) finds it and creates stages in it by name.
    connect(registry_topic)
    assert get_project(project_name="no-stages-yet") == empty
    stage = create_stage(project_name="no-stages-yet", name="s")
    assert stage.project_id == empty.id


def test_a_topic_without_project_records_still_loads(registry_topic: RegistryTopic) -> None:
    # Written as before project records existed (`protect stages apply`): stage records only.
    legacy = StageDefinition.model_validate(
        {"name": "guard", "type": "central", "prioritized_rulesets": secret_rulesets()}
    )

    async def apply() -> None:
        async with registry_topic.admin() as admin:
            await admin.apply(legacy, "legacy-app")

    asyncio.run(apply())
    connect(registry_topic)
    (project,) = get_projects()  # inferred from the stage record
    assert project.name == "legacy-app"
    stage = get_stage(project_name="legacy-app", stage_name="guard")
    assert stage.project_id == project.id
    assert status(SECRET, stage_name="guard") is ExecutionStatus.TRIGGERED
    assert create_stage(project_name="legacy-app", name="another").project_id == project.id
    # create_project gives the inferred project its record, with the id its stages carry.
    recorded = create_project("legacy-app")
    assert recorded.id == project.id
    registry, _ = registry_topic.fresh_registry()
    assert registry.has_project_record(project.id)


def test_the_stages_file_gives_metrics_only(registry_topic: RegistryTopic, tmp_path: Path) -> None:
    path = tmp_path / "with-stages.yaml"
    path.write_text(METRICS_FILE + "stages:\n  - {name: from-file, type: central}\n", "utf-8")
    with structlog.testing.capture_logs() as logs:
        configure(path, registry="kafka", bootstrap_servers=registry_topic.bootstrap_servers)
    assert any(e["event"] == "stages_file_stages_ignored" for e in logs)
    with pytest.raises(StageNotFoundError):
        get_stage(stage_name="from-file")
    # The file's custom metric is there for stages created on the registry.
    create_stage(name="g", type="central", prioritized_rulesets=secret_rulesets())
    assert status(SECRET, stage_name="g") is ExecutionStatus.TRIGGERED


def test_the_switch_and_its_errors(
    registry_topic: RegistryTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        configure(registry="kafka")
    threads = threading.active_count()
    with pytest.raises(BrokerError, match="cannot reach"):
        configure(registry="kafka", bootstrap_servers="127.0.0.1:1")  # nothing listens there
    assert threading.active_count() == threads  # the mirror's thread ended with it
    # The environment switch: PROTECT_API_REGISTRY=kafka with the conventional bootstrap variable.
    monkeypatch.setenv("PROTECT_API_REGISTRY", "kafka")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", registry_topic.bootstrap_servers)
    configure(registry_topic.stages_file)
    first = default_protect()
    assert first.mirror is not None
    assert first.mirror.running
    create_project("via-env")
    # Replacing the service stops the previous one's mirror; memory mode has none.
    configure(registry="memory")
    assert not first.mirror.running
    assert default_protect().mirror is None
    assert [p.name for p in get_projects()] == []

"""The central stage registry on a real broker: versions, pause, catch-up, following, bad input."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaProducer

from tests.brokers import Broker
from tests.factories import central, override, ruleset
from tests.scorers import keyword_labels, score
from worker.contract import Project, Stage, StageDefinition, StageState
from worker.errors import BrokerError, StageNotFoundError
from worker.metrics.registry import MetricRegistry
from worker.stages.kafka import (
    RECORD_TYPE_HEADER,
    StageAdmin,
    StageFollower,
    project_key,
    state_key,
    version_key,
)
from worker.stages.registry import StageRegistry
from worker.stream.topics import COMPACTED, TopicSpec, ensure_topics

PROJECT = "tests"
# The contract: a pause or a new version reaches every running worker within 2 s.
PROPAGATION_S = 2.0
# How long a test waits before declaring that a change never arrived (the contract is checked
# separately on the measured latency, so a slow machine fails with a number, not a hang).
GIVE_UP_S = 10.0


def metrics() -> MetricRegistry:
    return MetricRegistry([score(0.5)])


def guard(threshold: float = 0.5, name: str = "guard") -> StageDefinition:
    return StageDefinition.model_validate(
        central(name, ruleset(("score_metric", "gt", threshold), action=override("blocked")))
    )


@asynccontextmanager
async def admin(broker: Broker, topic: str) -> AsyncIterator[StageAdmin]:
    async with StageAdmin(broker.bootstrap_servers, topic, metrics()) as a:
        yield a


@asynccontextmanager
async def worker(broker: Broker, topic: str) -> AsyncIterator[StageFollower]:
    """What a worker does at start: read the registry to its end, then keep following."""
    async with StageFollower(broker.bootstrap_servers, topic, StageRegistry(metrics())) as f:
        await f.wait_caught_up()
        yield f


async def until(condition: Callable[[], bool]) -> float:
    """Seconds until `condition()` holds; fails after GIVE_UP_S."""
    started = time.monotonic()
    while not holds(condition):
        if time.monotonic() - started > GIVE_UP_S:
            pytest.fail(f"condition not met within {GIVE_UP_S:g} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except StageNotFoundError:  # the version or stage has not arrived yet
        return False


def paused(follower: StageFollower, stage_id: uuid.UUID, version: int | None = None) -> bool:
    return follower.registry.get(stage_id=stage_id, version=version).paused


def pause_states(follower: StageFollower, stage_id: uuid.UUID) -> list[bool]:
    """`paused` as a request pinned to each version would see it."""
    history = follower.registry.history(stage_id)
    return [paused(follower, stage_id, s.version) for s in history]


async def test_apply_publishes_a_version_only_when_the_definition_changed(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        first = await a.apply(guard(0.5), PROJECT)
        assert (first.created, first.stage.version) == (True, 1)
        same = await a.apply(guard(0.5), PROJECT)
        assert (same.created, same.stage.version) == (False, 1)
        changed = await a.apply(guard(0.7), PROJECT)
        assert (changed.created, changed.stage.version) == (True, 2)
    async with admin(tansu, topic) as b:  # a second CLI invocation: the topic is the truth
        again = await b.apply(guard(0.7), PROJECT)
        assert (again.created, again.stage.version) == (False, 2)
        assert [s.version for s in b.history("guard")] == [1, 2]
    async with worker(tansu, topic) as w:
        assert w.applied == 2  # the unchanged applies wrote nothing
        v1 = w.registry.get(stage_name="guard", project_name=PROJECT, version=1)
        assert v1.prioritized_rulesets[0].rules[0].target_value == 0.5
        latest = w.registry.get(stage_name="guard", project_name=PROJECT)
        assert latest.version == 2
        assert latest.prioritized_rulesets[0].rules[0].target_value == 0.7


async def test_a_worker_started_later_sees_the_pause_state_on_every_version(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        stage = (await a.apply(guard(0.5), PROJECT)).stage
        await a.apply(guard(0.9), PROJECT)
        result = await a.pause("guard")
        assert (result.changed, result.stage.paused) == (True, True)
        assert not (await a.pause("guard")).changed  # already paused: nothing written
    async with worker(tansu, topic) as w:
        assert pause_states(w, stage.id) == [True, True]
    async with admin(tansu, topic) as a:
        assert (await a.resume("guard")).changed
    async with worker(tansu, topic) as w:
        assert pause_states(w, stage.id) == [False, False]


async def test_a_new_version_keeps_the_pause_state(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    # Re-applying a stages file (paused: false by default) must not resume a stage that was
    # paused on purpose; pause/resume govern that.
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        stage = (await a.apply(guard(0.5), PROJECT)).stage
        await a.pause("guard")
        with structlog.testing.capture_logs() as logs:
            result = await a.apply(guard(0.6), PROJECT)
        assert (result.created, result.stage.paused) == (True, True)
        assert any(e["event"] == "stage_pause_state_kept" for e in logs)
    async with worker(tansu, topic) as w:
        assert pause_states(w, stage.id) == [True, True]


async def test_a_running_worker_sees_pause_resume_and_new_versions_within_2_s(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        stage = (await a.apply(guard(0.5), PROJECT)).stage
        async with worker(tansu, topic) as w:
            assert not paused(w, stage.id)

            started = time.monotonic()
            await a.pause("guard")
            await until(lambda: paused(w, stage.id, 1))
            pause_latency = time.monotonic() - started

            started = time.monotonic()
            await a.resume("guard")
            await until(lambda: not paused(w, stage.id))
            resume_latency = time.monotonic() - started

            started = time.monotonic()
            await a.apply(guard(0.8), PROJECT)
            await until(lambda: w.registry.get(stage_id=stage.id).version == 2)
            version_latency = time.monotonic() - started
    latencies = {"pause": pause_latency, "resume": resume_latency, "version": version_latency}
    assert all(s <= PROPAGATION_S for s in latencies.values()), latencies


async def test_catch_up_reads_batches_of_several_records(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    # Tansu's end_offsets() answers a multi-record batch's base offset + 1; a catch-up trusting
    # it would stop after the first version. Write five versions in one batch.
    topic = topic_factory("stages")
    await ensure_topics(tansu.bootstrap_servers, [TopicSpec(topic, config=dict(COMPACTED))])
    stage_id, project_id = uuid.uuid4(), uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    await producer.start()
    try:
        batch = producer.create_batch()
        for version in range(1, 6):
            record = stage_record(stage_id, project_id, version)
            batch.append(key=version_key(stage_id, version), value=record, timestamp=None)
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()
    async with worker(tansu, topic) as w:
        assert [s.version for s in w.registry.history(stage_id)] == [1, 2, 3, 4, 5]


def stage_record(stage_id: uuid.UUID, project_id: uuid.UUID, version: int, **fields: Any) -> bytes:
    stage = Stage(
        id=stage_id,
        name=f"stage-{stage_id.hex[:6]}",
        project_id=project_id,
        project_name=PROJECT,
        version=version,
        **fields,
    )
    return stage.model_dump_json().encode()


SECRET = "123-45-6789"  # stands for payload text: it must never reach a log line


async def test_bad_records_are_logged_and_skipped_and_later_records_still_apply(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        stage = (await a.apply(guard(0.5), PROJECT)).stage
    async with worker(tansu, topic) as running:
        other = uuid.uuid4()
        bad: list[tuple[bytes | None, bytes | None]] = [
            (version_key(stage.id, 2), b"\x00\xff garbage " + SECRET.encode()),
            (version_key(stage.id, 2), json.dumps({"ssn": SECRET}).encode()),
            (version_key(stage.id, 2), json.dumps({"name": SECRET}).encode()),
            # a version gap: version 3 while the registry holds only version 1
            (version_key(stage.id, 3), stage_record(stage.id, stage.project_id, 3)),
            # the key says version 2, the record says version 4
            (version_key(stage.id, 2), stage_record(stage.id, stage.project_id, 4)),
            (
                state_key(stage.id),
                StageState(stage_id=other, paused=True, updated_at=0).model_dump_json().encode(),
            ),
            (b"not-a-uuid/v1", b"{}"),
            (version_key(stage.id, 2), None),  # a tombstone
        ]
        producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
        await producer.start()
        try:
            with structlog.testing.capture_logs() as logs:
                for key, value in bad:
                    await producer.send_and_wait(topic, value, key=key)
                await until(lambda: running.skipped == len(bad))
        finally:
            await producer.stop()
        skipped = [e for e in logs if e["event"] == "stage_record_skipped"]
        assert len(skipped) == len(bad)
        for entry in skipped:
            assert {"topic", "partition", "offset", "key", "reason"} <= entry.keys()
        assert SECRET not in repr(logs)
        assert "version 3" in skipped[3]["reason"]  # the gap is named

        # Good records written after the bad ones still apply, on the running worker...
        async with admin(tansu, topic) as a:
            assert (await a.apply(guard(0.6), PROJECT)).stage.version == 2
            await a.pause("guard")
        await until(lambda: paused(running, stage.id, 2))
        assert running.applied == 3  # version 1, version 2, the pause

    # ...and on a worker started later, which skips the same records.
    async with worker(tansu, topic) as later:
        assert later.skipped == len(bad)
        assert [s.version for s in later.registry.history(stage.id)] == [1, 2]
        assert paused(later, stage.id, 1)


async def test_a_state_record_before_its_stage_is_kept_until_the_stage_arrives(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    # Only a foreign writer spreading one stage over partitions could do this; nothing is lost.
    topic = topic_factory("stages")
    await ensure_topics(tansu.bootstrap_servers, [TopicSpec(topic, config=dict(COMPACTED))])
    stage_id, project_id = uuid.uuid4(), uuid.uuid4()
    state = StageState(stage_id=stage_id, paused=True, updated_at=time.time_ns())
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    await producer.start()
    try:
        headers = [(RECORD_TYPE_HEADER, b"stage-state")]
        await producer.send_and_wait(
            topic, state.model_dump_json().encode(), key=state_key(stage_id), headers=headers
        )
        await producer.send_and_wait(
            topic, stage_record(stage_id, project_id, 1), key=version_key(stage_id, 1)
        )
    finally:
        await producer.stop()
    async with worker(tansu, topic) as w:
        assert w.skipped == 0
        assert paused(w, stage_id)


async def test_following_a_missing_topic_is_a_broker_error(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    follower = StageFollower(
        tansu.bootstrap_servers, topic_factory("missing"), StageRegistry(metrics())
    )
    with pytest.raises(BrokerError, match="does not exist"):
        await follower.start()


async def test_a_stage_naming_a_metric_the_worker_lacks_is_kept_and_logged(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    # Custom metrics travel in configuration, not on the topic: a worker configured without one
    # keeps the stage (its requests get an `error` Response) and says which metric is missing.
    topic = topic_factory("stages")
    definition = StageDefinition.model_validate(
        central("words-guard", ruleset(("words", "empty", None)))
    )
    async with StageAdmin(
        tansu.bootstrap_servers, topic, MetricRegistry([score(0.5), keyword_labels()])
    ) as a:
        stage = (await a.apply(definition, PROJECT)).stage
    with structlog.testing.capture_logs() as logs:
        async with worker(tansu, topic) as w:
            assert w.registry.get(stage_id=stage.id).version == 1
    (warning,) = [e for e in logs if e["event"] == "stage_metric_unknown"]
    assert (warning["metric"], warning["version"]) == ("words", 1)


async def test_project_records_are_written_once_and_read_by_every_later_reader(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        created = await a.create_project("team-a")
        assert created.created
        assert not (await a.create_project("team-a")).created  # nothing written
        stage = (await a.apply(guard(0.5), "team-a")).stage
        assert stage.project_id == created.project.id
    async with admin(tansu, topic) as b:
        assert b.projects() == [created.project]
        assert b.registry.has_project_record(created.project.id)
        assert not (await b.create_project("team-a")).created
    async with worker(tansu, topic) as w:
        assert w.applied == 2  # the project record and the stage's version 1
        assert w.registry.project(project_name="team-a") == created.project


async def test_a_writer_waits_until_a_running_follower_applied_its_records(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        await a.create_project("team-a")  # the topic exists, for the follower
        async with worker(tansu, topic) as w:
            stage = (await a.apply(guard(0.5), "team-a")).stage
            await a.pause("guard", "team-a")
            await w.wait_applied(a.written)
            assert paused(w, stage.id)
            with pytest.raises(BrokerError, match="not read back"):
                await w.wait_applied({0: 10**9}, timeout=0.2)  # an offset never written


async def test_bad_project_records_are_skipped(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        project = (await a.create_project("team-a")).project
    clash = Project(id=uuid.uuid4(), name="team-a")  # a known name under another id
    bad: list[tuple[bytes | None, bytes | None]] = [
        (b"project/not-a-uuid", clash.model_dump_json().encode()),
        (project_key(uuid.uuid4()), project.model_dump_json().encode()),  # id is not the key's
        (project_key(clash.id), clash.model_dump_json().encode()),
        (project_key(project.id), json.dumps({"name": SECRET}).encode()),
        (project_key(project.id), None),  # a tombstone
    ]
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    await producer.start()
    try:
        for key, value in bad:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    with structlog.testing.capture_logs() as logs:
        async with worker(tansu, topic) as w:
            assert (w.applied, w.skipped) == (1, len(bad))
            assert w.registry.projects() == [project]
    reasons = [e["reason"] for e in logs if e["event"] == "stage_record_skipped"]
    assert "project/<project_id>" in reasons[0]
    assert "differs from the key" in reasons[1]
    assert "already has id" in reasons[2]
    assert SECRET not in repr(logs)


async def test_a_running_worker_logs_each_adopted_version_pause_and_resume(
    tansu: Broker, topic_factory: Callable[[str], str]
) -> None:
    topic = topic_factory("stages")
    async with admin(tansu, topic) as a:
        stage = (await a.apply(guard(0.5), PROJECT)).stage
        with structlog.testing.capture_logs() as logs:
            async with worker(tansu, topic) as w:
                await a.pause("guard")
                await until(lambda: paused(w, stage.id))
                await a.resume("guard")
                await until(lambda: not paused(w, stage.id))
                await a.apply(guard(0.8), PROJECT)
                await until(lambda: w.registry.get(stage_id=stage.id).version == 2)
    live = [
        (entry["event"], entry.get("version"))
        for entry in logs
        if entry["event"] in {"stage_version_adopted", "stage_paused", "stage_resumed"}
        and entry["log_level"] == "info"
    ]
    # Version 1 was read during the catch-up: its summary line counts it, not a line of its own.
    assert live == [("stage_paused", None), ("stage_resumed", None), ("stage_version_adopted", 2)]
    assert all(entry.get("stage_id") in (None, str(stage.id)) for entry in logs)

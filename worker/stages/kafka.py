"""The central stage registry on Kafka: a compacted topic, a follower (read side), an admin (write).

Records (key -> value, header `protect-record` = the record type):

    <stage_id>/v<version>  ->  Stage JSON        (schemas/stage.schema.json), one per version
    <stage_id>/state       ->  StageState JSON   (schemas/stage-state.schema.json)
    project/<project_id>   ->  Project JSON      (schemas/project.schema.json), one per project

One key per version means compaction never removes a version (older versions stay invocable by
`stage_version`); one key per stage for the state means compaction keeps exactly the latest pause
state. A version record also carries the pause state at the time it was written, so the last
record of a stage, version or state, says whether the stage is paused; replaying the topic in
order therefore ends in the current state, before and after compaction.

A project record is written once, by `create_project` (projects are never renamed). Projects
also exist without one: topics written before project records existed, and stages applied from
files, name their projects only in their stage records, and readers infer the project from those
(StageRegistry.projects). Workers older than project records skip them with a logged warning.

Every record of a stage goes to one partition, so a stage's records are read in write order even
on a topic someone created with several partitions.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import enum
import time
import traceback
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ValidationError

from worker.contract.project import Project
from worker.contract.stage import Stage, StageDefinition, StageState
from worker.contract.validation import describe
from worker.errors import (
    BrokerError,
    StageDefinitionError,
    StageNotFoundError,
    UnknownMetricError,
)
from worker.metrics.registry import MetricRegistry
from worker.stages.registry import DEFAULT_PROJECT, ApplyResult, StageRegistry
from worker.startstop import StartStop
from worker.stream.topics import COMPACTED, TopicSpec, ensure_topics

log = structlog.get_logger(__name__)

_M = TypeVar("_M", bound=BaseModel)

RECORD_TYPE_HEADER = "protect-record"

# The broker holds an empty fetch this long before answering. It bounds how late a pause or a new
# version reaches a running worker even on a broker that does not answer a waiting fetch as soon
# as a record arrives (the contract is 2 s); shorter only adds idle fetches.
FETCH_MAX_WAIT_MS = 500
# How long one `getmany` blocks. Records are returned as soon as they arrive, so this only sets
# how often catch-up progress is re-checked and how fast `stop()` is noticed.
POLL_TIMEOUT_MS = 100
# A stage topic holds at most thousands of small records: reading it takes well under a second.
# Past this the cluster is unreachable or misbehaving, and a worker must not start on a partial
# registry (it would answer `error` for stages that exist).
CATCH_UP_TIMEOUT_S = 60.0
# Between retries after a consumer error (broker restarting, leader moving).
RETRY_BACKOFF_S = 1.0
# Keys are ours (`<uuid>/v<n>`); a foreign key is logged truncated, never in full.
_LOGGED_KEY_CHARS = 80


def stage_topic_spec(topic: str, replication: int = 1) -> TopicSpec:
    """The registry topic: compacted; one partition, since writes are rare and one partition
    gives every reader the same order of versions and pause states."""
    return TopicSpec(topic, 1, replication, dict(COMPACTED))


class RecordType(enum.StrEnum):
    STAGE_VERSION = "stage-version"
    STAGE_STATE = "stage-state"
    PROJECT = "project"


# The first segment of a project record's key; stage keys start with the stage's UUID instead.
PROJECT_KEY_PREFIX = "project"


def version_key(stage_id: uuid.UUID, version: int) -> bytes:
    return f"{stage_id}/v{version}".encode()


def state_key(stage_id: uuid.UUID) -> bytes:
    return f"{stage_id}/state".encode()


def project_key(project_id: uuid.UUID) -> bytes:
    return f"{PROJECT_KEY_PREFIX}/{project_id}".encode()


class _BadRecord(Exception):
    """A record that is skipped; the message is the logged reason (never payload text)."""


_KEY_FORMS = "<stage_id>/v<version>, <stage_id>/state or project/<project_id>"


def _parse_key(key: bytes | None) -> tuple[RecordType, uuid.UUID, int | None]:
    """The key alone decides a record's type: it is what compaction acts on. Returns the type,
    the stage's (or the project's) id and the version number of a version record."""
    if key is None:
        raise _BadRecord("record without a key")
    try:
        head, _, tail = key.decode("ascii").partition("/")
        if head == PROJECT_KEY_PREFIX:
            return RecordType.PROJECT, uuid.UUID(tail), None
        stage_id = uuid.UUID(head)
    except (UnicodeDecodeError, ValueError):
        raise _BadRecord(f"key is not {_KEY_FORMS}") from None
    if tail == "state":
        return RecordType.STAGE_STATE, stage_id, None
    if tail.startswith("v") and tail[1:].isdigit() and int(tail[1:]) >= 1:
        return RecordType.STAGE_VERSION, stage_id, int(tail[1:])
    raise _BadRecord(f"key is not {_KEY_FORMS}")


def _decode(model: type[_M], value: bytes) -> _M:
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        # describe() names fields and pydantic's messages, never the input values.
        reason = describe(exc).replace("\n", "; ")
        raise _BadRecord(f"not a valid {model.__name__} record: {reason}") from None


class StageFollower(StartStop):
    """Reads the stage topic from the beginning into a StageRegistry, then follows it live.

    A plain consumer (no group, every partition assigned): every worker needs every record, and
    nothing is committed because the whole topic is replayed at each start.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        registry: StageRegistry,
        *,
        announce: bool = True,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.registry = registry
        # Log the catch-up at info (a worker's start-up milestone); the CLI turns it off so a
        # command's stderr carries only warnings.
        self.announce = announce
        self.applied = 0  # records applied to the registry
        self.skipped = 0  # bad records logged and skipped
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        # Catch-up targets: the first high watermark seen per partition (the topic's end when we
        # started). Not end_offsets(): Tansu answers a batch's base offset + 1 there.
        self._targets: dict[TopicPartition, int] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._started_at = 0.0
        self._caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # State records of stages not seen yet (possible only if a foreign writer spread a
        # stage's records over partitions); applied when the stage's first version arrives.
        self._pending_states: dict[uuid.UUID, StageState] = {}
        # partition -> offset after the last record handled (applied or skipped), for writers
        # waiting until their own records have reached this follower's registry.
        self._next_offsets: dict[int, int] = {}
        self._progress = asyncio.Condition()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def start(self) -> Self:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        try:
            await consumer.start()
        except KafkaError as exc:
            raise BrokerError(f"cannot reach Kafka at {self.bootstrap_servers}: {exc}") from exc
        try:
            await consumer.topics()  # refreshes metadata, so the topic's partitions are known
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                raise BrokerError(f"stage topic {self.topic!r} does not exist")
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._started_at = time.monotonic()
        self._task = asyncio.create_task(self._run(consumer), name=f"stage-follower:{self.topic}")
        return self

    async def wait_caught_up(self, timeout: float = CATCH_UP_TIMEOUT_S) -> None:
        """Return once every record that was on the topic at start has been applied."""
        task = self._task
        if task is None:
            raise RuntimeError("StageFollower.wait_caught_up() before start()")
        waiter = asyncio.ensure_future(self._caught_up.wait())
        try:
            await asyncio.wait({waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._caught_up.is_set():
            return
        if task.done():
            task.result()  # re-raises what stopped the follower
            raise BrokerError(f"stage follower of {self.topic!r} stopped before catching up")
        raise BrokerError(
            f"stage topic {self.topic!r} not read to its end within {timeout:g} s "
            f"({self._describe_targets()})"
        )

    async def wait_applied(
        self, written: Mapping[int, int], timeout: float = CATCH_UP_TIMEOUT_S
    ) -> None:
        """Return once the records at these offsets (partition -> offset) have been handled, so
        the registry reflects them: how a writer reads its own writes through this follower."""

        def reached() -> bool:
            return all(self._next_offsets.get(p, 0) > offset for p, offset in written.items())

        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait_for(reached), timeout)
            except TimeoutError:
                raise BrokerError(
                    f"stage topic {self.topic!r}: written records not read back within "
                    f"{timeout:g} s"
                ) from None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
                if batches:
                    async with self._progress:
                        for records in batches.values():
                            last = records[-1]
                            self._next_offsets[last.partition] = last.offset + 1
                        self._progress.notify_all()
                if not self._caught_up.is_set() and await self._reached_targets(consumer):
                    self._caught_up.set()
                    (log.info if self.announce else log.debug)(
                        "stage_registry_caught_up",
                        topic=self.topic,
                        records=self.applied,
                        skipped=self.skipped,
                        stages=len(self.registry.latest()),
                        seconds=round(time.monotonic() - self._started_at, 3),
                    )
            except Exception as exc:
                # Mostly retriable (broker restarting, leader moving): a worker keeps its last
                # known registry and keeps trying; a follower that died quietly would leave every
                # later pause unseen.
                log.warning("stage_follower_error", topic=self.topic, error=repr(exc))
                await asyncio.sleep(RETRY_BACKOFF_S)

    async def _reached_targets(self, consumer: AIOKafkaConsumer) -> bool:
        for tp in self._partitions:
            if tp not in self._targets:
                highwater = consumer.highwater(tp)
                if highwater is None:  # no fetch response for this partition yet
                    return False
                self._targets[tp] = highwater
        for tp in self._partitions:
            self._positions[tp] = await consumer.position(tp)
        return all(self._positions[tp] >= target for tp, target in self._targets.items())

    def _describe_targets(self) -> str:
        if not self._targets:
            return "no fetch answered yet"
        return ", ".join(
            f"partition {tp.partition} at {self._positions.get(tp, 0)} of {target}"
            for tp, target in self._targets.items()
        )

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            self._apply_record(record)
        except (_BadRecord, StageDefinitionError) as exc:
            self._skip(record, str(exc))
        except Exception as exc:  # a bug must not stop every later pause from arriving
            # Where it failed, not the message or a traceback: either may quote the record.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            self._skip(record, f"unexpected {type(exc).__name__} at {where}")
        else:
            self.applied += 1

    def _apply_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        kind, stage_id, version = _parse_key(record.key)
        if record.value is None:
            raise _BadRecord("tombstone: deleting a stage or project is not supported")
        if kind is RecordType.PROJECT:
            project = _decode(Project, record.value)
            if project.id != stage_id:
                raise _BadRecord("id differs from the key's")
            self.registry.put_project(project)  # raises StageDefinitionError on a name clash
            return
        if kind is RecordType.STAGE_STATE:
            state = _decode(StageState, record.value)
            if state.stage_id != stage_id:
                raise _BadRecord("stage_id differs from the key's")
            try:
                self.registry.set_paused(stage_id, state.paused)
            except StageNotFoundError:
                self._pending_states[stage_id] = state
                return
            self._announce("stage_resumed" if not state.paused else "stage_paused", stage_id)
            return
        stage = _decode(Stage, record.value)
        if (stage.id, stage.version) != (stage_id, version):
            raise _BadRecord("id or version differs from the key's")
        self._warn_if_rewritten(stage, record)
        self.registry.put(stage)  # raises StageDefinitionError on a version gap
        pending = self._pending_states.pop(stage_id, None)
        if pending is not None:
            self.registry.set_paused(stage_id, pending.paused)
        self._announce("stage_version_adopted", stage_id, version=stage.version)
        self._warn_if_unknown_metric(stage)

    def _announce(self, event: str, stage_id: uuid.UUID, **fields: object) -> None:
        # Changes seen live, after the catch-up (whose summary line covers the history): an
        # operator reads when each worker began to apply a new version, a pause or a resume.
        if self._caught_up.is_set():
            (log.info if self.announce else log.debug)(
                event, topic=self.topic, stage_id=str(stage_id), **fields
            )

    def _warn_if_unknown_metric(self, stage: Stage) -> None:
        # The version is kept: requests for it get an `error` Response naming the metric, which
        # is the contract. Custom metrics travel in configuration, not on the topic, so this is
        # how an operator learns that this worker lacks a declaration the admin had.
        try:
            self.registry.metrics.validate_rulesets(stage.prioritized_rulesets)
        except UnknownMetricError as exc:
            # Only a worker evaluates: a `protect stages list` reader has no reason to load the
            # custom metrics of the stages file, so their absence is no news to its user.
            (log.warning if self.announce else log.debug)(
                "stage_metric_unknown",
                topic=self.topic,
                stage_id=str(stage.id),
                version=stage.version,
                metric=exc.metric,
            )

    def _warn_if_rewritten(self, stage: Stage, record: ConsumerRecord[bytes, bytes]) -> None:
        # Versions are immutable; a second, different record for one version means two admins
        # wrote concurrently. The later record wins, as compaction will decide too.
        try:
            known = self.registry.get(stage_id=stage.id, version=stage.version)
        except StageNotFoundError:
            return
        if known.model_copy(update={"paused": stage.paused}) != stage:
            log.warning(
                "stage_version_rewritten",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                stage_id=str(stage.id),
                version=stage.version,
            )

    def _skip(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        self.skipped += 1
        key = None
        if record.key is not None:
            key = record.key[:_LOGGED_KEY_CHARS].decode("utf-8", errors="replace")
        log.warning(
            "stage_record_skipped",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class PauseResult:
    stage: Stage  # the latest version, as the registry now sees it
    changed: bool  # False: the stage already was in that state (nothing was written)


@dataclass(frozen=True, slots=True)
class ProjectResult:
    project: Project
    created: bool  # False: the project already had a record (nothing was written)


class StageAdmin(StartStop):
    """The write side (the `protect stages` commands): a snapshot of the topic plus our writes.

    The snapshot is read by a StageFollower (one catch-up mechanism for workers and the CLI), then
    the follower stops: an admin is short-lived, and a write is computed against the registry as
    read. Two admins writing the same stage at the same moment can both publish one version
    number; the later record wins on every reader (as compaction decides), and followers log it.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        metrics: MetricRegistry,
        *,
        default_project: str = DEFAULT_PROJECT,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.metrics = metrics
        self.default_project = default_project
        self._registry = StageRegistry(metrics)
        self._producer: AIOKafkaProducer | None = None
        self._partitions: builtins.list[int] = []
        # Set when a write failed after the local registry took it: re-read before the next one.
        self._stale = False
        # partition -> offset of the last record this admin wrote (to wait for it elsewhere).
        self.written: dict[int, int] = {}

    async def start(self) -> Self:
        # One partition: registry writes are rare governance actions, so throughput is moot, and
        # one partition gives every reader one total order of versions and pause states.
        await ensure_topics(self.bootstrap_servers, [stage_topic_spec(self.topic)])
        await self._load()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            # A governance change is reported done only when every in-sync replica has it.
            acks="all",
            # Not idempotent: Tansu refuses InitProducerId, and a retried duplicate is harmless
            # here (same key, same bytes; the follower's put is idempotent).
            enable_idempotence=False,
        )
        try:
            await producer.start()
            self._partitions = sorted(await producer.partitions_for(self.topic))
        except KafkaError as exc:
            await producer.stop()
            raise BrokerError(f"cannot reach Kafka at {self.bootstrap_servers}: {exc}") from exc
        self._producer = producer
        return self

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _load(self) -> None:
        registry = StageRegistry(self.metrics)
        follower = StageFollower(self.bootstrap_servers, self.topic, registry, announce=False)
        async with follower:
            await follower.wait_caught_up()
        self._registry, self._stale = registry, False

    async def _fresh(self) -> StageRegistry:
        if self._stale:
            await self._load()
        return self._registry

    @property
    def registry(self) -> StageRegistry:
        if self._stale:
            raise BrokerError("the registry view is stale after a failed write; restart the admin")
        return self._registry

    # -- writing ------------------------------------------------------------------------------

    async def apply(
        self, definition: StageDefinition, project_name: str | None = None
    ) -> ApplyResult:
        """Publish a new version when the definition changed; nothing when it did not.

        Pausing is governed by pause/resume: a new version keeps the stage's pause state, so
        re-applying a file never silently resumes a stage paused during an incident.
        """
        registry = await self._fresh()
        project = definition.project_name or project_name or self.default_project
        try:
            current = registry.get(
                stage_name=definition.name, project_id=definition.project_id, project_name=project
            )
        except StageNotFoundError:
            current = None
        if current is not None and current.paused != definition.paused:
            log.warning(
                "stage_pause_state_kept",
                stage=definition.name,
                project=project,
                paused=current.paused,
                detail="a definition's `paused` applies when a stage is created; use "
                "`protect stages pause` / `resume` for an existing stage",
            )
            definition = definition.model_copy(update={"paused": current.paused})
        result = registry.apply(definition, project_name=project)
        if result.created:
            try:
                await self._publish(
                    result.stage.id,
                    version_key(result.stage.id, result.stage.version),
                    result.stage.model_dump_json().encode(),
                    RecordType.STAGE_VERSION,
                )
            except BrokerError:
                self._stale = True  # the local registry holds a version the topic does not
                raise
        return result

    async def pause(self, name: str, project: str | None = None) -> PauseResult:
        await self._fresh()
        return await self.set_paused(self.show(name, project).id, paused=True)

    async def resume(self, name: str, project: str | None = None) -> PauseResult:
        await self._fresh()
        return await self.set_paused(self.show(name, project).id, paused=False)

    async def set_paused(self, stage_id: uuid.UUID, paused: bool) -> PauseResult:
        """Pause or resume a stage (every version); nothing is written if it already is so."""
        registry = await self._fresh()
        stage = registry.get(stage_id=stage_id)
        if stage.paused == paused:
            return PauseResult(stage, changed=False)
        state = StageState(stage_id=stage.id, paused=paused, updated_at=time.time_ns())
        await self._publish(
            stage.id, state_key(stage.id), state.model_dump_json().encode(), RecordType.STAGE_STATE
        )
        return PauseResult(registry.set_paused(stage.id, paused), changed=True)

    async def create_project(self, name: str) -> ProjectResult:
        """Write a record for the project of this name, unless it has one.

        A project known only from its stages' records gets its record here, with the id those
        stages carry.
        """
        registry = await self._fresh()
        project = registry.new_project(name)
        if registry.has_project_record(project.id):
            return ProjectResult(project, created=False)
        await self._publish(
            project.id,
            project_key(project.id),
            project.model_dump_json().encode(),
            RecordType.PROJECT,
        )
        return ProjectResult(registry.put_project(project), created=True)

    async def _publish(
        self, entity_id: uuid.UUID, key: bytes, value: bytes, kind: RecordType
    ) -> None:
        """Write one record and wait for the broker's acknowledgement."""
        if self._producer is None:
            raise RuntimeError("StageAdmin used before start()")
        # A stage's records share a partition, so they are read in the order they were written.
        partition = self._partitions[zlib.crc32(entity_id.bytes) % len(self._partitions)]
        try:
            written = await self._producer.send_and_wait(
                self.topic,
                value,
                key=key,
                partition=partition,
                headers=[(RECORD_TYPE_HEADER, kind.value.encode())],
            )
        except KafkaError as exc:
            raise BrokerError(f"cannot write to stage topic {self.topic!r}: {exc}") from exc
        self.written[written.partition] = written.offset

    # -- reading ------------------------------------------------------------------------------

    def project_of(self, name: str, project: str | None = None) -> str:
        """`project`, else the one project holding a stage of this name, else the default."""
        if project is not None:
            return project
        holders = self.registry.projects_with(name)
        return holders[0] if len(holders) == 1 else self.default_project

    def show(self, name: str, project: str | None = None, version: int | None = None) -> Stage:
        return self.registry.get_named(name, self.project_of(name, project), version=version)

    def history(self, name: str, project: str | None = None) -> builtins.list[Stage]:
        return self.registry.history(self.show(name, project).id)

    def list(self) -> builtins.list[Stage]:
        """The latest version of every stage, by project then name."""
        return sorted(self.registry.latest(), key=lambda s: (s.project_name or "", s.name))

    def projects(self) -> builtins.list[Project]:
        """Every project: those with a record and those only stage records name."""
        return self.registry.projects()

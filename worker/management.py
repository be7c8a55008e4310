"""Galileo's project and stage functions, on the registry the in-process API invokes.

galileo-protect's names and parameters: `create_project`, `get_project`, `get_projects`,
`create_stage`, `get_stage`, `update_stage`, `pause_stage`, `resume_stage` (each with an `a...`
coroutine); galileo 2.7's `create_protect_stage`, `get_protect_stage`, `update_protect_stage`,
`pause_protect_stage`, `resume_protect_stage` are thin aliases over the same implementation.

Where they act is the API's registry (`worker.api.configure`): in memory (the stages file's
stages plus what these functions add, in this process), or with `registry="kafka"` the registry
topic, written through StageAdmin and read back through the API's mirror of the topic before a
function returns, so `invoke_protect` sees the change at once.

Semantics (Galileo's, with the choices that are ours):
- Stages are returned as StageResponse (galileo-core's StageDB fields plus our stage record's),
  projects as Project (galileo-core's ProjectResponse fields).
- A local stage is created without rulesets (requests bring them); asking for rulesets on one is
  refused. `update_stage` publishes a new immutable version of a central stage's rulesets (None
  clears them, as in Galileo); an unchanged definition publishes none. Pause and resume apply
  to every version.
- **ours** `create_stage` of a name the project already holds returns that stage when the
  definition (type, description, rulesets) is the same, so setup scripts can run twice, and is
  refused otherwise (`update_stage` is how a version is published).
- As galileo-protect does, the project and stage last created or used are remembered: a stage
  function called without a project acts in that project, and one without a stage on that stage
  (`pause_stage()`). Explicit arguments always win; `configure()` forgets both. Without either,
  a stage name is looked up in the one project holding it, else in the default project
  (PROTECT_PROJECT, else the stages file's `project`), where `create_stage` also creates stages
  (making that project if needed). Other projects are made by `create_project` only: a project
  named or an id given that does not exist is an error, as in Galileo.
- `create_project(name)` returns the project of that name if it exists (galileo-core does the
  same). Its default name, `project`, becomes `project-<timestamp>` (galileo-core's rule); a
  stage's default name is `stage-<timestamp>`.
- Errors: ProjectNotFoundError, StageNotFoundError, and StageDefinitionError naming the field.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError

from worker.api import default_protect
from worker.contract.foreign import as_document
from worker.contract.project import Project
from worker.contract.rules import Ruleset
from worker.contract.stage import Name, Stage, StageDefinition, StageResponse
from worker.contract.statuses import StageType
from worker.contract.validation import describe, field_path
from worker.errors import ProjectNotFoundError, StageDefinitionError, StageNotFoundError
from worker.runtime import Protect
from worker.settings import Settings
from worker.stages.kafka import StageAdmin
from worker.stages.registry import ApplyResult, StageRegistry

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# galileo-core's default project name; a project created under it gets a timestamp suffix, as
# galileo-core's CreateProjectRequest does, so `create_project()` twice a second apart makes two.
DEFAULT_PROJECT_NAME = "project"
DEFAULT_STAGE_PREFIX = "stage"

Id = uuid.UUID | str
RulesetLike = Ruleset | Mapping[str, Any] | BaseModel

_NAME = TypeAdapter(Name)
_DESCRIPTION = TypeAdapter(str | None)
_RULESETS = TypeAdapter(list[Ruleset])


def timestamped(prefix: str) -> str:
    """galileo-core's `ts_name`: `prefix-Mon_DD_HH_MM_SS`."""
    return f"{prefix}-{datetime.now().strftime('%b_%d_%H_%M_%S')}"


# -- what was last created or used (galileo-protect's ProtectConfig) ----------------------------


class _Recent:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The service the ids belong to: configure() replaces it, and the ids are then forgotten.
        self._service: weakref.ref[Protect] | None = None
        self._project_id: uuid.UUID | None = None
        self._stage_id: uuid.UUID | None = None

    def recall(self, service: Protect) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        with self._lock:
            if self._service is None or self._service() is not service:
                return None, None
            return self._project_id, self._stage_id

    def remember(
        self, service: Protect, project_id: uuid.UUID, stage_id: uuid.UUID | None = None
    ) -> None:
        with self._lock:
            same = self._service is not None and self._service() is service
            if not same or project_id != self._project_id:
                self._stage_id = None  # a remembered stage belongs to the remembered project
            self._service = weakref.ref(service)
            self._project_id = project_id
            if stage_id is not None:
                self._stage_id = stage_id


_recent = _Recent()


# -- sessions: one registry to read, and how writes reach it ------------------------------------


class _Session(ABC):
    def __init__(self, protect: Protect) -> None:
        self.protect = protect

    @property
    @abstractmethod
    def registry(self) -> StageRegistry:
        """The registry as this session reads it."""

    @abstractmethod
    async def create_project(self, name: str) -> Project: ...

    @abstractmethod
    async def apply(self, definition: StageDefinition) -> ApplyResult: ...

    @abstractmethod
    async def set_paused(self, stage_id: uuid.UUID, paused: bool) -> Stage: ...


class _MemorySession(_Session):
    @property
    def registry(self) -> StageRegistry:
        return self.protect.stages

    async def create_project(self, name: str) -> Project:
        return self.registry.put_project(self.registry.new_project(name))

    async def apply(self, definition: StageDefinition) -> ApplyResult:
        return self.registry.apply(definition)

    async def set_paused(self, stage_id: uuid.UUID, paused: bool) -> Stage:
        return self.registry.set_paused(stage_id, paused)


class _KafkaSession(_Session):
    """Reads the topic as StageAdmin read it at the session's start; writes through it."""

    def __init__(self, protect: Protect, admin: StageAdmin) -> None:
        super().__init__(protect)
        self.admin = admin

    @property
    def registry(self) -> StageRegistry:
        return self.admin.registry

    async def create_project(self, name: str) -> Project:
        return (await self.admin.create_project(name)).project

    async def apply(self, definition: StageDefinition) -> ApplyResult:
        return await self.admin.apply(definition)

    async def set_paused(self, stage_id: uuid.UUID, paused: bool) -> Stage:
        return (await self.admin.set_paused(stage_id, paused)).stage


@asynccontextmanager
async def _session() -> AsyncIterator[_Session]:
    protect = default_protect()
    mirror = protect.mirror
    if mirror is None:
        yield _MemorySession(protect)
        return
    async with StageAdmin(
        mirror.bootstrap_servers,
        mirror.topic,
        protect.stages.metrics,
        default_project=protect.unnamed_project(Settings()),
    ) as admin:
        yield _KafkaSession(protect, admin)
    # Read our own writes: once this returns, invoke_protect sees them.
    await mirror.wait_applied(admin.written)


def _sync(name: str, coroutine: str, call: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run `call()` to completion outside an event loop; refuse inside one (blocking it would
    stall every other task), as invoke_protect does."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    raise RuntimeError(f"{name}() called inside an event loop; await {coroutine}()")


# -- argument checks ----------------------------------------------------------------------------


def _checked(adapter: TypeAdapter[_T], value: Any, field: str) -> _T:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        first = field_path((field, *exc.errors(include_url=False)[0]["loc"]))
        raise StageDefinitionError(describe(exc, prefix=field), field=first) from None


def _id(value: Id | None, field: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise StageDefinitionError(f"{value!r} is not a UUID", field=field) from None


def _rulesets(rulesets: Sequence[RulesetLike] | None) -> list[Ruleset]:
    # galileo-core's Ruleset instances are accepted as the documents they stand for.
    return _checked(_RULESETS, as_document(list(rulesets or [])), "prioritized_rulesets")


def _stage_type(value: StageType | str) -> StageType:
    try:
        return StageType(value)
    except ValueError:
        raise StageDefinitionError(
            f"{value!r} is not a stage type (local or central)", field="type"
        ) from None


def _log_warnings(result: ApplyResult) -> None:
    for warning in result.warnings:
        log.warning(
            "stage_rule_warning",
            stage=result.stage.name,
            field=warning.field,
            detail=warning.message,
        )


# -- lookups ------------------------------------------------------------------------------------


def _named_project(
    registry: StageRegistry, project_id: Id | None, project_name: str | None
) -> Project | None:
    """The project the caller named (an id wins over a name), or None when they named none."""
    pid = _id(project_id, "project_id")
    if pid is None and project_name is None:
        return None
    try:
        return registry.project(project_id=pid, project_name=project_name)
    except ProjectNotFoundError as exc:
        if pid is None:
            raise ProjectNotFoundError(
                f"{exc}; create_project({project_name!r}) creates it"
            ) from exc
        raise


def _find_stage(
    session: _Session,
    project_id: Id | None,
    project_name: str | None,
    stage_id: Id | None,
    stage_name: str | None,
) -> Stage:
    registry = session.registry
    project = _named_project(registry, project_id, project_name)
    recent_project, recent_stage = _recent.recall(session.protect)
    sid = _id(stage_id, "stage_id")
    if sid is None and stage_name is None:
        if recent_stage is None or (project is not None and project.id != recent_project):
            raise StageNotFoundError(
                "stage_id or stage_name is required (no stage of that project was created or "
                "used yet to default to)"
            )
        sid = recent_stage
    if sid is not None:
        stage = registry.get(stage_id=sid)
        if project is not None and stage.project_id != project.id:
            raise StageNotFoundError(f"stage {sid} is not in project {project.name!r}")
        return stage
    assert stage_name is not None
    if project is None and recent_project is not None:
        project = registry.project(project_id=recent_project)
    if project is not None:
        return registry.get_named(stage_name, project.name, project_id=project.id)
    holders = registry.projects_with(stage_name)
    name = holders[0] if len(holders) == 1 else session.protect.unnamed_project(Settings())
    return registry.get_named(stage_name, name)


async def _project_for_new_stage(
    session: _Session, project_id: Id | None, project_name: str | None
) -> Project:
    project = _named_project(session.registry, project_id, project_name)
    if project is not None:
        return project
    recent_project, _ = _recent.recall(session.protect)
    if recent_project is not None:
        return session.registry.project(project_id=recent_project)
    return await session.create_project(session.protect.unnamed_project(Settings()))


# -- projects -----------------------------------------------------------------------------------


async def acreate_project(name: str = DEFAULT_PROJECT_NAME) -> Project:
    """Create a project, or return the one of that name; it becomes the remembered project."""
    name = timestamped(name) if name == DEFAULT_PROJECT_NAME else _checked(_NAME, name, "name")
    async with _session() as session:
        project = await session.create_project(name)
    _recent.remember(session.protect, project.id)
    return project


def create_project(name: str = DEFAULT_PROJECT_NAME) -> Project:
    return _sync("create_project", "acreate_project", lambda: acreate_project(name))


async def aget_project(
    project_id: Id | None = None, project_name: str | None = None, raise_if_missing: bool = True
) -> Project | None:
    """A project by id (which wins) or name; None if missing and not `raise_if_missing`."""
    if project_id is None and project_name is None:
        raise ProjectNotFoundError("project_id or project_name is required")
    async with _session() as session:
        try:
            return _named_project(session.registry, project_id, project_name)
        except ProjectNotFoundError:
            if raise_if_missing:
                raise
            return None


def get_project(
    project_id: Id | None = None, project_name: str | None = None, raise_if_missing: bool = True
) -> Project | None:
    return _sync(
        "get_project",
        "aget_project",
        lambda: aget_project(project_id, project_name, raise_if_missing),
    )


async def aget_projects() -> list[Project]:
    """Every project, by name: those created and those only stages name."""
    async with _session() as session:
        return session.registry.projects()


def get_projects() -> list[Project]:
    return _sync("get_projects", "aget_projects", aget_projects)


# -- stages -------------------------------------------------------------------------------------


async def acreate_stage(
    project_id: Id | None = None,
    name: str | None = None,
    description: str | None = None,
    pause: bool = False,
    type: StageType | str = StageType.LOCAL,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
    *,
    project_name: str | None = None,
) -> StageResponse:
    """Create a stage (galileo-protect's parameters; `project_name` is galileo 2.7's)."""
    stage_type = _stage_type(type)
    rulesets = _rulesets(prioritized_rulesets)
    if stage_type is StageType.LOCAL and rulesets:
        raise StageDefinitionError(
            "a local stage is created without rulesets: each request brings its own "
            "(type=central to manage rulesets in the registry)",
            field="prioritized_rulesets",
        )
    stage_name = _checked(_NAME, name or timestamped(DEFAULT_STAGE_PREFIX), "name")
    description = _checked(_DESCRIPTION, description, "description")
    async with _session() as session:
        # Refuse unknown metrics before anything is written (the default project, below).
        session.registry.metrics.validate_rulesets(rulesets)
        project = await _project_for_new_stage(session, project_id, project_name)
        definition = StageDefinition(
            name=stage_name,
            project_id=project.id,
            project_name=project.name,
            description=description,
            type=stage_type,
            paused=pause,
            prioritized_rulesets=rulesets if stage_type is StageType.CENTRAL else None,
        )
        try:
            existing: Stage | None = session.registry.get(
                stage_name=definition.name, project_id=project.id
            )
        except StageNotFoundError:
            existing = None
        if existing is None:
            result = await session.apply(definition)
            _log_warnings(result)
            stage = result.stage
        elif (existing.type, existing.description, existing.prioritized_rulesets) == (
            stage_type,
            description,
            rulesets,
        ):
            stage = existing
            if existing.paused != pause:
                log.warning(
                    "stage_pause_state_kept",
                    stage=existing.name,
                    project=project.name,
                    paused=existing.paused,
                    detail="the stage exists; pause_stage / resume_stage change its state",
                )
        else:
            raise StageDefinitionError(
                f"stage {definition.name!r} already exists in project {project.name!r} with "
                "another definition; update_stage() publishes a new version of its rulesets",
                field="name",
            )
    _recent.remember(session.protect, stage.project_id, stage.id)
    return StageResponse.of(stage)


def create_stage(
    project_id: Id | None = None,
    name: str | None = None,
    description: str | None = None,
    pause: bool = False,
    type: StageType | str = StageType.LOCAL,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
    *,
    project_name: str | None = None,
) -> StageResponse:
    return _sync(
        "create_stage",
        "acreate_stage",
        lambda: acreate_stage(
            project_id,
            name,
            description,
            pause,
            type,
            prioritized_rulesets,
            project_name=project_name,
        ),
    )


async def aget_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """The latest version of a stage, by id or by name within a project."""
    async with _session() as session:
        stage = _find_stage(session, project_id, project_name, stage_id, stage_name)
    _recent.remember(session.protect, stage.project_id, stage.id)
    return StageResponse.of(stage)


def get_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    return _sync(
        "get_stage",
        "aget_stage",
        lambda: aget_stage(project_id, project_name, stage_id, stage_name),
    )


async def aupdate_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
) -> StageResponse:
    """Publish a new version of a central stage with these rulesets (None: no rulesets).

    An unchanged definition publishes nothing and returns the latest version.
    """
    rulesets = _rulesets(prioritized_rulesets)
    async with _session() as session:
        current = _find_stage(session, project_id, project_name, stage_id, stage_name)
        if current.type is StageType.LOCAL:
            raise StageDefinitionError(
                f"stage {current.name!r} is a local stage: requests bring its rulesets, so it "
                "has none to update (update_stage applies to central stages)",
                field="type",
            )
        result = await session.apply(
            StageDefinition(
                name=current.name,
                project_id=current.project_id,
                project_name=current.project_name,
                description=current.description,
                type=current.type,
                paused=current.paused,  # pause and resume govern the pause state
                prioritized_rulesets=rulesets,
            )
        )
        _log_warnings(result)
    _recent.remember(session.protect, result.stage.project_id, result.stage.id)
    return StageResponse.of(result.stage)


def update_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
) -> StageResponse:
    return _sync(
        "update_stage",
        "aupdate_stage",
        lambda: aupdate_stage(project_id, project_name, stage_id, stage_name, prioritized_rulesets),
    )


async def _set_paused(
    paused: bool,
    project_id: Id | None,
    project_name: str | None,
    stage_id: Id | None,
    stage_name: str | None,
) -> StageResponse:
    async with _session() as session:
        stage = _find_stage(session, project_id, project_name, stage_id, stage_name)
        stage = await session.set_paused(stage.id, paused)
    _recent.remember(session.protect, stage.project_id, stage.id)
    return StageResponse.of(stage)


async def apause_stage(
    project_id: Id | None = None,
    stage_id: Id | None = None,
    *,
    project_name: str | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """Pause a stage: every version answers `paused` until resumed. Returns the latest version
    (galileo-protect returns None, galileo 2.7 the stage)."""
    return await _set_paused(True, project_id, project_name, stage_id, stage_name)


def pause_stage(
    project_id: Id | None = None,
    stage_id: Id | None = None,
    *,
    project_name: str | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    return _sync(
        "pause_stage",
        "apause_stage",
        lambda: apause_stage(
            project_id, stage_id, project_name=project_name, stage_name=stage_name
        ),
    )


async def aresume_stage(
    project_id: Id | None = None,
    stage_id: Id | None = None,
    *,
    project_name: str | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """Resume a paused stage (every version)."""
    return await _set_paused(False, project_id, project_name, stage_id, stage_name)


def resume_stage(
    project_id: Id | None = None,
    stage_id: Id | None = None,
    *,
    project_name: str | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    return _sync(
        "resume_stage",
        "aresume_stage",
        lambda: aresume_stage(
            project_id, stage_id, project_name=project_name, stage_name=stage_name
        ),
    )


# -- galileo 2.7's names ------------------------------------------------------------------------


def create_protect_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    name: str | None = None,
    stage_type: StageType | str = StageType.LOCAL,
    pause: bool = False,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
    description: str | None = None,
) -> StageResponse:
    """galileo 2.7's `create_protect_stage`: `create_stage`."""
    return _sync(
        "create_protect_stage",
        "acreate_stage",
        lambda: acreate_stage(
            project_id,
            name,
            description,
            pause,
            stage_type,
            prioritized_rulesets,
            project_name=project_name,
        ),
    )


def get_protect_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """galileo 2.7's `get_protect_stage`: `get_stage`."""
    return _sync(
        "get_protect_stage",
        "aget_stage",
        lambda: aget_stage(project_id, project_name, stage_id, stage_name),
    )


def update_protect_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
    prioritized_rulesets: Sequence[RulesetLike] | None = None,
) -> StageResponse:
    """galileo 2.7's `update_protect_stage`: `update_stage`."""
    return _sync(
        "update_protect_stage",
        "aupdate_stage",
        lambda: aupdate_stage(project_id, project_name, stage_id, stage_name, prioritized_rulesets),
    )


def pause_protect_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """galileo 2.7's `pause_protect_stage`: `pause_stage`."""
    return _sync(
        "pause_protect_stage",
        "apause_stage",
        lambda: _set_paused(True, project_id, project_name, stage_id, stage_name),
    )


def resume_protect_stage(
    project_id: Id | None = None,
    project_name: str | None = None,
    stage_id: Id | None = None,
    stage_name: str | None = None,
) -> StageResponse:
    """galileo 2.7's `resume_protect_stage`: `resume_stage`."""
    return _sync(
        "resume_protect_stage",
        "aresume_stage",
        lambda: _set_paused(False, project_id, project_name, stage_id, stage_name),
    )

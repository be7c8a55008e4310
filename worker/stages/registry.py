"""The stage registry: projects, stages and their immutable versions, in memory.

Every source of stages (a stages file, the compacted Kafka topic, the management API) feeds this
one structure, and every consumer (in-process API, CLI, worker) reads it.

A project exists when it has a record (`create_project`, or a `project/<id>` record read from the
topic) or when a stage names it: stage files, invocations that create local stages and registry
topics written before project records existed name projects only through their stages.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from worker.contract.project import Project
from worker.contract.request import Request
from worker.contract.stage import Stage, StageDefinition, project_id_for, stage_id_for
from worker.contract.statuses import StageType
from worker.errors import ProjectNotFoundError, StageDefinitionError, StageNotFoundError
from worker.metrics.registry import MetricRegistry, StageWarning

# Galileo needs a project for every stage; a stage named without one lands here.
DEFAULT_PROJECT = "default"


@dataclass(slots=True)
class _Entry:
    versions: list[Stage] = field(default_factory=list)
    # Pausing is a property of the stage, not of a version: a request pinned to an old version
    # of a paused stage is paused too.
    paused: bool = False

    def version(self, number: int | None) -> Stage | None:
        if number is None:
            return self.versions[-1]
        if 1 <= number <= len(self.versions):
            return self.versions[number - 1]
        return None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    stage: Stage
    created: bool  # a new version was published (False: the definition was unchanged)
    warnings: list[StageWarning]


class StageRegistry:
    """Thread-safe: the Kafka follower (a background task) writes while workers read."""

    def __init__(self, metrics: MetricRegistry) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        self._stages: dict[uuid.UUID, _Entry] = {}
        self._by_name: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        self._projects: dict[str, uuid.UUID] = {}  # name -> id, of records and of stages
        self._project_records: dict[uuid.UUID, Project] = {}

    # -- writing ------------------------------------------------------------------------------

    def apply(self, definition: StageDefinition, *, project_name: str | None = None) -> ApplyResult:
        """Register a stage, or publish a new version if its rulesets or description changed."""
        warnings: list[StageWarning] = []
        if definition.prioritized_rulesets is not None:
            warnings = self.metrics.validate_rulesets(definition.prioritized_rulesets)
        project_id, project = self._project(
            definition.project_id, definition.project_name or project_name
        )
        with self._lock:
            # The id first registered for this name is kept (assigned once).
            stage_id = self._by_name.get((project_id, definition.name)) or stage_id_for(
                project_id, definition.name
            )
            entry = self._stages.get(stage_id)
            latest = entry.versions[-1] if entry else None
            if latest is not None and latest.type is not definition.type:
                raise StageDefinitionError(
                    f"stage {definition.name!r} is {latest.type.value}; its type cannot change",
                    field="type",
                )
            rulesets = list(definition.prioritized_rulesets or [])
            unchanged = latest is not None and (
                latest.prioritized_rulesets == rulesets
                and latest.description == definition.description
            )
            if latest is not None and unchanged:
                assert entry is not None
                entry.paused = definition.paused
                return ApplyResult(self._view(entry, latest), created=False, warnings=warnings)
            stage = Stage(
                id=stage_id,
                name=definition.name,
                project_id=project_id,
                project_name=project,
                description=definition.description,
                type=definition.type,
                paused=definition.paused,
                version=len(entry.versions) + 1 if entry else 1,
                prioritized_rulesets=rulesets,
                created_at=time.time_ns(),
            )
            self._put(stage)
        return ApplyResult(stage, created=True, warnings=warnings)

    def put(self, stage: Stage) -> None:
        """Add a stage version record as published elsewhere (e.g. read from the registry topic)."""
        with self._lock:
            self._put(stage)

    def _put(self, stage: Stage) -> None:
        entry = self._stages.setdefault(stage.id, _Entry())
        if stage.version == len(entry.versions) + 1:
            entry.versions.append(stage)
        elif stage.version <= len(entry.versions):
            entry.versions[stage.version - 1] = stage  # replayed record: idempotent
        else:
            raise StageDefinitionError(
                f"stage {stage.name!r} version {stage.version} arrived before version "
                f"{len(entry.versions) + 1}",
                field="version",
            )
        entry.paused = stage.paused
        self._by_name[(stage.project_id, stage.name)] = stage.id
        if stage.project_name:
            self._projects.setdefault(stage.project_name, stage.project_id)

    def set_paused(self, stage_id: uuid.UUID, paused: bool) -> Stage:
        with self._lock:
            entry = self._stages.get(stage_id)
            if entry is None:
                raise StageNotFoundError(f"no stage with id {stage_id}")
            entry.paused = paused
            return self._view(entry, entry.versions[-1])

    def put_project(self, project: Project) -> Project:
        """Register a project record (created here or read from the registry topic).

        Idempotent: the record already held for that id is kept and returned. A name keeps the id
        it was first seen with, so a record giving a known name another id is refused.
        """
        with self._lock:
            held = self._project_records.get(project.id)
            if held is not None:
                if held.name != project.name:
                    raise StageDefinitionError(
                        f"project {project.id} is named {held.name!r}; projects are not renamed",
                        field="name",
                    )
                return held
            known = self._projects.get(project.name)
            if known is not None and known != project.id:
                raise StageDefinitionError(
                    f"project {project.name!r} already has id {known}", field="id"
                )
            self._project_records[project.id] = project
            self._projects[project.name] = project.id
            return project

    def new_project(self, name: str) -> Project:
        """The record `put_project` would keep for a project of this name (not registered yet):
        the id the name already has, else the name-derived one."""
        with self._lock:
            project_id = self._projects.get(name) or project_id_for(name)
            return self._project_records.get(project_id) or Project(
                id=project_id, name=name, created_at=time.time_ns()
            )

    def create_local(
        self,
        stage_name: str,
        *,
        project_name: str | None = None,
        project_id: uuid.UUID | None = None,
    ) -> Stage:
        """Galileo's convenience: invoking with rulesets creates a missing local stage."""
        result = self.apply(
            StageDefinition(
                name=stage_name,
                project_id=project_id,
                project_name=project_name,
                type=StageType.LOCAL,
            )
        )
        return result.stage

    # -- reading ------------------------------------------------------------------------------

    def get(
        self,
        *,
        stage_id: uuid.UUID | None = None,
        stage_name: str | None = None,
        project_id: uuid.UUID | None = None,
        project_name: str | None = None,
        version: int | None = None,
    ) -> Stage:
        """The stage version a request addresses (latest when `version` is None)."""
        with self._lock:
            if stage_id is None:
                if stage_name is None:
                    raise StageNotFoundError("stage_id or stage_name is required")
                pid = project_id or (
                    self._projects.get(project_name) if project_name is not None else None
                )
                stage_id = self._by_name.get((pid, stage_name)) if pid else None
                if stage_id is None:
                    where = project_name or (str(project_id) if project_id else "?")
                    raise StageNotFoundError(f"stage {stage_name!r} not found in project {where!r}")
            entry = self._stages.get(stage_id)
            if entry is None:
                raise StageNotFoundError(f"stage {stage_id} not found")
            stage = entry.version(version)
            if stage is None:
                raise StageNotFoundError(
                    f"stage {entry.versions[-1].name!r} has no version {version} "
                    f"(versions 1..{len(entry.versions)})"
                )
            return self._view(entry, stage)

    def get_named(
        self,
        stage_name: str,
        project_name: str,
        *,
        project_id: uuid.UUID | None = None,
        version: int | None = None,
    ) -> Stage:
        """`get` by name in a project (by id when given, else by name); not found, the error
        names the other projects that hold a stage of that name."""
        try:
            return self.get(
                stage_name=stage_name,
                project_id=project_id,
                project_name=project_name,
                version=version,
            )
        except StageNotFoundError as exc:
            holders = [p for p in self.projects_with(stage_name) if p != project_name]
            if holders:
                raise StageNotFoundError(
                    f"{exc}; it exists in project(s) {', '.join(holders)} (name one)"
                ) from exc
            raise

    def get_for(self, request: Request) -> Stage:
        return self.get(
            stage_id=request.stage_id,
            stage_name=request.stage_name,
            project_id=request.project_id,
            project_name=request.project_name,
            version=request.stage_version,
        )

    def history(self, stage_id: uuid.UUID) -> list[Stage]:
        with self._lock:
            entry = self._stages.get(stage_id)
            if entry is None:
                raise StageNotFoundError(f"stage {stage_id} not found")
            return [self._view(entry, s) for s in entry.versions]

    def latest(self) -> list[Stage]:
        with self._lock:
            return [self._view(e, e.versions[-1]) for e in self._stages.values()]

    def projects(self) -> list[Project]:
        """Every project, by name: the records, then the projects only stages name (named by
        their stages' project name, else by id; created when their first stage was)."""
        with self._lock:
            found = dict(self._project_records)
            names = {project_id: name for name, project_id in self._projects.items()}
            for entry in self._stages.values():
                first = entry.versions[0]
                if first.project_id in self._project_records:
                    continue
                seen = found.get(first.project_id)
                if seen is None or first.created_at < seen.created_at:
                    found[first.project_id] = Project(
                        id=first.project_id,
                        name=names.get(first.project_id, str(first.project_id)),
                        created_at=first.created_at,
                    )
            return sorted(found.values(), key=lambda p: (p.name, str(p.id)))

    def project(
        self, *, project_id: uuid.UUID | None = None, project_name: str | None = None
    ) -> Project:
        """A project by id (which wins when both are given, as in Galileo) or by name."""
        if project_id is None and project_name is None:
            raise ProjectNotFoundError("project_id or project_name is required")
        for project in self.projects():
            if project_id is not None:
                if project.id == project_id:
                    return project
            elif project.name == project_name:
                return project
        where = f"with id {project_id}" if project_id is not None else repr(project_name)
        raise ProjectNotFoundError(f"no project {where}")

    def has_project_record(self, project_id: uuid.UUID) -> bool:
        with self._lock:
            return project_id in self._project_records

    def projects_with(self, stage_name: str) -> list[str]:
        """Names of the projects that hold a stage of this name (for CLI convenience)."""
        with self._lock:
            return sorted(
                {
                    e.versions[-1].project_name or str(e.versions[-1].project_id)
                    for e in self._stages.values()
                    if e.versions[-1].name == stage_name
                }
            )

    def project_id(self, project_id: uuid.UUID | None, project_name: str | None) -> uuid.UUID:
        """The id of a project given by id or name (the default project when neither): the id
        registered for the name, else the one derived from it."""
        with self._lock:
            return self._project(project_id, project_name)[0]

    # -- helpers ------------------------------------------------------------------------------

    def _project(
        self, project_id: uuid.UUID | None, project_name: str | None
    ) -> tuple[uuid.UUID, str | None]:
        if project_id is not None:
            return project_id, project_name
        name = project_name or DEFAULT_PROJECT
        return self._projects.get(name) or project_id_for(name), name

    @staticmethod
    def _view(entry: _Entry, stage: Stage) -> Stage:
        if stage.paused == entry.paused:
            return stage
        return stage.model_copy(update={"paused": entry.paused})

"""Resolve a Request to the rulesets to evaluate, or to the reason nothing is evaluated."""

from __future__ import annotations

from worker.contract.request import Request
from worker.contract.response import StageMetadata
from worker.contract.stage import Stage, stage_id_for
from worker.contract.statuses import ExecutionStatus, StageType
from worker.engine.resolution import Resolution
from worker.errors import StageNotFoundError
from worker.stages.registry import StageRegistry

# stage_metadata of a Response whose stage or version is not registered. Galileo's typed
# InvokeResponse requires every field, so the best known value is given, and these placeholders
# where nothing is known: versions start at 1, so 0 is "no such version"; a stage addressed only
# by an unknown id has no name.
UNKNOWN_VERSION = 0
UNKNOWN_STAGE_NAME = ""


def resolve(request: Request, stages: StageRegistry) -> Resolution:
    try:
        stage = stages.get_for(request)
    except StageNotFoundError as exc:
        if (
            request.prioritized_rulesets is None
            or request.stage_id is not None
            or request.stage_version is not None
        ):
            return Resolution.failure(
                str(exc),
                rulesets=request.prioritized_rulesets or (),
                stage_metadata=_unregistered(request, stages),
            )
        # As Galileo's REST API did: rulesets + an unknown stage name creates the local stage.
        assert request.stage_name is not None  # Request validation guarantees it
        stage = stages.create_local(
            request.stage_name, project_name=request.project_name, project_id=request.project_id
        )

    if stage.paused:
        return Resolution(stage, outcome=ExecutionStatus.PAUSED)
    if stage.type is StageType.LOCAL:
        if request.prioritized_rulesets is None:
            return Resolution.failure(
                f"stage {stage.name!r} is a local stage: the request must carry "
                "prioritized_rulesets",
                stage,
            )
        return Resolution(stage, request.prioritized_rulesets)
    if request.prioritized_rulesets is not None:
        # A central stage is governed centrally; letting a request swap its rulesets would
        # silently bypass governance, so say so instead of ignoring either side. (An empty list
        # is "none given": Request reads `[]` as None.)
        return Resolution.failure(
            f"stage {stage.name!r} is a central stage: its rulesets come from the registry; "
            "remove prioritized_rulesets from the request",
            stage,
            # The governed rulesets: their subscriptions are the ones told of the error.
            stage.prioritized_rulesets,
        )
    return Resolution(stage, stage.prioritized_rulesets)


def _unregistered(request: Request, stages: StageRegistry) -> StageMetadata:
    """The best known identity of a stage (or version) that is not registered."""
    version = request.stage_version if request.stage_version is not None else UNKNOWN_VERSION
    latest: Stage | None = None
    if request.stage_version is not None:
        try:  # the stage may exist without the requested version
            latest = stages.get_for(request.model_copy(update={"stage_version": None}))
        except StageNotFoundError:
            latest = None
    if latest is not None:
        return StageMetadata(
            project_id=latest.project_id,
            stage_id=latest.id,
            stage_name=latest.name,
            stage_version=version,
            stage_type=latest.type,
        )
    project_id = stages.project_id(request.project_id, request.project_name)
    name = request.stage_name or UNKNOWN_STAGE_NAME
    return StageMetadata(
        project_id=project_id,
        stage_id=request.stage_id or stage_id_for(project_id, name),
        stage_name=name,
        stage_version=version,
        # The type the stage would have: requests bring rulesets only for local stages.
        stage_type=StageType.LOCAL if request.prioritized_rulesets else StageType.CENTRAL,
    )

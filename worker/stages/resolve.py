"""Resolve a Request to the rulesets to evaluate, or to the reason nothing is evaluated."""

from __future__ import annotations

from worker.contract.request import Request
from worker.contract.statuses import ExecutionStatus, StageType
from worker.engine.resolution import Resolution
from worker.errors import StageNotFoundError
from worker.stages.registry import StageRegistry


def resolve(request: Request, stages: StageRegistry) -> Resolution:
    try:
        stage = stages.get_for(request)
    except StageNotFoundError as exc:
        if (
            request.prioritized_rulesets is None
            or request.stage_id is not None
            or request.stage_version is not None
        ):
            return Resolution.failure(str(exc), rulesets=request.prioritized_rulesets or ())
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
        # silently bypass governance, so say so instead of ignoring either side.
        return Resolution.failure(
            f"stage {stage.name!r} is a central stage: its rulesets come from the registry; "
            "remove prioritized_rulesets from the request",
            stage,
            # The governed rulesets: their subscriptions are the ones told of the error.
            stage.prioritized_rulesets,
        )
    return Resolution(stage, stage.prioritized_rulesets)

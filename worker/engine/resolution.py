"""What the engine is asked to evaluate: the rulesets a request resolved to, or why it can't run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.contract.response import StageMetadata
from worker.contract.rules import Ruleset
from worker.contract.stage import Stage
from worker.contract.statuses import ExecutionStatus


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of resolving a Request's stage.

    `outcome` is set when nothing is to be evaluated: `paused`, `skipped` (no rulesets) or `error`
    (with `error` saying why). Otherwise the engine evaluates `rulesets`. With `error`, `rulesets`
    are the ones the request would have run, when known: each is reported `error`, so the
    subscriptions that ask for `error` are notified.

    `stage_metadata` stands in for `stage` when no registered stage version answers (unknown
    stage or version): every Response carries complete stage metadata, as Galileo's typed
    `InvokeResponse` requires.
    """

    stage: Stage | None
    rulesets: Sequence[Ruleset] = field(default_factory=tuple)
    outcome: ExecutionStatus | None = None
    error: str | None = None
    stage_metadata: StageMetadata | None = None

    def __post_init__(self) -> None:
        if self.stage is None and self.stage_metadata is None:
            raise ValueError("a Resolution without a stage needs stage_metadata")

    @classmethod
    def failure(
        cls,
        message: str,
        stage: Stage | None = None,
        rulesets: Sequence[Ruleset] = (),
        *,
        stage_metadata: StageMetadata | None = None,
    ) -> Resolution:
        return cls(
            stage=stage,
            rulesets=rulesets,
            outcome=ExecutionStatus.ERROR,
            error=message,
            stage_metadata=stage_metadata,
        )

    def metadata(self) -> StageMetadata:
        """The Response's stage_metadata."""
        if self.stage is None:
            assert self.stage_metadata is not None  # __post_init__
            return self.stage_metadata
        return StageMetadata(
            project_id=self.stage.project_id,
            stage_id=self.stage.id,
            stage_name=self.stage.name,
            stage_version=self.stage.version,
            stage_type=self.stage.type,
        )

"""What the engine is asked to evaluate: the rulesets a request resolved to, or why it can't run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    """

    stage: Stage | None
    rulesets: Sequence[Ruleset] = field(default_factory=tuple)
    outcome: ExecutionStatus | None = None
    error: str | None = None

    @classmethod
    def failure(
        cls, message: str, stage: Stage | None = None, rulesets: Sequence[Ruleset] = ()
    ) -> Resolution:
        return cls(stage=stage, rulesets=rulesets, outcome=ExecutionStatus.ERROR, error=message)

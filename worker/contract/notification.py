"""Notification records: one webhook delivery of a Response to one subscription.

The worker writes a `Delivery` per matching subscription to the notifications topic, with the
Response inside, so the notifier needs no stage registry: central stages (any version) and local
stages whose rulesets came inside the event are delivered alike. Retries and dead letters are the
same record with its attempt history.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from worker.contract.response import Response
from worker.contract.statuses import ExecutionStatus

# A record carries at most this many attempts, so a delivery retried for long (a long configured
# schedule) cannot grow without bound: the first (when the trouble began) and the latest (what
# happens now) are what a reader needs; `attempt_count` keeps the total.
MAX_ATTEMPTS_KEPT = 10
# What older notifiers recorded for a delivery skipped while its endpoint's breaker was open: no
# attempt was made, so it does not count as one.
_SKIPPED = "circuit_open"


class Attempt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Annotated[int, Field(description="ns since epoch")]
    outcome: Annotated[
        str,
        Field(
            description="`delivered`, `http_<code>`, `timeout`, `connect_error:<class>`, "
            "`dns_error:<class>`, `ssrf_refused:<reason>`, `invalid_url`, ..."
        ),
    ]
    status_code: int | None = None
    duration_s: float | None = None


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[
        str,
        Field(
            description="`webhook-id`: the same on every attempt and on every redelivery of "
            "this delivery (receivers deduplicate on it)"
        ),
    ]
    url: str
    ruleset_index: Annotated[int, Field(ge=0)]
    ruleset_status: ExecutionStatus
    response: Response
    created_at: Annotated[int, Field(description="ns since epoch")]
    attempts: Annotated[
        list[Attempt],
        Field(
            description=f"the first attempt and the latest ones, at most {MAX_ATTEMPTS_KEPT} "
            "(older ones are dropped; `attempt_count` counts them all)"
        ),
    ] = Field(default_factory=list)
    attempt_count: Annotated[
        int, Field(ge=0, description="attempts made so far, including those dropped")
    ] = 0
    due_at: Annotated[int, Field(description="ns since epoch; retry records only")] = 0
    failure: Annotated[
        str | None, Field(description="why the delivery was given up (dead letters only)")
    ] = None

    def attempted(self) -> int:
        """Attempts made so far (records of older notifiers carry only their whole history)."""
        if self.attempt_count:
            return self.attempt_count
        return sum(1 for a in self.attempts if a.outcome != _SKIPPED)

    def with_attempt(self, attempt: Attempt) -> Delivery:
        """This delivery with `attempt` recorded, its history bounded (`MAX_ATTEMPTS_KEPT`)."""
        history = [*self.attempts, attempt]
        if len(history) > MAX_ATTEMPTS_KEPT:
            history = [history[0], *history[-(MAX_ATTEMPTS_KEPT - 1) :]]
        return self.model_copy(update={"attempts": history, "attempt_count": self.attempted() + 1})

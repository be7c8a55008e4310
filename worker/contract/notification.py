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


class Attempt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Annotated[int, Field(description="ns since epoch")]
    outcome: Annotated[
        str,
        Field(
            description="`delivered`, `http_<code>`, `timeout`, `connect_error`, "
            "`ssrf_refused:<reason>`, `circuit_open`, `endpoint_disabled`, ..."
        ),
    ]
    status_code: int | None = None
    duration_s: float | None = None


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[
        str,
        Field(
            description="`webhook-id`: the same on every attempt of this delivery "
            "(receivers deduplicate on it)"
        ),
    ]
    url: str
    ruleset_index: Annotated[int, Field(ge=0)]
    ruleset_status: ExecutionStatus
    response: Response
    created_at: Annotated[int, Field(description="ns since epoch")]
    attempts: list[Attempt] = Field(default_factory=list)
    due_at: Annotated[int, Field(description="ns since epoch; retry records only")] = 0
    failure: Annotated[
        str | None, Field(description="why the delivery was given up (dead letters only)")
    ] = None

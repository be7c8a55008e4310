"""Which subscriptions a Response notifies: one Delivery per (ruleset, subscription) that matches.

A subscription fires when its ruleset's status is one of its `statuses` (default `triggered`).
Stage-level outcomes map onto ruleset statuses (ours):
- `triggered` / `not_triggered` / `timeout` / `failed`: each ruleset's own status decides;
- `error`: every ruleset the request would have run is `error` (no ruleset known, e.g. an unknown
  stage without rulesets in the request: nobody to notify);
- `paused`, `skipped`: nothing was evaluated, no ruleset has a status: no deliveries (`paused`
  is not a valid subscription status).
"""

from __future__ import annotations

import time
import uuid

from worker.contract.notification import Delivery
from worker.contract.response import Response


def delivery_id(trace_id: uuid.UUID, ruleset_index: int, subscription_index: int) -> str:
    """Stable for one delivery across its retries; distinct per (ruleset, subscription)."""
    return f"msg_{uuid.uuid5(trace_id, f'{ruleset_index}.{subscription_index}').hex}"


def deliveries_for(response: Response) -> list[Delivery]:
    now = time.time_ns()
    deliveries = []
    for i, ruleset in enumerate(response.ruleset_results):
        if ruleset.action is None:
            continue
        for j, subscription in enumerate(ruleset.action.subscriptions):
            if ruleset.status in subscription.statuses:
                deliveries.append(
                    Delivery(
                        id=delivery_id(response.trace_metadata.id, i, j),
                        url=subscription.url,
                        ruleset_index=i,
                        ruleset_status=ruleset.status,
                        response=response,
                        created_at=now,
                    )
                )
    return deliveries

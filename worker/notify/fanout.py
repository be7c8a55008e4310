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

import json
import time
import uuid

from worker.contract.notification import Delivery
from worker.contract.response import Response
from worker.stream.codec import Source

# The namespace of delivery ids (uuid5): fixed, so an id depends on its name alone.
_DELIVERY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:protect-worker:delivery")


def delivery_id(source: Source, ruleset_index: int, subscription_index: int, url: str) -> str:
    """The `webhook-id`: the same for every attempt and every redelivery of one delivery.

    Derived from what a redelivery keeps: the input record (topic, partition, offset), the ruleset
    and the subscription. Not from the Response, whose trace id is new each time the worker
    evaluates the event again (a crash before commit, a rebalance): receivers could not then
    tell a redelivered event's notification from a new one.
    """
    name = json.dumps(
        [source.topic, source.partition, source.offset, ruleset_index, subscription_index, url]
    )
    return f"msg_{uuid.uuid5(_DELIVERY_NAMESPACE, name).hex}"


def deliveries_for(response: Response, source: Source) -> list[Delivery]:
    """The deliveries of `response`, the result of the input record at `source`."""
    now = time.time_ns()
    deliveries = []
    for i, ruleset in enumerate(response.ruleset_results):
        if ruleset.action is None:
            continue
        for j, subscription in enumerate(ruleset.action.subscriptions):
            if ruleset.status in subscription.statuses:
                deliveries.append(
                    Delivery(
                        id=delivery_id(source, i, j, subscription.url),
                        url=subscription.url,
                        ruleset_index=i,
                        ruleset_status=ruleset.status,
                        response=response,
                        created_at=now,
                    )
                )
    return deliveries

"""Which subscriptions a Response notifies (pure: no broker, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ProtectFactory
from tests.factories import make_request
from tests.scorers import keyword_labels
from worker.contract import ExecutionStatus
from worker.notify.fanout import deliveries_for
from worker.stream.codec import Source

S = ExecutionStatus
# The input record a Response answers.
SOURCE = Source("protect.prompts", 2, 41, [])


def hooked(word: str, url: str, statuses: list[str] | None = None) -> dict[str, Any]:
    subscription: dict[str, Any] = {"url": url}
    if statuses is not None:
        subscription["statuses"] = statuses
    return {
        "rules": [{"metric": "words", "operator": "contains", "target_value": word}],
        "action": {"type": "PASSTHROUGH", "subscriptions": [subscription]},
    }


@pytest.mark.parametrize(
    ("text", "statuses", "notified"),
    [
        ("alpha", None, True),  # default: triggered
        ("beta", None, False),
        ("beta", ["not_triggered"], True),
        ("alpha", ["not_triggered"], False),
        ("alpha", ["triggered", "not_triggered"], True),
    ],
)
async def test_a_ruleset_status_in_statuses_notifies(
    protect_factory: ProtectFactory, text: str, statuses: list[str] | None, notified: bool
) -> None:
    protect = protect_factory([keyword_labels()])
    response = await protect.ainvoke(
        make_request(text, rulesets=[hooked("alpha", "https://h.example/a", statuses)])
    )
    got = deliveries_for(response, SOURCE)
    assert bool(got) is notified
    if got:
        (delivery,) = got
        assert delivery.url == "https://h.example/a"
        assert delivery.ruleset_status is response.ruleset_results[0].status
        assert delivery.response == response


async def test_error_notifies_error_subscriptions_of_every_ruleset(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([keyword_labels()])
    rulesets = [
        hooked("alpha", "https://h.example/1", ["error"]),
        {
            **hooked("beta", "https://h.example/2", ["error", "triggered"]),
            "rules": [{"metric": "unknown_metric", "operator": "gt", "target_value": 1}],
        },
        hooked("gamma", "https://h.example/3"),  # triggered only: not told of errors
    ]
    response = await protect.ainvoke(make_request("alpha", rulesets=rulesets))
    assert response.status is S.ERROR
    assert [r.status for r in response.ruleset_results] == [S.ERROR] * 3
    assert sorted(d.url for d in deliveries_for(response, SOURCE)) == [
        "https://h.example/1",
        "https://h.example/2",
    ]


async def test_paused_and_skipped_notify_nobody(protect_factory: ProtectFactory) -> None:
    ruleset = hooked("alpha", "https://h.example/a", ["triggered", "not_triggered", "error"])
    protect = protect_factory(
        [keyword_labels()],
        stages=[
            {"name": "p", "type": "central", "paused": True, "prioritized_rulesets": [ruleset]},
            {"name": "e", "type": "central", "prioritized_rulesets": []},
        ],
    )
    for stage in ("p", "e"):
        response = await protect.ainvoke(make_request("alpha", stage=stage))
        assert response.status in (S.PAUSED, S.SKIPPED)
        assert deliveries_for(response, SOURCE) == []


async def test_ids_are_stable_per_delivery_and_distinct_across_subscriptions(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([keyword_labels()])
    ruleset = hooked("alpha", "https://h.example/a")
    ruleset["action"]["subscriptions"].append({"url": "https://h.example/b"})
    response = await protect.ainvoke(make_request("alpha", rulesets=[ruleset, ruleset]))
    first, again = deliveries_for(response, SOURCE), deliveries_for(response, SOURCE)
    assert [d.id for d in first] == [d.id for d in again]  # stable: retries reuse it
    assert len({d.id for d in first}) == 4
    assert all(d.id.startswith("msg_") for d in first)


async def test_ids_survive_a_redelivery_and_differ_per_input_record(
    protect_factory: ProtectFactory,
) -> None:
    """A redelivered event is evaluated again (a new trace id): its webhook-ids stay the same."""
    protect = protect_factory([keyword_labels()])
    request = make_request("alpha", rulesets=[hooked("alpha", "https://h.example/a")])
    response, redelivered = await protect.ainvoke(request), await protect.ainvoke(request)
    assert response.trace_metadata.id != redelivered.trace_metadata.id
    (first,) = deliveries_for(response, SOURCE)
    (again,) = deliveries_for(redelivered, SOURCE)
    assert again.id == first.id
    others = [
        Source("protect.prompts", 2, 42, []),  # the next record
        Source("protect.prompts", 1, 41, []),  # another partition
        Source("protect.responses", 2, 41, []),  # another topic
    ]
    ids = {first.id} | {d.id for s in others for d in deliveries_for(response, s)}
    assert len(ids) == 1 + len(others)
    # Another URL at the same position (e.g. a stage's next version) is another delivery.
    moved = await protect.ainvoke(
        make_request("alpha", rulesets=[hooked("alpha", "https://h.example/z")])
    )
    (elsewhere,) = deliveries_for(moved, SOURCE)
    assert elsewhere.id != first.id

"""Records Galileo's code builds or accepts, through the Kafka worker on a real broker (Tansu):
every one gets a Response that Galileo's models parse, none is dead-lettered, the worker runs on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from galileo_core.schemas.protect.payload import Payload
from galileo_core.schemas.protect.request import Request as GalileoRequest

from tests.brokers import Broker
from tests.galileo.api import GalileoApi
from tests.galileo.factories import (
    CENTRAL,
    LOCAL,
    PROJECT_ID,
    WEAPONS_REFUSAL,
    weapons_ruleset,
)
from tests.galileo.sdk import galileo_client, parse_with_galileo
from tests.stream.helpers import produce, read_topic, response_of
from tests.workers import RunningWorker
from worker.runtime import Protect
from worker.settings import Settings
from worker.stream.screening import ScreeningWorker
from worker.stream.topics import ensure_topics


def _local(*rulesets: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "payload": {"input": "a bomb at the casino"},
        "prioritized_rulesets": list(rulesets),
        "project_id": PROJECT_ID,
        "stage_name": LOCAL,
        **fields,
    }


def _central(**fields: Any) -> dict[str, Any]:
    """As galileo-protect sends a central-stage call: `rulesets: []`."""
    return {
        "payload": {"input": "a bomb at the casino"},
        "rulesets": [],
        "project_id": PROJECT_ID,
        "stage_name": CENTRAL,
        **fields,
    }


def _rule(metric: str = "banned_topics", operator: str = "not_empty", target: Any = None) -> Any:
    return {"metric": metric, "operator": operator, "target_value": target}


# key -> (record Galileo's Request model accepts, expected status, expected text or None)
EDGE_RECORDS: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "null-action": (_local({"rules": [_rule()], "action": None}), "triggered", None),
    "empty-action": (_local({"rules": [_rule()], "action": {}}), "triggered", None),
    "empty-choice": (
        _local({"rules": [_rule()], "action": {"type": "OVERRIDE", "choices": [""]}}),
        "triggered",
        "",
    ),
    "null-target": (_local({"rules": [_rule(operator="gt", target=None)]}), "not_triggered", None),
    "empty-metric": (_local({"rules": [_rule(metric="")]}), "error", None),
    "version-0": (_central(stage_version=0), "error", None),
    "empty-list-unknown-stage": (_local(stage_name="nope"), "error", None),
    "empty-list-central": (_central(), "triggered", WEAPONS_REFUSAL),
    # Waits for nothing: an instant keyword metric still decides (not dead-lettered as before).
    "timeout-0": (_local({"rules": [_rule()]}, timeout=0), "triggered", None),
    "timeout-negative": (_local({"rules": [_rule()]}, timeout=-1), "triggered", None),
}


async def test_galileo_records_get_responses_galileo_parses_and_none_is_dead_lettered(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    galileo_api: GalileoApi,
    galileo_protect: Protect,
) -> None:
    # Bodies as galileo's SDK sends them (its HTTP client, recorded by the loopback API).
    client = galileo_client(galileo_api.url)
    await client.ainvoke(
        payload=Payload(input="how do I build a bomb"), project_id=PROJECT_ID, stage_name=CENTRAL
    )
    await client.ainvoke(
        payload=Payload(input="casino and a rifle"),
        prioritized_rulesets=[weapons_ruleset()],
        project_id=PROJECT_ID,
        stage_name=LOCAL,
    )
    sdk_bodies = galileo_api.bodies("/protect/invoke")
    records: dict[str, tuple[dict[str, Any], str, str | None]] = {
        "sdk-central": (sdk_bodies[0], "triggered", WEAPONS_REFUSAL),
        "sdk-local": (sdk_bodies[1], "triggered", WEAPONS_REFUSAL),
        **EDGE_RECORDS,
    }
    for record, _, _ in records.values():
        GalileoRequest.model_validate(record)  # Galileo accepts each one: so must we.

    settings = settings_factory()
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    running = worker_factory(tansu, settings, galileo_protect)
    keys = list(records)
    await produce(
        tansu.bootstrap_servers,
        prompts.input,
        [json.dumps(records[key][0]).encode() for key in keys],
        [key.encode() for key in keys],
    )
    results = await read_topic(tansu.bootstrap_servers, prompts.results, len(keys))
    assert not running.task.done()  # nothing stopped the worker
    await running.finish()

    assert running.worker.stats.consumed == len(keys)
    assert running.worker.stats.dead_letters == 0
    by_key = {(r.key or b"").decode(): response_of(r) for r in results}
    assert sorted(by_key) == sorted(keys)
    for key, (_, status, text) in records.items():
        response = by_key[key]
        core, typed = parse_with_galileo(response)
        assert (core.status.value, response["status"]) == (status, status), (key, response)
        if text is not None:
            assert core.text == text, key
        assert typed.stage_metadata.stage_type is not None
    assert "no version 0 (versions 1..1)" in by_key["version-0"]["error"]
    assert "unknown metric ''" in by_key["empty-metric"]["error"]
    assert "not found" in by_key["empty-list-unknown-stage"]["error"]

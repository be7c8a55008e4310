"""Running workers follow the stage registry topic: versions, pinning, pause and resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.brokers import Broker
from tests.stream.helpers import produce
from tests.workers import EXAMPLES, RunningWorker
from worker.contract.stage import StageDefinition
from worker.settings import Settings
from worker.stages.files import load_stages_file
from worker.stages.kafka import StageAdmin
from worker.stream.screening import ScreeningWorker
from worker.stream.service import registry_backed_protect
from worker.stream.topics import ensure_topics

# The contract: a pause reaches every running worker within 2 s.
PAUSE_DEADLINE_S = 2.0


class Results:
    """Reads a result topic live and hands out Responses by the event's `seq`."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=50)
        self._topic, self._partitions = topic, partitions
        self._seen: dict[str, dict[str, Any]] = {}

    async def __aenter__(self) -> Results:
        await self._consumer.start()
        partitions = [TopicPartition(self._topic, p) for p in range(self._partitions)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def get(self, seq: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while seq not in self._seen:
            assert time.monotonic() < deadline, f"no Response for event {seq}"
            for records in (await self._consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    response = json.loads(record.value or b"{}")
                    self._seen[response["metadata"]["seq"]] = response
        return self._seen[seq]


async def seconds_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> float:
    """How long until `condition` holds (polled every 10 ms); fails after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition never held"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def changed_input_guard() -> StageDefinition:
    """input-guard v2: only the language ruleset is left."""
    document = load_stages_file(EXAMPLES)
    (v1,) = [s for s in document.stages if s.name == "input-guard"]
    assert v1.prioritized_rulesets is not None
    return v1.model_copy(update={"prioritized_rulesets": v1.prioritized_rulesets[-1:]})


async def test_running_worker_follows_versions_pins_and_pauses(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
) -> None:
    settings = settings_factory()
    bootstrap, prompts = tansu.bootstrap_servers, settings.bindings[0]
    document = load_stages_file(EXAMPLES)
    await ensure_topics(bootstrap, ScreeningWorker.topic_specs(settings))
    seq = 0

    async def send(text: str, **fields: Any) -> str:
        nonlocal seq
        seq += 1
        event = {"payload": {"input": text}, "metadata": {"seq": str(seq)}, **fields}
        await produce(bootstrap, prompts.input, [json.dumps(event).encode()])
        return str(seq)

    async with contextlib.AsyncExitStack() as stack:
        protect = await stack.enter_async_context(
            registry_backed_protect(document, settings, bootstrap, apply_stages=True)
        )
        worker_factory(tansu, settings, protect)
        results = await stack.enter_async_context(
            Results(bootstrap, prompts.results, settings.topic_partitions)
        )
        admin = await stack.enter_async_context(
            StageAdmin(
                bootstrap,
                settings.stages_topic,
                protect.evaluator.metrics,
                default_project="demo-chatbot",
            )
        )
        ssn = "my ssn is 123-45-6789"

        first = await results.get(await send(ssn))
        assert (first["status"], first["stage_metadata"]["stage_version"]) == ("triggered", 1)

        def live() -> Any:
            return protect.stages.get(stage_name="input-guard", project_name="demo-chatbot")

        applied = await admin.apply(changed_input_guard(), "demo-chatbot")
        assert (applied.created, applied.stage.version) == (True, 2)
        assert await seconds_until(lambda: live().version == 2) <= PAUSE_DEADLINE_S
        latest = await results.get(await send(ssn))
        pinned = await results.get(await send(ssn, stage_version=1))
        assert (latest["status"], latest["stage_metadata"]["stage_version"]) == ("not_triggered", 2)
        assert (pinned["status"], pinned["stage_metadata"]["stage_version"]) == ("triggered", 1)

        await admin.pause("input-guard")
        reached = await seconds_until(lambda: live().paused)
        print(f"\npause reached the running worker in {reached:.3f} s")
        assert reached <= PAUSE_DEADLINE_S
        after_pause = await results.get(await send(ssn))
        assert after_pause["status"] == "paused"
        pinned_paused = await results.get(await send(ssn, stage_version=1))
        assert pinned_paused["status"] == "paused"  # pausing covers every version

        # A worker started later reads the same state from the topic.
        later = await stack.enter_async_context(
            registry_backed_protect(
                load_stages_file(EXAMPLES).model_copy(update={"stages": []}),
                settings,
                bootstrap,
                apply_stages=False,
            )
        )
        stage = later.stages.get(stage_name="input-guard", project_name="demo-chatbot")
        assert (stage.version, stage.paused) == (2, True)

        await admin.resume("input-guard")
        assert await seconds_until(lambda: not live().paused) <= PAUSE_DEADLINE_S
        resumed = await results.get(await send(ssn, stage_version=1))
        assert resumed["status"] == "triggered"

"""The worker's pipeline on Tansu: the next fetch is decoded while the current one is scored,
results keep each partition's order and only acknowledged offsets are committed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.brokers import Broker
from tests.conftest import ProtectFactory
from tests.scorers import FuncScorer
from tests.stream.helpers import produce, read_topic, response_of
from tests.workers import RunningWorker
from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, ScorerInput, ValueKind
from worker.settings import Settings
from worker.stream.screening import ScreeningWorker
from worker.stream.topics import ensure_topics


class GatedScorer(FuncScorer):
    """An async scorer that holds every batch until the test opens its gate: a model server
    that has not answered yet, so the test can look at the worker mid-pipeline."""

    def __init__(self) -> None:
        super().__init__("gated", ValueKind.SCORE, lambda *_: 1.0, execution=Execution.ASYNC)
        self.gate = asyncio.Event()
        self.entered = 0

    async def ascore_batch(
        self, items: Sequence[ScorerInput], executor: Executor | None = None
    ) -> Sequence[MetricValue]:
        self.entered += 1
        await self.gate.wait()
        return self.score_batch(items)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset of `tp`, read by a consumer that joins nothing."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


async def test_the_next_fetch_is_decoded_while_one_is_scored_and_nothing_unacknowledged_is_committed(  # noqa: E501
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    protect_factory: ProtectFactory,
) -> None:
    settings = settings_factory(max_batch=10)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    stage = {
        "name": "input-guard",
        "type": "central",
        "prioritized_rulesets": [
            {"rules": [{"metric": "gated", "operator": "gt", "target_value": 0.5}]}
        ],
    }
    scorer = GatedScorer()
    protect = protect_factory([scorer], stages=[stage], project=settings.project)
    n = 40
    values = [
        json.dumps({"payload": {"input": f"text {i}"}, "metadata": {"i": str(i)}}).encode()
        for i in range(n)
    ]
    # One key: one partition, read in fetches of max_batch records.
    metadata = await produce(tansu.bootstrap_servers, prompts.input, values, keys=[b"k"] * n)
    tp = TopicPartition(prompts.input, metadata[0].partition)

    running = worker_factory(tansu, settings, protect)
    stats = running.worker.stats
    # The first fetch is held in scoring; the loop has fetched and decoded the next one.
    await wait_until(lambda: scorer.entered == 1 and stats.decoded >= 2 * settings.max_batch)
    assert scorer.entered == 1, "one fetch is scored at a time"
    assert stats.produced == 0
    assert await committed(tansu.bootstrap_servers, settings.group_id, tp) is None

    scorer.gate.set()
    results = await read_topic(tansu.bootstrap_servers, prompts.results, n)
    await running.finish()

    order = [int(response_of(r)["metadata"]["i"]) for r in results]
    assert order == list(range(n)), "one partition's results in input order, each once"
    assert {response_of(r)["status"] for r in results} == {"triggered"}
    # Everything acknowledged is committed on the way out, and nothing beyond the input.
    assert await committed(tansu.bootstrap_servers, settings.group_id, tp) == (
        metadata[-1].offset + 1
    )
    assert stats.consumed == n


async def test_a_worker_stopped_mid_pipeline_commits_what_it_answered_and_the_next_loses_nothing(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    protect_factory: ProtectFactory,
) -> None:
    settings = settings_factory(max_batch=10)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    stage = {
        "name": "input-guard",
        "type": "central",
        "prioritized_rulesets": [
            {"rules": [{"metric": "gated", "operator": "gt", "target_value": 0.5}]}
        ],
    }
    n = 40
    values = [
        json.dumps({"payload": {"input": f"text {i}"}, "metadata": {"i": str(i)}}).encode()
        for i in range(n)
    ]
    metadata = await produce(tansu.bootstrap_servers, prompts.input, values, keys=[b"k"] * n)
    tp = TopicPartition(prompts.input, metadata[0].partition)

    first_scorer = GatedScorer()
    first = worker_factory(
        tansu, settings, protect_factory([first_scorer], stages=[stage], project=settings.project)
    )
    await wait_until(
        lambda: first_scorer.entered == 1 and first.worker.stats.decoded >= 2 * settings.max_batch
    )
    # Stopped with one fetch in scoring and the next decoded: the one in scoring is delivered
    # and committed, the decoded one is left to the group.
    first.stop.set()
    first_scorer.gate.set()
    await asyncio.wait_for(first.task, 30)
    answered = first.worker.stats.consumed
    assert 0 < answered < n
    assert await committed(tansu.bootstrap_servers, settings.group_id, tp) == (
        metadata[answered - 1].offset + 1
    )

    second_scorer = GatedScorer()
    second_scorer.gate.set()
    second = worker_factory(
        tansu, settings, protect_factory([second_scorer], stages=[stage], project=settings.project)
    )
    results = await read_topic(tansu.bootstrap_servers, prompts.results, n)
    await second.finish()
    order = [int(response_of(r)["metadata"]["i"]) for r in results]
    assert order == list(range(n)), "every event answered once, in input order"
    assert await committed(tansu.bootstrap_servers, settings.group_id, tp) == (
        metadata[-1].offset + 1
    )

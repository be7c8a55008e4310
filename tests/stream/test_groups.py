"""Consumer groups on Tansu: a worker killed mid-stream, and workers joining and leaving."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.brokers import Broker
from tests.stream.helpers import all_seqs, mixed_event, produce, read_topic, response_of
from tests.workers import EXAMPLES, RunningWorker
from worker.metrics.builtin import default_registry
from worker.settings import Settings
from worker.stages.files import load_stages_file
from worker.stages.kafka import StageAdmin
from worker.stream.groups import Stopped, until_stopped
from worker.stream.screening import ScreeningWorker
from worker.stream.topics import ensure_topics

PROTECT = str(Path(sys.executable).with_name("protect"))


async def produce_gradually(
    bootstrap: str, topic: str, n: int, *, per_tick: int, tick_s: float
) -> None:
    """A steady stream, so workers can be killed or added while events keep arriving."""
    for start in range(0, n, per_tick):
        events = [
            json.dumps(mixed_event(i)).encode() for i in range(start, min(n, start + per_tick))
        ]
        await produce(
            bootstrap, topic, events, [f"k{i}".encode() for i in range(start, start + len(events))]
        )
        await asyncio.sleep(tick_s)


def seqs_of(records: list) -> Counter[int]:  # type: ignore[type-arg]
    return Counter(int(response_of(r)["metadata"]["seq"]) for r in records)


def worker_env(settings: Settings, broker: Broker) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "PROTECT_BINDINGS": json.dumps([b.model_dump() for b in settings.bindings]),
        "PROTECT_GROUP_ID": settings.group_id,
        "PROTECT_DEADLETTER_TOPIC": settings.deadletter_topic,
        "PROTECT_STAGES_TOPIC": settings.stages_topic,
        "PROTECT_PROJECT": settings.project,
        "PROTECT_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "PROTECT_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "PROTECT_COMMIT_INTERVAL_S": str(settings.commit_interval_s),
        "PROTECT_LOG_FORMAT": "json",
        # One process per `protect run`, whatever the machine's cores: these tests kill one
        # group member (tests/cli/test_supervisor.py covers a supervisor's children).
        "PROTECT_PROCESSES": "1",
    }


async def test_a_worker_killed_mid_stream_loses_nothing(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    tmp_path: Path,
) -> None:
    n = 4000
    settings = settings_factory(topic_partitions=4, session_timeout_ms=6000)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    # The victim, as a worker on a cluster, takes its stages from the registry topic.
    document = load_stages_file(EXAMPLES)
    async with StageAdmin(
        tansu.bootstrap_servers, settings.stages_topic, default_registry(document.metrics)
    ) as admin:
        for definition in document.stages:
            await admin.apply(definition, document.project)
    log = (tmp_path / "victim.log").open("wb")
    victim = await asyncio.create_subprocess_exec(
        PROTECT,
        "run",
        "--stages",
        str(EXAMPLES),
        env=worker_env(settings, tansu),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    survivor = worker_factory(tansu, settings)
    try:
        stream = asyncio.create_task(
            produce_gradually(tansu.bootstrap_servers, prompts.input, n, per_tick=200, tick_s=0.25)
        )
        # Kill the victim once it has produced results of its own, mid-stream.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            produced = await read_topic(
                tansu.bootstrap_servers, prompts.results, 10**9, timeout_s=0.5
            )
            if len(produced) > survivor.worker.stats.consumed + 200:
                break
        assert victim.returncode is None, (tmp_path / "victim.log").read_text()[-3000:]
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        await stream
        results = await read_topic(
            tansu.bootstrap_servers, prompts.results, n, timeout_s=90, done=all_seqs(n)
        )
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
        log.close()
    seqs = seqs_of(results)
    missing = set(range(n)) - set(seqs)
    duplicates = sum(c - 1 for c in seqs.values())
    print(
        f"\ncrash test: {n} events, {len(results)} results, {duplicates} duplicates "
        "(processed by the killed worker but not committed, so delivered again)"
    )
    assert not missing, f"{len(missing)} events lost"
    assert {response_of(r)["status"] for r in results} >= {"triggered", "not_triggered"}
    assert survivor.worker.stats.consumed > 0


async def test_workers_split_partitions_and_rebalances_lose_nothing(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
) -> None:
    n = 3000
    settings = settings_factory(topic_partitions=4)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    first = worker_factory(tansu, settings)
    stream = asyncio.create_task(
        produce_gradually(tansu.bootstrap_servers, prompts.input, n, per_tick=150, tick_s=0.25)
    )
    await asyncio.sleep(2)
    second = worker_factory(tansu, settings)  # joins: a rebalance while events flow
    deadline = time.monotonic() + 60
    # Polls a counter that the worker's task updates; nothing to wait on directly.
    while second.worker.stats.consumed == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    assert second.worker.stats.consumed > 0, "the second worker never got partitions"
    assignment_while_both = len(first.worker.assignment()), len(second.worker.assignment())
    await first.finish()  # leaves cleanly: another rebalance, its partitions move over
    await stream
    results = await read_topic(
        tansu.bootstrap_servers, prompts.results, n, timeout_s=90, done=all_seqs(n)
    )
    seqs = seqs_of(results)
    assert set(seqs) == set(range(n)), f"{n - len(set(seqs))} events lost"
    duplicates = sum(c - 1 for c in seqs.values())
    print(
        f"\nscale test: {n} events, partitions while both ran {assignment_while_both}, "
        f"{duplicates} duplicates"
    )
    assert min(assignment_while_both) > 0


# -- until_stopped: a stop signal does not wait for a step that waits on the cluster ------------


async def test_until_stopped_returns_the_result_of_a_step_that_finishes_first() -> None:
    stop = asyncio.Event()
    assert await until_stopped(stop, asyncio.sleep(0, result="done")) == "done"


async def test_until_stopped_cancels_a_step_when_stop_is_set_meanwhile() -> None:
    stop = asyncio.Event()
    unwound = asyncio.Event()

    async def step() -> None:
        try:
            await asyncio.Event().wait()  # never set: a join that never completes
        finally:
            unwound.set()

    waiting = asyncio.ensure_future(until_stopped(stop, step()))
    await asyncio.sleep(0)
    stop.set()
    with pytest.raises(Stopped):
        await waiting
    assert unwound.is_set()  # cancelled and unwound before until_stopped returned


async def test_until_stopped_does_not_start_a_step_once_stop_is_set() -> None:
    stop = asyncio.Event()
    stop.set()
    started = []

    async def step() -> None:
        started.append(True)

    with pytest.raises(Stopped):
        await until_stopped(stop, step())
    assert not started


async def test_until_stopped_raises_what_the_step_raised() -> None:
    async def step() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await until_stopped(asyncio.Event(), step())

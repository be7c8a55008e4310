"""`protect run --processes N` / `protect notify --processes N`: N group members, one supervisor.

On the session broker: two children share a topic's partitions, a SIGTERM to the supervisor
drains and commits both, a child killed with SIGKILL is restarted and nothing is lost, and
children that keep failing make the supervisor give up with a non-zero status.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.brokers import Broker
from tests.cli.test_notify import start_notifier
from tests.cli.test_run import PROMPT_EXIT_S, PROTECT, alive, children, start_worker
from tests.notify.receivers import Receiver
from tests.notify.test_notifier import SECRET_ENV, deliveries, publish, wait_until
from tests.stream.helpers import all_seqs, mixed_event, produce, read_topic
from tests.stream.test_groups import produce_gradually, seqs_of, worker_env
from tests.workers import EXAMPLES
from worker.cli.supervisor import (
    EXIT_CONFIGURATION,
    EXIT_FAILED,
    RESTART_BACKOFF_MAX_S,
    RestartPolicy,
    Supervisor,
    resolve_processes,
)
from worker.metrics.builtin import default_registry
from worker.notify.notifier import Notifier
from worker.notify.signing import generate_secret
from worker.settings import Settings
from worker.stages.files import load_stages_file
from worker.stages.kafka import StageAdmin
from worker.stream.screening import ScreeningWorker
from worker.stream.topics import ensure_topics

PARTITIONS = 4
# Children start (models load, the group forms) in a few seconds alone; on a loaded machine,
# far more. A bound, not an expectation.
START_S = 180


def lines(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines of the supervisor and its children (they share its stderr)."""
    text = log.read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def child_lines(log: Path, event: str) -> list[dict[str, Any]]:
    return [line for line in lines(log) if line.get("event") == event and "process" in line]


def assignments(log: Path) -> dict[int, set[str]]:
    """Each child's latest assignment: after a rebalance, the last line of each is current."""
    latest: dict[int, set[str]] = {}
    for line in lines(log):
        if line.get("event") == "partitions_assigned" and "process" in line:
            latest[line["process"]] = set(line["partitions"])
    return latest


def settled(log: Path, topic: str, processes: int) -> bool:
    """Every child holds partitions of `topic`, none twice, all covered: the group is formed."""
    held = [
        {p for p in partitions if p.rsplit(":", 1)[0] == topic}
        for partitions in assignments(log).values()
    ]
    every = [p for partitions in held for p in partitions]
    return len(held) == processes and all(held) and len(every) == len(set(every)) == PARTITIONS


def rejoined(log: Path, process: int) -> bool:
    """The child in slot `process` was given partitions after its latest start."""
    seen = lines(log)
    starts = [
        i
        for i, line in enumerate(seen)
        if line.get("event") == "child_started" and line["process"] == process
    ]
    return any(
        line.get("event") == "partitions_assigned" and line.get("process") == process
        for line in seen[starts[-1] :]
    )


async def apply_example_stages(broker: Broker, settings: Settings) -> None:
    """Workers on a cluster take their stages from the registry topic."""
    document = load_stages_file(EXAMPLES)
    async with StageAdmin(
        broker.bootstrap_servers, settings.stages_topic, default_registry(document.metrics)
    ) as admin:
        for definition in document.stages:
            await admin.apply(definition, document.project)


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of `topic` (-1: none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return {
            p: (await consumer.committed(TopicPartition(topic, p))) or -1 for p in range(PARTITIONS)
        }
    finally:
        await consumer.stop()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


async def test_two_processes_share_partitions_and_sigterm_drains_and_commits_both(
    tansu: Broker, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    n = 600
    settings = settings_factory(topic_partitions=PARTITIONS, session_timeout_ms=6000)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    await apply_example_stages(tansu, settings)
    process, log = start_worker(
        tmp_path, worker_env(settings, tansu), processes=2, stages=str(EXAMPLES)
    )
    try:
        await wait_until(lambda: settled(log, prompts.input, 2), timeout_s=START_S)
        # Produced once the group is formed: no rebalance re-reads any, so exactly one each.
        written = await produce(
            tansu.bootstrap_servers,
            prompts.input,
            [json.dumps(mixed_event(i)).encode() for i in range(n)],
            [f"k{i}".encode() for i in range(n)],
        )
        results = await read_topic(
            tansu.bootstrap_servers, prompts.results, n, timeout_s=120, done=all_seqs(n)
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PROMPT_EXIT_S + settings.drain_timeout_s) == 0
    finally:
        stop(process)
    assert seqs_of(results) == Counter(range(n)), "every event exactly one Response"
    stopped = {line["process"]: line for line in child_lines(log, "worker_stopped")}
    assert set(stopped) == {1, 2}
    # Both screened: the partitions (keys hashed over four) were shared, not idle in one.
    assert all(line["consumed"] > 0 for line in stopped.values()), stopped
    assert sum(line["consumed"] for line in stopped.values()) == n
    exits = [line for line in lines(log) if line.get("event") == "child_stopped"]
    assert sorted((e["process"], e["returncode"]) for e in exits) == [(1, 0), (2, 0)]
    # Drained and committed: the group resumes after the last event of each partition.
    ends: dict[int, int] = {}
    for record in written:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    got = await committed(tansu.bootstrap_servers, settings.group_id, prompts.input)
    assert {p: got[p] for p in ends} == ends


async def test_a_child_killed_with_sigkill_is_restarted_and_nothing_is_lost(
    tansu: Broker, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    n = 2000
    settings = settings_factory(topic_partitions=PARTITIONS, session_timeout_ms=6000)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    await apply_example_stages(tansu, settings)
    process, log = start_worker(
        tmp_path, worker_env(settings, tansu), processes=2, stages=str(EXAMPLES)
    )
    try:
        await wait_until(lambda: settled(log, prompts.input, 2), timeout_s=START_S)
        stream = asyncio.create_task(
            produce_gradually(tansu.bootstrap_servers, prompts.input, n, per_tick=50, tick_s=0.25)
        )
        # Mid-stream: once some Responses are out, and more events are still to come.
        while not stream.done():
            produced = await read_topic(
                tansu.bootstrap_servers, prompts.results, 10**9, timeout_s=0.5
            )
            if len(produced) >= 200:
                break
        assert not stream.done(), "the stream ended before the kill: nothing tested mid-stream"
        (victim,) = [pid for pid, cmd in children(process.pid) if "--process-index 1 " in cmd]
        os.kill(victim, signal.SIGKILL)
        await wait_until(
            lambda: any(
                line["process"] == 1 and line["restarts"] == 1
                for line in lines(log)
                if line.get("event") == "child_started"
            ),
            timeout_s=PROMPT_EXIT_S,
        )
        await stream
        results = await read_topic(
            tansu.bootstrap_servers, prompts.results, n, timeout_s=180, done=all_seqs(n)
        )
        # The restarted child joins the group again: the two screen on.
        await wait_until(lambda: rejoined(log, 1), timeout_s=START_S)
        assert process.poll() is None, "the supervisor kept running"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PROMPT_EXIT_S + settings.drain_timeout_s) == 0
    finally:
        stop(process)
    seqs = seqs_of(results)
    missing = set(range(n)) - set(seqs)
    print(
        f"\nsupervisor crash test: {n} events, {len(results)} Responses, "
        f"{sum(c - 1 for c in seqs.values())} duplicates (the killed child's uncommitted work)"
    )
    assert not missing, f"{len(missing)} events lost"
    assert not alive(victim)
    exited = [line for line in lines(log) if line.get("event") == "child_exited"]
    assert [(e["process"], e.get("signal")) for e in exited] == [(1, "SIGKILL")]


async def test_a_child_failing_on_its_configuration_makes_the_supervisor_give_up(
    tansu: Broker, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    # Bad configuration that only the children see: the file parses (the supervisor checks
    # that), but its pattern compiles only where metrics are built, in each child on a cluster.
    stages = tmp_path / "stages.yaml"
    stages.write_text(
        "metrics:\n"
        "  - name: broken_pattern\n"
        "    type: regex\n"
        "    reads: output\n"
        "    labels:\n"
        "      ticket: ['(unclosed']\n"
    )
    settings = settings_factory(topic_partitions=PARTITIONS)
    await ensure_topics(tansu.bootstrap_servers, ScreeningWorker.topic_specs(settings))
    process, log = start_worker(
        tmp_path, worker_env(settings, tansu), processes=2, stages=str(stages)
    )
    try:
        assert process.wait(timeout=START_S) == EXIT_CONFIGURATION
    finally:
        stop(process)
    text = log.read_text()
    assert "broken_pattern" in text, "the children's message names the metric"
    (gave_up,) = [line for line in lines(log) if line.get("event") == "supervisor_gave_up"]
    assert gave_up["reason"] == "configuration_error"
    # Not restarted: the same configuration would fail the same way.
    assert all(line["restarts"] == 0 for line in child_lines(log, "child_started"))
    assert not [pid for pid, _ in children(process.pid)]


async def test_children_that_keep_failing_exhaust_the_restart_budget(tmp_path: Path) -> None:
    # A real child that always fails with status 1 (not a configuration error, so it is
    # restarted): `protect schemas --check` against an empty directory. A budget of 3 keeps the
    # backoff short (1 s, 2 s); the command's own budget is RESTART_LIMIT.
    policy = RestartPolicy(limit=3, window_s=600)
    supervisor = Supervisor(1, Settings(), policy)
    status = await supervisor.run(
        asyncio.Event(), ["schemas", "--check", "--out", str(tmp_path / "empty")]
    )
    assert status == EXIT_FAILED
    assert policy.recent_failures == 3


def test_restart_policy_counts_failures_within_its_window_and_backs_off() -> None:
    policy = RestartPolicy(limit=3, window_s=10)
    assert not policy.failed(0.0)
    assert not policy.failed(5.0)
    assert not policy.failed(11.0)  # the first has left the window: two in it
    assert policy.failed(12.0)
    delays = [RestartPolicy.backoff_s(k) for k in range(1, 12)]
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert delays[-1] == RESTART_BACKOFF_MAX_S


def test_processes_default_to_the_available_cores() -> None:
    assert resolve_processes(None, Settings()) == len(os.sched_getaffinity(0))
    assert resolve_processes(None, Settings(processes=3)) == 3
    assert resolve_processes(1, Settings(processes=3)) == 1


async def test_notifier_children_share_the_deliveries_and_sigterm_stops_them(
    tansu: Broker, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(
        topic_partitions=PARTITIONS,
        notify_group_id=f"notifier-{os.urandom(4).hex()}",
        notifications_topic=f"notifications-{os.urandom(4).hex()}",
        notify_retry_topic=f"retry-{os.urandom(4).hex()}",
        notify_dead_topic=f"dead-{os.urandom(4).hex()}",
    )
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
        "PROTECT_NOTIFY_GROUP_ID": settings.notify_group_id,
        "PROTECT_NOTIFICATIONS_TOPIC": settings.notifications_topic,
        "PROTECT_NOTIFY_RETRY_TOPIC": settings.notify_retry_topic,
        "PROTECT_NOTIFY_DEAD_TOPIC": settings.notify_dead_topic,
        "PROTECT_NOTIFY_ALLOW_NETWORKS": json.dumps(["127.0.0.1/32"]),  # the receiver
        "PROTECT_WEBHOOK_DEFAULT_SECRET": f"env:{SECRET_ENV}",
        SECRET_ENV: generate_secret(),
        "PROTECT_TOPIC_PARTITIONS": str(PARTITIONS),
    }
    process, log = start_notifier(tmp_path, env, processes=2)
    with Receiver() as receiver:
        try:
            await wait_until(
                lambda: settled(log, settings.notifications_topic, 2), timeout_s=START_S
            )
            # Keyed by their webhook-ids: spread over the four partitions, so both children.
            items = await deliveries([receiver.url("/hook")], n_each=40)
            await publish(tansu, settings, items)
            ids = {d.id for d in items}
            await wait_until(lambda: receiver.delivered_ids("/hook") == ids, timeout_s=120)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=PROMPT_EXIT_S + settings.drain_timeout_s) == 0
        finally:
            stop(process)
        received = Counter(r.headers["webhook-id"] for r in receiver.at("/hook"))
    assert received == Counter(ids), "every delivery exactly once"
    stopped = {line["process"]: line for line in child_lines(log, "notifier_stopped")}
    assert set(stopped) == {1, 2}
    assert all(line["delivered"] > 0 for line in stopped.values()), stopped
    exits = [line for line in lines(log) if line.get("event") == "child_stopped"]
    assert sorted((e["process"], e["returncode"]) for e in exits) == [(1, 0), (2, 0)]


def test_an_invalid_process_count_is_refused_naming_it() -> None:
    bad_option = subprocess.run(
        [PROTECT, "run", "--processes", "0"], capture_output=True, text=True, check=False
    )
    assert bad_option.returncode == EXIT_CONFIGURATION
    assert "--processes: must be at least 1, got 0" in bad_option.stderr
    bad_variable = subprocess.run(
        [PROTECT, "run"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PROTECT_PROCESSES": "0"},
    )
    assert bad_variable.returncode == EXIT_CONFIGURATION
    assert "PROTECT_PROCESSES: Input should be greater than or equal to 1" in bad_variable.stderr

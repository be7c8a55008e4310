"""`protect run` as a process: an embedded broker when no cluster is set, and signal handling."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.brokers import Broker

ROOT = Path(__file__).resolve().parents[2]
PROTECT = str(Path(sys.executable).with_name("protect"))


def start_worker(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    processes: int | None = 1,
    stages: str = "examples/stages.yaml",
) -> tuple[subprocess.Popen[bytes], Path]:
    """`protect run` with examples/stages.yaml; an embedded broker unless `env` names a cluster.

    `processes`: `--processes N` (default 1: one process, what these tests are about, whatever
    the machine's cores); None: not given (PROTECT_PROCESSES, else one per core).
    """
    env = {**{k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}, **(env or {})}
    log = tmp_path / "worker.log"
    option = [] if processes is None else ["--processes", str(processes)]
    if "KAFKA_BOOTSTRAP_SERVERS" not in env:
        option.append("--embedded")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PROTECT, "--log-format", "json", "run", "--stages", stages, *option],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    return process, log


def events(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    return [json.loads(line).get("event", "") for line in lines if line.startswith("{")]


def wait_for(log: Path, event: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while event not in events(log):
        assert time.monotonic() < deadline, f"no {event!r} in {log.read_text()[-2000:]}"
        time.sleep(0.1)


def test_sigterm_drains_commits_and_leaves(tmp_path: Path) -> None:
    process, log = start_worker(tmp_path)
    try:
        wait_for(log, "partitions_assigned")  # embedded broker up, stages applied, group joined
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    seen = events(log)
    assert "embedded_broker_started" in seen
    assert seen.index("stopping") < seen.index("worker_stopped")


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    process, log = start_worker(tmp_path)
    try:
        broker = embedded_broker_of(process, log)
        wait_for(log, "partitions_assigned")
        # A frozen broker: the graceful stop (the registry follower, the broker's own stop: 5 s
        # of grace before SIGKILL) waits on it; a second signal, once the first was seen, must
        # not wait.
        os.kill(broker, signal.SIGSTOP)
        process.send_signal(signal.SIGINT)
        wait_for(log, "stopping")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 128 + signal.SIGINT
    finally:
        if process.poll() is None:
            process.kill()
    assert "second_signal_exit" in events(log)
    # The embedded broker (a process of its own) did not outlive the worker.
    deadline = time.monotonic() + PROMPT_EXIT_S
    while alive(broker):
        assert time.monotonic() < deadline, f"broker {broker} outlived its worker"
        time.sleep(0.1)


# -- stopping in any phase; the embedded broker dies with its worker ------------------------------

# A consumer that joins a group and says so: frozen (SIGSTOP), it keeps the group from
# rebalancing, so a newcomer waits to join for as long as the broker holds the frozen member.
GROUP_HOLDER = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer

async def main():
    bootstrap, topic, group = sys.argv[1:4]
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, session_timeout_ms=30000,
        rebalance_timeout_ms=30000, max_poll_interval_ms=30000, heartbeat_interval_ms=1000,
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)
    print("joined", flush=True)
    while True:
        await consumer.getmany(timeout_ms=200)

asyncio.run(main())
"""
# Bounds for waits that, without the behaviour under test, would last far longer (a frozen
# group member, a cluster that never answers a request: 40 s of client timeout, then retries).
PROMPT_EXIT_S = 30


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live child processes of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        # Fields after the command name, which is in parentheses and may hold spaces.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append((int(entry.name), cmdline))
    return found


def alive(pid: int) -> bool:
    """Running, or stopped: anything but gone or a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def embedded_broker_of(process: subprocess.Popen[bytes], log: Path) -> int:
    wait_for(log, "embedded_broker_started")
    (broker,) = [pid for pid, cmdline in children(process.pid) if "tansu" in cmdline]
    return broker


def worker_env(broker: Broker, topic_factory: Callable[[str], str], group: str) -> dict[str, str]:
    prompts = topic_factory("prompts")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "PROTECT_GROUP_ID": group,
        "PROTECT_BINDINGS": json.dumps(
            [{"input": prompts, "results": f"{prompts}.results", "stage_name": "input-guard"}]
        ),
        "PROTECT_STAGES_TOPIC": topic_factory("stages"),
        "PROTECT_DEADLETTER_TOPIC": topic_factory("deadletter"),
        "PROTECT_NOTIFICATIONS_TOPIC": topic_factory("notifications"),
        "PROTECT_TOPIC_PARTITIONS": "1",
    }


def read_line(process: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    assert ready, "no line in time"
    return process.stdout.readline()


def test_sigterm_stops_a_worker_waiting_to_join_its_group(
    tansu: Broker, topic_factory: Callable[[str], str], tmp_path: Path
) -> None:
    group = topic_factory("group")
    env = worker_env(tansu, topic_factory, group)
    prompts = json.loads(env["PROTECT_BINDINGS"])[0]["input"]
    holder = subprocess.Popen(
        [sys.executable, "-c", GROUP_HOLDER, tansu.bootstrap_servers, prompts, group],
        stdout=subprocess.PIPE,
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        assert read_line(holder, 60) == b"joined\n"
        holder.send_signal(signal.SIGSTOP)
        process, log = start_worker(tmp_path, env)
        wait_for(log, "worker_started")  # subscribed: now joining, behind the frozen member
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PROMPT_EXIT_S) == 0
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
        if process is not None and process.poll() is None:
            process.kill()
    seen = events(log)
    assert "partitions_assigned" not in seen  # it stopped while still joining
    assert seen.index("stopping") < seen.index("worker_stopped")


def test_sigterm_stops_a_worker_whose_cluster_does_not_answer(tmp_path: Path) -> None:
    # A listening socket that never answers: connections are accepted by the kernel, and every
    # request waits for a reply that does not come.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent.getsockname()[1]}"}
        process, log = start_worker(tmp_path, env)
        try:
            connection, _ = silent.accept()  # the worker is starting: waiting on the cluster
            with connection:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=PROMPT_EXIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "worker_stopped" in events(log)


def test_an_embedded_broker_dies_with_a_killed_worker(tmp_path: Path) -> None:
    process, log = start_worker(tmp_path)
    try:
        broker = embedded_broker_of(process, log)
        process.kill()  # SIGKILL: no cleanup of the worker's runs
        process.wait()
        deadline = time.monotonic() + PROMPT_EXIT_S
        while alive(broker):  # killed by the kernel, since its parent died
            assert time.monotonic() < deadline, f"broker {broker} outlived its worker"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_without_a_cluster_or_embedded_the_worker_refuses_naming_the_variable(
    processes: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    result = subprocess.run(
        [PROTECT, "run", "--processes", processes],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS: no Kafka cluster configured" in result.stderr
    assert "--embedded" in result.stderr


def test_embedded_and_a_cluster_together_are_refused() -> None:
    result = subprocess.run(
        [PROTECT, "run", "--embedded", "--bootstrap", "127.0.0.1:9"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--embedded: a cluster is configured" in result.stderr

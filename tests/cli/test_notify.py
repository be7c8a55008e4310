"""`protect notify` as a process: the first SIGTERM stops it in any phase, as it does a worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.brokers import Broker
from tests.cli.test_run import GROUP_HOLDER, PROMPT_EXIT_S, PROTECT, events, read_line, wait_for


def start_notifier(
    tmp_path: Path, env: dict[str, str], *, processes: int = 1
) -> tuple[subprocess.Popen[bytes], Path]:
    """`protect notify --processes N` (default 1: one process, whatever the machine's cores)."""
    log = tmp_path / "notifier.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PROTECT, "--log-format", "json", "notify", "--processes", str(processes)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    return process, log


def test_sigterm_stops_a_notifier_waiting_to_join_its_group(
    tansu: Broker, topic_factory: Callable[[str], str], tmp_path: Path
) -> None:
    group, notifications = topic_factory("notify-group"), topic_factory("notifications")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
        "PROTECT_NOTIFY_GROUP_ID": group,
        "PROTECT_NOTIFICATIONS_TOPIC": notifications,
        "PROTECT_NOTIFY_RETRY_TOPIC": topic_factory("retry"),
        "PROTECT_NOTIFY_DEAD_TOPIC": topic_factory("dead"),
        "PROTECT_TOPIC_PARTITIONS": "1",
    }
    # A frozen member of the notifier's group keeps it from rebalancing: the notifier waits to
    # join for as long as the broker holds that member.
    holder = subprocess.Popen(
        [sys.executable, "-c", GROUP_HOLDER, tansu.bootstrap_servers, notifications, group],
        stdout=subprocess.PIPE,
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        assert read_line(holder, 60) == b"joined\n"
        holder.send_signal(signal.SIGSTOP)
        process, log = start_notifier(tmp_path, env)
        wait_for(log, "notifier_started")  # subscribed: now joining, behind the frozen member
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
    assert seen.index("stopping") < seen.index("notifier_stopped")


def test_sigterm_stops_a_notifier_whose_cluster_does_not_answer(tmp_path: Path) -> None:
    # A listening socket that never answers: connections are accepted by the kernel, and every
    # request waits for a reply that does not come.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent.getsockname()[1]}"}
        process, log = start_notifier(tmp_path, env)
        try:
            connection, _ = silent.accept()  # starting: waiting on the cluster
            with connection:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=PROMPT_EXIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "notifier_stopped" in events(log)

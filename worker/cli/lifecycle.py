"""Signal handling shared by the long-running commands (run, notify)."""

from __future__ import annotations

import asyncio
import os
import signal

import structlog

from worker.stream.broker import kill_embedded_brokers

log = structlog.get_logger(__name__)


def install_stop_signals(stop: asyncio.Event) -> None:
    """First SIGINT/SIGTERM: stop fetching, finish, commit, leave the group. Second: exit now."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second_signal_exit", signal=signal.Signals(signum).name)
            kill_embedded_brokers()
            os._exit(128 + signum)
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)

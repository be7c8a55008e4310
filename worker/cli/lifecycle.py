"""Signal handling shared by the long-running commands (run, notify) and their supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import structlog

from worker.stream.broker import kill_embedded_brokers

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_stop_signals(
    stop: asyncio.Event,
    *,
    on_stop: Callable[[signal.Signals], None] | None = None,
    on_exit_now: Callable[[], None] | None = None,
) -> None:
    """First SIGINT/SIGTERM: stop fetching, finish, commit, leave the group. Second: exit now.

    `on_stop` hears the first signal (a supervisor forwards it to its children); `on_exit_now`
    runs before the immediate exit (a supervisor kills its children: their own second signal
    would have to wait for the first to be seen).
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received = signal.Signals(signum)
        if stop.is_set():
            log.warning("second_signal_exit", signal=received.name)
            if on_exit_now is not None:
                on_exit_now()
            kill_embedded_brokers()
            os._exit(128 + signum)
        log.info("stopping", signal=received.name)
        stop.set()
        if on_stop is not None:
            on_stop(received)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)

"""`protect notify`: the notifier, its own consumer group on the notifications topic."""

from __future__ import annotations

import argparse
import asyncio
import sys

from worker.cli.lifecycle import install_stop_signals
from worker.cli.supervisor import Supervisor, logging_options, positive_int, resolve_processes
from worker.notify.client import WebhookClient
from worker.notify.notifier import Notifier
from worker.settings import Settings


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.description = (
        "Consume delivery records written by the workers and POST them, signed, to "
        "subscription URLs, with retries kept in Kafka."
    )
    p.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)"
    )
    p.add_argument(
        "--processes",
        type=positive_int,
        metavar="N",
        help="notifier processes (members of its consumer group) under one supervisor "
        "(default: $PROTECT_PROCESSES, else one per core; 1: a single process, no supervisor)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        print(
            "protect notify: set KAFKA_BOOTSTRAP_SERVERS (or --bootstrap) to the workers' cluster",
            file=sys.stderr,
        )
        return 2
    processes = resolve_processes(args.processes, settings)
    if processes > 1:
        supervisor = Supervisor(processes, settings)
        options = logging_options(
            args.log_format or settings.log_format, args.log_level or settings.log_level
        )

        child = ["notify", "--processes", "1", "--bootstrap", bootstrap]

        async def supervise() -> int:
            stop = asyncio.Event()
            supervisor.install_signals(stop)
            return await supervisor.run(stop, options + child)

        return asyncio.run(supervise())

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await Notifier(settings, bootstrap, WebhookClient(settings)).run(stop)

    asyncio.run(main())
    return 0

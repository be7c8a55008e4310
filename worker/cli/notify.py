"""`protect notify`: the notifier, its own consumer group on the notifications topic."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from worker.cli.lifecycle import install_stop_signals
from worker.notify.client import WebhookClient
from worker.notify.notifier import Notifier
from worker.settings import Settings


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "notify",
        help="run the notifier: deliver Responses to subscription webhooks",
        description="Consume delivery records written by the workers and POST them, signed, to "
        "subscription URLs, with retries kept in Kafka.",
    )
    p.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)"
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

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await Notifier(settings, bootstrap, WebhookClient(settings)).run(stop)

    asyncio.run(main())
    return 0

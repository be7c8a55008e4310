"""`protect run`: the screening worker (an embedded broker when no cluster is configured)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog

from worker.cli.lifecycle import install_stop_signals
from worker.settings import Settings
from worker.stages.files import StagesFile, load_stages_file
from worker.stream.broker import kafka_cluster
from worker.stream.groups import Stopped, until_stopped
from worker.stream.screening import ScreeningWorker
from worker.stream.service import registry_backed_protect

log = structlog.get_logger(__name__)


def register(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run the screening worker",
        description="Consume prompt/response events, evaluate them, produce Responses. Without "
        "KAFKA_BOOTSTRAP_SERVERS (or --bootstrap) an embedded broker is started on loopback.",
    )
    p.add_argument(
        "--stages",
        type=Path,
        help="stages file: its custom metrics; its stages are published to the registry topic "
        "only on an embedded broker (use `protect stages apply` for a cluster)",
    )
    p.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    stages_file = args.stages or settings.stages_file
    document = load_stages_file(stages_file) if stages_file else StagesFile()
    configured = args.bootstrap or settings.kafka_bootstrap_servers

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        async with contextlib.AsyncExitStack() as stack:
            # A stop signal is obeyed while starting too: starting a broker, creating topics
            # and catching up with the registry can each wait on the cluster for long.
            try:
                bootstrap = await until_stopped(
                    stop, stack.enter_async_context(kafka_cluster(configured))
                )
                protect = await until_stopped(
                    stop,
                    stack.enter_async_context(
                        # An embedded broker's registry is empty and private: publish the
                        # file's stages.
                        registry_backed_protect(
                            document, settings, bootstrap, apply_stages=configured is None
                        )
                    ),
                )
            except Stopped:
                log.info("worker_stopped", phase="starting")
                return
            protect.warm_up()
            await ScreeningWorker(protect, settings, bootstrap).run(stop)

    asyncio.run(main())
    return 0

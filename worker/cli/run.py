"""`protect run`: the screening worker (on an embedded broker only when asked: `--embedded`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

import structlog

from worker.cli.lifecycle import install_stop_signals
from worker.cli.supervisor import Supervisor, logging_options, positive_int, resolve_processes
from worker.errors import ConfigurationError
from worker.runtime import Protect
from worker.settings import Settings
from worker.stages.files import StagesFile, load_stages_file
from worker.stream.broker import kafka_cluster
from worker.stream.groups import Stopped, until_stopped
from worker.stream.screening import ScreeningWorker
from worker.stream.service import publish_file_stages, registry_backed_protect

log = structlog.get_logger(__name__)


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    p.description = (
        "Consume prompt/response events, evaluate them, produce Responses, on the "
        "cluster of KAFKA_BOOTSTRAP_SERVERS (or --bootstrap), or with --embedded on a throwaway "
        "broker started on loopback."
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
    p.add_argument(
        "--embedded",
        action="store_true",
        help="start a throwaway Kafka-protocol broker on loopback (Tansu) and publish the stages "
        "file's stages to it: for trying the worker, never for production",
    )
    p.add_argument(
        "--processes",
        type=positive_int,
        metavar="N",
        help="worker processes (members of the consumer group) under one supervisor "
        "(default: $PROTECT_PROCESSES, else one per core; 1: a single process, no supervisor)",
    )
    p.set_defaults(run=run)


def cluster_of(args: argparse.Namespace, settings: Settings) -> str | None:
    """The configured bootstrap servers, or None for an embedded broker when asked for one.

    A worker that silently started its own broker when the cluster setting was missing would
    screen nothing of the application's traffic while looking healthy: refuse instead.
    """
    configured: str | None = args.bootstrap or settings.kafka_bootstrap_servers
    if configured and args.embedded:
        raise ConfigurationError(
            "--embedded: a cluster is configured (KAFKA_BOOTSTRAP_SERVERS / --bootstrap); "
            "use one or the other"
        )
    if not configured and not args.embedded:
        raise ConfigurationError(
            "KAFKA_BOOTSTRAP_SERVERS: no Kafka cluster configured; set it (or --bootstrap "
            "HOST:PORT), or pass --embedded to try the worker on a throwaway local broker"
        )
    return configured


def run(args: argparse.Namespace, settings: Settings) -> int:
    configured = cluster_of(args, settings)
    processes = resolve_processes(args.processes, settings)
    if processes > 1:
        return supervise(args, settings, processes)
    stages_file = args.stages or settings.stages_file
    document = load_stages_file(stages_file) if stages_file else StagesFile()

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


def supervise(args: argparse.Namespace, settings: Settings, processes: int) -> int:
    """`processes` workers of one group under a supervisor (worker/cli/supervisor.py). An
    embedded broker is the supervisor's, started once, its stages published once; the children
    are workers on that cluster."""
    stages_file = args.stages or settings.stages_file
    configured = cluster_of(args, settings)
    # Parsed before anything starts, so a malformed file fails once, here, not in N children.
    # Its metrics are built (models, patterns) by the children, and on an embedded broker by us.
    document = load_stages_file(stages_file) if stages_file else None
    supervisor = Supervisor(processes, settings)

    async def main() -> int:
        stop = asyncio.Event()
        supervisor.install_signals(stop)
        async with contextlib.AsyncExitStack() as stack:
            try:
                bootstrap = await until_stopped(
                    stop, stack.enter_async_context(kafka_cluster(configured))
                )
                if document is not None and configured is None:
                    protect = Protect.from_document(
                        document.model_copy(update={"stages": []}), source=str(stages_file)
                    )
                    await until_stopped(
                        stop,
                        publish_file_stages(
                            document, settings, bootstrap, protect.evaluator.metrics
                        ),
                    )
            except Stopped:
                log.info("supervisor_stopped", phase="starting")
                return 0
            child = ["run", "--processes", "1", "--bootstrap", bootstrap]
            if stages_file:
                child += ["--stages", str(stages_file)]
            options = logging_options(
                args.log_format or settings.log_format, args.log_level or settings.log_level
            )
            return await supervisor.run(stop, options + child)

    return asyncio.run(main())

"""`protect stages`: check stage files, and manage the central registry on Kafka.

`validate` works offline. `apply`, `list`, `show`, `history`, `pause` and `resume` read the
registry topic to its end, then act; their output is JSON lines (one per stage or version) so
scripts can consume it. Warnings go to stderr through the logging configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from worker.contract.stage import Stage
from worker.errors import BrokerError, StageNotFoundError
from worker.metrics.builtin import default_registry
from worker.metrics.registry import MetricRegistry
from worker.runtime import Protect
from worker.settings import Settings
from worker.stages.files import load_stages_file
from worker.stages.kafka import StageAdmin

# Exit status when the registry cannot be reached or the stage does not exist (2 stays reserved
# for invalid input, as in the rest of the CLI).
EXIT_FAILED = 1
EXIT_USAGE = 2


def configure(p: argparse.ArgumentParser) -> None:
    """Options of this subcommand (its name and help line are in worker/cli/main.py)."""
    sub = p.add_subparsers(dest="stages_command", required=True, metavar="SUBCOMMAND")
    v = sub.add_parser(
        "validate", help="validate a stages file: field errors, unknown metrics, rule warnings"
    )
    v.add_argument("-f", "--file", type=Path, required=True)
    v.set_defaults(run=validate)

    def registry_command(
        name: str, summary: str, run: Callable[..., int]
    ) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=summary)
        c.add_argument(
            "--project",
            help="project name (default: the project holding the stage if only one does, "
            "else $PROTECT_PROJECT)",
        )
        c.add_argument(
            "--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)"
        )
        c.set_defaults(run=run)
        return c

    a = registry_command(
        "apply", "publish the stages of a file: a new version only when a stage changed", apply
    )
    a.add_argument("-f", "--file", type=Path, required=True)
    registry_command("list", "the latest version of every stage", list_stages)
    s = registry_command("show", "one stage version (default: the latest)", show)
    s.add_argument("name")
    s.add_argument("--version", type=int, help="version number (default: latest)")
    h = registry_command("history", "every version of a stage", history)
    h.add_argument("name")
    pa = registry_command("pause", "pause a stage (every version): nothing is evaluated", pause)
    pa.add_argument("name")
    r = registry_command("resume", "resume a paused stage", resume)
    r.add_argument("name")


def validate(args: argparse.Namespace, settings: Settings) -> int:
    # Loading validates everything: a field error or an unknown metric raises (exit 2 with the
    # field named); rules that can never trigger are logged as warnings.
    protect = Protect.from_file(args.file)
    for stage in sorted(protect.stages.latest(), key=lambda s: (s.project_name or "", s.name)):
        print(
            json.dumps(
                {
                    "project": stage.project_name,
                    "stage": stage.name,
                    "type": stage.type.value,
                    "version": stage.version,
                    "rulesets": len(stage.prioritized_rulesets),
                }
            )
        )
    return 0


# -- the registry on Kafka ----------------------------------------------------------------------


def _summary(stage: Stage) -> dict[str, Any]:
    return {
        "project": stage.project_name,
        "stage": stage.name,
        "id": str(stage.id),
        "type": stage.type.value,
        "version": stage.version,
        "paused": stage.paused,
        "rulesets": len(stage.prioritized_rulesets),
    }


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document), flush=True)


def _emit_stage(stage: Stage) -> None:
    print(stage.model_dump_json(), flush=True)


def _with_admin(
    args: argparse.Namespace,
    settings: Settings,
    action: Callable[[StageAdmin], Awaitable[None]],
    metrics: MetricRegistry | None = None,
) -> int:
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        # The embedded broker lives only as long as `protect run` / `demo`: a registry written
        # into a broker this command started would vanish when it exits.
        print(
            f"protect stages {args.stages_command}: no Kafka cluster: set "
            "KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap HOST:PORT",
            file=sys.stderr,
        )
        return EXIT_USAGE

    async def session() -> None:
        async with StageAdmin(
            bootstrap,
            settings.stages_topic,
            metrics or default_registry(),
            default_project=settings.project,
        ) as admin:
            await action(admin)

    try:
        asyncio.run(session())
    except (BrokerError, StageNotFoundError) as exc:
        print(f"protect stages {args.stages_command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def apply(args: argparse.Namespace, settings: Settings) -> int:
    document = load_stages_file(args.file)
    # Validate the whole file (fields, unknown metrics, rule warnings) before writing anything,
    # so a file with one bad stage publishes none of them.
    protect = Protect.from_document(document, source=str(args.file))
    project = args.project or document.project or settings.project

    async def action(admin: StageAdmin) -> None:
        for definition in document.stages:
            result = await admin.apply(definition, project_name=project)
            _emit({**_summary(result.stage), "created": result.created})

    return _with_admin(args, settings, action, metrics=protect.stages.metrics)


def list_stages(args: argparse.Namespace, settings: Settings) -> int:
    async def action(admin: StageAdmin) -> None:
        for stage in admin.list():
            if args.project is None or stage.project_name == args.project:
                _emit(_summary(stage))

    return _with_admin(args, settings, action)


def show(args: argparse.Namespace, settings: Settings) -> int:
    async def action(admin: StageAdmin) -> None:
        _emit_stage(admin.show(args.name, args.project, args.version))

    return _with_admin(args, settings, action)


def history(args: argparse.Namespace, settings: Settings) -> int:
    async def action(admin: StageAdmin) -> None:
        for stage in admin.history(args.name, args.project):
            _emit_stage(stage)

    return _with_admin(args, settings, action)


def pause(args: argparse.Namespace, settings: Settings) -> int:
    return _set_paused(args, settings, paused=True)


def resume(args: argparse.Namespace, settings: Settings) -> int:
    return _set_paused(args, settings, paused=False)


def _set_paused(args: argparse.Namespace, settings: Settings, *, paused: bool) -> int:
    async def action(admin: StageAdmin) -> None:
        change = admin.pause if paused else admin.resume
        result = await change(args.name, args.project)
        _emit({**_summary(result.stage), "changed": result.changed})

    return _with_admin(args, settings, action)

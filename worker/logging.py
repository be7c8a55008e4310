"""structlog configuration: JSON lines in production, readable lines on a terminal.

Payload text is never logged by the package; log event ids, statuses and sizes instead. Records
of the standard library's `logging` (aiokafka, httpx, presidio, ...) go through the same
processors and renderer, so a log shipper sees one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, Literal

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto",
    level: Literal["debug", "info", "warning", "error"] = "info",
    *,
    process: int | None = None,
) -> None:
    """`process`: a supervised child's index, on every line (threads' lines included, which
    context variables would miss)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    tag: list[structlog.typing.Processor] = [] if process is None else [_ProcessTag(process)]
    shared: list[structlog.typing.Processor] = [
        *tag,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    _route_standard_logging(shared, renderer, _LEVELS[level])
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # Logs go to stderr so stdout stays clean for command output (Responses, schemas).
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


# Libraries held at WARNING unless the level is lower. httpx logs every request's full URL at
# INFO (webhook URLs can hold tokens in their query). aiokafka's INFO lines are group chatter
# ("Updating subscribed topics", "Joined group") from every consumer, the CLI's short-lived
# registry readers included; our own lines report joins and assignments once per worker.
_QUIETER: Final = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiokafka": logging.WARNING,
}


class _StructlogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the one handler we install, so configuring again replaces it."""


def _route_standard_logging(
    shared: list[structlog.typing.Processor], renderer: structlog.typing.Processor, level: int
) -> None:
    handler = _StructlogHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StructlogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in _QUIETER.items():
        logging.getLogger(name).setLevel(max(level, floor))


class _ProcessTag:
    """Adds `process=<index>` to every line of a supervised child."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(
        self, logger: object, method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("process", self.index)
        return event_dict

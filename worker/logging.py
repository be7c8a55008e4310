"""structlog configuration: JSON lines in production, readable lines on a terminal.

Payload text is never logged by the package; log event ids, statuses and sizes instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

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
    structlog.configure(
        processors=[
            *tag,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # Logs go to stderr so stdout stays clean for command output (Responses, schemas).
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


class _ProcessTag:
    """Adds `process=<index>` to every line of a supervised child."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(
        self, logger: object, method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("process", self.index)
        return event_dict

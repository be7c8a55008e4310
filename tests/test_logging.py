"""Logging: one JSON format for our lines and for the standard library's (aiokafka, httpx)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from worker.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # configure_logging binds the captured stderr of the test; later tests must not write there.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_standard_library_records_are_rendered_like_ours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info", process=2)
    structlog.get_logger("worker.test").info("ours", events=3)
    logging.getLogger("aiokafka.consumer.group_coordinator").warning("Heartbeat %s", "failed")
    try:
        raise RuntimeError("broken")
    except RuntimeError:
        logging.getLogger("some.library").exception("with a traceback")
    ours, theirs, failure = _lines(capsys.readouterr().err)
    assert set(ours) >= {"event", "level", "timestamp", "process"}
    assert theirs["event"] == "Heartbeat failed"
    assert theirs["logger"] == "aiokafka.consumer.group_coordinator"
    assert (theirs["level"], theirs["process"]) == ("warning", 2)
    assert set(theirs) >= set(ours) - {"events"}
    assert "RuntimeError: broken" in str(failure["exception"])


def test_levels_apply_to_library_records_and_httpx_urls_stay_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    logging.getLogger("aiokafka").debug("below the level")
    logging.getLogger("httpx").info("HTTP Request: POST https://hooks.example/?token=secret")
    logging.getLogger("httpx").warning("a warning still comes through")
    assert [line["event"] for line in _lines(capsys.readouterr().err)] == [
        "a warning still comes through"
    ]


def test_configuring_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    configure_logging("json", "info")
    logging.getLogger("aiokafka").warning("once")
    assert len(_lines(capsys.readouterr().err)) == 1

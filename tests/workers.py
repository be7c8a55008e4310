"""Factories for Kafka tests: per-test topics and settings, in-process workers.

The fixtures are registered in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.brokers import Broker
from worker.runtime import Protect
from worker.settings import Settings, TopicBinding
from worker.stream.screening import ScreeningWorker

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "stages.yaml"


@pytest.fixture
def settings_factory(topic_factory: Callable[[str], str]) -> Callable[..., Settings]:
    """Settings with unique topics and group, so tests sharing a broker never interfere."""

    def make(**overrides: Any) -> Settings:
        prompts, responses = topic_factory("prompts"), topic_factory("responses")
        values: dict[str, Any] = {
            "bindings": [
                TopicBinding(input=prompts, results=f"{prompts}.results", stage_name="input-guard"),
                TopicBinding(
                    input=responses, results=f"{responses}.results", stage_name="output-guard"
                ),
            ],
            "group_id": topic_factory("group"),
            "deadletter_topic": topic_factory("deadletter"),
            "stages_topic": topic_factory("stages"),
            "project": "demo-chatbot",
            "topic_partitions": 3,
            "commit_interval_s": 0.2,
        }
        values.update(overrides)
        return Settings.model_validate(values)

    return make


@dataclass
class RunningWorker:
    worker: ScreeningWorker
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def worker_factory() -> AsyncIterator[Callable[..., RunningWorker]]:
    """Start in-process workers (examples/stages.yaml by default); all are stopped at the end."""
    running: list[RunningWorker] = []

    def start(broker: Broker, settings: Settings, protect: Protect | None = None) -> RunningWorker:
        protect = protect or Protect.from_file(EXAMPLES, seed=0)
        worker = ScreeningWorker(protect, settings, broker.bootstrap_servers)
        stop = asyncio.Event()
        handle = RunningWorker(worker, stop, asyncio.create_task(worker.run(stop)))
        running.append(handle)
        return handle

    yield start
    for handle in running:
        if not handle.task.done():
            await handle.finish()

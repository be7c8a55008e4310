"""The demo's webhook side: the example receiver as a subprocess, and stages subscribed to it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Self

from worker.contract.stage import StageDefinition
from worker.stages.files import StagesFile
from worker.startstop import StartStop
from worker.stream.broker import LOOPBACK, free_port

RECEIVER = Path("examples/webhook_receiver.py")
# The receiver is a small Python process: well under a second to listen, even on a busy CI box.
RECEIVER_START_TIMEOUT_S = 15.0


class ExampleReceiver(StartStop):
    """examples/webhook_receiver.py on a free loopback port; collects the lines it prints."""

    def __init__(self, secret: str) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self._secret = secret
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/protect"

    async def start(self) -> Self:
        # The secret travels in the environment, not on a command line others can read.
        env = {**os.environ, "WEBHOOK_SECRET": self._secret}
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RECEIVER),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        deadline = asyncio.get_running_loop().time() + RECEIVER_START_TIMEOUT_S
        while True:
            try:
                _, writer = await asyncio.open_connection(LOOPBACK, self.port)
                writer.close()
                return self
            except OSError:
                if asyncio.get_running_loop().time() > deadline or self._process.returncode:
                    await self.stop()
                    raise RuntimeError(f"{RECEIVER} did not start listening") from None
                await asyncio.sleep(0.05)

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for raw in self._process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=2)


def subscribe_all(document: StagesFile, url: str) -> StagesFile:
    """The stages with `url` subscribed (default statuses: triggered) to every ruleset."""
    stages: list[StageDefinition] = []
    for stage in document.stages:
        data = stage.model_dump(mode="json")
        for ruleset in data.get("prioritized_rulesets") or []:
            ruleset["action"]["subscriptions"].append({"url": url})
        stages.append(StageDefinition.model_validate(data))
    return document.model_copy(update={"stages": stages})

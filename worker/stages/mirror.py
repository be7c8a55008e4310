"""A StageRegistry kept current from the Kafka registry topic by a thread of its own.

The in-process API is mostly called from synchronous code, which has no event loop to run a
StageFollower on. The mirror runs one on its own loop in a daemon thread: the registry is read to
the end of the topic before `start()` returns, then follows it live as a worker's does (a pause
or a new version arrives within the follower's 2 s). StageRegistry is thread-safe, so callers
read it from any thread while the follower writes.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Mapping
from typing import Self

import structlog

from worker.errors import BrokerError
from worker.stages.kafka import CATCH_UP_TIMEOUT_S, StageFollower, stage_topic_spec
from worker.stages.registry import StageRegistry
from worker.stream.topics import ensure_topics

log = structlog.get_logger(__name__)

# How long `stop()` waits for the thread to close its consumer; a daemon thread that overruns it
# ends with the process anyway.
STOP_TIMEOUT_S = 10.0


class RegistryMirror:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        registry: StageRegistry,
        *,
        replication: int = 1,
        catch_up_timeout: float = CATCH_UP_TIMEOUT_S,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.registry = registry
        self.replication = replication
        self.catch_up_timeout = catch_up_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._follower: StageFollower | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Read the topic to its end (creating it if missing), then follow it; blocks until read.

        Raises BrokerError when the cluster is unreachable or the topic cannot be read in time.
        """
        if self._thread is not None:
            raise RuntimeError("RegistryMirror started twice")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(ready),),
            name=f"stage-mirror:{self.topic}",
            daemon=True,
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
            raise
        # A process that never calls stop() still closes its consumer on the way out.
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop following and close the consumer; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        atexit.unregister(self.stop)
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            # RuntimeError: the loop already closed, the thread is ending by itself.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT_S)

    async def wait_applied(self, written: Mapping[int, int]) -> None:
        """From any thread's loop: return once the registry has applied the records at these
        offsets (partition -> offset), e.g. the ones a StageAdmin just wrote."""
        if not written:
            return
        loop, follower = self._loop, self._follower
        if loop is None or follower is None or self._thread is None:
            raise BrokerError(f"the mirror of stage topic {self.topic!r} is not running")
        future = asyncio.run_coroutine_threadsafe(
            follower.wait_applied(written, self.catch_up_timeout), loop
        )
        await asyncio.wrap_future(future)

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await ensure_topics(
                self.bootstrap_servers, [stage_topic_spec(self.topic, self.replication)]
            )
            async with StageFollower(
                self.bootstrap_servers, self.topic, self.registry, announce=False
            ) as follower:
                await follower.wait_caught_up(self.catch_up_timeout)
                self._follower = follower
                ready.set_result(None)
                await self._stopping.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:  # only a bug gets here: the follower retries broker errors by itself
                log.error("stage_mirror_stopped", topic=self.topic, error=repr(exc))
        finally:
            self._follower = None

"""Objects with an async start and stop (Kafka clients, broker processes), for `async with`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class StartStop(ABC):
    """`async with x:` is `await x.start()` ... `await x.stop()`, whatever ends the block."""

    @abstractmethod
    async def start(self) -> Self:
        """Acquire what the object needs (connections, a process); return the object."""

    @abstractmethod
    async def stop(self) -> None:
        """Release it; safe to call when start failed part way or was never called."""

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


__all__ = ["StartStop"]

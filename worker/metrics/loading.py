"""Models loaded once per process, on first use, safely across the engine's scorer threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """`get()` builds the value on first call and returns the same one ever after.

    Double-checked: the common path (already built) takes no lock; concurrent first calls from
    several scorer threads build it once, not once per thread (models cost seconds and MBs).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._factory()
        return value

"""Kafka-protocol brokers for the tests: embedded Tansu / noida-db, or an external cluster."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio

from worker.stream.broker import BrokerKind, EmbeddedBroker

# -- brokers ------------------------------------------------------------------------------------

# Point the suite at a real cluster (e.g. Apache Kafka) instead of the embedded brokers. Tests
# that need a capability the cluster lacks are skipped with the reason printed.
EXTERNAL_BOOTSTRAP_ENV = "PROTECT_TEST_BOOTSTRAP_SERVERS"


@dataclass(frozen=True)
class Broker:
    bootstrap_servers: str
    kind: str  # "tansu", "noida" or "external"


@contextlib.asynccontextmanager
async def _session_broker(kind: BrokerKind) -> AsyncIterator[Broker]:
    external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
    if external:
        yield Broker(external, "external")
        return
    async with EmbeddedBroker(kind) as broker:
        yield Broker(broker.bootstrap_servers, kind.value)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tansu() -> AsyncIterator[Broker]:
    """A broker with correct group membership (rebalances, crash eviction): Tansu, or external."""
    async with _session_broker(BrokerKind.TANSU) as broker:
        yield broker


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def noida() -> AsyncIterator[Broker]:
    """A broker with idempotence and transactions (exactly-once mode): noida-db, or external."""
    async with _session_broker(BrokerKind.NOIDA) as broker:
        yield broker


@pytest.fixture
def topic_factory() -> Callable[[str], str]:
    """Unique topic names, so tests sharing a session broker never see each other's records."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make

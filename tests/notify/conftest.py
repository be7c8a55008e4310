"""Notifier tests never send a packet off this machine.

The autouse `network_guard` makes every connect, UDP send and name lookup that could leave
loopback raise `NonLoopbackConnection` (an AssertionError, so a notifier that catches OSError to
retry cannot swallow it) *and* fails the test at teardown, in case something caught it anyway.
Allowed: 127.0.0.0/8, ::1 (and their v4-mapped forms), the name `localhost`, Unix sockets.
Hostnames other than `localhost` are refused before resolution: a DNS query is itself a packet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

_LOCAL_NAMES = frozenset({"localhost", "localhost.", ""})


class NonLoopbackConnection(AssertionError):
    """A test tried to reach a non-loopback address (or to resolve a non-local name)."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name: resolving it could query a DNS server
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@dataclass
class NetworkGuard:
    """What tests tried: `connects` (every inet connect, allowed or not) and `violations`."""

    connects: list[tuple[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, operation: str, host: object, detail: object) -> None:
        with self._lock:
            if operation in ("connect", "create_connection"):
                self.connects.append((operation, detail))
            if _is_loopback(host):
                return
            message = f"{operation} to non-loopback {detail!r} refused by the test network guard"
            self.violations.append(message)
        raise NonLoopbackConnection(message)


def _inet_host(sock: socket.socket, address: Any) -> object | None:
    """The host part of an inet address; None for other families (Unix sockets are local)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host: object = address[0]
        return host
    return None


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = asyncio.BaseEventLoop.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        host = _inet_host(self, address)
        if host is not None:
            guard.check("connect", host, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        host = _inet_host(self, address)
        if host is not None:
            guard.check("connect", host, address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        address = args[-1] if args else None
        host = _inet_host(self, address)
        if host is not None:
            guard.check("sendto", host, address)
        return real_sendto(self, data, *args)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # None is the wildcard (for bind), not a lookup.
        if host is not None:
            guard.check("getaddrinfo", host, host)
        return real_getaddrinfo(host, port, *args, **kwargs)

    async def create_connection(
        self: asyncio.BaseEventLoop, protocol_factory: Any, host: Any = None, *args: Any, **kw: Any
    ) -> Any:
        if host is not None:
            guard.check("create_connection", host, (host, args[0] if args else kw.get("port")))
        return await real_create_connection(self, protocol_factory, host, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", create_connection)
    yield guard
    if guard.violations:
        pytest.fail("non-loopback network access attempted:\n" + "\n".join(guard.violations))

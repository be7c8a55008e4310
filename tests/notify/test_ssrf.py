"""The SSRF guard decides on resolved addresses; no test here sends a packet off loopback.

Hostnames are resolved by a fake resolver; the autouse `network_guard` (conftest.py) fails any
non-loopback connect or lookup, and the refusal tests assert no connect happened at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import pickle
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpx
import pytest

from tests.notify.conftest import NetworkGuard, NonLoopbackConnection
from worker.errors import ConfigurationError, ProtectError
from worker.notify.ssrf import (
    REASONS,
    AddressPolicy,
    IPAddress,
    SsrfRefused,
    pin,
    resolve_safely,
    system_resolver,
)

# As the tests (and the issue) configure it: loopback admitted for local receivers.
TEST_ALLOW = ("127.0.0.1/32",)

CASES = [
    # address, reason with the default policy, reason with TEST_ALLOW
    ("10.0.0.1", "private", "private"),
    ("10.255.255.255", "private", "private"),
    ("172.16.0.1", "private", "private"),
    ("172.31.255.254", "private", "private"),
    ("192.168.1.1", "private", "private"),
    ("127.0.0.1", "loopback", None),
    ("127.0.0.2", "loopback", "loopback"),
    ("::1", "loopback", "loopback"),
    ("169.254.1.1", "link_local", "link_local"),
    ("fe80::1", "link_local", "link_local"),
    ("fe80::1%eth0", "link_local", "link_local"),
    ("169.254.169.254", "metadata", "metadata"),
    ("fd00:ec2::254", "metadata", "metadata"),
    ("::ffff:169.254.169.254", "metadata", "metadata"),
    ("100.64.0.1", "cgnat", "cgnat"),
    ("100.127.255.254", "cgnat", "cgnat"),
    ("224.0.0.1", "multicast", "multicast"),
    ("239.255.255.250", "multicast", "multicast"),
    ("ff02::1", "multicast", "multicast"),
    ("240.0.0.1", "reserved", "reserved"),
    ("255.255.255.255", "reserved", "reserved"),
    ("192.0.2.10", "reserved", "reserved"),
    ("2001:db8::1", "reserved", "reserved"),
    ("100::1", "reserved", "reserved"),
    ("::a00:1", "reserved", "reserved"),  # deprecated IPv4-compatible form
    ("0.0.0.0", "unspecified", "unspecified"),
    ("::", "unspecified", "unspecified"),
    ("fc00::1", "private", "private"),
    ("fd12:3456::1", "private", "private"),
    ("::ffff:10.0.0.1", "private", "private"),
    ("::ffff:127.0.0.1", "loopback", None),
    ("::ffff:192.168.0.1", "private", "private"),
    ("64:ff9b::a00:1", "private", "private"),  # NAT64 of 10.0.0.1
    ("2002:c0a8:101::1", "private", "private"),  # 6to4 of 192.168.1.1
    ("93.184.216.34", None, None),
    ("172.32.0.1", None, None),  # just past 172.16/12
    ("100.128.0.1", None, None),  # just past 100.64/10
    ("::ffff:93.184.216.34", None, None),
    ("64:ff9b::5db8:d822", None, None),  # NAT64 of 93.184.216.34
    ("2606:2800:220:1:248:1893:25c8:1946", None, None),
]


@pytest.mark.parametrize(("address", "default", "with_allow"), CASES, ids=[c[0] for c in CASES])
def test_refusal(address: str, default: str | None, with_allow: str | None) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy().refusal(ip) == default
    assert AddressPolicy(TEST_ALLOW).refusal(ip) == with_allow


def test_reasons_are_the_documented_vocabulary() -> None:
    assert {default for _, default, _ in CASES if default} == set(REASONS)


def test_the_allow_list_takes_networks_of_both_families() -> None:
    policy = AddressPolicy(["10.1.0.0/16", "::1", "fd00::/8"])
    assert policy.refusal(IPv4Address("10.1.2.3")) is None
    assert policy.refusal(IPv4Address("10.2.0.1")) == "private"
    assert policy.refusal(IPv6Address("::1")) is None
    assert policy.refusal(IPv6Address("fd00:ec2::254")) is None  # admitted before the checks
    assert "10.1.0.0/16" in repr(policy)


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.1/8", "300.0.0.1"])
def test_bad_allow_list_entries_are_configuration_errors(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allow-list"):
        AddressPolicy([entry])


def test_a_bare_string_allow_list_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        AddressPolicy("127.0.0.1/32")


# -- resolve_safely ------------------------------------------------------------------------------

FAKE_DNS: dict[str, list[str]] = {
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "linklocal.example": ["169.254.10.10"],
    "loopback.example": ["127.0.0.1"],
    "cgnat.example": ["100.64.1.1"],
    "mapped.example": ["::ffff:192.168.0.10"],
    "rebind.example": ["93.184.216.34", "10.0.0.7"],
    "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "empty.example": [],
}


class FakeResolver:
    def __init__(self) -> None:
        self.queries: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.queries.append((host, port))
        if host not in FAKE_DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in FAKE_DNS[host]]


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.mark.parametrize(
    ("host", "ip", "reason"),
    [
        ("internal.example", "10.0.0.5", "private"),
        ("metadata.example", "169.254.169.254", "metadata"),
        ("linklocal.example", "169.254.10.10", "link_local"),
        ("loopback.example", "127.0.0.1", "loopback"),
        ("cgnat.example", "100.64.1.1", "cgnat"),
        ("mapped.example", "::ffff:192.168.0.10", "private"),
        # One public and one private answer: a client could pick either, so refuse.
        ("rebind.example", "10.0.0.7", "private"),
    ],
)
async def test_hosts_resolving_to_internal_addresses_are_refused_without_connecting(
    host: str, ip: str, reason: str, resolver: FakeResolver, network_guard: NetworkGuard
) -> None:
    with pytest.raises(SsrfRefused) as caught:
        await resolve_safely(host, 443, AddressPolicy(), resolver)
    error = caught.value
    assert (error.host, error.ip, error.reason) == (host, ipaddress.ip_address(ip), reason)
    assert reason in str(error)
    assert isinstance(error, ProtectError)
    assert not error.retriable
    assert resolver.queries == [(host, 443)]
    assert network_guard.connects == []


async def test_public_hosts_resolve_to_their_first_address(resolver: FakeResolver) -> None:
    ip = await resolve_safely("public.example", 443, AddressPolicy(), resolver)
    assert ip == IPv4Address("93.184.216.34")


async def test_the_allow_list_admits_loopback_hosts(resolver: FakeResolver) -> None:
    ip = await resolve_safely("loopback.example", 8080, AddressPolicy(TEST_ALLOW), resolver)
    assert ip == IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [("10.0.0.1", "private"), ("[fe80::1]", "link_local"), ("93.184.216.34", None)],
)
async def test_ip_literals_are_judged_without_a_lookup(
    host: str, expected: str | None, resolver: FakeResolver
) -> None:
    if expected is None:
        assert await resolve_safely(host, 80, AddressPolicy(), resolver) == IPv4Address(host)
    else:
        with pytest.raises(SsrfRefused, match=expected):
            await resolve_safely(host, 80, AddressPolicy(), resolver)
    assert resolver.queries == []


async def test_resolution_failures_propagate(resolver: FakeResolver) -> None:
    # Not SsrfRefused: a DNS failure may be temporary, the delivery is retried.
    with pytest.raises(socket.gaierror):
        await resolve_safely("unknown.example", 443, AddressPolicy(), resolver)
    with pytest.raises(socket.gaierror):
        await resolve_safely("empty.example", 443, AddressPolicy(), resolver)


async def test_the_system_resolver_resolves_localhost() -> None:
    addresses = await system_resolver("localhost", 80)
    assert addresses
    assert all(ip.is_loopback for ip in addresses)
    assert await resolve_safely("localhost", 80, AddressPolicy(["127.0.0.0/8", "::1"])) in (
        addresses
    )


def test_refusals_pickle() -> None:
    error = SsrfRefused("internal.example", IPv4Address("10.0.0.5"), "private")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.host, copy.ip, copy.reason, str(copy)) == (
        error.host,
        error.ip,
        error.reason,
        str(error),
    )


# -- the guard itself ----------------------------------------------------------------------------


def test_the_network_guard_refuses_non_loopback_connects(network_guard: NetworkGuard) -> None:
    # 192.0.2.1 is TEST-NET-1 (documentation): nothing would answer even if a packet left.
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect(("192.0.2.1", 9))
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect_ex(("192.0.2.1", 9))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(NonLoopbackConnection),
    ):
        sock.sendto(b"x", ("192.0.2.1", 9))
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("example.com", 80)
    with pytest.raises(NonLoopbackConnection):
        asyncio.run(asyncio.open_connection("192.0.2.1", 9))
    assert len(network_guard.violations) == 5
    network_guard.violations.clear()  # expected here; any other test would fail at teardown


def test_the_network_guard_fails_loudly_through_httpx(network_guard: NetworkGuard) -> None:
    # httpx maps OSError to ConnectError (which a notifier retries); the guard's error is not one.
    with httpx.Client(trust_env=False) as client, pytest.raises(NonLoopbackConnection):
        client.get("http://192.0.2.1:9/")
    network_guard.violations.clear()


# -- pin -----------------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, "host": self.headers["Host"]})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    _Recorder.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# "webhooks.test" has no DNS entry anywhere, and the network guard refuses to look it up: the
# request can only arrive through the pinned address.
@pytest.mark.parametrize("hostname", ["localhost", "webhooks.test"])
async def test_a_pinned_request_reaches_the_checked_address_with_the_original_host(
    hostname: str,
    loopback_server: tuple[int, list[dict[str, Any]]],
    network_guard: NetworkGuard,
) -> None:
    port, seen = loopback_server
    url = f"http://{hostname}:{port}/x?y=1"
    ip = await resolve_safely(hostname, port, AddressPolicy(TEST_ALLOW), _v4_loopback)
    target, headers, extensions = pin(url, ip)
    assert target == httpx.URL(f"http://127.0.0.1:{port}/x?y=1")
    assert extensions == {}
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        response = await client.get(target, headers=headers, extensions=extensions)
    assert response.status_code == 204
    assert seen == [{"path": "/x?y=1", "host": f"{hostname}:{port}"}]
    assert network_guard.connects
    assert {detail for _, detail in network_guard.connects} == {("127.0.0.1", port)}


async def _v4_loopback(host: str, port: int) -> list[IPAddress]:
    # The test server listens on 127.0.0.1 only, while "localhost" may resolve to ::1 first.
    return [IPv4Address("127.0.0.1")]


@pytest.mark.parametrize(
    ("url", "ip", "expected_url", "host", "sni"),
    [
        (
            "https://hooks.example.com/p",
            "93.184.216.34",
            "https://93.184.216.34/p",
            "hooks.example.com",
            "hooks.example.com",
        ),
        (
            "https://hooks.example.com:8443/p",
            "2606:2800:220:1:248:1893:25c8:1946",
            "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/p",
            "hooks.example.com:8443",
            "hooks.example.com",
        ),
        (
            "http://Hooks.Example.com:80/p",
            "93.184.216.34",
            "http://93.184.216.34/p",
            "hooks.example.com",
            None,
        ),
        (
            "https://bücher.example/p",
            "93.184.216.34",
            "https://93.184.216.34/p",
            "xn--bcher-kva.example",
            "xn--bcher-kva.example",
        ),
        # An IP-literal URL: no SNI (TLS sends none for addresses), the certificate names the IP.
        (
            "https://93.184.216.34/p",
            "93.184.216.34",
            "https://93.184.216.34/p",
            "93.184.216.34",
            None,
        ),
    ],
)
def test_pin(url: str, ip: str, expected_url: str, host: str, sni: str | None) -> None:
    target, headers, extensions = pin(url, ipaddress.ip_address(ip))
    assert target == httpx.URL(expected_url)
    assert headers == {"Host": host}
    assert extensions == ({"sni_hostname": sni} if sni else {})


def test_pin_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http or https"):
        pin("ftp://hooks.example.com/", IPv4Address("93.184.216.34"))

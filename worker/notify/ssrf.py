"""The SSRF guard: webhook URLs are user input, so where they point is checked before connecting.

A URL's host is resolved once, every resolved address is judged (one internal address among
public ones is enough to refuse: the client could pick it), and the connection is then pinned to
the checked address (`pin`), so DNS cannot answer differently between the check and the connect
(DNS rebinding). IP literals are judged as they are, without a lookup.

Addresses are judged by IANA's special-purpose registries rather than by `ipaddress.is_private`,
whose meaning has changed between Python patch releases.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import httpx

from worker.errors import ConfigurationError, ProtectError

__all__ = [
    "REASONS",
    "AddressPolicy",
    "IPAddress",
    "Resolver",
    "SsrfRefused",
    "pin",
    "resolve_safely",
    "system_resolver",
]

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# The machine-readable reasons `AddressPolicy.refusal` can return.
REASONS = (
    "metadata",
    "unspecified",
    "loopback",
    "private",
    "link_local",
    "cgnat",
    "multicast",
    "reserved",
)

# Cloud instance-metadata services hand out credentials to whoever asks from inside the instance:
# the classic SSRF target, named apart so the refusal says so. AWS/GCP/Azure/OCI (and AWS IPv6),
# the AWS ECS task-metadata endpoint, Alibaba Cloud, and OCI's legacy address.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPv4Network | IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(network), reason) for network, reason in rows)


# Ordered: the first containing network gives the reason. From IANA's IPv4 Special-Purpose
# Address Registry; documentation, benchmarking and protocol ranges are all "reserved".
_V4 = _table(
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "reserved"),  # "this network": Linux connects 0.x to the local host
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes the broadcast address 255.255.255.255
)

# IPv6 after the embedded-IPv4 forms are unwrapped (see `_embedded_v4`). Only 2000::/3 is global
# unicast; everything outside it that is not named here is "reserved" (see `refusal`).
_V6 = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "private"),  # unique local addresses
    ("fec0::/10", "private"),  # deprecated site-local: the old private range
    ("fe80::/10", "link_local"),
    ("ff00::/8", "multicast"),
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo (obfuscated v4 inside)
    ("2001:db8::/32", "reserved"),
    ("3fff::/20", "reserved"),
    ("64:ff9b:1::/48", "reserved"),  # local-use NAT64: its mapping is site-specific
)
_V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address a v6 address really reaches: v4-mapped, NAT64 (well-known), 6to4.

    `::ffff:10.0.0.1` connects to 10.0.0.1 on a dual-stack socket; NAT64 and 6to4 gateways
    forward to the embedded address. Judging the v6 form would let them through.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour


def _parse_network(entry: str) -> IPv4Network | IPv6Network:
    try:
        # strict: "10.0.0.1/8" is refused rather than silently widened to all of 10.0.0.0/8.
        return ipaddress.ip_network(entry.strip(), strict=True)
    except ValueError as error:
        raise ConfigurationError(
            f"SSRF allow-list entry {entry!r} is not an address or network: {error}"
        ) from None


class AddressPolicy:
    """Which resolved addresses deliveries may connect to.

    Everything globally routable is allowed; internal addresses are refused with a reason
    (`REASONS`) unless `allow` (CIDR networks or single addresses, e.g. `"127.0.0.1/32"`)
    admits them. The allow-list is consulted first, for an address and for the IPv4 address
    embedded in it.
    """

    def __init__(self, allow: Sequence[str] = ()) -> None:
        if isinstance(allow, str):
            # A bare string would be iterated character by character.
            raise ConfigurationError("the SSRF allow-list is a list of networks, not a string")
        self.allow: tuple[IPv4Network | IPv6Network, ...] = tuple(
            _parse_network(entry) for entry in allow
        )

    def __repr__(self) -> str:
        return f"AddressPolicy(allow={[str(network) for network in self.allow]!r})"

    def _admitted(self, candidates: Iterable[IPAddress]) -> bool:
        # `in` across address families is simply False, so v4 and v6 entries mix freely.
        return any(ip in network for ip in candidates for network in self.allow)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why a connection to `ip` is refused, or None when it is allowed."""
        if isinstance(ip, IPv4Address):
            if self._admitted([ip]):
                return None
            return "metadata" if ip in _METADATA else _judge_v4(ip)
        # A scope id (fe80::1%eth0) does not change what the address is, but it does change
        # equality: drop it before comparing.
        bare = IPv6Address(int(ip))
        embedded = _embedded_v4(bare)
        if self._admitted([bare] if embedded is None else [bare, embedded]):
            return None
        if bare in _METADATA or embedded in _METADATA:
            return "metadata"
        if embedded is not None:
            return _judge_v4(embedded)
        for network, reason in _V6:
            if bare in network:
                return reason
        if bare not in _V6_GLOBAL_UNICAST or not bare.is_global:
            return "reserved"
        return None


def _judge_v4(ip: IPv4Address) -> str | None:
    for network, reason in _V4:
        if ip in network:
            return reason
    # Anything the table missed that Python still knows is not global: refuse, to be safe.
    return None if ip.is_global else "reserved"


class SsrfRefused(ProtectError):
    """A webhook host resolved to an address the policy refuses: a permanent failure."""

    retriable = False

    def __init__(self, host: str, ip: IPAddress, reason: str) -> None:
        self.host = host
        self.ip = ip
        self.reason = reason
        super().__init__(f"refusing to connect to {host!r}: it resolves to {ip} ({reason})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.host, self.ip, self.reason))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver, for TCP, in the system's preferred order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


async def resolve_safely(
    host: str, port: int, policy: AddressPolicy, resolver: Resolver = system_resolver
) -> IPAddress:
    """The address to connect to for `host`, once every address it resolves to is allowed.

    Raises `SsrfRefused` if any address is refused; resolver errors (`OSError`, e.g.
    `socket.gaierror`) propagate: a DNS failure may be temporary. No connection is made.
    """
    literal = _literal(host)
    addresses = [literal] if literal is not None else await resolver(host, port)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host!r} resolved to no address")
    for ip in addresses:
        reason = policy.refusal(ip)
        if reason is not None:
            raise SsrfRefused(host, ip, reason)
    return addresses[0]


def pin(url: httpx.URL | str, ip: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """Rewrite `url` to connect to the checked `ip`, keeping what the server sees unchanged.

    Returns the URL to request, the headers to add (`Host`: the original host and port) and the
    httpx request `extensions` (`sni_hostname` for https, so TLS presents and verifies the
    original name). Use them with a client built with `trust_env=False` (a proxy from the
    environment would connect elsewhere) and `follow_redirects=False`; for https, do not share
    one client's connection pool between hostnames that may resolve to the same address (the pool
    is keyed by address and would reuse a TLS session verified for the other name).
    """
    original = httpx.URL(url)
    if original.scheme not in ("http", "https"):
        raise ValueError(f"webhook URLs must be http or https, not {original.scheme!r}")
    if not original.raw_host:
        raise ValueError("webhook URL has no host")
    # A v6 scope id ("%eth0") is not valid in a URL host; only link-local addresses carry one,
    # and those are refused unless allow-listed. httpx adds the brackets for v6.
    literal = str(IPv6Address(int(ip))) if isinstance(ip, IPv6Address) else str(ip)
    pinned = original.copy_with(host=literal)
    # httpx's own Host header is the IDNA-encoded host plus any non-default port.
    headers = {"Host": original.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if original.scheme == "https" and _literal(original.host) is None:
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    return pinned, headers, extensions

"""Name resolution for the emulated module (AT+CIPDOMAIN, and names given to AT+CIPSTART etc.).

Two paths, mirroring AT+CIPDNS:

* automatic (``servers=None``): the host's own resolver via ``loop.getaddrinfo`` - this honours
  /etc/hosts, nsswitch and whatever DNS the host uses, exactly as "the DNS servers handed out by
  DHCP" would on the real module;
* manual (``AT+CIPDNS=1,...``): real DNS queries sent with dnspython to exactly the configured
  servers (IPv4 or IPv6, each with its own port so tests can point at a local responder).

``network`` follows AT+CIPDOMAIN's ``<ip network>``: 1 = prefer IPv4 and fall back to IPv6,
2 = IPv4 only, 3 = IPv6 only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .net_sockopts import is_ip_literal

if TYPE_CHECKING:  # dnspython is imported when a manual DNS query is made, not before
    import dns.asyncresolver

__all__ = [
    "NETWORK_IPV4",
    "NETWORK_IPV4_PREFERRED",
    "NETWORK_IPV6",
    "ResolveError",
    "parse_resolv_conf",
    "resolve",
    "system_dns_servers",
]

NETWORK_IPV4_PREFERRED = 1
NETWORK_IPV4 = 2
NETWORK_IPV6 = 3
_NETWORKS = (NETWORK_IPV4_PREFERRED, NETWORK_IPV4, NETWORK_IPV6)


class ResolveError(Exception):
    """The name could not be resolved to an address of the requested family."""


def _families(network: int) -> tuple[int, ...]:
    """Address families to try, in order of preference, for an ``<ip network>`` value."""
    if network == NETWORK_IPV4_PREFERRED:
        return (socket.AF_INET, socket.AF_INET6)
    if network == NETWORK_IPV4:
        return (socket.AF_INET,)
    if network == NETWORK_IPV6:
        return (socket.AF_INET6,)
    raise ValueError(f"network must be one of {_NETWORKS}, got {network!r}")


def _literal(name: str, families: tuple[int, ...]) -> str | None:
    """Return *name* if it is an IP literal of an allowed family; ``None`` if not a literal."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    if family not in families:
        raise ResolveError(f"{name} is an IPv{ip.version} address, not allowed for this network")
    return name


async def _resolve_system(name: str, families: tuple[int, ...], timeout: float) -> str:
    """Resolve through the host's resolver (getaddrinfo runs in the loop's executor)."""
    loop = asyncio.get_running_loop()
    # One AF_UNSPEC lookup when both families are acceptable: the same single round-trip the
    # libc resolver would make, then we apply our own preference order.
    family = socket.AF_UNSPEC if len(families) > 1 else families[0]
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise ResolveError(f"timed out resolving {name!r}") from None
    except (OSError, UnicodeError) as exc:
        raise ResolveError(f"cannot resolve {name!r}: {exc}") from exc
    for wanted in families:
        for info_family, _type, _proto, _canon, sockaddr in infos:
            if info_family == wanted:
                return str(sockaddr[0])
    raise ResolveError(f"{name!r} has no address of the requested family")


def _make_resolver(
    servers: Sequence[tuple[str, int]], timeout: float
) -> dns.asyncresolver.Resolver:
    """A resolver that talks to exactly *servers*, ignoring the host configuration.

    Each server gets an equal share of *timeout* per attempt, so a dead first server cannot
    use up the whole budget before the second one is asked.
    """
    import dns.asyncresolver
    import dns.inet
    import dns.nameserver

    if not servers:
        raise ResolveError("no DNS servers configured")
    resolver = dns.asyncresolver.Resolver(configure=False)
    nameservers: list[dns.nameserver.Nameserver] = []
    for address, port in servers:
        if not dns.inet.is_address(address):
            raise ResolveError(f"DNS server {address!r} is not an IP address")
        # One Nameserver object per entry (not nameserver_ports) so the same address may
        # appear twice with different ports.
        nameservers.append(dns.nameserver.Do53Nameserver(address, port))
    resolver.nameservers = nameservers
    resolver.timeout = timeout / len(nameservers)
    resolver.cache = None
    return resolver


async def _resolve_manual(
    name: str, families: tuple[int, ...], servers: Sequence[tuple[str, int]], timeout: float
) -> str:
    """Send real A/AAAA queries to the configured servers, within one overall deadline."""
    import dns.exception
    import dns.resolver

    resolver = _make_resolver(servers, timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for family in families:
        rdtype = "AAAA" if family == socket.AF_INET6 else "A"
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ResolveError(f"timed out resolving {name!r}")
        try:
            answer = await resolver.resolve(
                name, rdtype, search=False, lifetime=remaining, raise_on_no_answer=True
            )
        except dns.resolver.NoAnswer:
            continue  # the name exists but has no record of this type: try the next family
        except dns.resolver.NXDOMAIN as exc:
            raise ResolveError(f"{name!r} does not exist (NXDOMAIN)") from exc
        except dns.exception.Timeout as exc:
            raise ResolveError(f"timed out resolving {name!r}") from exc
        except (dns.exception.DNSException, ValueError) as exc:
            raise ResolveError(f"cannot resolve {name!r}: {exc}") from exc
        for rdata in answer:
            return str(rdata.address)
    raise ResolveError(f"{name!r} has no address of the requested family")


async def resolve(
    name: str,
    network: int,
    servers: Sequence[tuple[str, int]] | None,
    *,
    timeout: float,
) -> str:
    """Resolve *name* to one IP address string.

    ``servers=None`` uses the host resolver; otherwise DNS queries go to each ``(address, port)``
    in order.  IP literals are returned unchanged if their family is allowed by *network*.
    Raises :class:`ResolveError` on any failure (NXDOMAIN, no record of the family, timeout,
    unreachable servers) and :class:`ValueError` for an invalid *network*.
    """
    families = _families(network)
    literal = _literal(name, families)
    if literal is not None:
        return literal
    if not name or len(name) > 253:
        raise ResolveError(f"invalid domain name {name!r}")
    if servers is None:
        return await _resolve_system(name, families, timeout)
    return await _resolve_manual(name, families, servers, timeout)


def parse_resolv_conf(text: str) -> list[str]:
    """Nameserver addresses from resolv.conf text, in file order, invalid entries skipped."""
    servers: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1].split("%", 1)[0]  # drop an IPv6 zone id like %eth0
            if is_ip_literal(address) and address not in servers:
                servers.append(address)
    return servers


def system_dns_servers(path: str | Path = "/etc/resolv.conf") -> list[str]:
    """The DNS servers the host really uses (for ``AT+CIPDNS?`` in automatic mode).

    Returns an empty list if the file is missing or unreadable.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return parse_resolv_conf(text)

"""The contract between the network-service commands and the runtime (no I/O here).

AT+CIPDOMAIN, AT+PING and the SNTP client ask the runtime for these actions; the
runtime answers with the result types below, or with an exception instance (the
command then answers ``ERROR`` / ``+PING:TIMEOUT``, the SNTP client retries later).

Every name the module resolves goes through the same rule (AT+CIPDNS servers when
manual DNS is on, the host's resolver otherwise), given by the action's `NameService`,
in `w800at.runtime.names`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .actions import Action
from .net_actions import NameService

#: AT+CIPDOMAIN <ip network>: 1 prefer IPv4, 2 IPv4 only, 3 IPv6 only (spec)
NET_PREFER_V4, NET_V4_ONLY, NET_V6_ONLY = 1, 2, 3


def effective_network(network: int, ipv6_enabled: bool) -> int | None:
    """The ``<ip network>`` a resolution really uses.

    IPv6 results need AT+CIPV6=1 (spec, AT+CIPV6: "DNS over IPv6 ... it is necessary to
    enable the IPv6 network first"): with IPv6 off, "prefer IPv4" becomes "IPv4 only"
    and "IPv6 only" cannot succeed (None).
    """
    if ipv6_enabled:
        return network
    return None if network == NET_V6_ONLY else NET_V4_ONLY


@dataclass(eq=False)
class Resolve(Action):
    """Resolve ``name`` (AT+CIPDOMAIN).  Result: the address as text, or an exception."""

    name: str
    network: int = NET_PREFER_V4
    names: NameService = field(default_factory=NameService)


@dataclass(eq=False)
class Ping(Action):
    """One ICMP echo to ``host`` (a literal or a name, resolved preferring IPv4).

    Result: the round-trip time in milliseconds (float), or an exception (resolution
    failed, no reply in time, ICMP not permitted on this host).
    """

    host: str
    names: NameService = field(default_factory=NameService)


@dataclass(eq=False)
class SntpSync(Action):
    """Ask the SNTP ``servers`` in order (names resolved like any other name).

    Result: `SntpTime` from the first server that answers, or an exception.
    """

    servers: tuple[str, ...]
    names: NameService = field(default_factory=NameService)


@dataclass(frozen=True)
class SntpTime:
    """A server's answer: Unix seconds at the moment the result is delivered."""

    unix: float
    server: str

"""Runtime side of the network services: name resolution, ping and SNTP, for real.

`resolve_name` is THE way any part of the runtime turns a name into an address
(AT+CIPDOMAIN, AT+CIPSTART, UDP sends, AT+PING, SNTP servers): with AT+CIPDNS=1 the
query goes to exactly the configured servers (real DNS over UDP/TCP, on
`ModuleOptions.dns_port`), otherwise to the host's own resolver.  AT+CIPV6=0 rules out
IPv6 answers everywhere.
"""

from __future__ import annotations

import logging

from ..commands.services import ipv6_on, manual_dns, state
from ..core.service_actions import Ping, Resolve, SntpSync, SntpTime, effective_network
from .ping import PingUnavailable, ping
from .resolver import ResolveError, resolve, system_dns_servers
from .runner import Runtime
from .sntp import SntpError, sntp_query

log = logging.getLogger("w800at.services")


async def resolve_name(rt: Runtime, name: str, network: int) -> str:
    """One address for ``name`` (IP literals come back as they are, if allowed).

    ``network`` is AT+CIPDOMAIN's <ip network> (1 prefer IPv4, 2 IPv4 only, 3 IPv6
    only).  Raises `ResolveError` on any failure.
    """
    m = rt.engine
    net = effective_network(network, ipv6_on(m))
    if net is None:
        raise ResolveError(f"{name!r}: IPv6 only, but AT+CIPV6=0")
    manual = manual_dns(m)
    servers = None if manual is None else [(ip, m.options.dns_port) for ip in manual]
    return await resolve(name, net, servers, timeout=m.options.net_timeout)


async def _ping(rt: Runtime, host: str) -> float:
    # The spec: a name is resolved first, "prioritizing IPv4 address resolution".
    ip = await resolve_name(rt, host, 1)
    try:
        return await ping(ip, timeout=rt.engine.options.net_timeout)
    except PingUnavailable as exc:
        log.error("AT+PING cannot work on this host: %s", exc)
        raise


async def _sntp(rt: Runtime, servers: tuple[str, ...]) -> SntpTime:
    """The first server (in order) that answers; names resolved like any other."""
    opts = rt.engine.options
    failures: list[str] = []
    for server in servers:
        try:
            ip = await resolve_name(rt, server, 1)
            unix = await sntp_query(ip, opts.sntp_port, timeout=opts.net_timeout)
        except (ResolveError, SntpError, ValueError) as exc:
            failures.append(f"{server}: {exc}")
            continue
        # The answer becomes the module's time when the engine receives it; the gap
        # between here and there is one loop turn.
        return SntpTime(unix, server)
    raise SntpError("; ".join(failures) or "no SNTP servers")


def install(rt: Runtime) -> None:
    state(rt.engine).system_dns = system_dns_servers()
    rt.on_action(Resolve, lambda a: rt.spawn(resolve_name(rt, a.name, a.network), a))
    rt.on_action(Ping, lambda a: rt.spawn(_ping(rt, a.host), a))
    rt.on_action(SntpSync, lambda a: rt.spawn(_sntp(rt, a.servers), a))

"""Runtime side of the network services: name resolution, ping and SNTP, for real.

`resolve_name` is THE way any part of the runtime turns a name into an address
(AT+CIPDOMAIN, AT+CIPSTART, UDP sends, AT+PING, SNTP servers): the action's
`NameService` says how — with AT+CIPDNS=1 the query goes to exactly the configured
servers (real DNS over UDP/TCP, on `ModuleOptions.dns_port`), otherwise to the host's
own resolver; AT+CIPV6=0 rules out IPv6 answers everywhere.  The test bench's DNS
overrides (`ModuleOptions.dns`) come first, in either mode: a name there gets exactly
the addresses given (those of the family asked for), NXDOMAIN, or no answer at all
(the query times out after ``[network] timeout``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import TYPE_CHECKING

from ..core.net_actions import NameService
from ..core.options import DnsAnswer, ModuleOptions
from ..core.service_actions import Ping, Resolve, SntpSync, SntpTime, effective_network
from ..log import get_logger
from .ping import PingUnavailable, ping
from .resolver import ResolveError, resolve
from .sntp import SntpError, sntp_query

if TYPE_CHECKING:
    from .runner import Runtime

log = get_logger("w800at.services")


async def resolve_name(names: NameService, name: str, network: int, opts: ModuleOptions) -> str:
    """One address for ``name`` (IP literals come back as they are, if allowed).

    ``network`` is AT+CIPDOMAIN's <ip network> (1 prefer IPv4, 2 IPv4 only, 3 IPv6
    only).  Raises `ResolveError` on any failure.
    """
    net = effective_network(network, names.ipv6)
    if net is None:
        raise ResolveError(f"{name!r}: IPv6 only, but AT+CIPV6=0")
    if opts.dns:
        answer = opts.dns.get(name.lower().rstrip("."))
        if answer is not None:
            return await _overridden(name, net, answer, opts.net_timeout)
    servers = None if names.servers is None else [(ip, opts.dns_port) for ip in names.servers]
    return await resolve(name, net, servers, timeout=opts.net_timeout)


async def _overridden(name: str, network: int, answer: DnsAnswer, timeout: float) -> str:
    """The test bench's answer for ``name`` (``network`` as in `resolve_name`)."""
    if answer.nxdomain:
        raise ResolveError(f"{name!r} does not exist (NXDOMAIN)")
    if answer.no_answer:
        await asyncio.sleep(timeout)
        raise ResolveError(f"timed out resolving {name!r}")
    versions = {2: (4,), 3: (6,)}.get(network, (4, 6))
    for version in versions:
        for addr in answer.addresses:
            if ipaddress.ip_address(addr).version == version:
                return addr
    raise ResolveError(f"{name!r} has no address of the requested family")


class ServiceFeature:
    """Performs `Resolve`, `Ping` and `SntpSync` for one module."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def opts(self) -> ModuleOptions:
        return self.rt.engine.options

    def resolve(self, act: Resolve) -> None:
        self.rt.spawn(resolve_name(act.names, act.name, act.network, self.opts), act)

    def ping(self, act: Ping) -> None:
        self.rt.spawn(self._ping(act), act)

    def sntp(self, act: SntpSync) -> None:
        self.rt.spawn(self._sntp(act), act)

    async def _ping(self, act: Ping) -> float:
        # The spec: a name is resolved first, "prioritizing IPv4 address resolution".
        ip = await resolve_name(act.names, act.host, 1, self.opts)
        try:
            return await ping(ip, timeout=self.opts.net_timeout)
        except PingUnavailable as exc:
            log.error("AT+PING cannot work on this host: %s", exc)
            raise

    async def _sntp(self, act: SntpSync) -> SntpTime:
        """The first server (in order) that answers; names resolved like any other."""
        opts = self.opts
        failures: list[str] = []
        for server in act.servers:
            try:
                ip = await resolve_name(act.names, server, 1, opts)
                unix = await sntp_query(ip, opts.sntp_port, timeout=opts.net_timeout)
            except (ResolveError, SntpError, ValueError) as exc:
                failures.append(f"{server}: {exc}")
                continue
            # The answer becomes the module's time when the engine receives it; the gap
            # between here and there is one loop turn.
            return SntpTime(unix, server)
        raise SntpError("; ".join(failures) or "no SNTP servers")

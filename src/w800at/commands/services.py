"""Network services: AT+CIPDOMAIN, AT+CIPDNS, AT+PING, AT+CIPSNTPCFG, AT+CIPSNTPTIME,
AT+CIPSNTPINTV.

The commands only decide and render; resolving, pinging and SNTP requests are actions
the runtime performs (`w800at.runtime.services`); each carries the `NameService`
(`name_service`) the runtime resolves names with.  Readings of the spec that are ours:

- ``+CIPDOMAIN:"<ip>"`` is quoted (spec ``<"IP address">``; ESP-AT v2 and W800 alike).
- AT+CIPDNS=0 uses the host's resolvers.  The query shows the spec's defaults
  (208.67.222.222, 8.8.8.8: "The DNS server will revert to ... The DNS server might be
  updated only after the w800 station completes the DHCP process") until the station
  has got its address by DHCP; from then on the servers "DHCP" gave: the ones the host
  really uses (``ModuleOptions.system_dns``, read by the module's assembly), the
  defaults again if none are known.  At most the dialect's ``max_dns`` are shown.
  ``AT+CIPDNS=0,"x"`` is ERROR (the IPs are "valid only when <enable> is 1").
- AT+PING prints whole milliseconds rounded up, at least 1 (a success never reads 0);
  every failure (name, timeout, ICMP not permitted here) is ``+PING:TIMEOUT`` + ERROR.
- The SNTP settings are volatile: the spec names AT+SYSSTORE for AT+CIPDNS but not for
  AT+CIPSNTPCFG / AT+CIPSNTPINTV.
- The module's clock starts at the epoch when it boots and runs with engine time; before
  the first sync AT+CIPSNTPTIME? prints 1970 in the configured zone (as ``localtime`` on
  the real module does).  A failed sync is retried after 15 s (the shortest interval).
- The test bench can shift the SNTP servers' clock (`ClockShift`): every answer from
  then on is that many seconds off; with ``sync_now`` a module whose client is on asks
  at once (as if its interval had run out), else at its next interval.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from typing import Annotated, Any

from annotated_types import Interval, Len, MaxLen
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.net_actions import NameService
from ..core.params import Args, Int, Signature, Str
from ..core.registry import Command, Task
from ..core.service_actions import Ping, Resolve, SntpSync, SntpTime, effective_network
from ..core.settings import SettingDef, int_range, ip_text
from ..core.sntp_time import Timezone, format_asctime, parse_timezone
from ..core.state import ServiceState
from ..core.world import ClockShift, WorldEvent
from ..log import get_logger
from .wifi import CIPV6, DHCP

log = get_logger("w800at.services")


class SntpConfig(TypedDict):
    """AT+CIPSNTPCFG's settings: ``tz`` as set (see `w800at.core.sntp_time`)."""

    enable: Annotated[int, Interval(ge=0, le=1)]
    tz: Annotated[int, Interval(ge=-1259, le=1459)]
    servers: Annotated[list[Annotated[str, MaxLen(64)]], Len(1, 3)]


#: the AT+CIPDNS=1 servers (ESP-AT takes up to three)
DNS_SERVERS: Any = Annotated[list[ip_text], Len(1, 3)]
#: None = automatic (the host's resolvers); a list = AT+CIPDNS=1 manual servers
CIPDNS = SettingDef("cipdns", None, type=DNS_SERVERS | None)
SNTPCFG = SettingDef(
    "sntp_cfg",
    lambda p: {"enable": 0, "tz": 0, "servers": list(p.sntp_defaults)},
    "never",
    SntpConfig,
)
SNTPINTV = SettingDef("sntp_intv", 3600, "never", int_range(15, 4294967))

#: the spec's longest "remote host" (AT+CIPSTART, AT+PING, SNTP servers)
MAX_DOMAIN = 64
#: AT+CIPDOMAIN is the spec's way around that limit ("If you need to use a domain name
#: with a length exceeding 64 bytes, please use the AT+CIPDOMAIN command"): it takes a
#: whole DNS name, 253 characters (RFC 1035's 255 octets on the wire); the 256-byte
#: command line is what limits it in practice (241 characters, quotes and all)
MAX_DNS_NAME = 253
#: AT+CIPDNS's server parameters, the most any dialect takes (ESP-AT: DNS IP1..3)
_DNS_KEYS = ("dns1", "dns2", "dns3")
#: seconds before a failed SNTP sync is tried again (the shortest AT+CIPSNTPINTV)
SNTP_RETRY = 15.0
_SNTP_TIMER = "sntp-sync"


def ipv6_on(m: Engine) -> bool:
    return bool(m.settings.int(CIPV6))


def manual_dns(m: Engine) -> list[str] | None:
    """The AT+CIPDNS=1 servers, or None when the host's resolvers are used."""
    servers = m.settings.get(CIPDNS)
    return list(servers) if servers is not None else None


def name_service(m: Engine) -> NameService:
    """How names are resolved now (every action that may resolve one carries it)."""
    servers = m.settings.get(CIPDNS)
    return NameService(None if servers is None else tuple(servers), ipv6_on(m))


def _is_v6_literal(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


# --- AT+CIPDOMAIN ---------------------------------------------------------------------


def _cipdomain_s(m: Engine, a: Args) -> Task:
    name = a.str("domain")
    if not name:
        raise CommandError(ErrCode.PARAM_INVALID, "empty domain name")
    net = effective_network(a.int("network"), ipv6_on(m))
    if net is None:
        raise CommandError(ErrCode.EXEC_FAILED, "IPv6 only, but AT+CIPV6=0")
    result = yield Resolve(name, net, name_service(m))
    if not isinstance(result, str):
        raise CommandError(ErrCode.EXEC_FAILED, f"cannot resolve {name!r}: {result}")
    m.emit(render.info("+CIPDOMAIN", render.q(result)))
    return None


# --- AT+CIPDNS ------------------------------------------------------------------------


def _cipdns_q(m: Engine) -> None:
    servers = manual_dns(m)
    if servers is None:
        enable = 0
        shown = list(m.profile.dns_defaults)
        system = m.options.system_dns
        if system and m.station.has_ip and m.settings.int(DHCP) & 1:  # DHCP is done
            shown = list(system)
    else:
        shown, enable = servers, 1
    m.emit(render.info("+CIPDNS", enable, *(render.q(s) for s in shown[: m.profile.max_dns])))


def _dns_ip(text: str) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise CommandError(ErrCode.PARAM_INVALID, f"DNS server {text!r} is not an IP") from None
    if ip.is_unspecified or ip.is_multicast or "%" in text:
        raise CommandError(ErrCode.PARAM_INVALID, f"DNS server {text!r} cannot be used")
    return str(ip)


@functools.cache
def _cipdns_params(count: int) -> Signature:
    return (Int("enable", 0, 1), *(Str(k, optional=True) for k in _DNS_KEYS[:count]))


def _cipdns_signature(m: Engine) -> Signature:
    """``AT+CIPDNS=<enable>[,<"DNS IP1">][,<"DNS IP2">]`` (W800 spec) or
    ``...[,<"DNS IP3">]`` (ESP-AT): the dialect's ``max_dns`` servers."""
    return _cipdns_params(m.profile.max_dns)


def _cipdns_s(m: Engine, a: Args) -> None:
    keys = [k for k in _DNS_KEYS if a.given(k)]
    if not a.int("enable"):
        if keys:
            raise a.count_error(1, "DNS IPs are only valid with enable=1")
        m.settings.set(CIPDNS, None)
        return
    servers: list[str] = []
    for k in keys:
        ip = a.check(k, _dns_ip, a.str(k))
        if ip in servers:
            raise a.error(ErrCode.PARAM_INVALID, k, "the same DNS server twice")
        servers.append(ip)
    m.settings.set(CIPDNS, servers or list(m.profile.dns_defaults))


# --- AT+PING --------------------------------------------------------------------------


def _ping_s(m: Engine, a: Args) -> Task:
    host = a.str("host")
    result: object = None
    if not host:
        result = "empty host"
    elif _is_v6_literal(host) and not ipv6_on(m):
        result = "IPv6 address, but AT+CIPV6=0"
    else:
        result = yield Ping(host, name_service(m))
    if isinstance(result, float | int) and not isinstance(result, bool):
        m.emit(render.info("+PING", max(1, math.ceil(result))))
        return None
    log.info("ping %r failed: %s", host, result)
    m.emit(render.info("+PING", "TIMEOUT"))
    raise CommandError(ErrCode.EXEC_FAILED, f"ping {host!r}: {result}")


# --- SNTP -----------------------------------------------------------------------------


def _timezone(m: Engine) -> Timezone:
    return parse_timezone(str(m.settings.get(SNTPCFG)["tz"]))


def _schedule(m: Engine, delay: float) -> None:
    m.set_timer(_SNTP_TIMER, m.now + delay, lambda: _start_sync(m))


def _start_sync(m: Engine) -> None:
    """Ask the servers now (background, never busy); the result schedules the next."""
    cfg = m.settings.get(SNTPCFG)
    if not cfg["enable"]:
        return
    if not m.station.has_ip:
        _schedule(m, SNTP_RETRY)
        return
    st = m.services
    m.spawn(_sync(m, st, st.generation, tuple(cfg["servers"])), "sntp sync")


def _sync(m: Engine, st: ServiceState, generation: int, servers: tuple[str, ...]) -> Task:
    result = yield SntpSync(servers, name_service(m))
    if generation != st.generation:
        return None  # reconfigured or rebooted meanwhile
    if isinstance(result, SntpTime):
        st.clock_unix, st.clock_at = result.unix + m.world.sntp_offset, m.now
        log.info("SNTP time from %s", result.server)
        if st.announced != generation:  # the first sync since AT+CIPSNTPCFG / boot
            st.announced = generation
            if m.profile.time_updated_urc:
                m.emit(render.TIME_UPDATED)
        _schedule(m, m.settings.int(SNTPINTV))
    else:
        log.info("SNTP sync failed (%s); retrying in %g s", result, SNTP_RETRY)
        _schedule(m, SNTP_RETRY)
    return None


def _sntpcfg_q(m: Engine) -> None:
    cfg = m.settings.get(SNTPCFG)
    m.emit(
        render.info(
            "+CIPSNTPCFG",
            cfg["enable"],
            _timezone(m).query_value,
            *(render.q(s) for s in cfg["servers"]),
        )
    )


def _sntpcfg_s(m: Engine, a: Args) -> None:
    try:
        tz = parse_timezone(str(a.int("timezone")))
    except ValueError as exc:
        raise a.error(ErrCode.PARAM_INVALID, "timezone", str(exc)) from None
    servers = [a.str(k) for k in ("server1", "server2", "server3") if a.given(k)]
    enable = a.int("enable")
    m.settings.set(
        SNTPCFG,
        {"enable": enable, "tz": tz.value, "servers": servers or list(m.profile.sntp_defaults)},
    )
    st = m.services
    st.generation += 1
    m.cancel_timer(_SNTP_TIMER)
    if enable:
        _start_sync(m)


def _sntptime_q(m: Engine) -> None:
    unix = m.services.unix_now(m.now)
    m.emit(render.info("+CIPSNTPTIME", format_asctime(unix, _timezone(m))))


def _sntpintv_q(m: Engine) -> None:
    m.emit(render.info("+CIPSNTPINTV", m.settings.int(SNTPINTV)))


def _sntpintv_s(m: Engine, a: Args) -> None:
    interval = a.int("interval")
    m.settings.set(SNTPINTV, interval)
    if m.has_timer(_SNTP_TIMER):  # waiting for the next sync: count the new interval now
        _schedule(m, interval)


def _on_world(m: Engine, ev: WorldEvent) -> bool:
    if not isinstance(ev, ClockShift):
        return False
    m.world.sntp_offset += ev.seconds
    if ev.sync_now and m.settings.get(SNTPCFG)["enable"]:
        m.cancel_timer(_SNTP_TIMER)
        _start_sync(m)
    return True


# --- AT+SYSTIMESTAMP (ESP-AT: docs/en/AT_Command_Set/Basic_AT_Commands.rst) ----------


def _timestamp_q(m: Engine) -> None:
    """``+SYSTIMESTAMP:<Unix_timestamp>``: the module clock, in whole seconds."""
    m.emit(render.info("+SYSTIMESTAMP", math.floor(m.services.unix_now(m.now))))


def _timestamp_s(m: Engine, a: Args) -> None:
    """ "Set local time stamp.  It will be the same as SNTP time when the SNTP time is
    updated": the clock AT+CIPSNTPTIME? reads, until the next sync sets it."""
    st = m.services
    st.clock_unix, st.clock_at = float(a.int("timestamp")), m.now


def _boot(m: Engine) -> None:
    """The clock restarts at the epoch; results of syncs begun before are dropped."""
    st = m.services
    st.clock_unix, st.clock_at = 0.0, m.now
    st.generation += 1


FEATURE = Feature(
    "services",
    commands=(
        Command(
            "+CIPDOMAIN",
            set=_cipdomain_s,
            needs_ip=True,
            params=(Str("domain", MAX_DNS_NAME), Int("network", default=1, allowed=(1, 2, 3))),
            summary="resolve a domain name: 1 prefer IPv4, 2 IPv4 only, 3 IPv6 only",
        ),
        Command(
            "+CIPDNS",
            query=_cipdns_q,
            set=_cipdns_s,
            params=_cipdns_signature,
            summary="DNS servers: 0 automatic, 1 manual",
        ),
        Command(
            "+PING",
            set=_ping_s,
            needs_ip=True,
            params=(Str("host", MAX_DOMAIN),),
            summary="ping a host (ICMP echo)",
        ),
        Command(
            "+CIPSNTPCFG",
            query=_sntpcfg_q,
            set=_sntpcfg_s,
            params=(
                Int("enable", 0, 1),
                Int("timezone", -1259, 1459),
                Str("server1", MAX_DOMAIN, optional=True),
                Str("server2", MAX_DOMAIN, optional=True),
                Str("server3", MAX_DOMAIN, optional=True),
            ),
            summary="time zone and SNTP servers",
        ),
        Command("+CIPSNTPTIME", query=_sntptime_q, summary="the SNTP time (asctime)"),
        Command(
            "+SYSTIMESTAMP",
            query=_timestamp_q,
            set=_timestamp_s,
            # "<Unix-timestamp>: Unix timestamp. Unit: second." (a 32-bit signed
            # parameter in ESP-AT's parser: up to 2^31 - 1, January 2038)
            params=(Int("timestamp", 0, 2**31 - 1),),
            summary="the module clock as a Unix timestamp",
        ),
        Command(
            "+CIPSNTPINTV",
            query=_sntpintv_q,
            set=_sntpintv_s,
            params=(Int("interval", 15, 4294967),),
            summary="SNTP re-sync interval in seconds",
        ),
    ),
    settings=(CIPDNS, SNTPCFG, SNTPINTV),
    on_boot=_boot,
    on_world=_on_world,
)

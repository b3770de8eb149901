"""Links: AT+CIPMUX, AT+CIPSTART, AT+CIPSTARTEX, AT+CIPCLOSE, AT+CIPSTATE, AT+CIPSTATUS,
AT+CIPDINFO, AT+CIPMODE, AT+CIPRECONNINTV, AT+CIPTCPOPT.

The state lives in `w800at.core.links` (the link table); these are the rows.

A failed AT+CIPSTART answers ``ERROR`` only.  Captures of some firmware show a
``CLOSED`` after it; ESP-AT v2 (which the W800 follows) frees the link without a URC
because it never announced ``CONNECT``, and drivers treat ``ERROR`` as the failure,
so no ``CLOSED`` is printed.
"""

from __future__ import annotations

from dataclasses import replace

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode, count_ext
from ..core.feature import Feature
from ..core.links import Link, LinkState
from ..core.net_actions import Connected, SetSockOpts
from ..core.params import Any_, Args, Int, LinkId, Str, bind, retokenize
from ..core.registry import Command, Task
from ..core.settings import CIPDINFO, CIPMODE, CIPMUX, RECONNINTV
from ..core.state import WifiState
from .services import name_service
from .ssl import tls_settings
from .wifi import CIPV6

KINDS = ("TCP", "UDP", "SSL", "TCPv6", "UDPv6", "SSLv6")
#: spec: "The maximum length is 64 bytes" (use AT+CIPDOMAIN for longer names)
HOST_MAX = 64

# What follows <remote port>, by type (spec, AT+CIPSTART's three forms).
_STREAM_TAIL = (Int("keep_alive", 0, 7200, optional=True), Str("local_ip", 64, optional=True))
_UDP_TAIL = (
    Int("local_port", 0, 65535, optional=True),
    Int("mode", 0, 2, optional=True),
    Str("local_ip", 64, optional=True),
)
_TAIL = ("p5", "p6", "p7")
_START = (
    Str("type", choices=KINDS),
    Str("host", HOST_MAX),
    Int("port", 0, 65535),
    *(Any_(n) for n in _TAIL),
)


#: AT+CIPSTART's <link ID> (multi-connection mode only)
_START_PARAMS = (LinkId(), *_START)


def _start(m: Engine, link_id: int, a: Args) -> Task:
    table = m.links
    kind = a.str("type")
    if kind.endswith("v6") and not m.settings.int(CIPV6):
        raise CommandError(ErrCode.EXEC_FAILED, f"{kind} needs AT+CIPV6=1")
    udp = kind.startswith("UDP")
    raw = [_raw(a, n) for n in _TAIL]
    tail = bind(_UDP_TAIL if udp else _STREAM_TAIL, retokenize(raw), first=a.index(_TAIL[0]))
    port = a.int("port")
    if port == 0 and not udp:
        raise a.error(ErrCode.PARAM_INVALID, "port", "remote port 0")
    mode = tail.opt_int("mode") if udp else None
    if mode and tail.opt_int("local_port") is None:
        raise tail.error(ErrCode.PARAM_INVALID, "mode", "<mode> needs <local port>")
    link = Link(
        link_id,
        kind,
        a.str("host"),
        port,
        bind_ip=tail.opt_str("local_ip") or None,
        bind_port=tail.opt_int("local_port") if udp else None,
        udp_mode=mode or 0,
    )
    if not udp and tail.given("keep_alive"):
        # "the final value is determined by the command set later" (CIPTCPOPT too)
        table.opts[link_id] = replace(table.opts[link_id], keepalive=tail.int("keep_alive"))
    if kind.startswith("SSL"):
        link.tls = tls_settings(m, link_id)
    table.reserve(link)
    res = yield table.connect_action(link, name_service(m))
    if not isinstance(res, Connected) or table.get(link_id) is not link:
        table.release(link)
        raise CommandError(ErrCode.EXEC_FAILED, f"connect failed: {res!r}")
    table.opened(link, res)
    return None


def _raw(a: Args, name: str) -> int | str | None:
    v = a.opt_int(name)
    return v if v is not None else a.opt_str(name)


def _cipstart(m: Engine, a: Args) -> Task:
    return _start(m, a.int("link_id") if m.links.multi else 0, a)


def _cipstartex(m: Engine, a: Args) -> Task:
    table = m.links
    if not table.multi:
        return _start(m, 0, a)
    free = table.free_id()
    if free is None:
        raise CommandError(ErrCode.EXEC_FAILED, "no free link ID")
    return _start(m, free, a)


# --- AT+CIPCLOSE ---------------------------------------------------------------------


def _close(m: Engine, ids: list[int]) -> Task:
    table = m.links
    for link_id in ids:
        link = table.get(link_id)
        if link is None or link.state is LinkState.CONNECTING:
            continue
        close = table.begin_close(link)
        if close is not None:
            yield close
        table.finish_close(link)
    return None


def _closeable(m: Engine, link_id: int) -> None:
    link = m.links.get(link_id)
    if link is None or link.state in (LinkState.CONNECTING, LinkState.CLOSING):
        raise CommandError(ErrCode.EXEC_FAILED, f"link {link_id} is not valid")


def _cipclose_x(m: Engine) -> Task:
    if m.links.multi:
        raise CommandError(ErrCode.PARAM_COUNT, "multi mode needs <link ID>", count_ext(1, 0))
    _closeable(m, 0)
    return _close(m, [0])


def _cipclose_s(m: Engine, a: Args) -> Task:
    table = m.links
    if not table.multi:
        raise CommandError(ErrCode.EXEC_FAILED, "AT+CIPCLOSE=<id> is for AT+CIPMUX=1")
    link_id = a.int("link_id")
    if link_id == m.profile.max_links:
        return _close(m, sorted(table.links))
    _closeable(m, link_id)
    return _close(m, [link_id])


# --- state: AT+CIPSTATE?, AT+CIPSTATUS ------------------------------------------------


#: the links AT+CIPSTATE? / AT+CIPSTATUS list: open ones, and those the peer closed
#: while passive data is still unread (`LinkState.HELD`): the spec's AT+CIPRECVMODE note
#: ("the buffered socket data still exists and the MCU can still read it ... CLOSED for
#: this connection will never appear until ...") keeps the link until it is read or
#: closed by the host, and the wire-format doc lists it "until the data is read"
_LISTED = (LinkState.OPEN, LinkState.HELD)


def _state_rows(m: Engine, label: str) -> bytes:
    rows = []
    for i, link in sorted(m.links.links.items()):
        if link.state not in _LISTED:
            continue
        rows.append(
            render.info(
                label,
                i,
                render.q(link.kind),
                render.q(link.remote_ip),
                link.remote_port,
                link.local_port,
                int(link.server),
            )
        )
    return b"".join(rows)


def _cipstate_q(m: Engine) -> None:
    m.emit(_state_rows(m, "+CIPSTATE"))


#: AT+CIPSTATUS codes (wire-format doc); before any join: the dialect's
#: ``cipstatus_idle`` (ESP-AT v2.4+: 1, the older table: 5)
ST_GOT_IP, ST_LINKED, ST_CLOSED, ST_NO_WIFI = 2, 3, 4, 5


def _cipstatus(m: Engine) -> None:
    table = m.links
    if m.station.state is WifiState.NOT_STARTED:
        code = m.profile.cipstatus_idle
    elif not m.station.has_ip:
        code = ST_NO_WIFI
    elif any(lk.state in _LISTED for lk in table.links.values()):
        code = ST_LINKED
    elif table.ever_linked:
        code = ST_CLOSED
    else:
        code = ST_GOT_IP
    m.emit(render.info("STATUS", code) + _state_rows(m, "+CIPSTATUS"))


# --- modes: AT+CIPMUX, AT+CIPMODE, AT+CIPDINFO, AT+CIPRECONNINTV -----------------------


def _cipmux_q(m: Engine) -> None:
    m.emit(render.info("+CIPMUX", m.settings.int(CIPMUX)))


def _cipmux_s(m: Engine, a: Args) -> None:
    table = m.links
    mode = a.int("mode")
    if mode == m.settings.int(CIPMUX):
        return
    if table.links:
        raise CommandError(ErrCode.EXEC_FAILED, "links are open")
    if mode == 1 and m.settings.int(CIPMODE):
        raise CommandError(ErrCode.EXEC_FAILED, "multi-connection needs AT+CIPMODE=0")
    if mode == 0 and table.server_running:
        raise CommandError(ErrCode.EXEC_FAILED, "close the server first (AT+CIPSERVER=0)")
    m.settings.set(CIPMUX, mode)


def _cipmode_q(m: Engine) -> None:
    m.emit(render.info("+CIPMODE", m.settings.int(CIPMODE)))


def _cipmode_s(m: Engine, a: Args) -> None:
    mode = a.int("mode")
    if mode == 1 and m.links.multi:
        raise CommandError(ErrCode.EXEC_FAILED, "passthrough needs AT+CIPMUX=0")
    m.settings.set(CIPMODE, mode)


def _cipdinfo_q(m: Engine) -> None:
    m.emit(render.info("+CIPDINFO", "true" if m.settings.int(CIPDINFO) else "false"))


def _cipdinfo_s(m: Engine, a: Args) -> None:
    m.settings.set(CIPDINFO, a.int("mode"))


def _reconnintv_q(m: Engine) -> None:
    m.emit(render.info("+CIPRECONNINTV", m.settings.int(RECONNINTV)))


def _reconnintv_s(m: Engine, a: Args) -> None:
    m.settings.set(RECONNINTV, a.int("interval"))


# --- AT+CIPTCPOPT ----------------------------------------------------------------------

_OPTS = (
    Int("so_linger", -1, optional=True),
    Int("tcp_nodelay", 0, 1, optional=True),
    Int("so_sndtimeo", 0, optional=True),
    Int("keep_alive", 0, 7200, optional=True),
)


#: "<link ID>: ID of the connection (0 ~ max). For multiple connections, if the value
#: is max, it means all connections" (default: all)
_TCPOPT_PARAMS = (LinkId(default_all=True), *_OPTS)


def _tcpopt_q(m: Engine) -> None:
    rows = [
        render.info("+CIPTCPOPT", i, o.linger, o.nodelay, o.sndtimeo, o.keepalive)
        for i, o in enumerate(m.links.opts)
    ]
    m.emit(b"".join(rows))


def _tcpopt_s(m: Engine, a: Args) -> None:
    table = m.links
    n = m.profile.max_links
    target = a.int("link_id") if table.multi else 0
    for i in range(n) if target == n else (target,):
        o = table.opts[i]
        new = replace(
            o,
            linger=_given(a, "so_linger", o.linger),
            nodelay=_given(a, "tcp_nodelay", o.nodelay),
            sndtimeo=_given(a, "so_sndtimeo", o.sndtimeo),
            keepalive=_given(a, "keep_alive", o.keepalive),
        )
        table.opts[i] = new
        link = table.get(i)
        if link is not None and link.state is LinkState.OPEN:
            m.act(SetSockOpts(i, new))


def _given(a: Args, name: str, old: int) -> int:
    """An option left empty keeps its last configured value."""
    return a.int(name) if a.given(name) else old


# --- the feature ---------------------------------------------------------------------


def _wifi_down(m: Engine) -> None:
    m.links.lost_all()


FEATURE = Feature(
    "connect",
    commands=(
        Command(
            "+CIPMUX",
            query=_cipmux_q,
            set=_cipmux_s,
            params=(Int("mode", 0, 1),),
            summary="single (0) or multiple (1) connections",
        ),
        Command(
            "+CIPSTART",
            set=_cipstart,
            params=_START_PARAMS,
            needs_ip=True,
            summary="open a TCP/UDP/SSL link",
        ),
        Command(
            "+CIPSTARTEX",
            set=_cipstartex,
            params=_START,
            needs_ip=True,
            summary="open a link on the lowest free ID",
        ),
        Command(
            "+CIPCLOSE",
            set=_cipclose_s,
            execute=_cipclose_x,
            params=(LinkId(all_ok=True, multi_only=False),),
            summary="close a link (ID max_links: all)",
        ),
        Command("+CIPSTATE", query=_cipstate_q, summary="links"),
        Command("+CIPSTATUS", execute=_cipstatus, summary="connection status and links"),
        Command(
            "+CIPMODE",
            query=_cipmode_q,
            set=_cipmode_s,
            params=(Int("mode", 0, 1),),
            summary="normal (0) or passthrough (1) transmission",
        ),
        Command(
            "+CIPDINFO",
            query=_cipdinfo_q,
            set=_cipdinfo_s,
            params=(Int("mode", 0, 1),),
            summary="remote address in +IPD and +CIPRECVDATA",
        ),
        Command(
            "+CIPRECONNINTV",
            query=_reconnintv_q,
            set=_reconnintv_s,
            params=(Int("interval", 1, 36000),),
            summary="passthrough reconnect interval, x100 ms",
        ),
        Command(
            "+CIPTCPOPT",
            query=_tcpopt_q,
            set=_tcpopt_s,
            params=_TCPOPT_PARAMS,
            summary="socket options per link (ID max_links: all)",
        ),
    ),
    settings=(),
    on_wifi_down=_wifi_down,
)

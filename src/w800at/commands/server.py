"""The module's TCP/SSL server: AT+CIPSERVER, AT+CIPSERVERMAXCONN, AT+CIPSTO.

At most one server, only in multi-connection mode.  The runtime listens (`Listen`) and
hands each accepted client to the link table (`LinkTable.on_accepted`), which gives it
the lowest free link ID, announces ``<id>,CONNECT`` and turns away clients beyond
AT+CIPSERVERMAXCONN.  From then on a server link is an ordinary link (tetype 1).

AT+CIPSTO: a server link with no data in either direction for ``<time>`` seconds is
closed (``<id>,CLOSED``).  The link table calls our activity hook on every transfer,
and one engine timer per server link holds its deadline (so the manual clock of the
tests drives it exactly).  ``0`` never times out.

Where the server listens is the runtime's choice (``ModuleOptions.server_bind``,
loopback by default): see `w800at.runtime.server`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..core import render
from ..core.engine import RESET_HOOKS, Engine
from ..core.errors import CommandError, ErrCode
from ..core.links import Link, LinkTable, links_of
from ..core.net_actions import Listen, StopListening
from ..core.params import Args, Int, Signature, Str
from ..core.registry import Command, Task, register
from ..core.settings import declare
from .wifi import CIPV6

log = logging.getLogger("w800at.server")

#: AT+CIPSERVERMAXCONN "<num> ... range: [1,5]" (5 = the link count); not saved
MAXCONN = declare("cipservermaxconn", lambda p: p.max_links, "never")
#: AT+CIPSTO "<time> ... value range:[0,7200]"; ESP-AT's default is 180 s; not saved
CIPSTO = declare("cipsto", 180, "never")
CIPSTO_MAX = 7200

#: AT+CIPSERVER <param2> with <mode> 1: "represents the port number. Default value: 333"
DEFAULT_PORT = 333
SERVER_TYPES = ("TCP", "TCPv6", "SSL", "SSLv6")


@dataclass
class ServerState:
    """The running server (None in ``engine.parts["server"]`` when there is none)."""

    port: int
    kind: str
    ca_enable: int


def server_of(m: Engine) -> ServerState | None:
    s = m.parts.get("server")
    return s if isinstance(s, ServerState) else None


# --- AT+CIPSERVER


def _cipserver_q(m: Engine) -> None:
    s = server_of(m)
    if s is None:
        m.emit(render.info("+CIPSERVER", 0))
    else:
        m.emit(render.info("+CIPSERVER", 1, s.port, render.q(s.kind), s.ca_enable))


CIPSERVER_PARAMS: Signature = (
    Int("mode", 0, 1),
    # mode 1: the port (default 333); mode 0: close all clients too (0/1, default 0).
    # The range depends on <mode>, so it is checked in the handler.
    Int("param2", optional=True),
    # "Server type: "TCP", "TCPv6", "SSL", or "SSLv6". Default value: "TCP""
    Str("type", optional=True, choices=SERVER_TYPES),
    # "<CA enable>: Default value: 0"
    Int("ca", 0, 1, optional=True),
)


def _cipserver_s(m: Engine, a: Args) -> Task | None:
    if a.int("mode") == 1:
        return _start(m, a)
    _stop(m, a)
    return None


def _start(m: Engine, a: Args) -> Task:
    port = a.opt_int("param2")
    port = DEFAULT_PORT if port is None else port
    if not 1 <= port <= 65535:
        raise CommandError(ErrCode.PARAM_INVALID, f"port {port} out of [1,65535]")
    kind = a.opt_str("type") or "TCP"
    ca = a.opt_int("ca") or 0
    table = links_of(m)
    if not table.multi:
        raise CommandError(ErrCode.OPERATION, "a server needs AT+CIPMUX=1")
    if server_of(m) is not None:
        raise CommandError(ErrCode.OPERATION, "only one server can be created")
    if kind.endswith("v6") and not m.settings.int(CIPV6):
        raise CommandError(ErrCode.OPERATION, "an IPv6 server needs AT+CIPV6=1")
    return _listen(m, table, port, kind, ca)


def _listen(m: Engine, table: LinkTable, port: int, kind: str, ca: int) -> Task:
    # Claimed before the runtime answers: a client accepted meanwhile is served, and a
    # second AT+CIPSERVER cannot slip in.
    state = ServerState(port, kind, ca)
    m.parts["server"] = state
    _attach(m)
    table.server_running = True
    table.server_max_conn = m.settings.int(MAXCONN)
    result = yield Listen(port, kind, bool(ca))
    if isinstance(result, BaseException):
        if m.parts.get("server") is state:
            del m.parts["server"]
            table.server_running = False
        raise CommandError(ErrCode.EXEC_FAILED, f"cannot listen on port {port}: {result}")
    if isinstance(result, int) and result:
        state.port = result
    return None


def _stop(m: Engine, a: Args) -> None:
    # "When closing the server, parameters <"type"> and <CA enable> must be omitted."
    if a.given("type") or a.given("ca"):
        raise CommandError(ErrCode.PARAM_COUNT, "closing takes no type or CA enable")
    close_all = a.opt_int("param2") or 0
    if a.given("param2") and close_all not in (0, 1):
        raise CommandError(ErrCode.PARAM_INVALID, "<param2> must be 0 or 1 when closing")
    if server_of(m) is None:
        raise CommandError(ErrCode.OPERATION, "no server is running")
    stop_server(m)
    if close_all:
        table = links_of(m)
        for link in [lk for lk in table.links.values() if lk.server]:
            table.close_now(link.id)


def stop_server(m: Engine) -> None:
    """Forget the server and ask the runtime to stop listening (clients stay)."""
    m.parts.pop("server", None)
    links_of(m).server_running = False
    m.act(StopListening())


# --- AT+CIPSERVERMAXCONN


def _maxconn_params(m: Engine) -> Signature:
    # "range: [1,5]" — 5 is the number of link IDs (see AT+CIPSTART's <link ID>)
    return (Int("num", 1, m.profile.max_links),)


def _maxconn_q(m: Engine) -> None:
    m.emit(render.info("+CIPSERVERMAXCONN", m.settings.int(MAXCONN)))


def _maxconn_s(m: Engine, a: Args) -> None:
    # "set it before creating the server"
    if server_of(m) is not None:
        raise CommandError(ErrCode.OPERATION, "the server is running: close it first")
    m.settings.set(MAXCONN, a.int("num"))
    links_of(m).server_max_conn = a.int("num")


# --- AT+CIPSTO


def _sto_q(m: Engine) -> None:
    m.emit(render.info("+CIPSTO", m.settings.int(CIPSTO)))


def _sto_s(m: Engine, a: Args) -> None:
    m.settings.set(CIPSTO, a.int("time"))
    table = links_of(m)
    for link in table.links.values():  # the new timeout applies to open links too
        if link.server:
            _arm(m, link)


def _timer_key(link_id: int) -> tuple[str, int]:
    return ("cipsto", link_id)


def _arm(m: Engine, link: Link) -> None:
    """(Re)start ``link``'s idle timer from its last activity."""
    key = _timer_key(link.id)
    sto = m.settings.int(CIPSTO)
    if sto == 0:
        m.cancel_timer(key)
        return
    link_id = link.id

    def expire() -> None:
        table = links_of(m)
        current = table.get(link_id)
        if current is link:
            log.info("link %d idle for %d s: closed (AT+CIPSTO)", link_id, sto)
            table.close_now(link_id)

    m.set_timer(key, link.last_activity + sto, expire)


def _on_activity(m: Engine, link: Link) -> None:
    if link.server:
        _arm(m, link)


def _attach(m: Engine) -> LinkTable:
    """Hook the idle timer into this engine's link table (once per table)."""
    table = links_of(m)
    if _on_activity not in table.activity_hooks:
        table.activity_hooks.append(_on_activity)
    return table


def _reset(m: Engine) -> None:
    m.parts.pop("server", None)


RESET_HOOKS.append(_reset)


register(
    Command(
        "+CIPSERVER",
        query=_cipserver_q,
        set=_cipserver_s,
        params=CIPSERVER_PARAMS,
        summary="create (1) or delete (0) the TCP/SSL server",
    )
)
register(
    Command(
        "+CIPSERVERMAXCONN",
        query=_maxconn_q,
        set=_maxconn_s,
        params=_maxconn_params,
        summary="most clients the server accepts at once",
    )
)
register(
    Command(
        "+CIPSTO",
        query=_sto_q,
        set=_sto_s,
        params=(Int("time", 0, CIPSTO_MAX),),
        summary="server links' idle timeout in seconds (0: never)",
    )
)

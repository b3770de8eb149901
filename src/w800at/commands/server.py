"""The module's TCP/SSL server: AT+CIPSERVER, AT+CIPSERVERMAXCONN, AT+CIPSTO.

At most one server, only in multi-connection mode.  The runtime listens (`Listen`) and
hands each accepted client to the engine (`Engine.link_accepted`), whose link table
gives it the lowest free link ID, announces ``<id>,CONNECT`` and turns away clients
beyond AT+CIPSERVERMAXCONN.  From then on a server link is an ordinary link (tetype 1).

AT+CIPSTO: a server link with no data in either direction for ``<time>`` seconds is
closed (``<id>,CLOSED``); the link table keeps one engine timer per server link
(`LinkTable.rearm_idle`).  ``0`` never times out.

Where the server listens (``ModuleOptions.server_bind``, config ``[network]
server_bind``), resolved here and carried by the `Listen` action:

- ``"loopback"`` (default): 127.0.0.1 / ::1.  A real module exposes its server to
  the LAN, but an emulator started on a laptop should not open a port to the network
  unless asked; drivers under test and peers on this host reach it on loopback.
- ``"station"``: the station's address (AT+CIPSTA / the host's own).
- ``"all"``: every interface of the server's family (0.0.0.0 / ::).
- an IP literal: exactly that address.

While the SoftAP is on (AT+CWMODE=2/3) an IPv4 server also listens on ``[softap]
host`` (the host address that stands for the SoftAP's IP; loopback by default, where
it is usually the same socket), unless it already listens on every address.
"""

from __future__ import annotations

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.links import LinkTable
from ..core.net_actions import Listen, StopListening
from ..core.params import Args, Int, Signature, Str
from ..core.registry import Command, Task
from ..core.settings import CIPSTO, MAXCONN
from ..core.state import ServerState
from .softap import softap_host
from .wifi import CIPV6, addresses

CIPSTO_MAX = 7200

#: AT+CIPSERVER <param2> with <mode> 1: "represents the port number. Default value: 333"
DEFAULT_PORT = 333
SERVER_TYPES = ("TCP", "TCPv6", "SSL", "SSLv6")

_LOOPBACK = {False: "127.0.0.1", True: "::1"}
_ANY = {False: "0.0.0.0", True: "::"}


def bind_host(m: Engine, v6: bool) -> str:
    """The address to listen on, per ``server_bind`` (see the module docstring)."""
    choice = m.options.server_bind
    if choice == "loopback":
        return _LOOPBACK[v6]
    if choice == "all":
        return _ANY[v6]
    if choice == "station":
        a = addresses(m)
        ip = (a.ip6_gl or a.ip6_ll) if v6 else a.ip
        if not ip or ip in ("0.0.0.0", "::"):
            raise CommandError(ErrCode.EXEC_FAILED, "the station has no address to listen on")
        return ip
    return choice


# --- AT+CIPSERVER


def _cipserver_q(m: Engine) -> None:
    s = m.server
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
        raise a.error(ErrCode.PARAM_INVALID, "param2", f"port {port} out of [1,65535]")
    kind = a.opt_str("type") or "TCP"
    ca = a.opt_int("ca") or 0
    table = m.links
    if not table.multi:
        raise CommandError(ErrCode.OPERATION, "a server needs AT+CIPMUX=1")
    if m.server is not None:
        raise CommandError(ErrCode.OPERATION, "only one server can be created")
    if kind.endswith("v6") and not m.settings.int(CIPV6):
        raise CommandError(ErrCode.OPERATION, "an IPv6 server needs AT+CIPV6=1")
    return _listen(m, table, port, kind, ca)


def _listen(m: Engine, table: LinkTable, port: int, kind: str, ca: int) -> Task:
    v6 = kind.endswith("v6")
    host = bind_host(m, v6)
    ap = softap_host(m)
    also = (ap,) if ap and not v6 and ap != host and host != _ANY[False] else ()
    # Claimed before the runtime answers: a client accepted meanwhile is served, and a
    # second AT+CIPSERVER cannot slip in.
    state = ServerState(port, kind, ca)
    m.server = state
    table.server_started()
    result = yield Listen(port, kind, bool(ca), host, also)
    if isinstance(result, BaseException):
        if m.server is state:
            m.server = None
        raise CommandError(ErrCode.EXEC_FAILED, f"cannot listen on port {port}: {result}")
    if isinstance(result, int) and result:
        state.port = result
    return None


def _stop(m: Engine, a: Args) -> None:
    # "When closing the server, parameters <"type"> and <CA enable> must be omitted."
    if a.given("type") or a.given("ca"):
        raise a.count_error(2, "closing takes no type or CA enable")
    close_all = a.opt_int("param2") or 0
    if a.given("param2") and close_all not in (0, 1):
        raise a.error(ErrCode.PARAM_INVALID, "param2", "<param2> must be 0 or 1 when closing")
    if m.server is None:
        raise CommandError(ErrCode.OPERATION, "no server is running")
    stop_server(m)
    if close_all:
        table = m.links
        for link in [lk for lk in table.links.values() if lk.server]:
            table.close_now(link.id)


def stop_server(m: Engine) -> None:
    """Forget the server and ask the runtime to stop listening (clients stay)."""
    m.server = None
    m.act(StopListening())


# --- AT+CIPSERVERMAXCONN


def _maxconn_params(m: Engine) -> Signature:
    # "range: [1,5]" — 5 is the number of link IDs (see AT+CIPSTART's <link ID>)
    return (Int("num", 1, m.profile.max_links),)


def _maxconn_q(m: Engine) -> None:
    m.emit(render.info("+CIPSERVERMAXCONN", m.settings.int(MAXCONN)))


def _maxconn_s(m: Engine, a: Args) -> None:
    # "set it before creating the server"
    if m.server is not None:
        raise CommandError(ErrCode.OPERATION, "the server is running: close it first")
    m.settings.set(MAXCONN, a.int("num"))
    m.links.server_max_conn = a.int("num")


# --- AT+CIPSTO


def _sto_q(m: Engine) -> None:
    m.emit(render.info("+CIPSTO", m.settings.int(CIPSTO)))


def _sto_s(m: Engine, a: Args) -> None:
    m.settings.set(CIPSTO, a.int("time"))
    m.links.rearm_idle()


FEATURE = Feature(
    "server",
    commands=(
        Command(
            "+CIPSERVER",
            query=_cipserver_q,
            set=_cipserver_s,
            params=CIPSERVER_PARAMS,
            summary="create (1) or delete (0) the TCP/SSL server",
        ),
        Command(
            "+CIPSERVERMAXCONN",
            query=_maxconn_q,
            set=_maxconn_s,
            params=_maxconn_params,
            summary="most clients the server accepts at once",
        ),
        Command(
            "+CIPSTO",
            query=_sto_q,
            set=_sto_s,
            params=(Int("time", 0, CIPSTO_MAX),),
            summary="server links' idle timeout in seconds (0: never)",
        ),
    ),
    settings=(),
)

"""The engine's link table: link IDs, their state, and everything the host sees of
data arriving on them (``+IPD`` frames, passive buffers, ``CONNECT`` / ``CLOSED``).

Each engine has one (`Engine.links`, new at every reboot).  The runtime's sockets
report through the engine (`Engine.link_data`, `Engine.link_closed`,
`Engine.link_accepted`), which land in `LinkTable.on_data`, `LinkTable.on_closed` and
`LinkTable.on_accepted` (the contract in `net_actions`).  Commands
(``commands/connect.py``, ``send.py``, ``receive.py``, ``server.py``) use the rest.
No I/O here: sockets are asked for with `Action`s.

Server links (accepted by AT+CIPSERVER) close after AT+CIPSTO seconds without data in
either direction: one engine timer per server link holds its deadline, re-armed on
every transfer (so the manual clock of the tests drives it exactly).

Single-connection mode (AT+CIPMUX=0) uses link ID 0 internally; the wire then omits
the ID (``CONNECT``, ``CLOSED``, ``+IPD,<len>:``).

Passive mode on SSL links counts TLS bytes.  The spec (AT+CIPRECVLEN): "In SSL
connections, WinnerMicro-AT will return the length of the encrypted data, so the
returned length will be greater than the length of the real data"; the passive
``+IPD,<len>`` notice ("the total length of socket data in the cache") counts the same.
The runtime delivers an SSL link's plaintext with the wire bytes it cost
(`Engine.link_data`'s ``wire``); each buffered segment keeps its cost, the window
(5760) holds back a sender by wire bytes, and ``AT+CIPRECVLEN?`` / ``+IPD,<len>`` show
wire bytes, while ``AT+CIPRECVDATA`` returns plaintext.  A read that takes part of a
segment leaves the rest the part of its cost in proportion, rounded up, so the count
never drops below the plaintext still waiting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from ..log import get_logger
from . import render
from .errors import CommandError, ErrCode
from .net_actions import Close, Connect, Connected, NameService, SetReading, SockOpts, TlsSettings
from .settings import CIPDINFO, CIPMUX, CIPSTO, MAXCONN, RECVMODE, SYSMSG

if TYPE_CHECKING:
    from .engine import Engine

log = get_logger("w800at.links")

#: AT+SYSMSG bits (wire-format doc)
SYSMSG_QUITT, SYSMSG_LINK_CONN, SYSMSG_PT_CONNECT = 1, 2, 4

Addr = tuple[str, int]


class LinkState(Enum):
    CONNECTING = "connecting"  # ID reserved: AT+CIPSTART running, or passthrough reconnect
    OPEN = "open"
    CLOSING = "closing"  # the host's AT+CIPCLOSE waits for the socket to close
    #: the peer closed, passive data not yet read: ``CLOSED`` is held until it is
    HELD = "held"


@dataclass(eq=False)
class Link:
    """One link ID in use.  ``host``/``port``/``bind_*`` are what AT+CIPSTART asked
    for (passthrough reconnects repeat them); ``remote_*``/``local_*`` are the socket's."""

    id: int
    kind: str
    host: str = ""
    port: int = 0
    server: bool = False
    bind_ip: str | None = None
    bind_port: int | None = None
    udp_mode: int = 0
    state: LinkState = LinkState.CONNECTING
    remote_ip: str = ""
    remote_port: int = 0
    local_ip: str = ""
    local_port: int = 0
    #: UDP <mode> 1: the remote has been changed once already
    remote_changed: bool = False
    #: passive receive buffer: (data, sender) segments, ``buffered`` bytes in all
    segments: deque[tuple[bytes, Addr]] = field(default_factory=deque)
    buffered: int = 0
    #: SSL links: the wire (TLS) bytes each segment cost, and their sum (see the
    #: module docstring); other links count ``buffered``
    costs: deque[int] = field(default_factory=deque)
    wire: int = 0
    notified: bool = False
    #: the last read left bytes that were waiting behind a full window
    refill: bool = False
    paused: bool = False
    dropped: int = 0  # UDP datagrams dropped because the passive window was full
    #: engine time of the last data in either direction (AT+CIPSTO uses it)
    last_activity: float = 0.0
    #: SSL links: the AT+CIPSSLC* settings of AT+CIPSTART (a passthrough reconnect
    #: repeats them)
    tls: TlsSettings | None = None

    #: an SSL link (its passive window counts wire bytes)
    secure: bool = field(init=False)

    def __post_init__(self) -> None:
        self.secure = self.kind.startswith("SSL")

    @property
    def udp(self) -> bool:
        return self.kind.startswith("UDP")

    @property
    def remote(self) -> Addr:
        return (self.remote_ip, self.remote_port)


class PassthroughHook(Protocol):
    """What the table needs of the active passthrough sink (core/passthrough.py)."""

    def link_lost(self, link: Link) -> None: ...


# --- the table -----------------------------------------------------------------------


class LinkTable:
    """Every link of one engine; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.m = engine
        n = engine.profile.max_links
        self.links: dict[int, Link] = {}
        #: AT+CIPTCPOPT (and CIPSTART keep_alive) per link ID; kept for links opened later
        self.opts: list[SockOpts] = [_NO_OPTS] * n
        #: AT+CIPSERVERMAXCONN when the server started: accepted clients beyond it are
        #: turned away
        self.server_max_conn = n
        #: AT+CIPSTATUS 4 ("links closed") needs to know a link existed
        self.ever_linked = False
        #: the passthrough sink while the host is in passthrough DATA mode
        self.passthrough: PassthroughHook | None = None
        #: UDP datagrams dropped in passive mode (all links, since boot)
        self.udp_dropped = 0

    # --- queries

    @property
    def server_running(self) -> bool:
        """AT+CIPSERVER is on (AT+CIPMUX=0 is refused meanwhile)."""
        return self.m.server is not None

    @property
    def multi(self) -> bool:
        return bool(self.m.settings.int(CIPMUX))

    @property
    def passive(self) -> bool:
        return bool(self.m.settings.int(RECVMODE))

    def wire_id(self, link_id: int) -> int | None:
        """The ID as printed: None (omitted) in single-connection mode."""
        return link_id if self.multi else None

    def get(self, link_id: int) -> Link | None:
        return self.links.get(link_id)

    def open_link(self, link_id: int) -> Link:
        """The open link with this ID, or ERROR ("link is not valid")."""
        link = self.links.get(link_id)
        if link is None or link.state is not LinkState.OPEN:
            raise CommandError(ErrCode.EXEC_FAILED, f"link {link_id} is not open")
        return link

    def free_id(self) -> int | None:
        return next((i for i in range(self.m.profile.max_links) if i not in self.links), None)

    # --- client links

    def reserve(self, link: Link) -> None:
        """Claim the ID while connecting (an accepted client cannot take it meanwhile)."""
        if link.id in self.links:
            raise CommandError(ErrCode.EXEC_FAILED, f"link {link.id} ALREADY CONNECTED")
        self.links[link.id] = link

    def connect_action(self, link: Link, names: NameService) -> Connect:
        """The `Connect` that opens ``link`` (AT+CIPSTART, a passthrough reconnect)."""
        return Connect(
            link.id,
            link.kind,
            link.host,
            link.port,
            link.bind_ip,
            link.bind_port if link.udp else None,
            self.opts[link.id],
            link.tls,
            names,
        )

    def opened(self, link: Link, res: Connected, *, announce: bool = True) -> None:
        link.remote_ip, link.remote_port = res.remote_ip, res.remote_port
        link.local_ip, link.local_port = res.local_ip, res.local_port
        link.state = LinkState.OPEN
        self.ever_linked = True
        self._touch(link)
        if announce:
            self.announce_connect(link)

    def release(self, link: Link) -> None:
        """A connect failed: the ID is free again (nothing printed but ERROR)."""
        if self.links.get(link.id) is link:
            del self.links[link.id]

    def announce_connect(self, link: Link) -> None:
        bits = self.m.settings.int(SYSMSG)
        if bits & SYSMSG_LINK_CONN:
            self.m.emit(
                render.link_conn(
                    0,
                    link.id,
                    link.kind,
                    link.server,
                    link.remote_ip,
                    link.remote_port,
                    link.local_port,
                )
            )
        else:
            self.m.emit(render.connect(self.wire_id(link.id)))

    # --- runtime events

    def on_accepted(
        self, kind: str, remote_ip: str, remote_port: int, local_port: int
    ) -> int | None:
        """The server accepted a client: the lowest free ID, or None to turn it away."""
        served = sum(1 for lk in self.links.values() if lk.server)
        link_id = self.free_id()
        if link_id is None or served >= self.server_max_conn:
            return None
        link = Link(link_id, kind, server=True)
        self.links[link_id] = link
        self.opened(link, Connected(remote_ip, remote_port, "", local_port))
        return link_id

    def on_data(
        self,
        link_id: int,
        data: bytes,
        addr: Addr,
        now: float | None = None,
        wire: int | None = None,
    ) -> None:
        """Bytes (TCP/SSL) or one datagram (UDP) arrived from ``addr``; ``wire``: what
        they cost on the wire (SSL links; the plaintext's length when not given)."""
        m = self.m
        if now is not None:
            m.now = now
        link = self.links.get(link_id)
        if link is None or link.state is not LinkState.OPEN or not data:
            return
        self._touch(link)
        # UDP <mode> 1: follow the first sender that differs, once; 2: every datagram
        if (
            link.udp
            and link.udp_mode
            and addr != link.remote
            and (link.udp_mode == 2 or not link.remote_changed)
        ):
            link.remote_ip, link.remote_port = addr
            link.remote_changed = True
        if self.passthrough is not None and link_id == 0:
            m.emit(data)  # passthrough: raw, no +IPD
        elif self.passive:
            if link.secure:
                self._buffer_secure(link, data, addr, len(data) if wire is None else wire)
            else:
                self._buffer(link, data, addr)
        else:
            self._ipd(link, data, addr)

    def on_closed(self, link_id: int, reason: str, now: float | None = None) -> None:
        """The peer closed/reset, or the link failed."""
        if now is not None:
            self.m.now = now
        link = self.links.get(link_id)
        if link is None or link.state is not LinkState.OPEN:
            return  # closing on our request, or already gone
        self._lost(link)

    def _lost(self, link: Link) -> None:
        """A link ended without the host asking: passthrough reconnects, else CLOSED."""
        if self.passthrough is not None and link.id == 0:
            link.state = LinkState.CONNECTING
            if self.m.settings.int(SYSMSG) & SYSMSG_PT_CONNECT:
                self.m.emit(render.closed(None))
            self.passthrough.link_lost(link)
            return
        self._ended(link)

    # --- closing

    def close_now(self, link_id: int) -> None:
        """Close a link without waiting (idle timeout, server shutdown): Close action,
        ``CLOSED``, ID free.  AT+CIPCLOSE uses `begin_close` / `finish_close` instead."""
        link = self.links.get(link_id)
        if link is None:
            return
        if link.state in (LinkState.OPEN, LinkState.CLOSING):
            self.m.act(Close(link_id))
        self.finish_close(link)

    def begin_close(self, link: Link) -> Close | None:
        """The host closes: returns the Close to wait for (None: the socket is gone)."""
        was_open = link.state is LinkState.OPEN
        link.state = LinkState.CLOSING
        return Close(link.id) if was_open else None

    def finish_close(self, link: Link) -> None:
        if self.links.get(link.id) is link:
            del self.links[link.id]
            self._resume_if_paused(link)
            self.m.emit(render.closed(self.wire_id(link.id)))

    def lost_all(self, *, streams_only: bool = False) -> None:
        """The station lost its network: every link ends (``CLOSED``; in passthrough
        the link is re-established once the station is back, as after a peer close).
        ``streams_only``: TCP and SSL links only (the station's address changed)."""
        for link in list(self.links.values()):
            if link.state is LinkState.OPEN and not (streams_only and link.udp):
                self.m.act(Close(link.id))
                self._lost(link)

    def _ended(self, link: Link) -> None:
        if link.buffered:  # passive data waits for the host; so does CLOSED
            link.state = LinkState.HELD
            return
        del self.links[link.id]
        self.m.emit(render.closed(self.wire_id(link.id)))

    # --- active receive

    def _ipd(self, link: Link, data: bytes, addr: Addr) -> None:
        wid = self.wire_id(link.id)
        info = addr if self.m.settings.int(CIPDINFO) else None
        step = self.m.profile.ipd_max
        n = len(data)
        if n <= step:
            self.m.emit(b"".join((render.ipd_header(wid, n, info), data, render.IPD_TRAILER)))
            return
        mv = memoryview(data)
        parts: list[bytes | memoryview] = []
        for i in range(0, n, step):
            chunk = mv[i : i + step]
            parts += (render.ipd_header(wid, len(chunk), info), chunk, render.IPD_TRAILER)
        self.m.emit(b"".join(parts))

    # --- passive receive

    def _buffer(self, link: Link, data: bytes, addr: Addr) -> None:
        window = self.m.profile.passive_window
        if link.udp and link.buffered + len(data) > window:
            link.dropped += 1
            self.udp_dropped += 1
            return
        link.segments.append((data, addr))
        link.buffered += len(data)
        if not link.udp and not link.paused and link.buffered >= window:
            link.paused = True
            self.m.act(SetReading(link.id, True))
        if not link.notified:
            link.notified = True
            self.m.emit(render.ipd_notice(self.wire_id(link.id), self.visible(link)))

    def _buffer_secure(self, link: Link, data: bytes, addr: Addr, wire: int) -> None:
        """`_buffer` for an SSL link: the window counts the TLS bytes."""
        link.segments.append((data, addr))
        link.costs.append(wire)
        link.buffered += len(data)
        link.wire += wire
        if not link.paused and link.wire >= self.m.profile.passive_window:
            link.paused = True
            self.m.act(SetReading(link.id, True))
        if not link.notified:
            link.notified = True
            self.m.emit(render.ipd_notice(self.wire_id(link.id), self.visible(link)))

    def visible(self, link: Link) -> int:
        """Bytes in the passive window (what +IPD and CIPRECVLEN show, and what bounds
        a CIPRECVDATA read); TLS bytes on an SSL link.

        A TCP/SSL read can bring more than the window (the runtime reads in large
        chunks before SetReading takes effect): the excess waits behind the window as it
        would in the module's socket, nothing is lost, and enters as the host reads."""
        return min(link.wire if link.secure else link.buffered, self.m.profile.passive_window)

    def read(self, link: Link, want: int) -> tuple[bytes, Addr]:
        """AT+CIPRECVDATA: up to ``want`` bytes, all from one sender (UDP datagrams from
        different senders are never merged); the sender is returned for CIPDINFO."""
        segs = link.segments
        if not segs:
            return b"", link.remote
        if link.secure:
            return self._read_secure(link, want)
        want = min(want, self.visible(link))
        link.refill = link.buffered > self.m.profile.passive_window
        addr = segs[0][1]
        parts: list[bytes] = []
        got = 0
        while segs and got < want and segs[0][1] == addr:
            data, _ = segs[0]
            take = want - got
            if len(data) <= take:
                segs.popleft()
                parts.append(data)
                got += len(data)
            else:
                parts.append(data[:take])
                segs[0] = (data[take:], addr)
                got += take
        link.buffered -= got
        link.notified = False
        self._touch(link)
        self._resume_if_paused(link)
        return b"".join(parts), addr

    def _read_secure(self, link: Link, want: int) -> tuple[bytes, Addr]:
        """`read` on an SSL link: plaintext out, each segment's wire cost with it."""
        window = self.m.profile.passive_window
        segs, costs = link.segments, link.costs
        if link.wire > window:  # only the plaintext of the records inside the window
            allow = used = 0
            for (data, _), cost in zip(segs, costs, strict=True):
                if used + cost > window:
                    allow += len(data) * (window - used) // cost
                    break
                used += cost
                allow += len(data)
            want = min(want, max(allow, 1))
        link.refill = link.wire > window
        addr = segs[0][1]
        parts: list[bytes] = []
        got = spent = 0
        while segs and got < want:
            data, _ = segs[0]
            cost = costs[0]
            take = want - got
            if len(data) <= take:
                segs.popleft()
                costs.popleft()
                parts.append(data)
                got += len(data)
                spent += cost
            else:
                rest = len(data) - take
                left = -(-cost * rest // len(data))  # what the rest still costs, rounded up
                parts.append(data[:take])
                segs[0] = (data[take:], addr)
                costs[0] = left
                got += take
                spent += cost - left
        link.buffered -= got
        link.wire -= spent
        link.notified = False
        self._touch(link)
        self._resume_if_paused(link)
        return b"".join(parts), addr

    def settle(self, link: Link) -> None:
        """After a read's ``OK``: a link the peer closed is announced once drained."""
        if link.state is LinkState.HELD and not link.buffered and self.links.get(link.id) is link:
            del self.links[link.id]
            self.m.emit(render.closed(self.wire_id(link.id)))
        elif link.refill and link.buffered and not link.notified:
            # the read let held-back bytes into the window: new data for the host
            link.refill = False
            link.notified = True
            self.m.emit(render.ipd_notice(self.wire_id(link.id), self.visible(link)))

    def flush_passive(self) -> None:
        """AT+CIPRECVMODE=0: what is buffered goes out as ``+IPD`` frames now."""
        for link in list(self.links.values()):
            while link.segments:
                data, addr = link.segments.popleft()
                self._ipd(link, data, addr)
            link.buffered = link.wire = 0
            link.costs.clear()
            link.notified = False
            self._resume_if_paused(link)
            if link.state is LinkState.HELD:
                del self.links[link.id]
                self.m.emit(render.closed(self.wire_id(link.id)))

    def _resume_if_paused(self, link: Link) -> None:
        if link.paused and (
            (link.wire if link.secure else link.buffered) < self.m.profile.passive_window
            or link.id not in self.links
        ):
            link.paused = False
            if link.state in (LinkState.OPEN, LinkState.HELD):
                self.m.act(SetReading(link.id, False))

    def _touch(self, link: Link) -> None:
        link.last_activity = self.m.now
        if link.server:
            self._arm_idle(link)

    def touch(self, link: Link) -> None:
        """Data went out on ``link`` (sends call this)."""
        self._touch(link)

    # --- AT+CIPSTO: server links' idle timeout

    def _arm_idle(self, link: Link) -> None:
        """(Re)start ``link``'s idle timer from its last activity."""
        key = ("cipsto", link.id)
        sto = self.m.settings.int(CIPSTO)
        if sto == 0:
            self.m.cancel_timer(key)
            return
        self.m.set_timer(key, link.last_activity + sto, lambda: self._idle(link, sto))

    def _idle(self, link: Link, sto: int) -> None:
        if self.links.get(link.id) is link:
            log.info("link %d idle for %d s: closed (AT+CIPSTO)", link.id, sto)
            self.close_now(link.id)

    def rearm_idle(self) -> None:
        """AT+CIPSTO changed: the new timeout applies to open server links too."""
        for link in self.links.values():
            if link.server:
                self._arm_idle(link)

    def server_started(self) -> None:
        """AT+CIPSERVER=1: the accept limit is AT+CIPSERVERMAXCONN's value now."""
        self.server_max_conn = self.m.settings.int(MAXCONN)


_NO_OPTS = SockOpts()

"""Link faults at the per-link seam, in Toxiproxy's vocabulary (the test bench).

A fault is a small record (`LinkFault`): a type, a target, a stream, a toxicity and
its parameters.  Types (Toxiproxy's names and units, where it has them):

==============  ==========================================================================
``latency``     every chunk ``latency`` ms later, ± ``jitter`` ms (order kept)
``bandwidth``   at most ``rate`` KB/s (1 KB = 1000 bytes), in 10 ms slices
``slicer``      chunks cut into ``average_size`` ± ``size_variation`` byte segments, each
                ``delay`` µs after the one before
``timeout``     no data passes (dropped); after ``timeout`` ms the link closes (0: never)
``reset_peer``  RST: after ``after`` bytes of the stream, else ``timeout`` ms after the
                fault meets the link (0: at once)
``close``       FIN: ``timeout`` ms after the fault meets the link (0: at once)
``limit_data``  the first ``bytes`` bytes of the stream pass, then FIN
``refuse``      the next connect is refused (ECONNREFUSED): AT+CIPSTART answers ERROR
``tls_fail``    the next TLS handshake fails: an SSL link's (AT+CIPSTART answers ERROR;
                the peer sees a TCP connection close, no ClientHello), or a client's
                of the module's SSL server (a handshake_failure alert; never a link)
==============  ==========================================================================

Streams: ``upstream`` is module -> peer (`StreamLink._write`, `DatagramLink._write`),
``downstream`` peer -> module (`Link._rx`); Toxiproxy's default is ``downstream``.
``toxicity`` is the chance the fault applies to a link it meets (rolled once per link,
with the module's seeded random generator).  Targets:

- ``link``: the link open on that ID now, or else the next one opened on it; the fault
  ends with that link;
- ``remote`` (host, port): every link to that peer (its name as given to AT+CIPSTART,
  or its address), as long as the fault is installed (a Toxiproxy proxy); ``count``
  limits it to that many links (or connects);
- ``next``: the next link opened (the next connect, for ``refuse`` and ``tls_fail``;
  for ``tls_fail`` also the next client of the module's SSL server).

The toxics are pure (`Toxic.apply`: timed chunks in, timed chunks out, the time a
parameter), so a manual clock drives them exactly; `LinkFaults` runs them for one link
on the event loop, and `FaultBook` keeps a module's faults and binds them to links.
With no fault on a link its seam costs one attribute check (``link.faults is None``).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..log import get_logger
from .net_links import STACK_SEND_BUFFER
from .tls_layer import TlsStreamLink
from .toxics import (
    CLOSE,
    CONNECT_TYPES,
    ENDING_TYPES,
    RESET,
    STREAM_TYPES,
    TYPES,
    Chain,
    End,
    Item,
    LinkFault,
    Toxic,
    end_timer,
    make_toxic,
)

if TYPE_CHECKING:
    from ..core.net_actions import Connect
    from .net_links import Link

log = get_logger("w800at.faults")

__all__ = [
    "CLOSE",
    "CONNECT_TYPES",
    "ENDING_TYPES",
    "RESET",
    "STREAM_TYPES",
    "TYPES",
    "Chain",
    "End",
    "FaultBook",
    "FaultRefused",
    "Item",
    "LinkFault",
    "LinkFaults",
    "Toxic",
    "end_timer",
    "make_toxic",
]


# --------------------------------------------------------------------------- a link


class _Pipe:
    """A `Chain` run on the loop: chunks leave at their times, in order."""

    def __init__(
        self,
        owner: LinkFaults,
        deliver: Callable[[bytes, Any], None],
        stream: str,
    ) -> None:
        self.owner = owner
        self.deliver = deliver
        self.stream = stream
        self.chain = Chain()
        self.queue: deque[Item] = deque()
        self.queued = 0
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, data: bytes, meta: Any) -> None:
        owner = self.owner
        if owner.ended:
            return
        now = owner.loop.time()
        items, end = self.chain.feed(now, data, meta)
        if not self.queue and not end:
            # the common case with a fault that only counts or delays nothing
            while items and items[0][0] <= now:
                _, d, m = items.pop(0)
                self.deliver(d, m)
        for item in items:
            self.queue.append(item)
            self.queued += len(item[1])
        if end is not None:
            owner.end_at(end[0], end[1], self.stream)
        self._arm()
        owner.after_queue(self)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.queue:
            self._timer = self.owner.loop.call_at(self.queue[0][0], self._run)

    def _run(self) -> None:
        self._timer = None
        self.release(self.owner.loop.time())
        self._arm()

    def release(self, upto: float) -> None:
        """Deliver every chunk due by ``upto`` (in order)."""
        q = self.queue
        while q and q[0][0] <= upto and not self.owner.ended:
            _, data, meta = q.popleft()
            self.queued -= len(data)
            self.deliver(data, meta)
        self.owner.after_queue(self)

    def flush(self) -> None:
        """Deliver everything now (the module closes the link: what it sent goes out
        before the FIN, however late the fault would have let it)."""
        self.release(float("inf"))
        self._arm()

    def drop(self) -> None:
        self.queue.clear()
        self.queued = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Wire:
    """An SSL link's plaintext chunk on its way down through the toxics: its address and
    the TLS bytes it cost on the wire (`TlsStreamLink.rx_wire`), shared out among the
    pieces a toxic cuts it into by their length (the last piece gets the rest; bytes a
    toxic drops take their share with them)."""

    __slots__ = ("addr", "left", "wire")

    def __init__(self, addr: tuple[str, int], size: int, wire: int) -> None:
        self.addr = addr
        self.left = size
        self.wire = wire

    def take(self, n: int) -> int:
        if n >= self.left:
            share, self.wire, self.left = self.wire, 0, 0
            return share
        share = self.wire * n // self.left
        self.wire -= share
        self.left -= n
        return share


class LinkFaults:
    """The faults on one link (``link.faults``): an upstream and a downstream pipe.

    On an SSL link they act on the plaintext (the seam's bytes); each chunk's TLS wire
    bytes travel with it (`_Wire`) and reach the engine with the bytes that pass."""

    def __init__(self, link: Link, book: FaultBook) -> None:
        self.link = link
        self.book = book
        self.loop = book.loop
        self.datagrams = not hasattr(link, "fault_reset")
        self.tls = link if isinstance(link, TlsStreamLink) else None
        self.up = _Pipe(self, link._put_up, "upstream")
        self.down = _Pipe(
            self, link._put_down if self.tls is None else self._tls_down, "downstream"
        )
        self.faults: dict[int, LinkFault] = {}
        self.ended = False
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._end_timer: asyncio.TimerHandle | None = None
        self._held = False

    # --- the seam calls these
    def send_up(self, data: bytes, meta: Any) -> None:
        self.up.feed(data, meta)

    def recv_down(self, data: bytes, meta: Any) -> None:
        if self.tls is not None:
            meta = _Wire(meta, len(data), self.tls.rx_wire)
        self.down.feed(data, meta)

    def _tls_down(self, data: bytes, meta: _Wire) -> None:
        link = self.tls
        assert link is not None
        link.rx_wire = meta.take(len(data))
        link._put_down(data, meta.addr)

    # --- faults on and off
    def attach(self, fault: LinkFault) -> None:
        pipe = self.up if fault.stream == "upstream" else self.down
        pipe.chain.toxics.append(make_toxic(fault, self.book.rng, self.datagrams))
        self.faults[fault.id] = fault
        timed = end_timer(fault)
        if timed is not None:
            delay, how = timed
            self._timers[fault.id] = self.loop.call_later(
                delay, self.end_at, self.loop.time() + delay, how, fault.stream, fault
            )

    def detach(self, fault_id: int) -> None:
        self.faults.pop(fault_id, None)
        for pipe in (self.up, self.down):
            pipe.chain.toxics = [t for t in pipe.chain.toxics if t.fault.id != fault_id]
        timer = self._timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        self.maybe_done()

    def maybe_done(self) -> None:
        """No fault left and nothing in flight: the link's seam is plain again."""
        if (
            not self.faults
            and not self.up.queue
            and not self.down.queue
            and not self.ended
            and self.link.faults is self
        ):
            self._hold(False)
            self.link.faults = None

    # --- the stack's buffer: bytes a slow fault holds count as the stack's
    def after_queue(self, pipe: _Pipe) -> None:
        if pipe is self.up:
            if pipe.queued > STACK_SEND_BUFFER:
                self._hold(True)
            elif pipe.queued <= STACK_SEND_BUFFER // 2:
                self._hold(False)
        if not pipe.queue and not self.faults:
            self.maybe_done()

    def _hold(self, on: bool) -> None:
        if on != self._held:
            self._held = on
            hold = getattr(self.link, "fault_hold", None)
            if hold is not None:
                hold(on)

    def flush_up(self) -> None:
        self.up.flush()

    # --- the end of the link
    def end_at(self, at: float, how: str, stream: str, fault: LinkFault | None = None) -> None:
        """The link ends (RST or FIN) at loop time ``at``: what is due by then leaves
        first; the rest is dropped."""
        if self.ended:
            return
        if fault is None:
            fault = self._ender(how)
        now = self.loop.time()
        if at > now:
            if self._end_timer is not None:
                self._end_timer.cancel()
            self._end_timer = self.loop.call_at(at, self.end_at, at, how, stream, fault)
            return
        self._timers.pop(fault.id if fault is not None else -1, None)
        self.up.release(at)
        self.down.release(at)
        self.close()
        self._hold(False)
        if fault is not None:
            fault.fired += 1
        self.book.fired(self.link, fault, how)
        if how == RESET:
            self.link.fault_reset()  # type: ignore[attr-defined]
        else:
            self.link.fault_close()  # type: ignore[attr-defined]

    def _ender(self, how: str) -> LinkFault | None:
        for f in self.faults.values():
            if f.type in ENDING_TYPES:
                return f
        return None

    def close(self) -> None:
        """The link is gone: timers off."""
        self.ended = True
        self.up.drop()
        self.down.drop()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._end_timer is not None:
            self._end_timer.cancel()
            self._end_timer = None


# --------------------------------------------------------------------------- a module


Report = Callable[[str, dict[str, Any]], None]


class FaultRefused(ConnectionRefusedError):
    """A ``refuse`` fault turned the connect away."""


class FaultBook:
    """One module's link faults: installs them, binds them to links as links open,
    applies the connect-time ones, and reports what fires (``report(text, fields)``:
    the trace note and the event)."""

    def __init__(
        self,
        links: Callable[[], dict[int, Link]],
        rng: random.Random,
        report: Report,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._links = links
        self.rng = rng
        self.report = report
        self.loop = loop or asyncio.get_running_loop()
        self.faults: dict[int, LinkFault] = {}
        self._expiry: dict[int, asyncio.TimerHandle] = {}

    def __bool__(self) -> bool:
        return bool(self.faults)

    # --- installing
    def install(self, fault: LinkFault) -> None:
        self.faults[fault.id] = fault
        if fault.expires is not None:
            self._expiry[fault.id] = self.loop.call_at(fault.expires, self.remove, fault.id)
        if fault.type in CONNECT_TYPES or fault.next:
            return
        for link in list(self._links().values()):
            if self._targets(fault, link):
                self._bind(fault, link)
                if fault.link is not None or self._used_up(fault):
                    break

    def remove(self, fault_id: int) -> LinkFault | None:
        fault = self.faults.pop(fault_id, None)
        timer = self._expiry.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        if fault is None:
            return None
        for link in list(fault.bound.values()):
            lf = link.faults
            if isinstance(lf, LinkFaults):
                lf.detach(fault_id)
        fault.bound.clear()
        return fault

    def clear(self) -> list[LinkFault]:
        return [f for f in (self.remove(i) for i in list(self.faults)) if f is not None]

    # --- matching
    @staticmethod
    def _matches_remote(fault: LinkFault, host: str, ip: str, port: int) -> bool:
        assert fault.remote is not None
        rhost, rport = fault.remote
        return rport == port and rhost.lower().rstrip(".") in (host.lower().rstrip("."), ip)

    def _targets(self, fault: LinkFault, link: Link) -> bool:
        if fault.type in CONNECT_TYPES or fault.bound.get(link.link_id) is link:
            return False
        if fault.link is not None:
            return link.link_id == fault.link and not fault.bound
        if fault.remote is not None:
            peer = link.remote or link.peer
            asked = link.asked or peer
            return self._matches_remote(fault, asked[0], peer[0], peer[1]) or (
                self._matches_remote(fault, asked[0], asked[0], asked[1])
            )
        return fault.next and not fault.bound and fault.links == 0

    def _used_up(self, fault: LinkFault) -> bool:
        return fault.count is not None and fault.links >= fault.count

    def _bind(self, fault: LinkFault, link: Link) -> None:
        ends = fault.type in ENDING_TYPES
        if ends and not hasattr(link, "fault_reset"):
            fault.skipped += 1
            self.report(
                f"fault link {link.link_id} {fault.type}: not for UDP links (fault {fault.id})",
                {"area": "link", "link": link.link_id, "fault": fault.id, "applied": False},
            )
            return
        fault.links += 1
        if fault.toxicity < 1.0 and self.rng.random() >= fault.toxicity:
            fault.skipped += 1
            self.report(
                f"fault link {link.link_id} {fault.describe()}: spared "
                f"(toxicity {fault.toxicity:g}, fault {fault.id})",
                {"area": "link", "link": link.link_id, "fault": fault.id, "applied": False},
            )
            if fault.link is not None or fault.next:
                self.remove(fault.id)  # it was that link's, and that link was spared
            else:
                self._after_use(fault)
            return
        lf = link.faults
        if not isinstance(lf, LinkFaults):
            lf = LinkFaults(link, self)
            link.faults = lf
        fault.bound[link.link_id] = link
        lf.attach(fault)
        self.report(
            f"fault link {link.link_id} {fault.describe()} on (fault {fault.id})",
            {"area": "link", "link": link.link_id, "fault": fault.id, "applied": True},
        )
        self._after_use(fault)

    def _after_use(self, fault: LinkFault) -> None:
        if fault.remote is not None and self._used_up(fault) and not fault.bound:
            self.remove(fault.id)

    # --- the runtime calls these
    def on_register(self, link: Link) -> None:
        """A link opened (client connected, server accepted)."""
        for fault in list(self.faults.values()):
            if fault.id in self.faults and self._targets(fault, link):
                if fault.remote is not None and self._used_up(fault):
                    continue
                self._bind(fault, link)

    def link_gone(self, link: Link) -> None:
        """A link ended: faults bound to it alone (link ID, next) end with it."""
        lf = link.faults
        if isinstance(lf, LinkFaults):
            lf.close()
        for fault in list(self.faults.values()):
            if fault.bound.get(link.link_id) is link:
                del fault.bound[link.link_id]
                alone = fault.link is not None or fault.next
                if alone or (self._used_up(fault) and not fault.bound):
                    self.remove(fault.id)

    def _connect_fault(self, ssl_link: bool, hit: Callable[[LinkFault], bool]) -> LinkFault | None:
        """The connect-time fault (refuse, tls_fail) that acts on this connection, if
        any: the first that ``hit`` and its toxicity let through (each one it meets
        counts the connection)."""
        for fault in list(self.faults.values()):
            if fault.type not in CONNECT_TYPES or (fault.type == "tls_fail" and not ssl_link):
                continue
            if not hit(fault):
                continue
            fault.links += 1
            if fault.toxicity < 1.0 and self.rng.random() >= fault.toxicity:
                fault.skipped += 1
                self._connect_used(fault)
                continue
            fault.fired += 1
            self._connect_used(fault)
            return fault
        return None

    def on_connect(self, act: Connect, ip: str) -> bool:
        """Before a client link connects: a ``refuse`` raises `FaultRefused`; True when
        a ``tls_fail`` fails the link's TLS handshake (`TlsSession.fail_handshake`)."""
        base = act.kind.removesuffix("v6")
        if base == "UDP":
            return False

        def hit(fault: LinkFault) -> bool:
            if fault.link is not None:
                return fault.link == act.link_id
            if fault.remote is not None:
                return self._matches_remote(fault, act.host, ip, act.port)
            return fault.next

        fault = self._connect_fault(base == "SSL", hit)
        if fault is None:
            return False
        where = f"{act.host}:{act.port}"
        if fault.type == "refuse":
            self.report(
                f"fault link {act.link_id} refuse: connect to {where} refused (fault {fault.id})",
                {"area": "link", "link": act.link_id, "fault": fault.id, "fired": "refuse"},
            )
            raise FaultRefused(111, "Connection refused (test bench fault)")
        self.report(
            f"fault link {act.link_id} tls_fail: TLS handshake with {where} fails "
            f"(fault {fault.id})",
            {"area": "link", "link": act.link_id, "fault": fault.id, "fired": "tls_fail"},
        )
        return True

    def on_tls_accept(self, peer: tuple[str, int]) -> bool:
        """A client reached the module's SSL server: True when a ``tls_fail`` fails its
        handshake (on the next link, or on that client's address; a link ID is given
        only after the handshake, so a fault on one waits for that AT+CIPSTART)."""

        def hit(fault: LinkFault) -> bool:
            if fault.type != "tls_fail" or fault.link is not None:
                return False
            if fault.remote is not None:
                return self._matches_remote(fault, peer[0], peer[0], peer[1])
            return fault.next

        fault = self._connect_fault(True, hit)
        if fault is None:
            return False
        self.report(
            f"fault SSL client {peer[0]}:{peer[1]} tls_fail: TLS handshake fails "
            f"(fault {fault.id})",
            {
                "area": "link",
                "peer": f"{peer[0]}:{peer[1]}",
                "fault": fault.id,
                "fired": "tls_fail",
            },
        )
        return True

    def _connect_used(self, fault: LinkFault) -> None:
        if fault.remote is None or self._used_up(fault):
            self.remove(fault.id)

    def fired(self, link: Link, fault: LinkFault | None, how: str) -> None:
        what = "RST" if how == RESET else "FIN"
        desc = fault.describe() if fault is not None else how
        fid = fault.id if fault is not None else None
        self.report(
            f"fault link {link.link_id} {desc}: {what} sent, link ends (fault {fid})",
            {"area": "link", "link": link.link_id, "fault": fid, "fired": how},
        )

"""One open link = one asyncio Protocol: TCP/SSL (`StreamLink`) or UDP (`DatagramLink`).

The seam: every byte from the module to the peer leaves through one method
(`StreamLink._write`, `DatagramLink._write`), and every byte from the peer enters
through one (`Link._rx`), TLS links included.  On an SSL link the seam sees the
plaintext (the bytes the AT side sees); its own TLS layer (`w800at.runtime.tls_layer`)
is below the seam, and the TLS bytes each chunk cost on the wire travel on the side
(`TlsStreamLink.rx_wire`, then ``LinkOwner.link_data``'s ``wire``) to the engine's
passive mode, which counts them.  The per-link counters (`Link.bytes_up`,
`Link.bytes_down`) and the optional `LinkTap` (a trace) hang there; with no tap, one
attribute check per chunk.  The test bench's link faults (`w800at.runtime.link_faults`)
hang there too: with a fault on the link (``link.faults``), the bytes go through its
toxics first and reach the peer (`_put_up`) or the module (`_put_down`) when and as
they let them (on an SSL link: the plaintext, its wire counts carried with it); the
counters and the tap then see what really passed.  With none, one attribute check.

Protocols, not streams: ``data_received`` hands each chunk the kernel gave us (up to
256 KiB) straight to the engine, with no extra copies or tasks.  A link reports to
its owner (`LinkOwner`, the net feature), which forwards events to the engine's link
table and pumps.

Send completion: the module says ``SEND OK`` once data is "sent to the protocol stack",
which has a send buffer of its own.  The transport's buffer plays that part, up to
`STACK_SEND_BUFFER` bytes (TLS bytes, on an SSL link).  While the buffer is at or below
that mark a `Send` is written at once and completes (so ``SEND OK`` comes before any
``+IPD`` the data provokes).
Past the mark the transport calls ``pause_writing``: later sends wait in order,
outside the stack, and each is written and completes when the buffer has drained
(``resume_writing``).  A waiting send that runs out of ``sndtimeo`` ms (0: no limit)
is dropped unsent, as the stack refuses data it has no room for (``SEND FAIL``);
all waiting sends fail when the link dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..log import get_logger

if TYPE_CHECKING:
    from .link_faults import LinkFaults

log = get_logger("w800at.net")

#: bytes the "stack" holds before a Send must wait (two CIPSEND chunks, as lwIP's
#: TCP_SND_BUF on the module); beyond it the remote is not keeping up
STACK_SEND_BUFFER = 2 * 5760


class LinkTap(Protocol):
    """Sees every link's bytes and events (``w800at.trace`` records them)."""

    def up(self, link_id: int, data: bytes) -> None:
        """``data`` leaves the module toward the peer of link ``link_id``."""

    def down(self, link_id: int, data: bytes) -> None:
        """``data`` arrived from the peer of link ``link_id``."""

    def event(self, link_id: int, text: str) -> None:
        """The link opened or closed (``text`` says how)."""


class LinkOwner(Protocol):
    def link_data(
        self, link: Link, data: bytes, addr: tuple[str, int], wire: int | None = None
    ) -> None: ...
    def link_lost(self, link: Link, reason: str) -> None: ...


class LinkGone(ConnectionError):
    """The link closed (or was dropped) while a Send waited for it."""


class Link:
    """What both link kinds share: identity, reading state and the owner."""

    transport: Any

    def __init__(self, owner: LinkOwner, link_id: int, kind: str) -> None:
        self.owner = owner
        self.link_id = link_id
        self.kind = kind
        self.transport = None
        #: the engine asked us to close / reset: report nothing more
        self.closing = False
        self.engine_paused = False
        self.host_paused = False
        self.reading = True
        self.sndtimeo = 0  # ms
        self.peer: tuple[str, int] = ("0.0.0.0", 0)
        self.remote: tuple[str, int] | None = None  # UDP default destination
        #: a client link is held until the engine has its Connected result: data that
        #: arrives earlier would reach a link the engine does not consider open yet
        self.held = False
        self._early: list[tuple[bytes, tuple[str, int]]] = []
        #: bytes sent to the peer / received from it (the seam counts them)
        self.bytes_up = 0
        self.bytes_down = 0
        self.tap: LinkTap | None = None
        #: paused until a later loop turn (`LoopReads`: many links read at once)
        self.turn_paused = False
        #: the test bench's faults on this link (None: none, the seam is plain)
        self.faults: LinkFaults | None = None
        #: what AT+CIPSTART asked for (host as given, port): a fault's remote matches it
        self.asked: tuple[str, int] | None = None
        #: why the link ended, when a fault ended it ("reset", "closed")
        self.end_reason: str | None = None

    def _rx(self, data: bytes, addr: tuple[str, int]) -> None:
        """THE way bytes from the peer enter the module (see the module docstring)."""
        if self.closing:
            return
        if self.faults is not None:
            self.faults.recv_down(data, addr)
            return
        self.bytes_down += len(data)
        if self.tap is not None:
            self.tap.down(self.link_id, data)
        self.deliver(data, addr)

    def _put_down(self, data: bytes, addr: tuple[str, int]) -> None:
        """Bytes a fault let through toward the module, now."""
        if self.closing:
            return
        self.bytes_down += len(data)
        if self.tap is not None:
            self.tap.down(self.link_id, data)
        self.deliver(data, addr)

    def _put_up(self, data: bytes, meta: Any) -> None:
        raise NotImplementedError

    def deliver(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closing:
            return
        if self.held:
            self._early.append((data, addr))
        else:
            self.owner.link_data(self, data, addr)

    def release(self) -> None:
        """The engine knows the link now: deliver what was held, start reading."""
        self.held = False
        early, self._early = self._early, []
        for data, addr in early:
            self.deliver(data, addr)
        self.apply_reading()

    def apply_reading(self) -> None:
        """Pause/resume the socket so that it reads iff nobody holds it paused."""
        want = not (self.engine_paused or self.host_paused or self.held or self.turn_paused)
        if want == self.reading or self.transport is None or self.closing:
            return
        self.reading = want
        pause = getattr(self.transport, "pause_reading", None)
        if pause is None:  # datagram transports cannot pause: the engine drops instead
            return
        try:
            if want:
                self.transport.resume_reading()
            else:
                pause()
        except (RuntimeError, AttributeError):  # closing transport
            pass

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, data: bytes, addr: tuple[str, int] | None) -> int | asyncio.Future[int]:
        raise NotImplementedError


class LoopReads:
    """The stream links of one event loop share it fairly: one read buffer, a bounded
    number of reads per loop turn.

    Every module of a process (a fleet) runs on one loop, and a read's bytes are framed
    and written to the host in the same callback; the loop answers nobody while it
    works through the links that are ready.  So:

    - a link reads at most ``budget / open links`` bytes at once (at least ``least``):
      alone it reads 256 KiB as asyncio would, among a hundred each read is small;
    - after ``turn_reads`` reads in one loop turn, a link that reads again is paused
      until a later turn (first paused, first resumed), so a turn stays short however
      many links stream, and the idle modules' hosts get their answers in time.

    A single module never has enough links to meet either limit.  The buffer can be
    shared because a read is copied out before the callback that made it returns.
    """

    def __init__(
        self, budget: int = 256 * 1024, least: int = 8 * 1024, turn_reads: int = 4
    ) -> None:
        self.budget = budget
        self.least = least
        self.turn_reads = turn_reads
        self._view = memoryview(bytearray(budget))
        #: stream links open on this loop
        self.links = 0
        self._reads = 0
        self._turn_pending = False
        self._waiting: collections.deque[StreamLink] = collections.deque()

    def buffer(self) -> memoryview:
        return self._view[: max(self.least, self.budget // max(1, self.links))]

    def take(self, n: int) -> bytes:
        return bytes(self._view[:n])

    def count(self, link: StreamLink) -> None:
        """``link`` just read: past this turn's share, it waits for a later turn."""
        self._reads += 1
        if not self._turn_pending:
            self._turn_pending = True
            asyncio.get_running_loop().call_soon(self._next_turn)
        if self._reads > self.turn_reads and not link.turn_paused:
            link.turn_paused = True
            link.apply_reading()
            self._waiting.append(link)

    def _next_turn(self) -> None:
        """Runs first in the next loop turn: let the longest waiting links read again."""
        self._turn_pending = False
        self._reads = 0
        for _ in range(min(self.turn_reads, len(self._waiting))):
            link = self._waiting.popleft()
            link.turn_paused = False
            link.apply_reading()
        if self._waiting:
            self._turn_pending = True
            asyncio.get_running_loop().call_soon(self._next_turn)


_LOOP_READS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopReads] = (
    weakref.WeakKeyDictionary()
)


def loop_reads() -> LoopReads:
    """The running loop's `LoopReads`."""
    loop = asyncio.get_running_loop()
    reads = _LOOP_READS.get(loop)
    if reads is None:
        reads = _LOOP_READS[loop] = LoopReads()
    return reads


class StreamLink(Link, asyncio.BufferedProtocol):
    """A TCP or SSL link (client, or a server-accepted one adopted by `net.adopt`)."""

    def __init__(self, owner: LinkOwner, link_id: int, kind: str) -> None:
        super().__init__(owner, link_id, kind)
        #: sends waiting for room in the stack (the buffer is past its mark), in order
        self._waiting: collections.deque[tuple[asyncio.Future[int], bytes]] = collections.deque()
        self._blocked = False
        #: who holds sends back: the transport's buffer, a fault's queue (bandwidth...)
        self._transport_full = False
        self._fault_full = False
        #: bytes accepted by `send_later` and not yet handed to the transport
        self._later = 0

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._reads = loop_reads()
        self._reads.links += 1
        transport.set_write_buffer_limits(high=STACK_SEND_BUFFER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = (str(peer[0]), int(peer[1]))
        if self.held:  # not reading before the engine has the link (see Link.held)
            self.reading = False
            transport.pause_reading()  # type: ignore[attr-defined]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._reads.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        reads = self._reads
        data = reads.take(nbytes)
        reads.count(self)
        self._rx(data, self.peer)

    def eof_received(self) -> bool:
        return False  # the device's stack closes on FIN: so do we

    def connection_lost(self, exc: Exception | None) -> None:
        self._reads.links -= 1
        self._fail_waiters(LinkGone(f"link {self.link_id} closed"))
        if not self.closing:
            self.closing = True
            reason = self.end_reason or ("reset" if exc is not None else "closed")
            self.owner.link_lost(self, reason)

    def pause_writing(self) -> None:
        self._transport_full = True
        self._blocked = True

    def resume_writing(self) -> None:
        self._transport_full = False
        if not self._fault_full:
            self._blocked = False
            self._write_waiting()

    # --- the test bench's faults (w800at.runtime.link_faults)

    def fault_hold(self, full: bool) -> None:
        """A fault holds more than the stack's buffer (or no longer): sends wait."""
        self._fault_full = full
        if full:
            self._blocked = True
        elif not self._transport_full:
            self._blocked = False
            self._write_waiting()

    def fault_reset(self) -> None:
        """End the link with a RST (the peer gets ECONNRESET; the module ``CLOSED``),
        once what the transport holds has left."""
        t = self.transport
        if t is None or self.closing or t.is_closing():
            return
        self.end_reason = "reset"
        sock = t.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._abort_drained(200)

    def _abort_drained(self, tries: int) -> None:
        t = self.transport
        if self.closing or t.is_closing():
            return
        if t.get_write_buffer_size() and tries > 0:
            asyncio.get_running_loop().call_later(0.005, self._abort_drained, tries - 1)
            return
        t.abort()

    def fault_close(self) -> None:
        """End the link with a FIN (after what the transport holds)."""
        t = self.transport
        if t is None or self.closing or t.is_closing():
            return
        self.end_reason = "closed"
        t.close()

    # --- sending

    def send(self, data: bytes, addr: tuple[str, int] | None) -> int | asyncio.Future[int]:
        """Hand ``data`` to the stack: the count if it took it now, else a future for it
        (cancel the future to withdraw the data: it is then never sent)."""
        t = self.transport
        if t is None or self.closing or t.is_closing():
            raise LinkGone(f"link {self.link_id} is not open")
        if not self._blocked and not self._waiting:
            self._write(data)
            return len(data)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((fut, data))
        return fut

    def _write_waiting(self, all_of_them: bool = False) -> None:
        """Room again: write waiting sends, in order, until the buffer is past its mark."""
        while self._waiting and (all_of_them or not self._blocked) and not self.closing:
            fut, data = self._waiting.popleft()
            if fut.done():  # withdrawn (send timeout): never sent
                continue
            self._write(data)  # may call pause_writing at once
            fut.set_result(len(data))

    def close(self) -> None:
        """Graceful: what the host handed over goes out before the FIN (as the module
        works through its queue before the close); `abort` drops it."""
        t = self.transport
        if t is not None and not self.closing and not t.is_closing():
            self._write_waiting(all_of_them=True)
            if self.faults is not None:
                self.faults.flush_up()
        super().close()

    def can_send_later(self) -> bool:
        """Whether a send is sure to be taken at once by `send` (see `send_later`): the
        buffer, counting the sends already put off, is not past its mark."""
        t = self.transport
        return (
            t is not None
            and not self.closing
            and not self._blocked
            and not self._waiting
            and not t.is_closing()
            and t.get_write_buffer_size() + self._later <= STACK_SEND_BUFFER
        )

    def send_later(self, data: bytes, later: Callable[[Callable[[], None]], None]) -> int:
        """Accept ``data`` now and write it when ``later`` says (after the host's answer).

        Only when `can_send_later`: the buffer is not past its mark, so the send
        completes at once exactly as `send` would have.  Transport errors arrive
        through ``connection_lost`` either way, never from ``write``.
        """
        self._later += len(data)

        def write() -> None:
            self._later -= len(data)
            t = self.transport
            if self.closing or t is None or t.is_closing():
                log.debug("link %d closed before a deferred write", self.link_id)
                return
            self._write(data)

        later(write)
        return len(data)

    def _write(self, data: bytes) -> None:
        """THE way bytes leave toward the peer (see the module docstring)."""
        if self.faults is not None:
            self.faults.send_up(data, None)
            return
        self.bytes_up += len(data)
        if self.tap is not None:
            self.tap.up(self.link_id, data)
        self.transport.write(data)

    def _put_up(self, data: bytes, meta: Any) -> None:
        """Bytes a fault let through toward the peer, now: the tail of `_write`, which
        keeps its own copy so that a link without faults pays one check (a change to
        how `_write` hands bytes to the transport belongs here too; an SSL link's
        transport, `TlsTransport`, encrypts in ``write`` for both)."""
        t = self.transport
        if t is None or t.is_closing():
            return
        self.bytes_up += len(data)
        if self.tap is not None:
            self.tap.up(self.link_id, data)
        t.write(data)

    def _fail_waiters(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, collections.deque()
        for fut, _ in waiting:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: nobody may be waiting any more


class DatagramLink(Link, asyncio.DatagramProtocol):
    """A UDP link: default remote from AT+CIPSTART, per-send remotes allowed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._rx(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from an earlier datagram: UDP links stay open on the device.
        log.debug("link %d: %s", self.link_id, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.owner.link_lost(self, "closed")

    def send(self, data: bytes, addr: tuple[str, int] | None) -> int:
        t = self.transport
        if t is None or self.closing or t.is_closing():
            raise LinkGone(f"link {self.link_id} is not open")
        dest = addr or self.remote
        if dest is None:
            raise LinkGone(f"link {self.link_id} has no remote")
        self._write(data, dest)
        return len(data)

    def _write(self, data: bytes, dest: tuple[str, int]) -> None:
        """THE way datagrams leave toward a peer (see the module docstring)."""
        if self.faults is not None:
            self.faults.send_up(data, dest)
            return
        self.bytes_up += len(data)
        if self.tap is not None:
            self.tap.up(self.link_id, data)
        self.transport.sendto(data, dest)

    def _put_up(self, data: bytes, meta: Any) -> None:
        """A datagram a fault let through toward its peer, now."""
        t = self.transport
        if t is None or t.is_closing():
            return
        self.bytes_up += len(data)
        if self.tap is not None:
            self.tap.up(self.link_id, data)
        t.sendto(data, meta)

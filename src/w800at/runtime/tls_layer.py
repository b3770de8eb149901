"""The links' own TLS layer: TLS over a plain TCP transport, with memory BIOs.

SSL links (``AT+CIPSTART="SSL"`` and the module's SSL server) do not use asyncio's
``ssl=``: the transport is plain TCP and `TlsSession` runs an ``ssl.SSLObject`` over a
pair of ``ssl.MemoryBIO``.  That makes the TLS record bytes visible, which the module
needs: in passive receive mode the W800 counts the *encrypted* bytes waiting
(``AT+CIPRECVLEN?``: "In SSL connections, WinnerMicro-AT will return the length of the
encrypted data, so the returned length will be greater than the length of the real
data"; the passive ``+IPD,<len>`` notice counts the same bytes), while
``AT+CIPRECVDATA`` returns the decrypted data.

What the wire counts are.  The session splits the incoming byte stream into TLS records
itself (5-byte header: type, version, length) and hands OpenSSL whole records only.
Each chunk of plaintext it returns comes with the wire bytes of the records that
produced it: every complete record fed since the last plaintext, so a record without
data (a TLS 1.3 NewSessionTicket, a KeyUpdate) is counted with the data after it, as
the module's socket counts it until a read consumes it.  Handshake records are not
data and are not counted; a record still in flight (half of it received) is counted
once it is complete and decrypted.

The seam.  `TlsStreamLink` is a `StreamLink` whose seam methods (``Link._rx`` in,
``StreamLink._write`` out) see the *plaintext*, as the AT side does, with the wire
counts on the side: ``rx_wire`` holds the wire bytes of the chunk passing ``_rx``, and
they go with it to the engine (``LinkOwner.link_data``'s ``wire``;
`w800at.core.links` keeps them); ``wire_up`` / ``wire_down`` count TLS bytes sent and
received.  A fault put on the seam therefore acts on the data, not on TLS records,
and a plain TCP link's path through the seam is not touched at all.

The handshake (client: started in ``connection_made``; server: by `TlsAcceptor`, before
the engine gives the client an ID), the peer name check (``check``, before any data
passes either way), ``close_notify`` on a graceful close (ours is sent, the peer's is a
close), alerts and errors are all here.  Renegotiation is refused
(``OP_NO_RENEGOTIATION``, set on the contexts by `w800at.runtime.tls`).  The test
bench's ``tls_fail`` fault makes a session's handshake fail
(`TlsSession.fail_handshake`: the client link's, or the one a `TlsAcceptor` is asked
about when a client arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any, cast

from ..log import get_logger
from .net_links import LinkOwner, StreamLink

log = get_logger("w800at.tls")

#: TLS record content types (RFC 8446 5.1; 24 is RFC 6520's heartbeat)
_RECORD_TYPES = frozenset((20, 21, 22, 23, 24))
_HEADER = 5
#: the largest record body a peer may send (TLS 1.2's TLSCiphertext, RFC 5246 6.2.3)
_MAX_BODY = 2**14 + 2048
_TLS_ERRORS = (ssl.SSLError, OSError, ValueError)
#: a fatal handshake_failure alert (RFC 8446 6: level 2, description 40), as a record
_HANDSHAKE_FAILURE = bytes((21, 3, 3, 0, 2, 2, 40))


def _record_end(buf: bytes, pos: int) -> int:
    """End of the TLS record that starts at ``pos``, or -1 while it is incomplete.

    Bytes that are not a TLS record header are handed over whole (``len(buf)``), so
    that OpenSSL sees them and fails the link with a proper alert."""
    n = len(buf)
    if pos + _HEADER > n:
        return -1
    length = (buf[pos + 3] << 8) | buf[pos + 4]
    if buf[pos] not in _RECORD_TYPES or buf[pos + 1] != 3 or length > _MAX_BODY:
        return n
    end = pos + _HEADER + length
    return end if end <= n else -1


class TlsSession:
    """One TLS connection over memory BIOs: bytes from the peer in, plaintext and
    bytes for the peer out.  No I/O; raises ``ssl.SSLError`` (and, from ``check``,
    its subclasses) on failure."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
        check: Callable[[ssl.SSLObject], None] | None = None,
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self.check = check
        #: the handshake is done and the peer checked: data may flow
        self.established = False
        #: the peer sent close_notify
        self.peer_closed = False
        #: received bytes not handed to OpenSSL yet (an incomplete record)
        self._tail = b""
        #: wire bytes of the records fed since the last plaintext returned
        self._wire = 0
        #: the handshake is to fail (`fail_handshake`)
        self._doomed = False

    def fail_handshake(self) -> None:
        """Make this handshake fail (the test bench's ``tls_fail`` fault): a client
        sends no ClientHello (its peer sees a TCP connection close, and the connect
        fails); a server answers the client's first bytes with a handshake_failure
        alert."""
        self._doomed = True

    def start(self) -> bytes:
        """Begin the handshake; the bytes to send (a client's ClientHello)."""
        if self._doomed:
            raise ssl.SSLError(1, "handshake failure (test bench fault)")
        self._handshake()
        return self._out.read()

    def outgoing(self) -> bytes:
        """Bytes OpenSSL wants sent (handshake messages, alerts, key updates)."""
        return self._out.read() if self._out.pending else b""

    @property
    def has_tail(self) -> bool:
        return bool(self._tail)

    def receive(self, data: bytes) -> tuple[bytes, int]:
        """Bytes from the peer: the plaintext they complete and its wire cost.

        While the handshake runs, records are fed one at a time and the call returns
        when it completes (``established``): what follows stays for the next call
        (``receive(b"")``), so the caller can act on the handshake's outcome first."""
        buf = self._tail + data if self._tail else data
        if not self.established:
            if self._doomed and buf:
                self._out.write(_HANDSHAKE_FAILURE)
                raise ssl.SSLError(1, "handshake failure (test bench fault)")
            pos = 0
            while not self.established:
                end = _record_end(buf, pos)
                if end < 0:
                    break
                self._in.write(buf[pos:end])
                pos = end
                self._handshake()
            self._tail = buf[pos:]
            return b"", 0
        pos = 0
        while True:
            end = _record_end(buf, pos)
            if end < 0:
                break
            pos = end
        if pos:
            self._in.write(buf if pos == len(buf) else buf[:pos])
            self._wire += pos
        self._tail = buf[pos:]
        plain = self._read_all()
        if not plain:
            return b"", 0
        wire, self._wire = self._wire, 0
        return plain, wire

    def write(self, data: bytes) -> bytes:
        """Encrypt ``data``: the TLS records to send."""
        view = memoryview(data)
        while view:
            n = self.obj.write(view)
            view = view[n:]
        return self._out.read()

    def close_notify(self) -> bytes:
        """Our close_notify alert (we do not wait for the peer's)."""
        with contextlib.suppress(ssl.SSLWantReadError):
            self.obj.unwrap()
        return self._out.read()

    def _handshake(self) -> None:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            return
        if self.check is not None:
            self.check(self.obj)  # the peer's name: before any data passes
        self.established = True

    def _read_all(self) -> bytes:
        parts: list[bytes] = []
        while True:
            try:
                chunk = self.obj.read(1 << 16)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            if not chunk:  # the peer's close_notify
                self.peer_closed = True
                break
            parts.append(chunk)
        if not parts:
            return b""
        return parts[0] if len(parts) == 1 else b"".join(parts)


class TlsTransport:
    """The TCP transport as an SSL link uses it: ``write`` encrypts, ``close`` sends
    our close_notify first; reading, pausing, buffer sizes (TLS bytes), socket options
    and addresses are the TCP transport's.  So `StreamLink` works on an SSL link as it
    is, its seam (``_write``) ending in ``transport.write`` as on a TCP link."""

    def __init__(self, raw: asyncio.Transport, link: TlsStreamLink) -> None:
        self.raw = raw
        self.link = link

    def write(self, data: bytes) -> None:
        self.link.send_tls(data)

    def close(self) -> None:
        self.link.send_close_notify()
        self.raw.close()

    def abort(self) -> None:
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.link.session.obj
        return self.raw.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def is_reading(self) -> bool:
        return self.raw.is_reading()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high, low)


class TlsStreamLink(StreamLink):
    """An SSL link: a `StreamLink` on a plain TCP transport with `TlsSession` inside
    (its ``transport`` is a `TlsTransport`).

    A client link does its handshake here (``handshake`` resolves when the peer is
    checked and data may flow, or fails); a server link is adopted with the session
    its `TlsAcceptor` established.  A client link stays ``held`` until the engine has
    its Connected: what the server sent behind its Finished waits, and so does an end
    of the connection that came with it (reported by `release`, after that data).
    See the module docstring for the seam."""

    transport: TlsTransport | None

    def __init__(self, owner: LinkOwner, link_id: int, kind: str, session: TlsSession) -> None:
        super().__init__(owner, link_id, kind)
        self.session = session
        #: TLS bytes sent to / received from the peer (the seam counts plaintext)
        self.wire_up = 0
        self.wire_down = 0
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.raw: asyncio.Transport | None = None
        #: the wire bytes of the plaintext chunk passing the seam (`Link._rx`) now
        self.rx_wire = 0
        self._early_tls: list[tuple[bytes, tuple[str, int], int]] = []
        #: ``held`` as the owner set it, while the handshake reads regardless
        self._held_after = False
        self._failure: Exception | None = None
        #: the connection ended while the link was held (see `connection_lost`): the
        #: ``exc`` to report once `release` has delivered the data that came first
        self._ended_held: tuple[Exception | None] | None = None

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)
        self.raw = raw
        handshaking = not self.session.established
        if handshaking:  # the handshake must read, whatever holds the link's data
            self._held_after, self.held = self.held, False
        super().connection_made(TlsTransport(raw, self))  # type: ignore[arg-type]
        if not handshaking:
            self._settle(None)
            return
        try:
            hello = self.session.start()
        except _TLS_ERRORS as exc:
            self._fail(exc)
            return
        self._wire_out(hello)

    def buffer_updated(self, nbytes: int) -> None:
        reads = self._reads
        data = reads.take(nbytes)
        reads.count(self)
        self.wire_down += nbytes
        self.tls_received(data)

    def tls_received(self, data: bytes) -> None:
        """Bytes from the peer: handshake, or plaintext up through the seam."""
        if self.closing or self._failure is not None:
            return
        session = self.session
        was = session.established
        try:
            plain, wire = session.receive(data)
        except _TLS_ERRORS as exc:
            self._wire_out(session.outgoing())  # the alert, if OpenSSL made one
            self._fail(exc)
            return
        self._wire_out(session.outgoing())
        if not was:
            if session.established:
                self._established()
                if session.has_tail:
                    self.tls_received(b"")
            return
        if plain:
            self.rx_wire = wire
            self._rx(plain, self.peer)
        if session.peer_closed and not self.closing and self.raw is not None:
            self.raw.close()  # the peer's close_notify: a close, reported as one

    # --- the plaintext goes up with its wire bytes (Link's, with ``rx_wire``)

    def deliver(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closing:
            return
        if self.held:
            self._early_tls.append((data, addr, self.rx_wire))
        else:
            self.owner.link_data(self, data, addr, self.rx_wire)

    def release(self) -> None:
        self.held = False
        early, self._early_tls = self._early_tls, []
        for data, addr, wire in early:
            if not self.closing:
                self.owner.link_data(self, data, addr, wire)
        ended, self._ended_held = self._ended_held, None
        if ended is not None:  # the close the peer sent behind that data, reported now
            super().connection_lost(ended[0])
            return
        self.apply_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self._settle(ConnectionResetError("the peer closed during the TLS handshake"))
        exc = exc or self._failure
        if self.held and self.session.established and not self.closing:
            # A client link between its handshake and the engine's Connected: the
            # records behind the server's Finished were read with it (the handshake
            # reads whatever holds the link), and they may end the connection (a
            # close_notify, a bad record).  The engine does not have the link yet, and
            # the data before the end is parked in ``_early_tls``: `release` delivers
            # it, then reports the end, so the host sees CONNECT, the data, CLOSED (in
            # passive mode a close held behind the data, as on any link).
            self._ended_held = (exc,)
            return
        super().connection_lost(exc)

    def close(self) -> None:
        super().close()
        self._end_held()

    def abort(self) -> None:
        super().abort()
        self._end_held()

    def _end_held(self) -> None:
        """The module drops a held link whose end is still to be reported (a connect
        that completes no more): finish it without a report (``closing`` is set)."""
        ended, self._ended_held = self._ended_held, None
        if ended is not None:
            super().connection_lost(ended[0])

    # --- what the TlsTransport asks

    def send_tls(self, data: bytes) -> None:
        try:
            out = self.session.write(data)
        except _TLS_ERRORS as exc:
            self._fail(exc)
            return
        self._wire_out(out)

    def send_close_notify(self) -> None:
        if not self.session.established or self._failure is not None:
            return
        try:
            self._wire_out(self.session.close_notify())
        except _TLS_ERRORS as exc:
            log.debug("link %d: no close_notify: %s", self.link_id, exc)

    # --- internals

    def _wire_out(self, data: bytes) -> None:
        raw = self.raw
        if data and raw is not None and not raw.is_closing():
            self.wire_up += len(data)
            raw.write(data)

    def _established(self) -> None:
        self.held = self._held_after
        self.apply_reading()
        self._settle(None)

    def _settle(self, exc: BaseException | None) -> None:
        fut = self.handshake
        if fut.done():
            return
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)
            fut.exception()  # retrieved: the connect may have given up already

    def _fail(self, exc: Exception) -> None:
        """A TLS error: the handshake fails, or an open link is reset."""
        if self.handshake.done():
            log.info("link %d: TLS error, link reset: %s", self.link_id, exc)
        else:
            log.info("link %d: TLS handshake failed: %s", self.link_id, exc)
            self._settle(exc)
        self._failure = exc  # connection_lost reports a reset (an open link)
        raw = self.raw
        if raw is not None and not raw.is_closing():
            raw.close()  # the alert (if any) leaves first; nothing is read any more


class TlsAcceptor(asyncio.Protocol):
    """The server side of a new SSL client until its handshake is done; then
    ``done(transport, session)`` hands it over (the engine gives it an ID and it is
    adopted as a `TlsStreamLink`).  A failed or slow handshake (``timeout`` seconds)
    is dropped without ever reaching the engine, as on the module."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        timeout: float,
        done: Callable[[asyncio.Transport, TlsSession], None],
        doomed: Callable[[asyncio.Transport], bool] | None = None,
    ) -> None:
        self.session = TlsSession(ctx, server_side=True)
        self.timeout = timeout
        self.done = done
        #: asked once the client is there: whether its handshake is to fail (tls_fail)
        self.doomed = doomed
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(self.timeout, self._too_slow)
        if self.doomed is not None and self.doomed(cast(asyncio.Transport, transport)):
            self.session.fail_handshake()

    def data_received(self, data: bytes) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        try:
            self.session.receive(data)
        except _TLS_ERRORS as exc:
            self._drop(f"TLS handshake failed: {exc}")
            return
        out = self.session.outgoing()
        if out:
            t.write(out)
        if self.session.established:
            self._stop_timer()
            self.done(t, self.session)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()

    def _too_slow(self) -> None:
        self._timer = None
        self._drop(f"no TLS handshake within {self.timeout:g} s")

    def _drop(self, why: str) -> None:
        t = self.transport
        peer: Any = t.get_extra_info("peername") if t is not None else None
        log.info("SSL client %s turned away: %s", peer, why)
        self._stop_timer()
        if t is not None and not t.is_closing():
            out = self.session.outgoing()  # the alert, if any
            if out:
                t.write(out)
            t.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

"""A TLS server on loopback that knows how many TLS bytes it sent for each message.

It runs its side of TLS with an ``ssl.SSLObject`` over memory BIOs on a plain socket
(in a thread), so every byte it puts on the wire is counted: ``send(plaintext)``
returns the TLS bytes that message took (its records, nothing else).  The tests
compare that with what the module reports in passive mode (``+IPD,<len>``,
``AT+CIPRECVLEN?``).  It also records whether the client said goodbye with a
close_notify.

    with CountingTlsServer(ctx) as srv:     # ctx: a server context (certs made at test time)
        ... AT+CIPSTART="SSL","127.0.0.1",srv.port ...
        wire = srv.send(b"hello")           # 5 bytes of data, ``wire`` TLS bytes

``greeting`` (and ``hang_up``) make the server send data (and then its close_notify)
in the same write as its handshake's last flight: in TLS 1.2 that flight ends with the
server's Finished, so the client reads them together with the message that completes
its handshake.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from types import TracebackType

TIMEOUT = 5.0


class CountingTlsServer:
    def __init__(
        self,
        ctx: ssl.SSLContext,
        host: str = "127.0.0.1",
        *,
        greeting: bytes = b"",
        hang_up: bool = False,
    ) -> None:
        self.ctx = ctx
        self.greeting = greeting
        self.hang_up = hang_up
        #: the TLS bytes of the greeting and of the close_notify that followed it
        self.greeting_wire = 0
        self.hang_up_wire = 0
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        self._sock: socket.socket | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj: ssl.SSLObject | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        #: TLS bytes the server's handshake-completing step sent after its own
        #: Finished (TLS 1.3: the session tickets), which the client sees as records
        #: after its handshake
        self.after_handshake = 0
        self.error: BaseException | None = None
        #: the client's data, and whether it ended with a close_notify
        self.received = bytearray()
        self.close_notify = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    # --- the handshake, in the thread

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
            sock.settimeout(TIMEOUT)
            self._sock = sock
            obj = self.ctx.wrap_bio(self._in, self._out, server_side=True)
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("client left during the handshake") from None
                    self._in.write(data)
            # what the completing step wrote: in TLS 1.3 the tickets (the server's
            # Finished went out in an earlier step); in TLS 1.2 its final flight
            tail = self._out.read()
            if obj.version() == "TLSv1.3":
                self.after_handshake = len(tail)
            if self.greeting:
                obj.write(self.greeting)
                greeting = self._out.read()
                self.greeting_wire = len(greeting)
                tail += greeting
            if self.hang_up:
                with contextlib.suppress(ssl.SSLWantReadError):
                    obj.unwrap()
                goodbye = self._out.read()
                self.hang_up_wire = len(goodbye)
                tail += goodbye
            sock.sendall(tail)  # one write: the last flight and what follows it
            self.obj = obj
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()

    def _flush(self) -> None:
        out = self._out.read()
        if out and self._sock is not None:
            self._sock.sendall(out)

    # --- the test's side

    def established(self) -> ssl.SSLObject:
        assert self._ready.wait(TIMEOUT), "no TLS client came"
        if self.error is not None:
            raise AssertionError(f"server handshake failed: {self.error!r}")
        assert self.obj is not None
        return self.obj

    def send(self, *messages: bytes) -> int:
        """Send each message as one TLS write; the TLS bytes they took, in all."""
        obj = self.established()
        total = 0
        with self._lock:
            wire = b""
            for m in messages:
                obj.write(m)
                chunk = self._out.read()
                total += len(chunk)
                wire += chunk
            assert self._sock is not None
            self._sock.sendall(wire)
        return total

    def send_close_notify(self) -> None:
        obj = self.established()
        with self._lock:
            with contextlib.suppress(ssl.SSLWantReadError):
                obj.unwrap()
            self._flush()

    def read_until_closed(self) -> None:
        """Read the client's data until it closes; note a close_notify."""
        obj = self.established()
        assert self._sock is not None
        while True:
            try:
                data = obj.read(65536)
                if not data:
                    self.close_notify = True
                    return
                self.received += data
                continue
            except ssl.SSLZeroReturnError:
                self.close_notify = True
                return
            except ssl.SSLWantReadError:
                pass
            raw = self._sock.recv(65536)
            if not raw:
                return
            self._in.write(raw)

    def __enter__(self) -> CountingTlsServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.join(TIMEOUT * 2)
        if self._sock is not None:
            self._sock.close()
        self._listener.close()

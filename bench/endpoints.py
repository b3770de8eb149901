"""Loopback TCP endpoints for the benchmark: a one-shot sink and a one-shot source.

Both record wall-clock (perf_counter) marks so the driver can compute throughput
from the first byte on the wire to the last byte delivered.  Blocking sockets in
threads: the GIL is released in every syscall and chunks are large (1 MiB), so the
endpoint costs the same for the relay and the module.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

CHUNK = 1 << 20
BUF = 4 << 20


def _listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        s.setsockopt(socket.SOL_SOCKET, opt, BUF)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


class Sink:
    """Accept one connection and swallow ``expect`` bytes; ``done`` is set then."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.lsock = _listener()
        self.port = int(self.lsock.getsockname()[1])
        self.received = 0
        self.first: float | None = None
        self.last = 0.0
        self.done = threading.Event()
        self.conn: socket.socket | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        conn, _ = self.lsock.accept()
        self.conn = conn
        buf = bytearray(CHUNK)
        while self.received < self.expect:
            n = conn.recv_into(buf)
            if not n:
                break
            if self.first is None:
                self.first = time.perf_counter()
            self.received += n
        self.last = time.perf_counter()
        self.done.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn is not None:
                self.conn.close()
        self.lsock.close()


class Source:
    """Accept one connection and send ``payload`` at once (``start`` = accept time)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.lsock = _listener()
        self.port = int(self.lsock.getsockname()[1])
        self.start = 0.0
        self.sent = threading.Event()
        self.conn: socket.socket | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        conn, _ = self.lsock.accept()
        self.conn = conn
        self.start = time.perf_counter()
        with contextlib.suppress(OSError):
            conn.sendall(self.payload)
        self.sent.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn is not None:
                self.conn.close()
        self.lsock.close()

"""Loopback TCP endpoints for the benchmark: a one-shot sink and a one-shot source.

Each runs in a process of its own, as the remote peer of a real module would: as a
thread of the bench process it would share the host driver's GIL, and the protocol
round trips the driver times (``AT+CIPSEND``'s prompt and ``SEND OK``) would pay for
the peer's wake-ups (measured: about 15 us per chunk).  Both record
``time.perf_counter()`` marks (CLOCK_MONOTONIC: the same clock in every process) so the
driver can compute throughput from the first byte on the wire to the last one
delivered.  Each keeps its connection open until ``close()``, so the link under test
never sees the peer leave in the middle of a measurement.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import time
from typing import Any

CHUNK = 1 << 20
BUF = 4 << 20
_MP = multiprocessing.get_context("fork")


def new_event() -> Any:
    """An event a test can set in the bench process and an endpoint waits on."""
    return _MP.Event()


def _listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        s.setsockopt(socket.SOL_SOCKET, opt, BUF)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


class _Endpoint:
    def __init__(self) -> None:
        self.lsock = _listener()
        self.port = int(self.lsock.getsockname()[1])
        self._closing = _MP.Event()
        self._proc: Any = None

    def _start(self) -> None:
        self._proc = _MP.Process(target=self._main, daemon=True)
        self._proc.start()

    def _main(self) -> None:
        conn, _ = self.lsock.accept()
        try:
            self._serve(conn)
            self._closing.wait(120)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closing.set()
        if self._proc is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self.lsock.close()


class Sink(_Endpoint):
    """Accept one connection and swallow ``expect`` bytes; ``done`` is set then."""

    def __init__(self, expect: int) -> None:
        super().__init__()
        self.expect = expect
        self._received = _MP.Value("q", 0, lock=False)
        self._last = _MP.Value("d", 0.0, lock=False)
        self.done = _MP.Event()
        self._start()

    @property
    def received(self) -> int:
        return int(self._received.value)

    @property
    def last(self) -> float:
        """perf_counter() when the last expected byte arrived."""
        return float(self._last.value)

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray(CHUNK)
        received = 0
        while received < self.expect:
            n = conn.recv_into(buf)
            if not n:
                break
            received += n
        self._last.value = time.perf_counter()
        self._received.value = received
        self.done.set()


class Source(_Endpoint):
    """Accept one connection, wait for ``go`` (if given), send ``payload`` at once.

    ``start`` is the perf_counter() mark just before the first byte is sent.
    """

    def __init__(self, payload: bytes, go: Any = None) -> None:
        super().__init__()
        self.payload = payload
        self.go = go
        self._start_mark = _MP.Value("d", 0.0, lock=False)
        self.started = _MP.Event()
        self.sent = _MP.Event()
        self._start()

    @property
    def start(self) -> float:
        self.started.wait(60)
        return float(self._start_mark.value)

    def _serve(self, conn: socket.socket) -> None:
        if self.go is not None:
            self.go.wait(60)
        self._start_mark.value = time.perf_counter()
        self.started.set()
        with contextlib.suppress(OSError):
            conn.sendall(self.payload)
        self.sent.set()

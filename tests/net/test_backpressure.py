"""Passthrough toward a remote that does not keep up: the host is held, nothing piles up.

A host on a PTY can write far faster than a slow peer reads.  The module must not
buffer without limit: once the link's send buffer is full, the runtime stops reading
the host's port (like a UART whose RTS is dropped), so the host's own writes block.
When the peer reads again, everything arrives, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import socket
import threading
import time

from tests.net.test_pty_path import Port, pty_module

#: what the module may hold for the link at most: the stack's send buffer, plus one
#: host read (64 KiB) and one packet that were already under way when it filled
HOLD_LIMIT = 2 * 5760 + 65536 + 512


class StallingSink:
    """Accepts one connection and reads nothing until `drain` is called."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.go = threading.Event()
        self.hash = hashlib.sha256()
        self.count = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            self.go.wait(30)
            while data := conn.recv(1 << 20):
                self.hash.update(data)
                self.count += len(data)
        self.done.set()

    def close(self) -> None:
        self.go.set()
        self.listener.close()


def test_passthrough_holds_the_host_while_the_remote_is_stalled(tmp_path: object) -> None:
    from pathlib import Path

    link = Path(str(tmp_path)) / "w800.tty"
    payload = random.Random(11).randbytes(24 * 1024 * 1024)
    sink = StallingSink()
    try:
        with pty_module(link).running() as mod:
            port = Port(link)
            assert port.until(b"\r\nready\r\n") == b"\r\nready\r\n"
            assert port.cmd(b"ATE0") == b"ATE0\r\n\r\nOK\r\n"
            port.cmd(b"AT+CIPV6=0")  # no IPv6 URCs after the join's OK
            port.cmd(b'AT+CWJAP="lab","password"')
            assert port.cmd(b"AT+CIPMODE=1") == b"\r\nOK\r\n"
            assert port.cmd(f'AT+CIPSTART="TCP","127.0.0.1",{sink.port}'.encode()) == (
                b"CONNECT\r\n\r\nOK\r\n"
            )
            port.ser.write(b"AT+CIPSEND\r\n")
            assert port.until(b">") == b"\r\nOK\r\n\r\n>"
            time.sleep(0.05)  # the +++ guard: what follows is data

            # The host writes as fast as the PTY takes it, without blocking.
            fd = port.ser.fd
            os.set_blocking(fd, False)
            view = memoryview(payload)
            sent = 0
            idle_since = time.monotonic()
            while sent < len(payload) and time.monotonic() - idle_since < 1.0:
                _, w, _ = select.select([], [fd], [], 0.05)
                if not w:
                    continue
                try:
                    n = os.write(fd, view[sent : sent + 65536])
                except BlockingIOError:
                    continue
                sent += n
                idle_since = time.monotonic()
            # Stalled peer: the host could not get everything out (it is being held) ...
            assert sent < len(payload), "the host was never held back"
            feat = mod.module.runtime.net
            (link0,) = feat.links.values()
            assert link0.transport is not None
            # ... and the module holds no more than its send buffer and what was under way
            held = link0.transport.get_write_buffer_size()  # type: ignore[attr-defined]
            assert held <= HOLD_LIMIT, held

            # The peer reads again: the rest flows, every byte arrives.
            sink.go.set()
            os.set_blocking(fd, True)
            while sent < len(payload):
                sent += os.write(fd, view[sent : sent + 65536])
            deadline = time.monotonic() + 30
            while sink.count < len(payload) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sink.count == len(payload)
            assert sink.hash.hexdigest() == hashlib.sha256(payload).hexdigest()

            time.sleep(0.05)
            port.ser.write(b"+++")
            time.sleep(0.05)
            assert port.cmd(b"AT") == b"\r\nOK\r\n"
            port.ser.close()
    finally:
        sink.close()

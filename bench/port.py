"""The host side of the benchmark: a pyserial port with buffered, bulk reads.

pyserial opens the PTY and puts it in raw mode; bulk reads go straight to
``os.read(fd, 1 MiB)`` after ``select`` (pyserial's ``read(n)`` would loop in small
steps), so the host costs the same against the relay and the module.
"""

from __future__ import annotations

import os
import select
import time

import serial

READ = 1 << 20


class Port:
    def __init__(self, path: str) -> None:
        self.ser = serial.Serial(path, 115200, timeout=10)
        self.fd: int = self.ser.fd
        self.buf = bytearray()

    def close(self) -> None:
        self.ser.close()

    def write(self, data: bytes) -> None:
        mv = memoryview(data)
        while mv:
            try:
                n = os.write(self.fd, mv)
            except BlockingIOError:
                select.select([], [self.fd], [], 10)
                continue
            mv = mv[n:]

    def fill(self, timeout: float = 10.0) -> int:
        """Read what is there (waiting up to ``timeout`` for something)."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            tail = bytes(self.buf[-200:])
            raise TimeoutError(f"nothing from the port in {timeout}s; have {tail!r}")
        data = os.read(self.fd, READ)
        self.buf += data
        return len(data)

    def until(self, token: bytes, timeout: float = 10.0) -> bytes:
        """Everything up to and including ``token``."""
        deadline = time.monotonic() + timeout
        start = 0
        while True:
            i = self.buf.find(token, start)
            if i >= 0:
                end = i + len(token)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            start = max(0, len(self.buf) - len(token) + 1)
            self.fill(max(0.01, deadline - time.monotonic()))

    def exact(self, n: int, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self.fill(max(0.01, deadline - time.monotonic()))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def drain_count(self, n: int, timeout: float = 30.0) -> int:
        """Read and discard raw bytes until ``n`` arrived (raw relays / passthrough)."""
        got = len(self.buf)
        self.buf.clear()
        deadline = time.monotonic() + timeout
        while got < n:
            r, _, _ = select.select([self.fd], [], [], max(0.01, deadline - time.monotonic()))
            if not r:
                raise TimeoutError(f"got {got} of {n} bytes")
            got += len(os.read(self.fd, READ))
        return got

    def command(self, line: bytes, ok: bytes = b"\r\nOK\r\n", timeout: float = 10.0) -> bytes:
        self.write(line + b"\r\n")
        return self.until(ok, timeout)

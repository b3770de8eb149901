"""Helpers for the test bench's tests.

- `ManualLoop`: a scheduler with a manual clock (``time``, ``call_at``, ``call_later``,
  ``call_soon``; `advance` runs what is due, in order): the pure fault machinery
  (`LinkFaults`, `ControlChannel`) runs on it with exact times.
- `BenchModule`: a whole `Module` with its test bench on a real TCP port (the host is an
  asyncio client that records when each byte arrived), trace on.
- `Peer`: a real loopback TCP server that records what each connection delivered and
  when, and how it ended (``eof`` or ``reset``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.harness import LAB_ADDRESSES
from w800at import Module, ModuleOptions
from w800at.channels.tcp import TcpChannel
from w800at.control import Control

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
#: a join's answer; the IPv6 URCs follow its OK (the lab AP hands out IPv6)
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK
GOT_IPV6 = b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
TIMEOUT = 5.0


# --------------------------------------------------------------------------- a clock


class _Handle:
    def __init__(self, loop: ManualLoop, when: float, fn: Callable[..., object], args: Any) -> None:
        self.loop = loop
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """Time moves only in `advance`; callbacks run in time order (then FIFO)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self._heap: list[tuple[float, int, _Handle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(
        self, when: float, fn: Callable[..., object], *args: Any, context: Any = None
    ) -> _Handle:
        h = _Handle(self, when, fn, args)
        heapq.heappush(self._heap, (when, next(self._seq), h))
        return h

    def call_later(
        self, delay: float, fn: Callable[..., object], *args: Any, context: Any = None
    ) -> _Handle:
        return self.call_at(self.now + delay, fn, *args)

    def call_soon(self, fn: Callable[..., object], *args: Any, context: Any = None) -> _Handle:
        return self.call_at(self.now, fn, *args)

    def advance(self, seconds: float = 0.0) -> None:
        """Run everything due up to now + seconds (the clock steps to each due time)."""
        end = self.now + seconds
        while self._heap and self._heap[0][0] <= end:
            when, _, h = heapq.heappop(self._heap)
            if h.cancelled:
                continue
            self.now = max(self.now, when)
            h.fn(*h.args)
        self.now = end

    @property
    def pending(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)


# --------------------------------------------------------------------------- a peer


@dataclass
class PeerConn:
    """What one connection to a `Peer` delivered: (loop time, bytes) chunks, the end."""

    index: int
    accepted: float
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    #: "eof" (FIN), "reset" (RST), or "" while open
    end: str = ""
    ended: float = 0.0
    writer: asyncio.StreamWriter | None = None

    @property
    def data(self) -> bytes:
        return b"".join(d for _, d in self.chunks)

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)


class Peer:
    """A loopback TCP server on the test's loop that records every connection;
    ``echo``: send every chunk back."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self.conns: list[PeerConn] = []
        self.changed = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Peer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for c in self.conns:
            if c.writer is not None:
                c.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        conn = PeerConn(len(self.conns), loop.time(), writer=writer)
        self.conns.append(conn)
        self._notify()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    conn.end = "eof"
                    break
                conn.chunks.append((loop.time(), data))
                if self.echo:
                    writer.write(data)
                self._notify()
        except ConnectionResetError:
            conn.end = "reset"
        conn.ended = loop.time()
        self._notify()

    def _notify(self) -> None:
        self.changed.set()

    async def wait(
        self, pred: Callable[[], bool], timeout: float = TIMEOUT, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"peer: {what or 'condition'} not met; {self.conns!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def conn(self, index: int = 0) -> PeerConn:
        await self.wait(lambda: len(self.conns) > index, what=f"connection {index}")
        return self.conns[index]

    async def ended(self, index: int = 0) -> PeerConn:
        c = await self.conn(index)
        await self.wait(lambda: bool(c.end), what=f"connection {index} to end")
        return c

    async def received(self, n: int, index: int = 0) -> PeerConn:
        c = await self.conn(index)
        await self.wait(lambda: len(c.data) >= n, what=f"{n} bytes on {index}")
        return c


# --------------------------------------------------------------------------- a module


class BenchModule:
    """A `Module` with its test bench on a real TCP port; the test is the host.

    ``async with BenchModule(tmp_path) as b:`` starts it, connects, reads ``ready``;
    ``b.control`` is ``module.control``; ``b.arrivals`` records (loop time, bytes) of
    everything the host received."""

    def __init__(
        self,
        tmp: Path,
        options: ModuleOptions | None = None,
        *,
        profile: str = "w800",
        timeout: float = TIMEOUT,
        pacing: Any = None,
    ) -> None:
        self.tmp = tmp
        self.options = options or ModuleOptions(
            addresses=LAB_ADDRESSES, net_timeout=2.0, system_dns=()
        )
        self.profile = profile
        self.timeout = timeout
        self.pacing = pacing
        self.trace = tmp / "module.trace"
        self.buf = bytearray()
        self.arrivals: list[tuple[float, bytes]] = []
        self._got = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BenchModule:
        self.module = Module(
            TcpChannel("127.0.0.1", 0),
            profile=self.profile,
            options=self.options,
            trace=self.trace,
            name="dut",
            pacing=self.pacing,
        )
        await self.module.start()
        port = self.module.channel.port  # type: ignore[attr-defined]
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self._reader_task = asyncio.get_running_loop().create_task(self._read())
        await self.expect(b"\r\nready\r\n")
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task
        await self.module.stop()
        if t is None:
            assert self.module.engine.bugs == [], self.module.engine.bugs

    @property
    def control(self) -> Control:
        return self.module.control

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            self.arrivals.append((loop.time(), data))
            self.buf += data
            self._got.set()

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def _more(self, deadline: float) -> None:
        self._got.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; output tail {bytes(self.buf[-300:])!r}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._got.wait(), left)

    async def read(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            await self._more(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def expect(self, data: bytes, timeout: float | None = None) -> None:
        got = await self.read(len(data), timeout)
        assert got == data, (got, bytes(self.buf))

    async def until(self, *ends: bytes, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            hits = [i + len(e) for e in ends if (i := self.buf.find(e)) >= 0]
            if hits:
                n = min(hits)
                out = bytes(self.buf[:n])
                del self.buf[:n]
                return out
            await self._more(deadline)

    async def quiet(self, window: float = 0.2) -> None:
        await asyncio.sleep(window)
        assert bytes(self.buf) == b"", bytes(self.buf)

    async def cmd(self, line: bytes, answer: bytes | None = None) -> bytes:
        echo = line + b"\r\n" if self.module.engine.echo else b""
        self.send(line + b"\r\n")
        got = await self.until(OK, ERROR)
        if answer is not None:
            assert got == echo + answer, got
        return got

    async def join(self) -> None:
        """Join ``lab``: its answer, then the IPv6 URCs after the OK."""
        await self.cmd(b'AT+CWJAP="lab","secret"', JOINED)
        await self.expect(GOT_IPV6)

    async def open_tcp(self, link: int, port: int, kind: str = "TCP") -> None:
        """AT+CIPMUX=1 (once) and AT+CIPSTART on ``link`` to 127.0.0.1:port."""
        if not self.module.engine.links.multi:
            await self.cmd(b"AT+CIPMUX=1", OK)
        line = f'AT+CIPSTART={link},"{kind}","127.0.0.1",{port}'.encode()
        await self.cmd(line, f"{link},CONNECT\r\n".encode() + OK)

    def trace_text(self) -> str:
        return self.trace.read_text()


# --------------------------------------------------------------------------- threads


class ThreadPeer:
    """A `Peer` for tests whose module runs in another process: a listening socket on
    loopback, a thread per connection recording its chunks and how it ended."""

    def __init__(self) -> None:
        import socket
        import threading

        self._cond = threading.Condition()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[PeerConn] = []
        self._socks: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> ThreadPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        import socket

        self._stop = True
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self.sock.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        import threading

        while not self._stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            if self._stop:
                s.close()
                return
            with self._cond:
                conn = PeerConn(len(self.conns), time.monotonic())
                self.conns.append(conn)
                self._socks.append(s)
                self._cond.notify_all()
            threading.Thread(target=self._read, args=(s, conn), daemon=True).start()

    def _read(self, s: Any, conn: PeerConn) -> None:
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                end = "reset"
                break
            except OSError:
                end = "closed"
                break
            if not data:
                end = "eof"
                break
            with self._cond:
                conn.chunks.append((time.monotonic(), data))
                self._cond.notify_all()
        with self._cond:
            conn.end, conn.ended = end, time.monotonic()
            self._cond.notify_all()

    def send(self, index: int, data: bytes) -> None:
        self.wait(lambda: len(self.conns) > index)
        with contextlib.suppress(OSError):  # a reset connection: the test looks at .end
            self._socks[index].sendall(data)

    def wait(self, pred: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"peer: condition not met; {self.conns!r}")
                self._cond.wait(left)

"""A whole module on the test's event loop, driven byte-exact through an in-memory AT port.

`LiveModule` runs a real `w800at.Module` (engine, runtime with every part: links,
servers, DNS, ping, SNTP, TLS: real sockets, loopback only); only the serial line is
replaced, by `w800at.MemoryChannel`.  The test plays the host: it sends bytes
and reads exactly what the module wrote.  Everything shares one loop, so these tests
are fast and deterministic while the network side is real.

    async with LiveModule(tmp_path) as mod:   # booted: "ready" already read
        await mod.join()                       # Wi-Fi joined, station 127.0.0.1
        await mod.cmd(b"AT+CIPMUX=1", OK)      # the echo (if on) and then exactly OK
        mod.send(b"AT+CIPSEND=0,3\\r\\n")
        await mod.expect(b"AT+CIPSEND=0,3\\r\\n\\r\\nOK\\r\\n\\r\\n>")

Also here: `Conditions` (await a predicate that events make true, without polling)
and `free_port`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.harness import LAB_ADDRESSES
from w800at import MemoryChannel, Module, Store
from w800at.core.engine import Engine
from w800at.core.options import ModuleOptions
from w800at.profiles import W800, Profile
from w800at.runtime import Runtime

#: how long a read waits by default (seconds)
TIMEOUT = 5.0
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
#: what ends a command's answer
FINALS = (OK, ERROR)
#: AT+CWJAP's answer in the lab (LAB_ADDRESSES), after the echo
#: a join's answer: OK once IPv4 is up, then the IPv6 URCs
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"


def free_port(family: int = socket.AF_INET) -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return int(s.getsockname()[1])


class Conditions:
    """Predicates to await: `wait(pred)` returns once `pred()` holds.

    Whoever changes the state the predicates read calls `check()`, so a waiter wakes
    on the event that made its condition true instead of polling.
    """

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def check(self) -> None:
        """Wake every waiter whose predicate now holds."""
        still = []
        for pred, fut in self._waiters:
            if fut.done():
                continue
            if pred():
                fut.set_result(None)
            else:
                still.append((pred, fut))
        self._waiters = still

    async def wait(
        self, pred: Callable[[], bool], timeout: float, state: Callable[[], str] = lambda: ""
    ) -> None:
        """Wait until ``pred()`` holds; on timeout an AssertionError that shows ``state()``."""
        if pred():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s; {state()}") from None


class LiveModule:
    """The host's end of a whole module: ``async with`` boots it (``ready`` is read);
    on exit it shuts down and asserts the engine noticed no internal bug.

    Reads consume the output from the front: ``expect`` (exactly these bytes),
    ``read`` (exactly n bytes), ``until`` (through a token), ``cmd`` (one command
    through its final OK/ERROR), ``quiet`` (nothing more comes).  Every wait is bounded
    (``timeout``, default for the whole module) and fails with an AssertionError.
    """

    module: Module
    engine: Engine
    channel: MemoryChannel
    rt: Runtime

    def __init__(
        self,
        store_dir: Path | None = None,
        options: ModuleOptions | None = None,
        *,
        profile: Profile = W800,
        timeout: float = TIMEOUT,
    ) -> None:
        self.store_dir = store_dir
        self.options = options or ModuleOptions(addresses=LAB_ADDRESSES, net_timeout=5.0)
        self.profile = profile
        self.timeout = timeout

    async def __aenter__(self) -> LiveModule:
        self.channel = MemoryChannel()
        store = Store(self.store_dir) if self.store_dir is not None else None
        self.module = Module(self.channel, profile=self.profile, options=self.options, store=store)
        await self.module.start()
        self.engine, self.rt = self.module.engine, self.module.runtime
        try:
            await self.expect(b"\r\nready\r\n")
        except BaseException:
            await self.module.stop()
            raise
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.module.stop()
        if t is None:
            assert self.engine.bugs == [], self.engine.bugs

    @property
    def buf(self) -> bytearray:
        """The output not read yet (a test may parse and ``del`` from it itself)."""
        return self.channel.out

    def send(self, data: bytes) -> None:
        """The host writes ``data`` (AT lines, payload, ``+++``: anything)."""
        self.channel.feed(data)

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def _take(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def more(self, deadline: float) -> None:
        """Wait for the next write; AssertionError past ``deadline`` (time.monotonic())."""
        self.channel.wrote.clear()
        left = deadline - time.monotonic()
        if left > 0:
            try:
                await asyncio.wait_for(self.channel.wrote.wait(), left)
                return
            except TimeoutError:
                pass
        raise AssertionError(f"timed out; output tail {bytes(self.buf[-300:])!r}")

    async def read(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly the next ``n`` bytes."""
        deadline = self._deadline(timeout)
        while len(self.buf) < n:
            await self.more(deadline)
        return self._take(n)

    async def expect(self, data: bytes, timeout: float | None = None) -> None:
        """The next bytes are exactly ``data``."""
        got = await self.read(len(data), timeout)
        assert got == data, (got, bytes(self.buf))

    async def until(self, *ends: bytes, timeout: float | None = None) -> bytes:
        """The output up to and including the first of ``ends`` to appear."""
        deadline = self._deadline(timeout)
        longest = max(len(e) for e in ends)
        start = 0
        while True:
            hits = [i + len(e) for e in ends if (i := self.buf.find(e, start)) >= 0]
            if hits:
                return self._take(min(hits))
            start = max(0, len(self.buf) - longest + 1)
            await self.more(deadline)

    async def quiet(self, window: float = 0.2) -> None:
        """Nothing more comes within ``window`` seconds."""
        await asyncio.sleep(window)
        assert bytes(self.buf) == b""

    async def cmd(
        self, line: bytes, answer: bytes | None = None, timeout: float | None = None
    ) -> bytes:
        """Send ``line`` + CRLF; return the output through its final OK or ERROR, the
        echo included when echo is on.  With ``answer``: assert that output is exactly
        the echo (if on) followed by ``answer``."""
        echo = line + b"\r\n" if self.engine.echo else b""
        self.send(line + b"\r\n")
        got = await self.until(*FINALS, timeout=timeout)
        if answer is not None:
            assert got == echo + answer, got
        return got

    async def join(self) -> None:
        """Join the lab Wi-Fi (station 127.0.0.1); the answer is checked byte-exact."""
        line = b'AT+CWJAP="lab","secret"\r\n'
        self.send(line)
        # the IPv6 URCs follow the OK: read the whole answer, not through OK only
        await self.expect((line if self.engine.echo else b"") + JOINED)

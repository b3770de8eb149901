"""A whole module (Engine + Runtime with every runtime feature) on an in-memory AT port.

The network side is real: the runtime's sockets, DNS queries, ICMP and SNTP go to the
loopback servers the tests start.  Only the serial line is replaced by a buffer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from w800at import commands
from w800at.channels.base import ChannelEvents
from w800at.core.engine import Engine
from w800at.core.options import ModuleOptions
from w800at.profiles import W800, Profile
from w800at.runtime import Runtime, install_features

commands.load_all()

FINALS = (b"\r\nOK\r\n", b"\r\nERROR\r\n")


class MemChannel:
    """The AT port as a byte buffer (implements the runtime's Channel protocol)."""

    description = "memory"

    def __init__(self) -> None:
        self.buf = bytearray()
        self.grew = asyncio.Event()
        self.events: ChannelEvents | None = None

    async def start(self, events: ChannelEvents) -> None:
        self.events = events
        events.attached()

    def write(self, data: bytes) -> None:
        self.buf += data
        self.grew.set()

    def pending(self) -> int:
        return 0

    def set_baud(self, baud: int) -> None:
        return None

    async def close(self) -> None:
        return None


class Module:
    """Send lines, read exactly what comes back."""

    def __init__(self, rt: Runtime, channel: MemChannel) -> None:
        self.rt = rt
        self.ch = channel
        self.seen = 0

    def send(self, data: bytes) -> None:
        assert self.ch.events is not None
        self.ch.events.data(data)

    async def read_until(self, *ends: bytes, timeout: float = 5.0) -> bytes:
        """Output from the last read on, up to and including the first of ``ends``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            new = bytes(self.ch.buf[self.seen:])
            hits = [new.find(e) + len(e) for e in ends if e in new]
            if hits:
                cut = min(hits)
                self.seen += cut
                return new[:cut]
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {ends!r}; got {new!r}")
            self.ch.grew.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.ch.grew.wait(), left)

    async def cmd(self, line: bytes, timeout: float = 5.0) -> bytes:
        """Send ``line`` + CRLF; everything up to its final result (echo included)."""
        self.send(line + b"\r\n")
        out = await self.read_until(line + b"\r\n", timeout=timeout)
        return out + await self.read_until(*FINALS, timeout=timeout)

    async def join(self) -> None:
        out = await self.cmd(b'AT+CWJAP="lab","secret"')
        assert out.endswith(b"\r\nOK\r\n"), out

    async def quiet(self, window: float = 0.2) -> None:
        await asyncio.sleep(window)
        assert bytes(self.ch.buf[self.seen:]) == b""


@asynccontextmanager
async def running(options: ModuleOptions, profile: Profile = W800) -> AsyncIterator[Module]:
    loop = asyncio.get_running_loop()
    engine = Engine(profile, options=options, now=loop.time())
    ch = MemChannel()
    rt = Runtime(engine, ch, None)
    install_features(rt)
    await ch.start(rt)
    mod = Module(rt, ch)
    assert await mod.read_until(b"\r\nready\r\n") == b"\r\nready\r\n"
    try:
        yield mod
    finally:
        assert engine.bugs == [], engine.bugs
        await rt.close()

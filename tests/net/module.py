"""A whole module in-process: real Engine + Runtime (+ the net feature) on a loopback
channel pair, driven by an async host that writes AT bytes and reads the output.

``HostChannel`` is the module's end (a Channel: output kept in a buffer, ``backlog``
fakes ``pending()``); ``Host`` is the driver's end.  Everything runs on one loop, so
the tests are fast and deterministic, while every link uses real loopback sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.harness import LAB_ADDRESSES
from w800at import commands
from w800at.core.engine import Engine
from w800at.core.options import ModuleOptions
from w800at.profiles import W800, Profile
from w800at.runtime import Runtime, install_features

commands.load_all()

DEADLINE = 10.0


class HostChannel:
    """The module's side of an in-memory serial line."""

    description = "memory"

    def __init__(self) -> None:
        self.out = bytearray()
        self.backlog = 0
        self.events: Any = None
        self.wrote = asyncio.Event()

    async def start(self, events: Any) -> None:
        self.events = events
        events.attached()

    def write(self, data: bytes) -> None:
        self.out += data
        self.wrote.set()

    def pending(self) -> int:
        return self.backlog

    def set_baud(self, baud: int) -> None:
        pass

    async def close(self) -> None:
        pass


class Host:
    """The driver's side: ``send`` bytes, ``until`` a token, ``cmd`` a line."""

    def __init__(self, rt: Runtime, chan: HostChannel) -> None:
        self.rt = rt
        self.chan = chan

    @property
    def buf(self) -> bytearray:
        return self.chan.out

    def send(self, data: bytes) -> None:
        self.rt.data(data)

    async def more(self, deadline: float) -> None:
        self.chan.wrote.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; output tail {bytes(self.buf[-300:])!r}")
        try:
            await asyncio.wait_for(self.chan.wrote.wait(), left)
        except TimeoutError:
            raise AssertionError(f"timed out; output tail {bytes(self.buf[-300:])!r}") from None

    async def until(self, token: bytes, timeout: float = DEADLINE) -> bytes:
        """All output up to and including ``token`` (consumed)."""
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
            await self.more(deadline)

    async def exact(self, n: int, timeout: float = DEADLINE) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            await self.more(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def cmd(self, line: bytes, expect: bytes | None = None) -> bytes:
        """Send ``line`` + CRLF; return the output through the final ``OK``."""
        self.send(line + b"\r\n")
        got = await self.until(b"\r\nOK\r\n")
        if expect is not None:
            assert got == expect, got
        return got


@contextlib.asynccontextmanager
async def module(profile: Profile = W800) -> AsyncIterator[Host]:
    """A booted module with echo off and Wi-Fi joined (station 127.0.0.1)."""
    loop = asyncio.get_running_loop()
    engine = Engine(profile, options=ModuleOptions(addresses=LAB_ADDRESSES), now=loop.time())
    chan = HostChannel()
    rt = Runtime(engine, chan, None)
    install_features(rt)
    await chan.start(rt)
    host = Host(rt, chan)
    try:
        await host.until(b"\r\nready\r\n")
        await host.cmd(b"ATE0", b"ATE0\r\n\r\nOK\r\n")
        await host.cmd(b'AT+CWJAP="lab","password"')
        yield host
        assert engine.bugs == [], engine.bugs
    finally:
        await rt.close()

"""A whole module on the test's event loop: real Engine + real Runtime (every feature,
real sockets on loopback) + an in-memory channel the test writes AT lines into and
reads the module's bytes from, byte-exact.

    async with LiveModule(store) as mod:
        await mod.cmd(b"AT+CIPMUX=1\\r\\n", b"\\r\\nOK\\r\\n")   # echo is checked too
        await mod.expect(b"0,CONNECT\\r\\n")
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.harness import LAB_ADDRESSES
from w800at import commands
from w800at.core.engine import Engine
from w800at.core.options import ModuleOptions
from w800at.profiles import W800
from w800at.runtime import Runtime, install_features

commands.load_all()
for _name in ("connect", "send"):
    importlib.import_module(f"w800at.commands.{_name}")

TIMEOUT = 5.0


class BufferChannel:
    """A Channel keeping the module's output; wakes waiters on every write."""

    description = "memory"

    def __init__(self) -> None:
        self.out = bytearray()
        self.changed = asyncio.Event()

    async def start(self, events: Any) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.out += data
        self.changed.set()

    def pending(self) -> int:
        return 0

    def set_baud(self, baud: int) -> None:
        pass

    async def close(self) -> None:
        pass


def free_port(family: int = socket.AF_INET) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return int(s.getsockname()[1])


class LiveModule:
    def __init__(self, store: Path, options: ModuleOptions | None = None) -> None:
        self.store = store
        self.options = options or ModuleOptions(addresses=LAB_ADDRESSES, net_timeout=5.0)

    async def __aenter__(self) -> LiveModule:
        loop = asyncio.get_running_loop()
        self.engine = Engine(W800, options=self.options, now=loop.time())
        self.engine.parts["store_dir"] = self.store
        self.chan = BufferChannel()
        self.rt = Runtime(self.engine, self.chan, None)
        install_features(self.rt)
        self.rt.attached()
        await self.expect(b"\r\nready\r\n")
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.rt.close()
        assert self.engine.bugs == [], self.engine.bugs

    async def read(self, n: int, timeout: float = TIMEOUT) -> bytes:
        """Exactly the next ``n`` bytes (fewer only on timeout)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.chan.out) < n:
            left = end - loop.time()
            if left <= 0:
                break
            self.chan.changed.clear()
            try:
                await asyncio.wait_for(self.chan.changed.wait(), left)
            except TimeoutError:
                break
        got = bytes(self.chan.out[:n])
        del self.chan.out[:n]
        return got

    async def expect(self, data: bytes, timeout: float = TIMEOUT) -> None:
        got = await self.read(len(data), timeout)
        assert got == data, (got, bytes(self.chan.out))

    async def quiet(self, window: float = 0.2) -> None:
        await asyncio.sleep(window)
        assert bytes(self.chan.out) == b""

    def send(self, data: bytes) -> None:
        self.rt.data(data)

    async def cmd(self, line: bytes, answer: bytes, timeout: float = TIMEOUT) -> None:
        self.send(line)
        await self.expect(line + answer, timeout)

    async def join(self) -> None:
        await self.cmd(b'AT+CWJAP="lab","secret"\r\n',
                       b"WIFI CONNECTED\r\nWIFI GOT IP\r\nWIFI GOT IPv6 LL\r\n"
                       b"WIFI GOT IPv6 GL\r\n\r\nOK\r\n")

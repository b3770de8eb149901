"""The AT port in memory: a module and an in-process host joined back to back.

Like pyserial's ``loop://`` or pymodbus's ``NullModem``: no OS resource at all.  The
module side is a `Channel`; the host side is `MemoryHost` (``channel.host``), which
writes bytes to the module and reads what it answered::

    chan = MemoryChannel()
    async with Module(chan) as module:          # the host is attached: "ready" comes
        await chan.host.expect(b"\\r\\nready\\r\\n")
        chan.host.write(b"AT\\r\\n")
        await chan.host.expect(b"AT\\r\\n\\r\\nOK\\r\\n")

Flow control is honoured: while the module has paused reading (a passthrough peer is
slow), the host's bytes wait here, as in an OS buffer, and go in on resume.  The host
never slows the module down: its output is kept until read (``pending()`` reports
``backlog``, which a test may set to play a host that stopped reading).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from typing import Any

from ..log import current_module
from .base import Channel, ChannelEvents


class MemoryHost:
    """The host's end of a `MemoryChannel`."""

    def __init__(self, channel: MemoryChannel) -> None:
        self._chan = channel

    @property
    def buffer(self) -> bytearray:
        """The module's output not read yet (a reader may parse and ``del`` from it)."""
        return self._chan.out

    def write(self, data: bytes) -> None:
        """The host sends ``data`` to the module (AT lines, payload, ``+++``: anything)."""
        self._chan.feed(data)

    def attach(self) -> None:
        """A host opens the port (the first attach powers the module up)."""
        self._chan.attach()

    def detach(self) -> None:
        self._chan.detach()

    def read_nowait(self) -> bytes:
        """Everything the module wrote and the host has not read yet."""
        out = bytes(self._chan.out)
        self._chan.out.clear()
        return out

    async def wait_output(self, deadline: float) -> None:
        """Wait for the module's next write; TimeoutError past ``deadline``
        (``time.monotonic()``)."""
        wrote = self._chan.wrote
        wrote.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no output from the module")
        await asyncio.wait_for(wrote.wait(), left)

    async def read(self, n: int = -1, timeout: float = 5.0) -> bytes:
        """At least one byte (at most ``n``; all there is with -1)."""
        deadline = time.monotonic() + timeout
        while not self._chan.out:
            await self.wait_output(deadline)
        take = len(self._chan.out) if n < 0 else min(n, len(self._chan.out))
        return self._take(take)

    async def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._chan.out) < n:
            await self.wait_output(deadline)
        return self._take(n)

    async def read_until(self, *ends: bytes, timeout: float = 5.0) -> bytes:
        """The output up to and including the first of ``ends`` to appear."""
        deadline = time.monotonic() + timeout
        buf = self._chan.out
        longest = max(len(e) for e in ends)
        start = 0
        while True:
            hits = [i + len(e) for e in ends if (i := buf.find(e, start)) >= 0]
            if hits:
                return self._take(min(hits))
            start = max(0, len(buf) - longest + 1)
            await self.wait_output(deadline)

    async def expect(self, data: bytes, timeout: float = 5.0) -> None:
        """The next bytes are exactly ``data`` (AssertionError otherwise)."""
        got = await self.read_exactly(len(data), timeout)
        if got != data:
            raise AssertionError(f"expected {data!r}, got {got!r}")

    def _take(self, n: int) -> bytes:
        buf = self._chan.out
        out = bytes(buf[:n])
        del buf[:n]
        return out


class MemoryChannel(Channel):
    """The module's end (a `w800at.channels.base.Channel`); ``host`` is the other end.

    ``attached``: the host is on the line as soon as the module starts (default), so it
    powers up at once; with False, call ``host.attach()`` when the host "opens" it.
    """

    description = "memory"

    def __init__(self, *, attached: bool = True) -> None:
        self.host = MemoryHost(self)
        #: the module's output not read by the host yet
        self.out = bytearray()
        #: what `pending` reports: set it to play a host that stopped reading
        self.backlog = 0
        self.paused = False
        #: host bytes waiting while the module does not read (flow control)
        self.held: list[bytes] = []
        self.events: ChannelEvents | None = None
        self._attach_on_start = attached
        self._wrote: asyncio.Event | None = None
        self._ctx: contextvars.Context | None = None
        self._owner = ""
        self._closed = False

    @property
    def wrote(self) -> asyncio.Event:
        """Set on every write of the module (made on first use)."""
        if self._wrote is None:
            self._wrote = asyncio.Event()
        return self._wrote

    async def start(self, events: ChannelEvents) -> None:
        self.events = events
        # the host calls in from outside the module's context: enter it (log names)
        self._ctx = contextvars.copy_context()
        self._owner = current_module.get()
        if self._attach_on_start:
            events.attached()

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._ctx is None or current_module.get() == self._owner:
            fn(*args)
        else:
            self._ctx.run(fn, *args)

    def feed(self, data: bytes) -> None:
        """The host writes ``data`` to the module."""
        if self.events is None:
            if self._closed:
                return  # the port is gone: nobody hears it
            raise RuntimeError("the channel was not started")
        if self.paused:
            self.held.append(data)
        else:
            self._call(self.events.data, data)

    def attach(self) -> None:
        if self.events is not None:
            self._call(self.events.attached)

    def detach(self) -> None:
        if self.events is not None:
            self._call(self.events.detached)

    def write(self, data: bytes) -> None:
        self.out += data
        if self._wrote is not None:
            self._wrote.set()

    def pending(self) -> int:
        return self.backlog

    def set_baud(self, baud: int) -> None:
        """No line rate in memory."""

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        held, self.held = self.held, []
        for data in held:
            self.feed(data)

    async def close(self) -> None:
        self.events = None
        self._closed = True

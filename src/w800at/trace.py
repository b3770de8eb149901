"""Byte tracing of the AT port: what the host sent and what the module answered.

One line per chunk, as the channel saw it::

    2024-05-01T12:00:00.123 +0.004512 >> AT+GMR\\r\\n
    2024-05-01T12:00:00.124 +0.005102 << \\r\\n+OK=G3.01.00\\r\\n\\r\\n
    2024-05-01T12:00:00.124 +0.005110 -- reset

``>>`` is host -> module, ``<<`` module -> host, ``--`` an event (the channel's, a
link's).  The links' bytes are in the same file: ``L0>`` module -> peer on link 0,
``L0<`` peer -> module (`TraceLinkTap`).  The wall clock (ISO, ms) places a line in
time; the monotonic offset since the tracer started is what you compare (the wall
clock can jump).  Bytes outside printable ASCII are escaped (``\\r``, ``\\n``,
``\\xNN``; a backslash is ``\\\\``) so a line is always exactly one chunk and the
bytes can be recovered.

Tracing off must cost nothing on the data path: ``wrap_channel(ch, None)``
returns ``ch`` itself and no link tap is set, so the module only wraps when
``--trace`` or ``-v`` is given: no wrapper, no check, no call is added.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from typing import IO, Protocol

from .channels.base import Channel, ChannelEvents, ChannelWrapper, EventsWrapper
from .log import get_logger

HOST_TO_MODULE = ">>"
MODULE_TO_HOST = "<<"
EVENT = "--"

_ESCAPES = {0x5C: "\\\\", 0x0D: "\\r", 0x0A: "\\n"}
#: lookup table: the escaped text of each byte value
_TABLE = [_ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256)]


def escape_bytes(data: bytes) -> str:
    """Printable ASCII as is; ``\\r``, ``\\n``, ``\\\\``, everything else ``\\xNN``."""
    table = _TABLE
    return "".join([table[b] for b in data])


def unescape(text: str) -> bytes:
    """Inverse of ``escape_bytes`` (for tools and tests reading traces)."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(ord(c))
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out.append({"\\": 0x5C, "r": 0x0D, "n": 0x0A}[nxt])
            i += 2
    return bytes(out)


class TraceSink(Protocol):
    """Anything that can record a chunk; ``Tracer`` and ``LogTracer`` are two."""

    def record(self, direction: str, data: bytes) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class _Clock:
    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def stamp(self) -> str:
        wall = datetime.datetime.now().isoformat(timespec="milliseconds")
        return f"{wall} +{time.monotonic() - self._t0:.6f}"


class Tracer:
    """Writes trace lines to a file (appending; each run starts with a note line)."""

    def __init__(self, path: str | os.PathLike[str], *, stream: IO[str] | None = None) -> None:
        self.path = os.fspath(path)
        self._clock = _Clock()
        self._owns = stream is None
        if stream is None:
            # Line-buffered: a trace must survive a crash up to its last line.
            stream = open(path, "a", encoding="ascii", buffering=1)  # noqa: SIM115
        self._file: IO[str] = stream
        self.note("trace start")

    def record(self, direction: str, data: bytes) -> None:
        if not self._file.closed:  # a host may hang up while the module stops
            self._file.write(f"{self._clock.stamp()} {direction} {escape_bytes(data)}\n")

    def note(self, text: str) -> None:
        if not self._file.closed:
            self._file.write(f"{self._clock.stamp()} {EVENT} {text}\n")

    def close(self) -> None:
        if self._owns and not self._file.closed:
            self._file.close()
        elif not self._file.closed:
            self._file.flush()


class LogTracer:
    """The ``-v`` variant: trace lines go to a logger (``w800at.trace``, DEBUG).

    The level check comes first, so with DEBUG off for that logger a chunk is
    not even escaped.
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.DEBUG) -> None:
        self.logger = logger if logger is not None else get_logger("w800at.trace")
        self.level = level

    def record(self, direction: str, data: bytes) -> None:
        if self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s %s", direction, escape_bytes(data))

    def note(self, text: str) -> None:
        if self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s %s", EVENT, text)

    def close(self) -> None:
        """Nothing to release: the logging system owns its handlers."""


class MultiTracer:
    """Fan out to several sinks (a trace file and ``-v`` together)."""

    def __init__(self, *sinks: TraceSink) -> None:
        self.sinks = sinks

    def record(self, direction: str, data: bytes) -> None:
        for sink in self.sinks:
            sink.record(direction, data)

    def note(self, text: str) -> None:
        for sink in self.sinks:
            sink.note(text)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


class TracingEvents(EventsWrapper):
    """Wraps the runtime's events sink: records host bytes and channel events."""

    def __init__(self, inner: ChannelEvents, sink: TraceSink) -> None:
        super().__init__(inner)
        self.sink = sink

    def attached(self) -> None:
        self.sink.note("attached")
        self.inner.attached()

    def detached(self) -> None:
        self.sink.note("detached")
        self.inner.detached()

    def data(self, data: bytes) -> None:
        self.sink.record(HOST_TO_MODULE, data)
        self.inner.data(data)

    def reset(self) -> None:
        self.sink.note("reset")
        self.inner.reset()


class TracingChannel(ChannelWrapper):
    """Wraps a channel: records the module's output and the host side via events."""

    def __init__(self, inner: Channel, sink: TraceSink) -> None:
        super().__init__(inner)
        self.sink = sink

    async def start(self, events: ChannelEvents) -> None:
        await self.inner.start(TracingEvents(events, self.sink))
        self.sink.note(f"channel {self.inner.description}")

    def write(self, data: bytes) -> None:
        self.sink.record(MODULE_TO_HOST, data)
        self.inner.write(data)

    def set_baud(self, baud: int) -> None:
        self.sink.note(f"baud {baud}")
        self.inner.set_baud(baud)

    def set_uart(
        self, baud: int, databits: int = 8, stopbits: int = 1, parity: int = 0, flow: int = 0
    ) -> None:
        self.sink.note(f"uart {baud},{databits},{stopbits},{parity},{flow}")
        super().set_uart(baud, databits, stopbits, parity, flow)

    async def close(self) -> None:
        try:
            await self.inner.close()
        finally:
            self.sink.note("closed")
            self.sink.close()


class TraceLinkTap:
    """Records the links' bytes and events in the same trace (a `LinkTap`).

    ``L<id>>`` is module -> peer on link ``<id>``, ``L<id><`` peer -> module; link
    events are notes (``-- link 0 open TCP 127.0.0.1:8080``).
    """

    def __init__(self, sink: TraceSink) -> None:
        self.sink = sink

    def up(self, link_id: int, data: bytes) -> None:
        self.sink.record(f"L{link_id}>", data)

    def down(self, link_id: int, data: bytes) -> None:
        self.sink.record(f"L{link_id}<", data)

    def event(self, link_id: int, text: str) -> None:
        self.sink.note(f"link {link_id} {text}")


def wrap_channel(channel: Channel, sink: TraceSink | None) -> Channel:
    """``channel`` traced through ``sink``; with no sink, ``channel`` itself."""
    return channel if sink is None else TracingChannel(channel, sink)


def make_sink(
    path: str | os.PathLike[str] | None, verbose: bool, *, log_level: int = logging.INFO
) -> TraceSink | None:
    """The sink for CLI flags ``--trace PATH`` and ``-v`` (None when both are off).

    ``-v`` means "info and every byte", so the log variant logs at INFO here.
    """
    sinks: list[TraceSink] = []
    if path:
        sinks.append(Tracer(path))
    if verbose:
        sinks.append(LogTracer(level=log_level))
    return combine(sinks)


def combine(sinks: list[TraceSink]) -> TraceSink | None:
    """One sink for several (None for none, the sink itself for one)."""
    if not sinks:
        return None
    return sinks[0] if len(sinks) == 1 else MultiTracer(*sinks)

"""The AT port as an RFC 2217 (telnet COM-PORT-OPTION) server.

Tools that speak ``rfc2217://host:port`` (pyserial, esptool-style flashers,
``socat``) then see a "serial port" whose control lines we can watch, which is
how a dev board's auto-reset reaches the emulator.

pyserial's ``PortManager`` does the telnet/RFC 2217 state machine; it is a pure
byte filter.  We give it a fake serial object (records baud, data bits, DTR,
RTS...) and a connection object (writes negotiation replies to the socket).

What counts as a reset
----------------------
pyserial's client sends, for ``ser.dtr = False; ser.dtr = True``::

    IAC SB COM-PORT-OPTION SET-CONTROL DTR-OFF(9) IAC SE
    IAC SB COM-PORT-OPTION SET-CONTROL DTR-ON(8)  IAC SE

(RTS uses 11 = on, 12 = off.)  On open it always sends DTR-ON and RTS-ON once;
the first value seen per connection only sets the line's resting level.  A
*pulse* -- the line leaves its resting level and comes back, in either
direction -- is a reset, like the EN pin behind a dev board's DTR/RTS
transistors.  Repeating the current level is not an edge.  After a reset both
lines take their current level as the new resting level, so a combined
DTR+RTS sequence (esptool's classic reset) yields one reset, not two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import serial.rfc2217 as rfc

from ..log import get_logger
from .base import Channel, ChannelEvents
from .tcp import SingleClientServer, format_hostport

log = get_logger("w800at.channel")

IAC = b"\xff"
#: seconds after connecting before a client that never purges counts as attached
ATTACH_FALLBACK = 0.5


class ControlLines:
    """Tracks DTR and RTS levels and reports completed pulses as resets."""

    def __init__(self, on_reset: Callable[[], None]) -> None:
        self._on_reset = on_reset
        self.level: dict[str, bool | None] = {"dtr": None, "rts": None}
        self._rest: dict[str, bool | None] = {"dtr": None, "rts": None}

    def set(self, line: str, value: bool) -> None:
        value = bool(value)
        if self.level[line] is None:
            self.level[line] = self._rest[line] = value
            return
        if self.level[line] == value:
            return
        self.level[line] = value
        if value == self._rest[line]:  # back where it rested: a full pulse
            self._rest = dict(self.level)
            log.info("rfc2217: %s pulse -> reset", line.upper())
            self._on_reset()


class FakeSerial:
    """The serial-port surface ``PortManager`` reads and writes.

    It does not move data (the channel does that); it records what the client
    configures so the emulator can report it, and forwards DTR/RTS changes.
    """

    # Module-side modem lines as a client sees them: ready, no carrier/ring.
    cts = True
    dsr = True
    ri = False
    cd = False

    def __init__(
        self, baudrate: int, lines: ControlLines, on_purge: Callable[[], None] = lambda: None
    ) -> None:
        self.baudrate = baudrate
        self._on_purge = on_purge
        self.bytesize = 8
        self.parity = "N"
        self.stopbits: float = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self._lines = lines

    @property
    def dtr(self) -> bool | None:
        return self._lines.level["dtr"]

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._lines.set("dtr", value)

    @property
    def rts(self) -> bool | None:
        return self._lines.level["rts"]

    @rts.setter
    def rts(self, value: bool) -> None:
        self._lines.set("rts", value)

    def reset_input_buffer(self) -> None:
        """Purge requests: nothing is held back on our side, so nothing to drop."""

    def reset_output_buffer(self) -> None:
        """pyserial's client ends ``open()`` with this purge, after discarding its own
        input: the moment the host is ready to hear ``ready``."""
        self._on_purge()


class _RawWriter:
    """PortManager's "connection": telnet replies go to the socket unescaped."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        self._transport.write(data)


class _Rfc2217Protocol(asyncio.Protocol):
    def __init__(self, channel: Rfc2217Channel, events: ChannelEvents) -> None:
        self._ch = channel
        self._events = events
        self._transport: asyncio.Transport | None = None
        self.manager: Any = None  # rfc.PortManager (untyped library)
        self.serial: FakeSerial | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._ch._server.admit(transport):
            return
        self._transport = transport
        self._attached = False
        self.serial = FakeSerial(self._ch.baud, ControlLines(self._events.reset), self._attach)
        # PortManager immediately sends its option requests through the writer.
        self.manager = rfc.PortManager(
            self.serial, _RawWriter(transport), logger=log.getChild("rfc2217")
        )
        self._ch._protocol = self
        # Report the host once its open() has settled (see FakeSerial.reset_output_buffer),
        # or after a short wait for clients that never purge: a client that clears its
        # input at the end of open() would otherwise throw the boot "ready" away.
        self._fallback = asyncio.get_running_loop().call_later(ATTACH_FALLBACK, self._attach)

    def _attach(self) -> None:
        if self._attached or self._transport is None:
            return
        self._attached = True
        self._fallback.cancel()
        self._events.attached()

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        pm = self.manager
        # Fast path, equivalent to PortManager.filter(): outside any telnet
        # command, bytes other than IAC pass through unchanged.
        if pm.mode != rfc.M_NORMAL or pm.suboption is not None or IAC in data:
            data = b"".join(pm.filter(data))
        if data:
            self._events.data(data)

    def write(self, data: bytes) -> None:
        assert self._transport is not None
        if IAC in data:  # PortManager.escape() doubles IAC; identity otherwise
            data = b"".join(self.manager.escape(data))
        self._transport.write(data)

    def pending(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None and self._ch._server.release(self._transport):
            self._transport = None
            self._fallback.cancel()
            if self._ch._protocol is self:
                self._ch._protocol = None
            self._events.detached()


class Rfc2217Channel(Channel):
    """An RFC 2217 server on ``host:port`` (loopback by default, port 0 allowed)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, baud: int = 115200) -> None:
        self.host = host
        self.port = port
        self.baud = baud
        self._server = SingleClientServer("rfc2217", host, port)
        self._protocol: _Rfc2217Protocol | None = None
        self.description = f"rfc2217 {format_hostport(host, port)}"

    @property
    def client_serial(self) -> FakeSerial | None:
        """What the connected client configured (baud, DTR, RTS...), if any."""
        return self._protocol.serial if self._protocol is not None else None

    async def start(self, events: ChannelEvents) -> None:
        self.port = await self._server.listen(lambda: _Rfc2217Protocol(self, events))
        self.description = f"rfc2217 {format_hostport(self.host, self.port)}"

    def write(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol is None:
            log.debug("rfc2217: no host attached, dropped %d bytes", len(data))
            return
        protocol.write(data)

    def pause_reading(self) -> None:
        self._server.pause_reading()

    def resume_reading(self) -> None:
        self._server.resume_reading()

    def pending(self) -> int:
        return self._protocol.pending() if self._protocol is not None else 0

    def set_baud(self, baud: int) -> None:
        """Remember the module's rate; RFC 2217 has no server-initiated baud notice."""
        self.baud = baud

    async def close(self) -> None:
        await self._server.close()

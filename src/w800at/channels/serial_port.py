"""The AT port on a real serial device (USB-UART adapter, null-modem pair).

pyserial opens and configures the port; after that the raw fd is driven by the
event loop (``add_reader``/``add_writer``) so nothing ever blocks.

Baud changes need care: the runtime calls ``set_baud()`` right after writing
the ``OK`` of ``AT+UART_CUR``.  That ``OK`` must leave the wire at the *old*
rate, as on the real module, so the change is deferred until our queue, the
kernel's queue (``TIOCOUTQ``) and finally the UART FIFO (``tcdrain``) are
empty.  Bytes written after ``set_baud()`` wait in a second queue and go out at
the new rate.
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any

import serial

from ..log import get_logger
from ._fdreader import FdReader
from ._writebuf import GONE_ERRNOS, FdWriter
from .base import Channel, ChannelEvents

log = get_logger("w800at.channel")

READ_CHUNK = 65536
DRAIN_POLL = 0.005


class SerialChannel(Channel):
    """A serial device opened through pyserial at ``baud``, 8N1, no flow control."""

    def __init__(self, device: str, baud: int = 115200) -> None:
        self.device = device
        self.baud = baud
        self.description = f"serial {device} @ {baud}"
        self._ser: Any = None  # serial.Serial (untyped library)
        self._fd = -1
        self._reader: FdReader | None = None
        self._events: ChannelEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: FdWriter | None = None
        self._attached = False
        self._pending_baud: int | None = None
        self._after_baud = bytearray()  # written after set_baud(), before it applied
        self._baud_timer: asyncio.TimerHandle | None = None

    async def start(self, events: ChannelEvents) -> None:
        self._ser = serial.Serial(self.device, self.baud, timeout=0)
        self._fd = int(self._ser.fileno())
        os.set_blocking(self._fd, False)
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._writer = FdWriter(self._loop, self._fd, self._on_gone, self._on_drained)
        self._reader = FdReader(self._loop, self._fd, self._on_readable)
        self._reader.start()
        self._attached = True
        events.attached()

    async def close(self) -> None:
        if self._baud_timer is not None:
            self._baud_timer.cancel()
            self._baud_timer = None
        if self._reader is not None:
            self._reader.stop()
        self._attached = False
        if self._writer is not None:
            self._writer.clear()
        if self._ser is not None:
            self._ser.close()
            self._ser = None

    # -- Channel API -----------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self._attached or self._writer is None:
            log.debug("serial: port gone, dropped %d bytes", len(data))
            return
        if self._pending_baud is not None:
            self._after_baud += data
            return
        self._writer.write(data)

    def pending(self) -> int:
        queued = self._writer.pending() if self._writer is not None else 0
        return queued + len(self._after_baud)

    def pause_reading(self) -> None:
        if self._reader is not None:
            self._reader.pause()

    def resume_reading(self) -> None:
        if self._reader is not None:
            self._reader.resume()

    def set_baud(self, baud: int) -> None:
        """Switch rate once everything already written has left at the old rate."""
        if self._ser is None or self._writer is None:
            self.baud = baud
            return
        self._pending_baud = baud
        if self._writer.pending() == 0:
            self._wait_kernel_drain()
        # else: _on_drained() continues once our queue is empty

    # -- internals ---------------------------------------------------------

    def _on_drained(self) -> None:
        if self._pending_baud is not None and self._baud_timer is None:
            self._wait_kernel_drain()

    def _wait_kernel_drain(self) -> None:
        """Poll TIOCOUTQ without blocking the loop; tcdrain only the last few bytes."""
        self._baud_timer = None
        if self._ser is None or self._pending_baud is None:
            return
        try:
            queued = int(self._ser.out_waiting)
        except (OSError, serial.SerialException):
            queued = 0
        if queued > 0:
            assert self._loop is not None
            self._baud_timer = self._loop.call_later(DRAIN_POLL, self._wait_kernel_drain)
            return
        self._ser.flush()  # tcdrain: at most the UART FIFO remains, a few ms at worst
        baud = self._pending_baud
        self._pending_baud = None
        self._ser.baudrate = baud
        self.baud = baud
        self.description = f"serial {self.device} @ {baud}"
        log.info("serial %s: baud rate now %d", self.device, baud)
        if self._after_baud and self._writer is not None:
            data = bytes(self._after_baud)
            self._after_baud.clear()
            self._writer.write(data)

    def _on_readable(self) -> None:
        assert self._events is not None
        try:
            data = os.read(self._fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in GONE_ERRNOS or exc.errno == errno.ENODEV:
                self._on_gone(exc)
                return
            raise
        if not data:  # readable but empty: the device went away (USB unplug)
            self._on_gone(OSError(errno.EIO, "end of file on serial device"))
            return
        self._events.data(data)

    def _on_gone(self, exc: OSError) -> None:
        if not self._attached:
            return
        assert self._loop is not None and self._events is not None
        log.warning("serial %s: device error (%s); port detached", self.device, exc)
        self._attached = False
        if self._reader is not None:
            self._reader.stop()
        if self._writer is not None:
            self._writer.clear()
        self._after_baud.clear()
        self._pending_baud = None
        self._events.detached()

"""The contract between the runtime and whatever carries the AT port.

A channel moves bytes between the host (the MCU's driver, a terminal) and the
module.  It knows nothing about AT.  The runtime gives it a `ChannelEvents` sink
and writes the module's output with `write()`.

Events a channel reports:
- ``attached()``: a host is now on the line (PTY opened, TCP client connected,
  serial port opened).  The runtime powers the module up on the first attach.
- ``detached()``: the host went away (PTY closed -> EIO, TCP client closed).
- ``data(bytes)``: bytes from the host, in chunks as large as the OS gives them.
- ``reset()``: a hardware reset request (RFC 2217 DTR/RTS toggle, like the EN pin).

AT+UART_CUR/DEF reach the channel as ``set_uart(baud, databits, stopbits, parity,
flow)`` once their ``OK`` was written (`apply_uart` calls it, or ``set_baud`` on an
older duck-typed channel).

Writes never block the event loop: a channel buffers what the OS does not take at
once and reports the backlog in ``pending()`` so the runtime can apply
back-pressure to the network side.
"""

from __future__ import annotations

from typing import Protocol


class ChannelEvents(Protocol):
    def attached(self) -> None: ...
    def detached(self) -> None: ...
    def data(self, data: bytes) -> None: ...
    def reset(self) -> None: ...


class Channel(Protocol):
    #: a short human description printed on start, e.g. "pty /dev/pts/3 -> ./w800.tty"
    description: str

    async def start(self, events: ChannelEvents) -> None:
        """Open the port and begin reporting events.  Returns once listening."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes for the host; never blocks.  Dropped while no host is attached."""
        ...

    def pending(self) -> int:
        """Bytes written but not yet taken by the OS."""
        ...

    def set_baud(self, baud: int) -> None:
        """Apply a new baud rate (AT+UART_CUR/DEF) where the medium has one; else no-op."""
        ...

    def set_uart(
        self, baud: int, databits: int = 8, stopbits: int = 1, parity: int = 0, flow: int = 0
    ) -> None:
        """Apply AT+UART_CUR/DEF's whole frame (``w800at.uart.UartFrame``'s fields), called
        once the command's ``OK`` was written.  By default only the rate matters: this
        calls `set_baud` (a class gets this default by subclassing `Channel`)."""
        self.set_baud(baud)

    def pause_reading(self) -> None:
        """Flow control: stop taking the host's bytes (they wait in the OS buffer, and the
        host's writes block, as behind a dropped RTS line) until `resume_reading`."""
        ...

    def resume_reading(self) -> None: ...

    async def close(self) -> None:
        """Stop, release every OS resource (fds, sockets, symlinks)."""
        ...


def apply_uart(
    channel: Channel,
    baud: int,
    databits: int = 8,
    stopbits: int = 1,
    parity: int = 0,
    flow: int = 0,
) -> None:
    """``channel.set_uart(...)``, or ``set_baud`` for a channel written before `set_uart`
    existed (duck-typed, not a `Channel` subclass)."""
    set_uart = getattr(channel, "set_uart", None)
    if set_uart is None:
        channel.set_baud(baud)
    else:
        set_uart(baud, databits, stopbits, parity, flow)


class EventsWrapper:
    """A channel's events on their way to ``inner`` (the runtime's sink, or the next
    wrapper's): each passes straight through unless a subclass changes it."""

    def __init__(self, inner: ChannelEvents) -> None:
        self.inner = inner

    def attached(self) -> None:
        self.inner.attached()

    def detached(self) -> None:
        self.inner.detached()

    def data(self, data: bytes) -> None:
        self.inner.data(data)

    def reset(self) -> None:
        self.inner.reset()


class ChannelWrapper:
    """A channel in front of another (``inner``): trace, pacing, the test bench's port
    faults.  Every call passes straight through unless a subclass changes it; a
    subclass writes `start` (which wraps the events it passes on)."""

    def __init__(self, inner: Channel) -> None:
        self.inner = inner

    @property
    def description(self) -> str:  # follows the inner channel (e.g. port 0 -> real port)
        return self.inner.description

    @description.setter
    def description(self, value: str) -> None:
        self.inner.description = value

    @property
    def stop_on_detach(self) -> bool:
        """The inner channel's: end of input ends the session (stdio)."""
        return bool(getattr(self.inner, "stop_on_detach", False))

    async def start(self, events: ChannelEvents) -> None:
        await self.inner.start(events)

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def pending(self) -> int:
        return self.inner.pending()

    def set_baud(self, baud: int) -> None:
        self.inner.set_baud(baud)

    def set_uart(
        self, baud: int, databits: int = 8, stopbits: int = 1, parity: int = 0, flow: int = 0
    ) -> None:
        apply_uart(self.inner, baud, databits, stopbits, parity, flow)

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    async def close(self) -> None:
        await self.inner.close()

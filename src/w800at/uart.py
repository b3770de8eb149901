"""The serial line as numbers: AT+UART_CUR's frame and the clock of bytes on a wire.

``UartFrame`` is AT+UART_CUR's ``<baudrate>,<databits>,<stopbits>,<parity>,<flow
control>`` with the arithmetic of one character on the line: a start bit, the data
bits, a parity bit if any, and the stop bits (AT+UART_CUR's ``<stopbits>`` 1 is one
bit, 2 is one and a half, 3 is two).  At 8N1 a byte is 10 bits: 86.8 us at 115200.

``LineClock`` says when the bytes of a continuous run have crossed the line: byte
``i`` of a run that started at ``t0`` has its last stop bit out at
``t0 + (i + 1) * byte_time``.  Times come from the event loop's clock; the clock
never accumulates rounding (every byte time is computed from the start of its run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: AT+UART_CUR <stopbits> -> stop bits on the wire
STOP_BITS = {1: 1.0, 2: 1.5, 3: 2.0}
#: AT+UART_CUR <parity> -> the letter of the usual "8N1" notation
PARITY_LETTER = {0: "N", 1: "O", 2: "E"}
#: AT+UART_CUR <flow control> bit 0: the module drives RTS (stops the host when full)
FLOW_RTS = 0x1
#: ... bit 1: the module obeys CTS (stops sending when the host is full)
FLOW_CTS = 0x2
#: a hair of a byte time, so that a timer firing exactly at a byte's end counts it
_EPSILON = 1e-6


@dataclass(frozen=True)
class UartFrame:
    """One UART configuration, in AT+UART_CUR's terms."""

    baud: int = 115200
    databits: int = 8
    stopbits: int = 1
    parity: int = 0
    flow: int = 0

    def __post_init__(self) -> None:
        if self.baud <= 0:
            raise ValueError(f"baud rate must be positive, not {self.baud}")
        if not 5 <= self.databits <= 8:
            raise ValueError(f"data bits must be 5 to 8, not {self.databits}")
        if self.stopbits not in STOP_BITS:
            raise ValueError(
                f"stop bits must be 1, 2 (1.5 bits) or 3 (2 bits), not {self.stopbits}"
            )
        if self.parity not in PARITY_LETTER:
            raise ValueError(f"parity must be 0 (none), 1 (odd) or 2 (even), not {self.parity}")
        if not 0 <= self.flow <= 3:
            raise ValueError(f"flow control must be 0 to 3, not {self.flow}")

    @property
    def bits_per_byte(self) -> float:
        """Start bit + data bits + parity bit (if any) + stop bits."""
        return 1 + self.databits + (1 if self.parity else 0) + STOP_BITS[self.stopbits]

    @property
    def byte_time(self) -> float:
        """Seconds one character occupies the line."""
        return self.bits_per_byte / self.baud

    @property
    def rts(self) -> bool:
        """Whether the module holds the host off (RTS) when its receive buffer is full."""
        return bool(self.flow & FLOW_RTS)

    def __str__(self) -> str:
        stop = STOP_BITS[self.stopbits]
        stop_text = f"{stop:g}"
        flow = {0: "", 1: " rts", 2: " cts", 3: " rts/cts"}[self.flow]
        return f"{self.baud} {self.databits}{PARITY_LETTER[self.parity]}{stop_text}{flow}"


class LineClock:
    """When the bytes of the current run leave the line (see the module docstring)."""

    __slots__ = ("byte_time", "n", "t0")

    def __init__(self, byte_time: float, now: float = 0.0) -> None:
        self.byte_time = byte_time
        self.t0 = now
        self.n = 0  # bytes of this run already counted out

    def restart(self, at: float, byte_time: float | None = None) -> None:
        """A new run starts at ``at`` (the line was idle, or the rate changed)."""
        if byte_time is not None:
            self.byte_time = byte_time
        self.t0 = at
        self.n = 0

    def end(self) -> float:
        """When the last byte counted out so far has fully crossed the line."""
        return self.t0 + self.n * self.byte_time

    def end_after(self, k: int) -> float:
        """When ``k`` more bytes will have crossed the line."""
        return self.t0 + (self.n + k) * self.byte_time

    def due(self, now: float) -> int:
        """How many more bytes of this run have crossed the line by ``now``."""
        done = math.floor((now - self.t0) / self.byte_time + _EPSILON)
        return max(0, done - self.n)

    def take(self, k: int) -> None:
        self.n += k

"""UART-true timing on any channel: the module's bytes leave at the line rate.

A driver that works against an emulator answering in microseconds can still fail on
a real UART (timeouts, overruns).  `PacedChannel` wraps any channel (PTY, TCP,
serial, ...) and keeps the pace of a serial line at AT+UART_CUR's frame (a byte is
start + data + parity + stop bits: 86.8 us at 115200 8N1):

* ``output``: writes are queued and released on the loop's clock, in batches of
  about `TICK` seconds, each batch when its last byte has crossed the line.  The
  schedule is anchored to the start of each run of bytes, so the average rate and
  the arrival of the last byte are exact; only the moment a batch is handed to the
  OS is quantised.  ``pending()`` counts the queue, so the runtime's back-pressure
  (links stop reading while the host port is backed up) still works.
* ``both``: the host's bytes are also taken at the line rate, into a receive buffer
  of the real module's size (`Profile.uart_rx_buffer`).  While the module is not
  reading (the runtime called ``pause_reading()``), bytes collect there and, once
  it is full, are **lost** as on hardware (counted, logged once per overflow
  episode, noted in the trace) -- unless RTS flow control is on (``--flow-control
  rtscts``, or AT+UART_CUR's ``<flow control>`` bit 0): then the line stops when the
  buffer is full (RTS dropped) and the host's writes wait in its OS buffer.

AT+UART_CUR/DEF reach the wrapper as ``set_uart(...)`` after their ``OK`` was
written: the new frame applies once the bytes already queued (the ``OK``) have left
at the old one; the inner channel gets ``set_uart`` at that moment too (a real
serial port then changes its rate).

Pacing off costs nothing: `wrap_pacing` returns the channel itself, no wrapper.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..uart import LineClock, UartFrame
from .base import Channel, ChannelEvents, ChannelWrapper, EventsWrapper, apply_uart

if TYPE_CHECKING:
    from ..trace import TraceSink

log = logging.getLogger("w800at.channel.pacing")

MODES = ("off", "output", "both")
FLOW_CONTROLS = ("none", "rtscts")
#: roughly how much line time one release batch covers (seconds)
TICK = 0.004
#: bytes read from the host's side ahead of the line (its UART's transmit buffer, as
#: seen from the module); above this the inner channel stops reading, so the host's
#: writes wait in the OS as behind a real UART
WIRE_MAX = 4096


@dataclass(frozen=True)
class Pacing:
    """What ``--pacing``, ``--baud`` and ``--flow-control`` ask for."""

    mode: str = "output"  # "output" or "both" ("off" never builds a wrapper)
    frame: UartFrame = field(default_factory=UartFrame)
    #: the module's receive buffer, bytes (``both`` only)
    rx_buffer: int = 1024

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"pacing must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.rx_buffer <= 0:
            raise ValueError(f"receive buffer must be positive, not {self.rx_buffer}")


def pacing_from_options(
    mode: str, baud: int, flow_control: str, rx_buffer: int, frame: UartFrame | None = None
) -> Pacing | None:
    """The CLI's choice as a `Pacing` (None for ``off``).

    ``frame`` gives the data bits, stop bits and parity (the dialect's default UART
    configuration); ``baud`` and ``flow_control`` override its rate and flow bits.
    """
    if mode not in MODES:
        raise ValueError(f"--pacing must be one of {', '.join(MODES)}, not {mode!r}")
    if flow_control not in FLOW_CONTROLS:
        raise ValueError(
            f"--flow-control must be one of {', '.join(FLOW_CONTROLS)}, not {flow_control!r}"
        )
    if mode == "off":
        return None
    base = frame if frame is not None else UartFrame()
    flow = 3 if flow_control == "rtscts" else 0
    return Pacing(mode, replace(base, baud=baud, flow=flow), rx_buffer)


def wrap_pacing(channel: Channel, pacing: Pacing | None, sink: TraceSink | None = None) -> Channel:
    """``channel`` kept at the line's pace; with no pacing (``off``), ``channel`` itself."""
    if pacing is None or pacing.mode == "off":
        return channel
    return PacedChannel(channel, pacing, sink)


class _PacedEvents(EventsWrapper):
    """The inner channel's events, seen by the wrapper before the runtime."""

    def __init__(self, owner: PacedChannel, inner: ChannelEvents) -> None:
        super().__init__(inner)
        self._owner = owner

    def attached(self) -> None:
        self._owner._on_attached()

    def detached(self) -> None:
        self._owner._on_detached()

    def data(self, data: bytes) -> None:
        self._owner._on_host_data(data)


class PacedChannel(ChannelWrapper):
    """Wraps a channel: output (and with ``both``, input) at the UART's pace."""

    def __init__(self, inner: Channel, pacing: Pacing, sink: TraceSink | None = None) -> None:
        super().__init__(inner)
        self.pacing = pacing
        self.frame = pacing.frame
        self.sink = sink
        self._pace_input = pacing.mode == "both"
        self.rx_buffer = pacing.rx_buffer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: ChannelEvents | None = None
        self._attached = False
        # -- output
        self._tx_queue = bytearray()
        self._tx_clock = LineClock(self.frame.byte_time)
        self._tx_timer: asyncio.TimerHandle | None = None
        self._tx_when = 0.0
        self._queued = 0  # bytes ever queued ...
        self._released = 0  # ... and ever released to the inner channel
        #: frames waiting for the bytes queued before them: (queued count, frame)
        self._switches: list[tuple[int, UartFrame]] = []
        # -- input (``both``)
        self._rx_wire = bytearray()  # read from the host, not yet across the line
        self._rx_clock = LineClock(self.frame.byte_time)
        self._rx_buf = bytearray()  # the module's receive buffer
        self._rx_timer: asyncio.Handle | None = None
        self._rx_when: float | None = None
        self._module_paused = False  # the runtime is not reading
        self._inner_paused = False  # we stopped reading the host (WIRE_MAX)
        self._stalled = False  # RTS dropped: the line waits for room in the buffer
        self._detach_pending = False
        #: host bytes lost to a full receive buffer: this episode, and in all
        self.lost = 0
        self.lost_total = 0

    # -- Channel API -------------------------------------------------------

    @property
    def rx_buffered(self) -> int:
        """Bytes in the module's receive buffer (waiting for the module to read)."""
        return len(self._rx_buf)

    async def start(self, events: ChannelEvents) -> None:
        self._loop = asyncio.get_running_loop()
        self._events = events
        self._tx_clock.restart(self._loop.time())
        await self.inner.start(_PacedEvents(self, events))
        log.info(
            "pacing %s at %s%s",
            self.pacing.mode,
            self.frame,
            f", receive buffer {self.rx_buffer} bytes" if self._pace_input else "",
        )

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._attached or self._loop is None:
            self.inner.write(data)  # the inner channel drops it (and says so)
            return
        if not self._tx_queue:
            # the line has been idle since its last byte ended: a new run starts now
            self._tx_clock.restart(self._loop.time())
        self._tx_queue += data
        self._queued += len(data)
        if self._tx_timer is None:
            self._tx_schedule()

    def pending(self) -> int:
        return len(self._tx_queue) + self.inner.pending()

    def set_baud(self, baud: int) -> None:
        """A new rate, the rest of the frame as it is (or is about to be)."""
        f = self._switches[-1][1] if self._switches else self.frame
        self.set_uart(baud, f.databits, f.stopbits, f.parity, f.flow)

    def set_uart(
        self, baud: int, databits: int = 8, stopbits: int = 1, parity: int = 0, flow: int = 0
    ) -> None:
        frame = UartFrame(baud, databits, stopbits, parity, flow)
        if self._tx_queue:
            self._switches.append((self._queued, frame))  # after what was written so far
        else:
            self._apply_frame(frame)

    def pause_reading(self) -> None:
        if not self._pace_input:
            self.inner.pause_reading()
            return
        self._module_paused = True

    def resume_reading(self) -> None:
        if not self._pace_input:
            self.inner.resume_reading()
            return
        self._module_paused = False
        self._rx_schedule()

    async def close(self) -> None:
        if self._tx_queue and self.stop_on_detach and self._loop is not None:
            # stdio: the session ended with input; its output still leaves at the pace
            deadline = self._loop.time() + len(self._tx_queue) * self.frame.byte_time + 1.0
            while self._tx_queue and self._loop.time() < deadline:
                await asyncio.sleep(TICK)
        for timer in (self._tx_timer, self._rx_timer):
            if timer is not None:
                timer.cancel()
        self._tx_timer = self._rx_timer = None
        self._end_loss_episode()
        if self._tx_queue:  # shutting down: hand over what is left at once
            data = bytes(self._tx_queue)
            self._tx_queue.clear()
            self.inner.write(data)
        await self.inner.close()

    # -- events from the inner channel -----------------------------------------

    def _on_attached(self) -> None:
        assert self._events is not None
        if self._detach_pending:  # a new host before the old one's bytes were taken
            self._finish_detach()
        self._attached = True
        self._events.attached()

    def _on_detached(self) -> None:
        if not self.stop_on_detach:
            # the host is gone: its unsent output with it (a pending frame still applies).
            # (stdio's end of input leaves stdout open: output goes on, in order.)
            self._attached = False
            self._drop_output()
        if self._rx_wire or (self._rx_buf and not self._module_paused):
            # what the host wrote before it left still reaches the module, at the pace
            self._detach_pending = True
            return
        self._finish_detach()

    def _finish_detach(self) -> None:
        assert self._events is not None
        self._detach_pending = False
        self._stalled = False
        self._end_loss_episode()
        self._events.detached()

    def _on_host_data(self, data: bytes) -> None:
        assert self._events is not None and self._loop is not None
        if not self._pace_input:
            self._events.data(data)
            return
        if not self._rx_wire and not self._stalled:
            self._rx_clock.restart(self._loop.time())  # the line was idle
        self._rx_wire += data
        if len(self._rx_wire) >= WIRE_MAX and not self._inner_paused:
            self._inner_paused = True
            self.inner.pause_reading()
        self._rx_schedule()

    # -- output --------------------------------------------------------------

    def _tx_schedule(self) -> None:
        """Arm the timer for the end of the next batch (queue non-empty)."""
        assert self._loop is not None
        before_switch = (
            self._switches[0][0] - self._released if self._switches else len(self._tx_queue)
        )
        batch = max(1, round(TICK / self._tx_clock.byte_time))
        self._tx_when = self._tx_clock.end_after(min(batch, before_switch))
        self._tx_timer = self._loop.call_at(self._tx_when, self._tx_tick)

    def _tx_tick(self) -> None:
        assert self._loop is not None
        self._tx_timer = None
        now = max(self._loop.time(), self._tx_when)
        while True:
            boundary = (
                self._switches[0][0] - self._released if self._switches else len(self._tx_queue)
            )
            k = min(self._tx_clock.due(now), boundary)
            if k > 0:
                self._tx_clock.take(k)
                chunk = bytes(memoryview(self._tx_queue)[:k])
                del self._tx_queue[:k]
                self._released += k
                self.inner.write(chunk)
            if self._switches and self._switches[0][0] == self._released:
                # every byte written before AT+UART_CUR's frame change has left
                _, frame = self._switches.pop(0)
                self._apply_frame(frame, at=self._tx_clock.end())
                continue
            break
        if self._tx_queue:
            self._tx_schedule()

    def _drop_output(self) -> None:
        if self._tx_timer is not None:
            self._tx_timer.cancel()
            self._tx_timer = None
        self._released += len(self._tx_queue)
        self._tx_queue.clear()
        while self._switches:
            self._apply_frame(self._switches.pop(0)[1])

    def _apply_frame(self, frame: UartFrame, at: float | None = None) -> None:
        """The new frame is on: both directions at its rate, RTS per its flow bits."""
        assert self._loop is not None
        now = self._loop.time()
        self.frame = frame
        self._tx_clock.restart(now if at is None else at, frame.byte_time)
        self._rx_clock.restart(now, frame.byte_time)  # the host switches when it sees OK
        if self._stalled and not frame.rts:
            self._stalled = False  # RTS no longer holds the host: the line runs again
        log.info("pacing: UART now %s", frame)
        if self.sink is not None:
            self.sink.note(f"pace {frame}")
        apply_uart(self.inner, frame.baud, frame.databits, frame.stopbits, frame.parity, frame.flow)
        if self._pace_input:
            self._rx_schedule()

    # -- input (``both``) ---------------------------------------------------------

    def _rx_schedule(self) -> None:
        """Arm the input timer: at once for a buffer a reading module should take, else
        at the end of the next batch on the line."""
        assert self._loop is not None
        if self._rx_buf and not self._module_paused:
            when: float | None = self._loop.time()
        elif self._rx_wire and not self._stalled:
            batch = max(1, round(TICK / self._rx_clock.byte_time))
            when = self._rx_clock.end_after(min(batch, len(self._rx_wire)))
        else:
            when = None
        if when == self._rx_when and (when is None or self._rx_timer is not None):
            return
        if self._rx_timer is not None:
            self._rx_timer.cancel()
            self._rx_timer = None
        self._rx_when = when
        if when is not None:
            self._rx_timer = self._loop.call_at(when, self._rx_tick)

    def _rx_tick(self) -> None:
        assert self._loop is not None and self._events is not None
        self._rx_timer = None
        now = self._loop.time() if self._rx_when is None else max(self._loop.time(), self._rx_when)
        self._rx_when = None
        if self._rx_buf and not self._module_paused:
            self._deliver_buffer(now)
        if self._rx_wire and not self._stalled:
            k = min(self._rx_clock.due(now), len(self._rx_wire))
            if k > 0:
                self._arrive(k)
        if self._inner_paused and len(self._rx_wire) < WIRE_MAX // 2:
            self._inner_paused = False
            self.inner.resume_reading()
        if self._detach_pending and not self._rx_wire and (not self._rx_buf or self._module_paused):
            self._finish_detach()
            return
        self._rx_schedule()

    def _deliver_buffer(self, now: float) -> None:
        """A reading module takes everything its receive buffer holds."""
        assert self._events is not None
        data = bytes(self._rx_buf)
        self._rx_buf.clear()
        self._end_loss_episode()
        if self._stalled:  # room again: RTS up, the host's UART sends on
            self._stalled = False
            self._rx_clock.restart(now)
        self._events.data(data)

    def _arrive(self, k: int) -> None:
        """``k`` bytes have crossed the line: to the module, its buffer, or lost."""
        assert self._events is not None
        wire = self._rx_wire
        if not self._module_paused and not self._rx_buf:
            chunk = bytes(memoryview(wire)[:k])
            del wire[:k]
            self._rx_clock.take(k)
            self._events.data(chunk)
            return
        room = self.rx_buffer - len(self._rx_buf)
        if k <= room:
            self._rx_buf += memoryview(wire)[:k]
            del wire[:k]
            self._rx_clock.take(k)
            return
        self._rx_buf += memoryview(wire)[:room]
        if self.frame.rts:
            # buffer full: RTS drops, the host's UART stops; the rest waits on its side
            del wire[:room]
            self._rx_clock.take(room)
            self._stalled = True
            return
        del wire[:k]
        self._rx_clock.take(k)
        self.lost += k - room
        self.lost_total += k - room

    def _end_loss_episode(self) -> None:
        if not self.lost:
            return
        lost, self.lost = self.lost, 0
        log.warning(
            "pacing: receive buffer full (%d bytes) while the module was not reading: "
            "%d host bytes lost (no flow control)",
            self.rx_buffer,
            lost,
        )
        if self.sink is not None:
            self.sink.note(f"rx overflow: {lost} bytes lost")

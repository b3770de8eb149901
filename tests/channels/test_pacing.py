"""PacedChannel: UART frame arithmetic, and the receive buffer against a real PTY host.

The runtime's ``pause_reading()`` is called directly here (a "direct pause"), so the
overflow point is exact: the host writes K bytes while the module is not reading;
without flow control exactly the receive buffer's worth is kept and the rest lost,
with RTS/CTS nothing is lost and the host's writes wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
import serial

from tests.live import MemoryChannel
from w800at.channels.base import apply_uart
from w800at.channels.pacing import PacedChannel, Pacing, pacing_from_options, wrap_pacing
from w800at.channels.pty import PtyChannel
from w800at.channels.tcp import TcpChannel
from w800at.commands import FEATURES
from w800at.core.engine import Engine
from w800at.profiles import ESP_AT, W800
from w800at.runtime import Runtime
from w800at.trace import TracingChannel
from w800at.uart import LineClock, UartFrame

from .helpers import RecordingEvents, until


class NoteSink:
    """A trace sink that keeps its notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def record(self, direction: str, data: bytes) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)

    def close(self) -> None:
        pass


# -- the frame -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "bits"),
    [
        (UartFrame(115200, 8, 1, 0, 0), 10.0),  # 8N1
        (UartFrame(115200, 8, 1, 2, 0), 11.0),  # 8E1: a parity bit
        (UartFrame(115200, 8, 2, 1, 0), 11.5),  # 8O1.5: <stopbits> 2 is 1.5 bits
        (UartFrame(115200, 7, 3, 1, 0), 11.0),  # 7O2: <stopbits> 3 is 2 bits
        (UartFrame(9600, 5, 1, 0, 3), 7.0),  # 5N1; flow control adds no bits
    ],
)
def test_bits_per_byte(frame: UartFrame, bits: float) -> None:
    assert frame.bits_per_byte == bits
    assert frame.byte_time == pytest.approx(bits / frame.baud)


def test_8n1_at_115200_is_86_8_us_per_byte() -> None:
    assert UartFrame().byte_time == pytest.approx(86.8e-6, abs=0.05e-6)
    assert str(UartFrame()) == "115200 8N1"
    assert str(UartFrame(9600, 7, 2, 2, 3)) == "9600 7E1.5 rts/cts"


def test_bad_frames_are_refused() -> None:
    for bad in ({"baud": 0}, {"databits": 9}, {"stopbits": 0}, {"parity": 3}, {"flow": 4}):
        with pytest.raises(ValueError):
            UartFrame(**bad)  # type: ignore[arg-type]


def test_line_clock_counts_bytes_from_the_start_of_a_run() -> None:
    clock = LineClock(0.001, now=10.0)
    assert clock.due(10.0) == 0
    assert clock.due(10.0025) == 2
    assert clock.due(10.003) == 3  # a byte whose stop bit ends exactly now is out
    clock.take(3)
    assert clock.end() == pytest.approx(10.003)
    assert clock.end_after(2) == pytest.approx(10.005)
    assert clock.due(10.1) == 97  # no drift: always from t0
    clock.restart(20.0, 0.002)
    assert clock.due(20.0039) == 1


# -- wiring ------------------------------------------------------------------------


def test_pacing_off_is_the_bare_channel() -> None:
    ch = TcpChannel("127.0.0.1", 0)
    assert pacing_from_options("off", 115200, "none", 1024) is None
    assert wrap_pacing(ch, None) is ch
    assert wrap_pacing(ch, pacing_from_options("off", 9600, "rtscts", 1024)) is ch
    paced = wrap_pacing(ch, pacing_from_options("output", 9600, "none", 1024))
    assert isinstance(paced, PacedChannel) and paced.inner is ch


def test_options_become_a_frame() -> None:
    p = pacing_from_options("both", 921600, "rtscts", ESP_AT.uart_rx_buffer)
    assert p is not None
    assert p.frame == UartFrame(921600, 8, 1, 0, 3) and p.frame.rts
    assert p.rx_buffer == 2048
    assert W800.uart_rx_buffer == 1024
    with pytest.raises(ValueError):
        pacing_from_options("fast", 9600, "none", 1024)
    with pytest.raises(ValueError):
        pacing_from_options("both", 9600, "xonxoff", 1024)


# -- the receive buffer, against a real PTY host -------------------------------------


async def _paced_pty(
    link: str, frame: UartFrame, sink: NoteSink
) -> tuple[PacedChannel, RecordingEvents, serial.Serial]:
    ev = RecordingEvents()
    paced = PacedChannel(PtyChannel(link), Pacing("both", frame, rx_buffer=1024), sink)
    await paced.start(ev)
    ser = await asyncio.to_thread(serial.Serial, link, frame.baud, timeout=1)
    await ev.wait_for(lambda: ev.count("attached") == 1)
    return paced, ev, ser


def test_no_flow_control_keeps_the_buffer_and_loses_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = str(tmp_path / "w800.tty")
    frame = UartFrame(115200)
    k = 3000
    payload = bytes(i % 251 for i in range(k))
    sink = NoteSink()

    async def main() -> None:
        paced, ev, ser = await _paced_pty(link, frame, sink)
        try:
            paced.pause_reading()  # the module stops reading (as the runtime would)
            await asyncio.to_thread(ser.write, payload)
            # every byte has crossed the line (k byte times) and nothing reached the module
            await until(lambda: paced.lost == k - 1024, timeout=k * frame.byte_time + 2)
            assert paced.rx_buffered == 1024
            assert bytes(ev.received) == b""
            await asyncio.sleep(0.05)
            assert paced.lost == k - 1024  # not one byte more
            paced.resume_reading()
            await ev.wait_for(lambda: len(ev.received) >= 1024)
            await asyncio.sleep(0.05)
            assert bytes(ev.received) == payload[:1024]  # the first 1024, in order
            assert paced.lost_total == k - 1024
            assert paced.lost == 0  # the episode ended when the module read again
        finally:
            await asyncio.to_thread(ser.close)
            await paced.close()

    with caplog.at_level(logging.WARNING, logger="w800at.channel.pacing"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert len(lines) == 1  # one line per overflow episode ...
    assert f"{k - 1024} host bytes lost" in lines[0]  # ... with the count
    assert sink.notes.count(f"rx overflow: {k - 1024} bytes lost") == 1


def test_rtscts_loses_nothing_and_holds_the_host(tmp_path: Path) -> None:
    link = str(tmp_path / "w800.tty")
    frame = UartFrame(4_000_000, flow=3)  # fast: the host's OS buffers fill in well under 1 s
    k = 400_000  # more than the PTY and the line can hold while the module is not reading
    payload = bytes((i * 7) % 256 for i in range(k))
    sink = NoteSink()

    async def main() -> None:
        paced, ev, ser = await _paced_pty(link, frame, sink)
        written = threading.Event()

        def host_write() -> None:
            ser.write(payload)  # blocks while the module holds the line
            written.set()

        try:
            paced.pause_reading()
            writer = threading.Thread(target=host_write, daemon=True)
            writer.start()
            await until(lambda: paced.rx_buffered == 1024, timeout=5)
            await asyncio.sleep(0.5)  # long enough to move k bytes at this rate, if it could
            assert not written.is_set()  # the host's write is held
            assert paced.rx_buffered == 1024  # exactly the buffer, nothing more
            assert paced.lost_total == 0
            assert bytes(ev.received) == b""
            paced.resume_reading()
            await ev.wait_for(lambda: len(ev.received) >= k, timeout=10)
            assert bytes(ev.received) == payload  # every byte, in order
            assert await asyncio.to_thread(written.wait, 5)
            assert paced.lost_total == 0
        finally:
            await asyncio.to_thread(ser.close)
            await paced.close()

    asyncio.run(main())
    assert not any("lost" in n for n in sink.notes)


def test_at_uart_cur_flow_bit_switches_rts_at_run_time(tmp_path: Path) -> None:
    """``set_uart(..., flow=0)`` while RTS holds the host: the line runs again and
    the bytes beyond the buffer are lost, as when AT+UART_CUR turns flow control off."""
    link = str(tmp_path / "w800.tty")
    frame = UartFrame(115200, flow=1)  # RTS only
    k = 3000
    payload = bytes(i % 253 for i in range(k))
    sink = NoteSink()

    async def main() -> None:
        paced, ev, ser = await _paced_pty(link, frame, sink)
        try:
            paced.pause_reading()
            await asyncio.to_thread(ser.write, payload)
            await until(lambda: paced.rx_buffered == 1024, timeout=5)
            await asyncio.sleep((k - 1024) * frame.byte_time + 0.1)
            assert paced.lost_total == 0  # held, not lost
            paced.set_uart(115200, 8, 1, 0, 0)  # nothing queued: applies at once
            await until(lambda: paced.lost == k - 1024, timeout=5)
            paced.resume_reading()
            await ev.wait_for(lambda: len(ev.received) >= 1024)
            assert bytes(ev.received) == payload[:1024]
        finally:
            await asyncio.to_thread(ser.close)
            await paced.close()

    asyncio.run(main())
    assert "pace 115200 8N1" in sink.notes


# -- the channel API: AT+UART_CUR's frame reaches the channel ------------------------


class UartRecorder(MemoryChannel):
    """A memory port that records ``set_uart`` and what had been written by then."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int, int, int, int]] = []
        self.written_before: list[bytes] = []

    def set_uart(
        self, baud: int, databits: int = 8, stopbits: int = 1, parity: int = 0, flow: int = 0
    ) -> None:
        self.calls.append((baud, databits, stopbits, parity, flow))
        self.written_before.append(bytes(self.out))


def test_uart_cur_hands_the_whole_frame_to_the_channel_after_ok() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ch = UartRecorder()
        rt = Runtime(Engine(W800, FEATURES, now=loop.time()), ch, None)
        await ch.start(rt)
        try:
            await until(lambda: ch.out.endswith(b"ready\r\n"))
            ch.out.clear()
            ch.feed(b"AT+UART_CUR=9600,7,3,2,1\r\n")
            await until(lambda: bool(ch.calls))
            assert ch.calls == [(9600, 7, 3, 2, 1)]
            assert ch.written_before == [b"AT+UART_CUR=9600,7,3,2,1\r\n\r\nOK\r\n"]
        finally:
            await rt.close()

    asyncio.run(main())


def test_apply_uart_falls_back_to_set_baud_and_tracing_forwards_the_frame() -> None:
    class OldChannel:  # duck-typed, from before set_uart: only set_baud
        def __init__(self) -> None:
            self.bauds: list[int] = []

        def set_baud(self, baud: int) -> None:
            self.bauds.append(baud)

    old = OldChannel()
    apply_uart(old, 9600, 7, 3, 2, 1)  # type: ignore[arg-type]
    assert old.bauds == [9600]

    inner = UartRecorder()
    sink = NoteSink()
    TracingChannel(inner, sink).set_uart(57600, 8, 1, 2, 0)
    assert inner.calls == [(57600, 8, 1, 2, 0)]
    assert sink.notes == ["uart 57600,8,1,2,0"]

    # a Channel subclass that only knows set_baud gets it through the default set_uart
    tcp = TcpChannel("127.0.0.1", 0)
    seen: list[int] = []
    tcp.set_baud = seen.append  # type: ignore[method-assign]
    apply_uart(tcp, 19200, 8, 1, 0, 3)
    assert seen == [19200]

"""Rfc2217Channel against pyserial's own RFC 2217 client."""

from __future__ import annotations

import asyncio
import socket
import time

import serial

from w800at.channels.rfc2217 import ControlLines, Rfc2217Channel

from .helpers import RecordingEvents

# IAC (0xff) must survive both ways: the client doubles it, we must too.
PAYLOAD = b"AT+SKSND=0,8\r\n\xff\x00\xff\xff\r\n\x03\x11\x13\x7f" + bytes(range(256))


def read_exact(ser: serial.Serial, n: int, timeout: float = 5.0) -> bytes:
    out = bytearray()
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        out += ser.read(n - len(out))
    return bytes(out)


def second_client_refused(port: int) -> bool:
    """Connect a second client: it must see EOF/reset and no negotiation bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s2:
        try:
            return s2.recv(100) == b""
        except ConnectionResetError:
            return True


def toggle_dtr(ser: serial.Serial) -> None:
    ser.dtr = False
    ser.dtr = True


def toggle_rts(ser: serial.Serial) -> None:
    ser.rts = False
    ser.rts = True


def test_rfc2217_data_baud_and_dtr_reset() -> None:
    async def main() -> None:
        ev = RecordingEvents()
        ch = Rfc2217Channel("127.0.0.1", 0)
        await ch.start(ev)
        try:
            assert ch.description == f"rfc2217 127.0.0.1:{ch.port}"
            url = f"rfc2217://127.0.0.1:{ch.port}"
            ser = await asyncio.to_thread(serial.serial_for_url, url, baudrate=115200, timeout=1)
            try:
                await ev.wait_for(lambda: ev.count("attached") == 1)
                # Opening sets DTR/RTS once: a resting level, not a reset.
                assert ch.client_serial is not None
                assert ch.client_serial.baudrate == 115200
                assert ch.client_serial.dtr is True and ch.client_serial.rts is True
                assert ev.count("reset") == 0

                await asyncio.to_thread(ser.write, PAYLOAD)
                assert await ev.wait_bytes(len(PAYLOAD)) == PAYLOAD
                ch.write(PAYLOAD)
                assert await asyncio.to_thread(read_exact, ser, len(PAYLOAD)) == PAYLOAD

                # The client changes its rate: recorded, no reset.
                await asyncio.to_thread(setattr, ser, "baudrate", 9600)
                await ev.wait_for(
                    lambda: ch.client_serial is not None and ch.client_serial.baudrate == 9600
                )

                await asyncio.to_thread(toggle_dtr, ser)
                await ev.wait_for(lambda: ev.count("reset") == 1)
                await asyncio.to_thread(toggle_rts, ser)
                await ev.wait_for(lambda: ev.count("reset") == 2)
                # Re-asserting an already asserted line is not an edge.
                await asyncio.to_thread(setattr, ser, "dtr", True)
                await asyncio.to_thread(ser.write, b"AT\r\n")
                await ev.wait_bytes(len(PAYLOAD) + 4)
                assert bytes(ev.received) == PAYLOAD + b"AT\r\n"
                assert ev.count("reset") == 2

                # A second client is refused while this one is on.
                assert await asyncio.to_thread(second_client_refused, ch.port)
                assert ev.count("attached") == 1
            finally:
                await asyncio.to_thread(ser.close)
            await ev.wait_for(lambda: ev.count("detached") == 1)
            assert ch.client_serial is None
            ch.write(b"dropped")
            assert ch.pending() == 0
        finally:
            await ch.close()

    asyncio.run(main())


def test_control_lines_pulse_logic() -> None:
    resets: list[int] = []
    lines = ControlLines(lambda: resets.append(1))
    lines.set("dtr", True)  # resting level
    lines.set("rts", True)
    lines.set("dtr", True)  # same level: nothing
    assert resets == []
    lines.set("dtr", False)  # leaves rest...
    assert resets == []
    lines.set("dtr", True)  # ...and returns: reset
    assert resets == [1]
    # Reverse polarity pulse on a line resting low.
    other = ControlLines(lambda: resets.append(2))
    other.set("rts", False)
    other.set("rts", True)
    other.set("rts", False)
    assert resets == [1, 2]
    # esptool classic reset: DTR off, RTS on, DTR on, RTS off -> one reset
    esp = ControlLines(lambda: resets.append(3))
    esp.set("dtr", True)
    esp.set("rts", True)
    esp.set("dtr", False)
    esp.set("rts", True)
    esp.set("dtr", True)
    esp.set("rts", False)
    assert resets == [1, 2, 3]

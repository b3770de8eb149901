"""SerialChannel on a real tty: the slave of a PTY pair we own plays the UART."""

from __future__ import annotations

import asyncio
import os
import termios

from w800at.channels.serial_port import SerialChannel

from .helpers import RecordingEvents, read_fd_exact, until

EVERY_BYTE = bytes(range(256))


def speed(fd: int) -> int:
    """Output speed constant of the tty pair (a PTY master reports the slave's)."""
    return int(termios.tcgetattr(fd)[5])


def test_serial_roundtrip_and_deferred_baud_change() -> None:
    async def main() -> None:
        master, slave = os.openpty()
        name = os.ttyname(slave)
        ev = RecordingEvents()
        ch = SerialChannel(name, 115200)
        try:
            await ch.start(ev)
            assert ev.log == ["attached"]  # at once: a UART is always "connected"
            assert speed(master) == termios.B115200
            assert ch.description == f"serial {name} @ 115200"

            os.write(master, EVERY_BYTE)
            assert await ev.wait_bytes(256) == EVERY_BYTE
            ch.write(EVERY_BYTE)
            assert await asyncio.to_thread(read_fd_exact, master, 256) == EVERY_BYTE

            # Queue more than the tty takes, then ask for a new rate: it must not
            # apply until those bytes are gone; bytes written after it follow.
            before = bytes(range(256)) * 1024
            ch.write(before)
            assert ch.pending() > 0
            ch.set_baud(9600)
            ch.write(b"\r\nOK\r\n")
            assert speed(master) == termios.B115200
            got = await asyncio.to_thread(read_fd_exact, master, len(before), 10.0)
            assert got == before
            await until(lambda: speed(master) == termios.B9600)
            assert await asyncio.to_thread(read_fd_exact, master, 6) == b"\r\nOK\r\n"
            assert ch.pending() == 0
            assert ch.description == f"serial {name} @ 9600"

            # Idle queue: the change applies right away.
            ch.set_baud(921600)
            await until(lambda: speed(master) == termios.B921600)

            # The far end disappearing (master closed) reads as a detach.
            os.close(master)
            master = -1
            await ev.wait_for(lambda: ev.count("detached") == 1)
            ch.write(b"nobody")
            assert ch.pending() == 0
        finally:
            await ch.close()
            os.close(slave)
            if master >= 0:
                os.close(master)

    asyncio.run(main())

"""PtyChannel against a real host: pyserial opening the published symlink."""

from __future__ import annotations

import asyncio
import os
import time
from functools import partial
from pathlib import Path

import pytest
import serial

from w800at.channels.pty import PtyChannel

from .helpers import ALL_BYTES_PROBE, RecordingEvents, read_fd_exact


def detached_times(ev: RecordingEvents, n: int) -> bool:
    return ev.count("detached") == n


def read_exact(ser: serial.Serial, n: int, timeout: float = 5.0) -> bytes:
    """Blocking read of exactly ``n`` bytes (run in a thread)."""
    out = bytearray()
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        out += ser.read(n - len(out))
    return bytes(out)


def read_quiet(ser: serial.Serial, window: float = 0.2) -> bytes:
    """Whatever arrives within ``window`` seconds (used to prove *no* echo)."""
    ser.timeout = window
    return bytes(ser.read(4096))


def test_pty_roundtrip_raw_detach_reattach(tmp_path: Path) -> None:
    link = str(tmp_path / "w800.tty")

    async def main() -> None:
        ev = RecordingEvents()
        ch = PtyChannel(link)
        await ch.start(ev)
        try:
            assert os.path.islink(link)
            assert os.readlink(link) == ch.slave_name
            assert ch.slave_name is not None and ch.slave_name in ch.description
            assert ev.log == []  # nobody has opened it yet

            # Output while detached is dropped, not delivered to the next host.
            ch.write(b"LOST")

            ser = await asyncio.to_thread(serial.Serial, link, 115200, timeout=1)
            await ev.wait_for(lambda: ev.count("attached") == 1)

            # host -> module, byte exact (raw: no ICRNL, no ISIG, no IXON, no IEXTEN)
            await asyncio.to_thread(ser.write, ALL_BYTES_PROBE)
            got = await ev.wait_bytes(len(ALL_BYTES_PROBE))
            assert got == ALL_BYTES_PROBE

            # module -> host, byte exact (raw: no OPOST/ONLCR)
            ch.write(ALL_BYTES_PROBE)
            back = await asyncio.to_thread(read_exact, ser, len(ALL_BYTES_PROBE))
            assert back == ALL_BYTES_PROBE
            # No echo: the module's output must not be fed back as input, and the
            # host's input must not come back to the host.
            assert await asyncio.to_thread(read_quiet, ser) == b""
            assert bytes(ev.received) == ALL_BYTES_PROBE

            # Output the host never read must not greet the next host.
            ch.write(b"UNREAD BY HOST")
            await asyncio.to_thread(ser.close)
            await ev.wait_for(lambda: ev.count("detached") == 1)
            ch.write(b"ALSO LOST")  # detached again: dropped
            assert ch.pending() == 0

            # Re-open: works again, sees nothing stale.
            ser2 = await asyncio.to_thread(serial.Serial, link, 115200, timeout=1)
            await ev.wait_for(lambda: ev.count("attached") == 2)
            assert await asyncio.to_thread(read_quiet, ser2) == b""
            ch.write(b"\r\nready\r\n")
            assert await asyncio.to_thread(read_exact, ser2, 9) == b"\r\nready\r\n"
            await asyncio.to_thread(ser2.write, b"AT+GMR\r\n")
            await ev.wait_bytes(len(ALL_BYTES_PROBE) + 8)
            assert bytes(ev.received) == ALL_BYTES_PROBE + b"AT+GMR\r\n"
            await asyncio.to_thread(ser2.close)
            await ev.wait_for(lambda: ev.count("detached") == 2)
            assert ev.log.count("attached") == 2
        finally:
            await ch.close()
        assert not os.path.lexists(link)

    asyncio.run(main())


def test_pty_large_write_is_buffered_not_blocking(tmp_path: Path) -> None:
    """A write larger than the kernel buffer must queue, report pending, then drain."""
    link = str(tmp_path / "big.tty")
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value

    async def main() -> None:
        ev = RecordingEvents()
        ch = PtyChannel(link)
        await ch.start(ev)
        try:
            ser = await asyncio.to_thread(serial.Serial, link, 115200, timeout=1)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            ch.write(payload)
            assert ch.pending() > 0  # the pty cannot take 1 MiB at once
            got = await asyncio.to_thread(read_exact, ser, len(payload), 20.0)
            assert got == payload
            assert ch.pending() == 0
            await asyncio.to_thread(ser.close)
        finally:
            await ch.close()

    asyncio.run(main())


def test_pty_replaces_stale_symlink_but_not_regular_file(tmp_path: Path) -> None:
    stale = tmp_path / "stale.tty"
    stale.symlink_to("/dev/pts/does-not-exist")
    regular = tmp_path / "regular.tty"
    regular.write_bytes(b"precious")

    async def main() -> None:
        ch = PtyChannel(str(stale))
        await ch.start(RecordingEvents())
        try:
            assert os.readlink(stale) == ch.slave_name
        finally:
            await ch.close()
        assert not os.path.lexists(stale)

        ch2 = PtyChannel(str(regular))
        with pytest.raises(FileExistsError):
            await ch2.start(RecordingEvents())
        await ch2.close()
        assert regular.read_bytes() == b"precious"

    asyncio.run(main())


def test_pty_is_raw_for_a_host_that_sets_no_termios(tmp_path: Path) -> None:
    """pyserial configures raw mode itself; a plain open() (like `cat`) does not.

    This proves the channel's own raw mode: without it, \\r would become \\n on
    input, \\n would become \\r\\n on output, ^C/^S would be eaten and the
    module's output would be echoed back into it.
    """
    link = str(tmp_path / "plain.tty")

    async def main() -> None:
        ev = RecordingEvents()
        ch = PtyChannel(link)
        await ch.start(ev)
        try:
            fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
            try:
                await ev.wait_for(lambda: ev.count("attached") == 1)
                os.write(fd, ALL_BYTES_PROBE)
                assert await ev.wait_bytes(len(ALL_BYTES_PROBE)) == ALL_BYTES_PROBE
                ch.write(ALL_BYTES_PROBE)
                got = await asyncio.to_thread(read_fd_exact, fd, len(ALL_BYTES_PROBE))
                assert got == ALL_BYTES_PROBE
                # and the module did not receive its own output back
                await asyncio.sleep(0.1)
                assert bytes(ev.received) == ALL_BYTES_PROBE
                # Output this host never reads must not greet the next host
                # (pyserial flushes input on open, a plain open() does not).
                ch.write(b"UNREAD BY HOST")
            finally:
                os.close(fd)
            await ev.wait_for(lambda: ev.count("detached") == 1)
            fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
            try:
                await ev.wait_for(lambda: ev.count("attached") == 2)
                assert await asyncio.to_thread(read_fd_exact, fd, 1, 0.2) == b""
                ch.write(b"fresh")
                assert await asyncio.to_thread(read_fd_exact, fd, 5) == b"fresh"
            finally:
                os.close(fd)
            await ev.wait_for(lambda: ev.count("detached") == 2)
        finally:
            await ch.close()

    asyncio.run(main())


def test_pty_bytes_written_just_before_close_are_delivered(tmp_path: Path) -> None:
    """A host that writes and closes at once (within one poll period) loses nothing."""
    link = str(tmp_path / "quick.tty")

    async def main() -> None:
        ev = RecordingEvents()
        ch = PtyChannel(link)
        await ch.start(ev)
        try:
            for i in range(1, 4):
                fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
                os.write(fd, b"AT+RST\r\n")
                os.close(fd)
                await ev.wait_for(partial(detached_times, ev, i))
            assert bytes(ev.received) == b"AT+RST\r\n" * 3
            assert ev.log == ["attached", "data", "detached"] * 3
        finally:
            await ch.close()

    asyncio.run(main())


def test_pty_reads_on_after_a_full_read_but_not_once_paused(tmp_path: Path) -> None:
    """A big host write arrives in several reads (the line discipline hands over a few
    KiB at a time, more when the kernel's flip buffer is full).

    The channel reads on in the same callback after a full read, yet stops the moment
    the runtime pauses it (flow control): nothing is delivered while paused, and on
    resume everything arrives, in order.
    """
    link = str(tmp_path / "readon.tty")
    payload = os.urandom(300_000)  # more than the kernel holds: the writer blocks

    class PausingEvents(RecordingEvents):
        def __init__(self) -> None:
            super().__init__()
            self.channel: PtyChannel | None = None
            self.chunks: list[int] = []

        def data(self, data: bytes) -> None:
            self.chunks.append(len(data))
            super().data(data)
            if len(self.chunks) == 1 and self.channel is not None:
                self.channel.pause_reading()

    async def main() -> None:
        ev = PausingEvents()
        ch = PtyChannel(link)
        ev.channel = ch
        await ch.start(ev)
        try:
            ser = await asyncio.to_thread(serial.Serial, link, 115200, timeout=1)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            # the write blocks while the module is paused: it runs in a thread
            writing = asyncio.ensure_future(asyncio.to_thread(ser.write, payload))
            await ev.wait_for(lambda: len(ev.chunks) == 1)
            await asyncio.sleep(0.2)  # paused: the rest waits in the kernel
            assert len(ev.chunks) == 1 and 0 < ev.chunks[0] < len(payload)
            ch.resume_reading()
            got = await ev.wait_bytes(len(payload))
            await writing
            assert got == payload
            await asyncio.to_thread(ser.close)
        finally:
            await ch.close()

    asyncio.run(main())

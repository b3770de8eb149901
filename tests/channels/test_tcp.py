"""TcpChannel: one host at a time, byte-exact both ways, port 0."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from w800at.channels.tcp import TcpChannel

from .helpers import DEADLINE, RecordingEvents

EVERY_BYTE = bytes(range(256))


async def read_exact(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), DEADLINE)


async def is_refused(reader: asyncio.StreamReader) -> bool:
    """A refused client sees EOF or a reset, promptly and without any data."""
    try:
        data = await asyncio.wait_for(reader.read(100), DEADLINE)
    except ConnectionResetError:
        return True
    return data == b""


def test_tcp_single_host_roundtrip_and_refusal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="w800at.channel")

    async def main() -> None:
        ev = RecordingEvents()
        ch = TcpChannel("127.0.0.1", 0)
        await ch.start(ev)
        try:
            assert ch.port != 0
            assert ch.description == f"tcp 127.0.0.1:{ch.port}"

            r1, w1 = await asyncio.open_connection("127.0.0.1", ch.port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            w1.write(EVERY_BYTE)
            assert await ev.wait_bytes(256) == EVERY_BYTE
            ch.write(EVERY_BYTE[::-1])
            assert await read_exact(r1, 256) == EVERY_BYTE[::-1]

            # A second host is refused while the first is on...
            r2, w2 = await asyncio.open_connection("127.0.0.1", ch.port)
            assert await is_refused(r2)
            w2.close()
            assert any("refused connection" in rec.getMessage() for rec in caplog.records)
            assert ev.count("attached") == 1 and ev.count("detached") == 0
            # ...and the first is undisturbed.
            w1.write(b"AT\r\n")
            assert await ev.wait_bytes(260) == EVERY_BYTE + b"AT\r\n"
            ch.write(b"\r\nOK\r\n")
            assert await read_exact(r1, 6) == b"\r\nOK\r\n"

            w1.close()
            await ev.wait_for(lambda: ev.count("detached") == 1)
            ch.write(b"dropped")  # no host: dropped, not queued
            assert ch.pending() == 0

            # Once the first host left, a new one is accepted.
            r3, w3 = await asyncio.open_connection("127.0.0.1", ch.port)
            await ev.wait_for(lambda: ev.count("attached") == 2)
            ch.write(b"hi")
            assert await read_exact(r3, 2) == b"hi"
            w3.close()
            await ev.wait_for(lambda: ev.count("detached") == 2)
        finally:
            await ch.close()
        assert ev.log.count("reset") == 0
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", ch.port)

    asyncio.run(main())


def test_tcp_pending_reports_backlog() -> None:
    """A host that does not read makes the backlog visible in pending()."""

    async def main() -> None:
        ev = RecordingEvents()
        ch = TcpChannel("127.0.0.1", 0)
        await ch.start(ev)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", ch.port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            blob = bytes(range(256)) * 64 * 1024  # 16 MiB: beyond any socket buffers
            ch.write(blob)
            assert ch.pending() > 0
            got = await asyncio.wait_for(r.readexactly(len(blob)), 30)
            assert got == blob
            assert ch.pending() == 0
            w.close()
        finally:
            await ch.close()

    asyncio.run(main())


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_tcp_ipv6_loopback() -> None:
    async def main() -> None:
        ev = RecordingEvents()
        ch = TcpChannel("::1", 0)
        await ch.start(ev)
        try:
            assert ch.description == f"tcp [::1]:{ch.port}"
            _r, w = await asyncio.open_connection("::1", ch.port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            w.write(b"AT\r\n")
            assert await ev.wait_bytes(4) == b"AT\r\n"
            w.close()
            await ev.wait_for(lambda: ev.count("detached") == 1)
        finally:
            await ch.close()

    asyncio.run(main())

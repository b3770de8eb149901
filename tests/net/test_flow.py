"""Flow control and failures through a real engine + runtime: a host that does not read
(passive mode: the TCP sender is blocked, nothing lost; UDP overflow dropped and
counted), and a peer that resets in the middle of a send."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
import threading
import time

from tests.live import LiveModule
from tests.net.module import module
from w800at.profiles import W800


class CountingSender:
    """Accept one client and push ``payload`` in 64 KiB steps, counting what the kernel took."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.lsock.getsockname()[1])
        self.sent = 0
        self.error: BaseException | None = None
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.lsock.accept()
        self.conn = conn
        try:
            for i in range(0, len(self.payload), 65536):
                conn.sendall(self.payload[i : i + 65536])
                self.sent = i + len(self.payload[i : i + 65536])
        except OSError as exc:
            self.error = exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn is not None:
                self.conn.close()
        self.lsock.close()


async def _read_passive(h: LiveModule, total: int) -> bytes:
    got = bytearray()
    while len(got) < total:
        h.send(b"AT+CIPRECVDATA=65536\r\n")
        await h.until(b"+CIPRECVDATA:")
        actual = int((await h.until(b","))[:-1])
        got += await h.read(actual)
        assert await h.read(6) == b"\r\nOK\r\n"
        if not actual:
            await h.until(b"+IPD,")
    return bytes(got)


def test_passive_host_not_reading_blocks_sender_and_loses_nothing() -> None:
    payload = random.Random(5).randbytes(16 * 1024 * 1024)

    async def main() -> None:
        src = CountingSender(payload)
        try:
            async with module() as h:
                await h.cmd(b"AT+CIPRECVMODE=1", b"\r\nOK\r\n")
                await h.cmd(
                    f'AT+CIPSTART="TCP","127.0.0.1",{src.port}'.encode(), b"CONNECT\r\n\r\nOK\r\n"
                )
                await asyncio.sleep(0.5)  # the host reads nothing meanwhile
                stalled = src.sent
                await asyncio.sleep(0.2)
                assert src.sent == stalled < len(payload)  # blocked ...
                assert src.error is None  # ... not dropped
                link = h.rt.engine.links.get(0)
                assert link is not None and link.paused
                # one notice only, however much arrived
                assert h.buf.count(b"+IPD,") == 1 and h.buf.startswith(b"\r\n+IPD,")
                data = await _read_passive(h, len(payload))
                assert hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
        finally:
            src.close()

    asyncio.run(main())


def test_passive_udp_overflow_dropped_and_counted() -> None:
    async def main() -> None:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        pport = peer.getsockname()[1]
        try:
            async with module() as h:
                await h.cmd(b"AT+CIPRECVMODE=1", b"\r\nOK\r\n")
                await h.cmd(
                    f'AT+CIPSTART="UDP","127.0.0.1",{pport}'.encode(), b"CONNECT\r\n\r\nOK\r\n"
                )
                h.send(b"AT+CIPSEND=5\r\n")
                assert await h.until(b">") == b"\r\nOK\r\n\r\n>"
                h.send(b"hello")
                assert await h.until(b"SEND OK\r\n") == b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n"
                _, module_addr = peer.recvfrom(100)
                grams = [bytes([65 + i]) * 1000 for i in range(10)]
                for g in grams:
                    peer.sendto(g, module_addr)
                fits = W800.passive_window // 1000
                table = h.rt.engine.links
                deadline = time.monotonic() + 5
                while table.udp_dropped < len(grams) - fits:
                    assert time.monotonic() < deadline, table.udp_dropped
                    await asyncio.sleep(0.01)
                assert table.udp_dropped == len(grams) - fits
                assert await h.cmd(b"AT+CIPRECVLEN?") == (
                    b"\r\n+IPD,1000\r\n+CIPRECVLEN:%d,,,,\r\n\r\nOK\r\n" % (fits * 1000)
                )
                kept = b"".join(grams[:fits])  # the first ones, in order; one sender
                assert await h.cmd(b"AT+CIPRECVDATA=65536") == (
                    b"+CIPRECVDATA:%d," % len(kept) + kept + b"\r\nOK\r\n"
                )
        finally:
            peer.close()

    asyncio.run(main())


def test_remote_reset_during_send_then_module_answers() -> None:
    async def main() -> None:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        try:
            async with module() as h:
                await h.cmd(
                    f'AT+CIPSTART="TCP","127.0.0.1",{lsock.getsockname()[1]}'.encode(),
                    b"CONNECT\r\n\r\nOK\r\n",
                )
                conn, _ = lsock.accept()
                chunk = bytes(W800.max_send)
                recv = b"\r\nRecv %d bytes\r\n" % len(chunk)
                blocked = False
                for _ in range(5000):  # until the kernel stops taking data: SEND waits
                    h.send(b"AT+CIPSEND=%d\r\n" % len(chunk))
                    assert await h.until(b">") == b"\r\nOK\r\n\r\n>"
                    h.send(chunk)
                    assert await h.read(len(recv)) == recv
                    try:
                        await h.until(b"\r\nSEND OK\r\n", timeout=0.3)
                    except AssertionError:
                        blocked = True
                        break
                assert blocked
                assert h.buf == b""
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST while the send waits
                tail = await h.until(b"SEND FAIL\r\n")
                if not tail.endswith(b"CLOSED\r\n", 0, len(tail) - 13):
                    tail += await h.until(b"CLOSED\r\n")
                assert tail in (b"CLOSED\r\n\r\nSEND FAIL\r\n", b"\r\nSEND FAIL\r\nCLOSED\r\n")
                await h.cmd(b"AT", b"\r\nOK\r\n")
                assert (await h.cmd(b"AT+CIPSTATUS")).endswith(b"\r\nOK\r\n")
        finally:
            lsock.close()

    asyncio.run(main())

"""10 MB through every data path of a real engine + runtime, byte-identical (sha256).

Paths: AT+CIPSEND, AT+CIPSENDEX, +IPD (active), AT+CIPRECVDATA (passive) and
passthrough in both directions, each against a real loopback TCP server.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time

from tests.live import LiveModule
from tests.net.module import module
from tests.servers.tcp_servers import TcpSinkServer, TcpSourceServer
from w800at.profiles import W800

SIZE = 10 * 1024 * 1024
PAYLOAD = random.Random(800).randbytes(SIZE)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


async def _sink_done(srv: TcpSinkServer, n: int) -> str:
    await asyncio.to_thread(srv.wait_connection_bytes, 0, n, 30.0)
    return srv.connection(0).sha256


async def _start(h: LiveModule, port: int) -> None:
    await h.cmd(f'AT+CIPSTART="TCP","127.0.0.1",{port}'.encode(), b"CONNECT\r\n\r\nOK\r\n")


def test_cipsend_10mb() -> None:
    async def main() -> None:
        with TcpSinkServer(keep_data=False) as srv:
            async with module() as h:
                await _start(h, srv.port)
                step = W800.max_send
                for i in range(0, SIZE, step):
                    chunk = PAYLOAD[i : i + step]
                    h.send(b"AT+CIPSEND=%d\r\n" % len(chunk))
                    assert await h.until(b">") == b"\r\nOK\r\n\r\n>"
                    h.send(chunk)
                    want = b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(chunk)
                    assert await h.read(len(want)) == want
                assert await _sink_done(srv, SIZE) == SHA

    _run(main())


def test_cipsendex_10mb_escaped() -> None:
    async def main() -> None:
        with TcpSinkServer(keep_data=False) as srv:
            async with module() as h:
                await _start(h, srv.port)
                step = W800.max_send
                for i in range(0, SIZE, step):
                    chunk = PAYLOAD[i : i + step]
                    h.send(b"AT+CIPSENDEX=%d\r\n" % len(chunk))
                    assert await h.until(b">") == b"\r\nOK\r\n\r\n>"
                    h.send(chunk.replace(b"\\", b"\\\\"))
                    want = b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(chunk)
                    assert await h.read(len(want)) == want
                assert await _sink_done(srv, SIZE) == SHA

    _run(main())


def test_ipd_active_10mb() -> None:
    async def main() -> None:
        with TcpSourceServer(PAYLOAD, after="keep") as srv:
            async with module() as h:
                await _start(h, srv.port)
                got = hashlib.sha256()
                n = 0
                buf = h.buf
                deadline = time.monotonic() + 60
                while n < SIZE:
                    if not buf.startswith(b"\r\n+IPD,"):
                        assert b"\r\n+IPD,".startswith(bytes(buf[:7])), bytes(buf[:40])
                        await h.more(deadline)
                        continue
                    colon = buf.find(b":")
                    if colon < 0:
                        await h.more(deadline)
                        continue
                    length = int(buf[7:colon])
                    assert 0 < length <= W800.ipd_max
                    end = colon + 1 + length + 2
                    while len(buf) < end:
                        await h.more(deadline)
                    assert buf[end - 2 : end] == b"\r\n"
                    got.update(buf[colon + 1 : end - 2])
                    n += length
                    del buf[:end]
                assert n == SIZE and got.hexdigest() == SHA

    _run(main())


def test_passive_ciprecvdata_10mb() -> None:
    async def main() -> None:
        with TcpSourceServer(PAYLOAD, after="keep") as srv:
            async with module() as h:
                await h.cmd(b"AT+CIPRECVMODE=1", b"\r\nOK\r\n")
                await _start(h, srv.port)
                got = hashlib.sha256()
                n = 0
                while n < SIZE:
                    h.send(b"AT+CIPRECVDATA=65536\r\n")
                    await h.until(b"+CIPRECVDATA:")
                    actual = int((await h.until(b","))[:-1])
                    got.update(await h.read(actual))
                    assert await h.read(6) == b"\r\nOK\r\n"
                    if not actual:
                        await h.until(b"+IPD,")
                    n += actual
                assert n == SIZE and got.hexdigest() == SHA

    _run(main())


async def _passthrough(h: LiveModule, port: int) -> None:
    await h.cmd(b"AT+CIPMODE=1", b"\r\nOK\r\n")
    await _start(h, port)
    h.send(b"AT+CIPSEND\r\n")
    assert await h.until(b">") == b"\r\nOK\r\n\r\n>"


def test_passthrough_up_10mb() -> None:
    async def main() -> None:
        with TcpSinkServer(keep_data=False) as srv:
            async with module() as h:
                await _passthrough(h, srv.port)
                for i in range(0, SIZE, 65536):
                    h.send(PAYLOAD[i : i + 65536])
                    await asyncio.sleep(0)
                assert await _sink_done(srv, SIZE) == SHA
                assert h.buf == b""

    _run(main())


def test_passthrough_down_10mb() -> None:
    async def main() -> None:
        go = threading.Event()  # send once the module is in passthrough
        with TcpSourceServer(PAYLOAD, after="keep", go=go) as srv:
            async with module() as h:
                await _passthrough(h, srv.port)
                go.set()
                data = await h.read(SIZE, timeout=60)
                assert hashlib.sha256(data).hexdigest() == SHA

    _run(main())

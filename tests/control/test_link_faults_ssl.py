"""Link faults on SSL links, whose TLS layer is the link's own (runtime/tls_layer.py):
the faults act at the seam above it, on the plaintext, and each chunk's TLS wire bytes
travel with it to passive mode's counts; ``tls_fail`` fails a real handshake, the
module's client's (no ClientHello) or its SSL server's client's (a handshake_failure
alert, and the client never becomes a link).  A whole module against TLS peers on
loopback, certificates made at test time."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.live import LiveModule, free_port
from tests.tls.counting_peer import CountingTlsServer
from tests.tls.peers import ForeignPki, make_foreign_pki, plain_server_context

pytestmark = pytest.mark.timeout(60)

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ForeignPki:
    return make_foreign_pki(tmp_path_factory.mktemp("pki"))


def server_ctx(pki: ForeignPki) -> ssl.SSLContext:
    ctx = plain_server_context(pki.server_cert, pki.server_key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = 0
    return ctx


def live(body: Callable[[LiveModule], Awaitable[None]], **kw: object) -> None:
    async def main() -> None:
        async with LiveModule(**kw) as mod:  # type: ignore[arg-type]
            await mod.join()
            await mod.cmd(b"ATE0")
            await body(mod)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_slicer_cuts_the_plaintext_and_passive_mode_still_counts_tls_bytes(
    pki: ForeignPki,
) -> None:
    data = bytes(range(100))

    async def body(mod: LiveModule) -> None:
        control = mod.module.control
        with CountingTlsServer(server_ctx(pki)) as srv:
            await mod.cmd(b"AT+CIPMUX=1", OK)
            await mod.cmd(b"AT+CIPRECVMODE=1", OK)
            await mod.cmd(b'AT+CIPSTART=0,"SSL","127.0.0.1",%d' % srv.port, b"0,CONNECT\r\n" + OK)
            await control.link_fault("slicer", link=0, average_size=10, delay=2000)
            wire = srv.send(data)  # one record: 100 bytes of data, ``wire`` on the wire
            assert wire > len(data)
            last = await control.wait_for("bytes", {"link": 0, "stream": "down", "total": 100})
            assert last["n"] == 10  # the seam saw the plaintext in tens
            await asyncio.sleep(0.1)
            notices = bytes(mod.buf)  # passive mode: notices only, no data
            assert re.fullmatch(rb"(\r\n\+IPD,0,\d+\r\n)+", notices), notices
            mod.buf.clear()
            # the pieces' shares of the record's TLS bytes add up to the record
            await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:%d,,,,\r\n" % wire + OK)
            await mod.cmd(
                b"AT+CIPRECVDATA=0,%d" % wire, b"+CIPRECVDATA:%d," % len(data) + data + OK
            )
            await mod.cmd(b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
            await asyncio.to_thread(srv.read_until_closed)

    live(body)


def test_limit_data_upstream_on_an_ssl_link_passes_the_plaintext_then_closes(
    pki: ForeignPki,
) -> None:
    async def body(mod: LiveModule) -> None:
        control = mod.module.control
        with CountingTlsServer(server_ctx(pki)) as srv:
            await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",%d' % srv.port, b"CONNECT\r\n" + OK)
            await control.link_fault("limit_data", link=0, bytes=5, stream="upstream")
            mod.send(b"AT+CIPSEND=10\r\n")
            await mod.expect(OK + b"\r\n>")
            mod.send(b"0123456789")
            await mod.expect(b"\r\nRecv 10 bytes\r\n\r\nSEND OK\r\nCLOSED\r\n")
            await asyncio.to_thread(srv.read_until_closed)
            # five bytes of data, then the TLS goodbye (close_notify) and the FIN
            assert (bytes(srv.received), srv.close_notify) == (b"01234", True)

    live(body)


def test_latency_downstream_on_an_ssl_link_delays_the_ipd(pki: ForeignPki) -> None:
    async def body(mod: LiveModule) -> None:
        control = mod.module.control
        with CountingTlsServer(server_ctx(pki)) as srv:
            await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",%d' % srv.port, b"CONNECT\r\n" + OK)
            await control.link_fault("latency", link=0, latency=200)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            srv.send(b"hello")
            await mod.expect(b"\r\n+IPD,5:hello\r\n", timeout=3)  # active mode: the plaintext
            assert 0.19 <= loop.time() - t0 < 1.0
            await mod.cmd(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
            await asyncio.to_thread(srv.read_until_closed)

    live(body)


def test_tls_fail_on_the_modules_client_link_sends_no_client_hello(pki: ForeignPki) -> None:
    async def body(mod: LiveModule) -> None:
        control = mod.module.control
        with CountingTlsServer(server_ctx(pki)) as srv:
            await control.link_fault("tls_fail", next=True)
            await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",%d' % srv.port, ERROR)
            with pytest.raises(AssertionError, match="client left during the handshake"):
                await asyncio.to_thread(srv.established)
            assert await control.faults() == []
            assert mod.rt.net.links == {}
            event = await control.wait_for("fault", {"fired": "tls_fail"})
            assert f"TLS handshake with 127.0.0.1:{srv.port} fails" in event["text"]

    live(body)


def _client(port: int, sock: socket.socket | None = None) -> bytes:
    """A TLS client of the module's SSL server: the module's first data to it (the
    handshake must succeed), or an SSLError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    else:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
    with sock, ctx.wrap_socket(sock) as tls:
        return tls.recv(100)


def test_tls_fail_on_the_ssl_server_turns_the_client_away_with_an_alert(tmp_path: Path) -> None:
    from w800at.certs import create_dev_pki

    create_dev_pki(tmp_path)

    async def body(mod: LiveModule) -> None:
        control = mod.module.control
        port = free_port()
        await mod.cmd(b"AT+CIPMUX=1", OK)
        await mod.cmd(b'AT+CIPSERVER=1,%d,"SSL"' % port, OK)
        # the next client's handshake fails: a handshake_failure alert, never a link
        await control.link_fault("tls_fail", next=True)
        with pytest.raises(ssl.SSLError, match=r"(?i)handshake.failure"):
            await asyncio.to_thread(_client, port)
        await mod.quiet(0.2)  # never a CONNECT
        assert await control.faults() == []
        event = await control.wait_for("fault", {"fired": "tls_fail"})
        assert event["text"].startswith("fault SSL client 127.0.0.1:")
        # a fault on one client's address: that client fails, another is served
        doomed = socket.socket()
        doomed.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{doomed.getsockname()[1]}"
        fault = await control.link_fault("tls_fail", remote=where)
        with pytest.raises(ssl.SSLError, match=r"(?i)handshake.failure"):
            await asyncio.to_thread(_client, port, doomed)
        served = asyncio.create_task(asyncio.to_thread(_client, port))
        await mod.expect(b"0,CONNECT\r\n")
        mod.send(b"AT+CIPSEND=0,2\r\n")
        await mod.expect(OK + b"\r\n>")
        mod.send(b"hi")
        await mod.expect(b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n")
        assert await served == b"hi"
        await mod.expect(b"0,CLOSED\r\n")  # the client left
        assert (await control.fault_remove(fault["id"]))["links"] == 1

    live(body, store_dir=tmp_path)

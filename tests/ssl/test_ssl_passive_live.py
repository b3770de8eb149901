"""Passive receive on a real SSL link (issue 12, item 11): a whole module against a TLS
server on loopback that counts the TLS bytes it sends (certificates made at test
time).  ``+IPD,<id>,<len>`` and ``AT+CIPRECVLEN?`` give exactly those bytes, more than
the data ("the returned length will be greater than the length of the real data");
``AT+CIPRECVDATA`` gives the data.  Also: the window holds the server back by TLS
bytes, the peer's close_notify is a close held behind the data, ours is sent on
AT+CIPCLOSE, and a handshake that never comes times out on both sides.  A close that
comes right behind the first data (a server's, with its Finished; a client's of the
module's SSL server, with its Finished) is held behind that data too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.harness import LAB_ADDRESSES
from tests.live import LiveModule, free_port
from tests.tls.counting_peer import CountingTlsServer
from tests.tls.peers import ForeignPki, make_foreign_pki, plain_server_context
from w800at.core.options import ModuleOptions

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ForeignPki:
    return make_foreign_pki(tmp_path_factory.mktemp("pki"))


def server_ctx(pki: ForeignPki, version: str, tickets: int = 0) -> ssl.SSLContext:
    ctx = plain_server_context(pki.server_cert, pki.server_key)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    ctx.num_tickets = tickets
    return ctx


def live(body: Callable[[LiveModule], Awaitable[None]], **kw: object) -> None:
    async def main() -> None:
        async with LiveModule(**kw) as mod:  # type: ignore[arg-type]
            await mod.join()
            await mod.cmd(b"ATE0")
            await body(mod)

    asyncio.run(asyncio.wait_for(main(), 30))


async def ssl_passive(mod: LiveModule, port: int) -> None:
    await mod.cmd(b"AT+CIPMUX=1", OK)
    await mod.cmd(b"AT+CIPRECVMODE=1", OK)
    await mod.cmd(b'AT+CIPSTART=0,"SSL","127.0.0.1",%d' % port, b"0,CONNECT\r\n" + OK)


def until_closed(sock: socket.socket, inc: ssl.MemoryBIO, obj: ssl.SSLObject) -> tuple[bytes, bool]:
    """A test client's side: read until the module closes the connection; the data it
    sent meanwhile, and whether it said goodbye with a close_notify.  Records that
    carry no data (the session tickets its TLS 1.3 server sends after the handshake)
    are not a close."""
    got = bytearray()
    while True:
        try:
            chunk = obj.read(65536)
        except ssl.SSLZeroReturnError:
            return bytes(got), True
        except ssl.SSLWantReadError:
            raw = sock.recv(65536)
            if not raw:
                return bytes(got), False
            inc.write(raw)
            continue
        if not chunk:
            return bytes(got), True
        got += chunk


NOTICE = re.compile(rb"(\r\n\+IPD,0,\d+\r\n)*")


def without_notices(out: bytes) -> bytes:
    """``out`` with the passive notices in front of it removed (they come when data
    arrives, so they may come before any answer)."""
    m = NOTICE.match(out)
    return out[m.end() :] if m else out


async def recvlen(mod: LiveModule) -> int:
    got = without_notices(await mod.cmd(b"AT+CIPRECVLEN?"))
    assert got.startswith(b"+CIPRECVLEN:") and got.endswith(b"\r\n" + OK), got
    return int(got[12:].split(b",")[0])


async def until_len(mod: LiveModule, want: int) -> None:
    """AT+CIPRECVLEN? until link 0 has ``want`` bytes (a burst may come in reads)."""
    for _ in range(200):
        if await recvlen(mod) == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"link 0 never had {want} bytes waiting")


@pytest.mark.parametrize(("version", "tickets"), [("1.3", 0), ("1.2", 0), ("1.3", 2)])
def test_recvlen_counts_tls_bytes_and_recvdata_returns_the_data(
    pki: ForeignPki, version: str, tickets: int
) -> None:
    data = b"The W800 counts what is encrypted. " * 3

    async def body(mod: LiveModule) -> None:
        with CountingTlsServer(server_ctx(pki, version, tickets)) as srv:
            await ssl_passive(mod, srv.port)
            wire = srv.send(data)
            # the records after the handshake that carry no data (TLS 1.3 tickets)
            # are counted with the data that follows them
            total = wire + srv.after_handshake
            assert total > len(data)
            assert (srv.after_handshake > 0) == (tickets > 0)
            await mod.expect(b"\r\n+IPD,0,%d\r\n" % total)
            await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:%d,,,,\r\n" % total + OK)
            await mod.cmd(
                b"AT+CIPRECVDATA=0,%d" % total, b"+CIPRECVDATA:%d," % len(data) + data + OK
            )
            await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,,,,\r\n" + OK)
            # a second message: a notice again, and its own count
            wire2 = srv.send(b"again")
            await mod.expect(b"\r\n+IPD,0,%d\r\n" % wire2)
            await mod.cmd(b"AT+CIPRECVDATA=0,3", b"+CIPRECVDATA:3,aga" + OK)
            left = await recvlen(mod)
            assert 2 <= left < wire2
            await mod.cmd(b"AT+CIPRECVDATA=0,100", b"+CIPRECVDATA:2,in" + OK)
            await mod.cmd(b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
            await asyncio.to_thread(srv.read_until_closed)
            assert srv.close_notify  # the module said goodbye the TLS way

    live(body)


def test_the_window_holds_the_server_back_by_tls_bytes(pki: ForeignPki) -> None:
    """64 KiB in 64 records: the module reads until 5760 TLS bytes wait, shows at most
    the window, and every byte arrives, in order, as the host reads."""
    messages = [os.urandom(1024) for _ in range(64)]
    data = b"".join(messages)

    async def body(mod: LiveModule) -> None:
        with CountingTlsServer(server_ctx(pki, "1.3")) as srv:
            await ssl_passive(mod, srv.port)
            # the server blocks once the module stops reading: send from a thread
            sending = asyncio.create_task(asyncio.to_thread(srv.send, *messages))
            await mod.until(b"+IPD,0,")
            await mod.until(b"\r\n")
            got = bytearray()
            most = 0
            while len(got) < len(data):
                n = await recvlen(mod)
                assert 0 < n <= 5760
                most = max(most, n)
                mod.send(b"AT+CIPRECVDATA=0,%d\r\n" % n)
                assert without_notices(await mod.until(b"+CIPRECVDATA:")) == b"+CIPRECVDATA:"
                size = int((await mod.until(b","))[:-1])
                assert 0 < size < n  # the plaintext of n TLS bytes is less than n
                got += await mod.read(size)
                await mod.expect(OK)
            assert most == 5760  # the window filled up: the server was held back
            assert await sending == len(data) + 64 * 22  # TLS 1.3, AES-GCM: 22 a record
            assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
            await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:0,,,,\r\n" + OK)
            await mod.cmd(b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)

    live(body)


def test_the_peers_close_notify_waits_behind_the_data(pki: ForeignPki) -> None:
    async def body(mod: LiveModule) -> None:
        with CountingTlsServer(server_ctx(pki, "1.2")) as srv:
            await ssl_passive(mod, srv.port)
            wire = srv.send(b"last words")
            await mod.expect(b"\r\n+IPD,0,%d\r\n" % wire)
            srv.send_close_notify()
            await mod.quiet(0.3)  # CLOSED is held until the data is read
            await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:%d,,,,\r\n" % wire + OK)
            mod.send(b"AT+CIPRECVDATA=0,100\r\n")
            await mod.expect(b"+CIPRECVDATA:10,last words" + OK + b"0,CLOSED\r\n")

    live(body)


def test_active_mode_ssl_is_unchanged(pki: ForeignPki) -> None:
    """+IPD frames carry the plaintext and its length (the TLS bytes play no part)."""

    async def body(mod: LiveModule) -> None:
        with CountingTlsServer(server_ctx(pki, "1.3")) as srv:
            await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",%d' % srv.port, b"CONNECT\r\n" + OK)
            srv.send(b"hello")
            await mod.expect(b"\r\n+IPD,5:hello\r\n")
            mod.send(b"AT+CIPSEND=4\r\n")
            await mod.expect(b"\r\nOK\r\n\r\n>")
            mod.send(b"ping")
            await mod.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n")
            await mod.cmd(b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
            await asyncio.to_thread(srv.read_until_closed)
            assert bytes(srv.received) == b"ping" and srv.close_notify

    live(body)


FAST = ModuleOptions(addresses=LAB_ADDRESSES, net_timeout=0.5)


def test_a_server_that_never_speaks_tls_times_out() -> None:
    """The handshake is inside AT+CIPSTART's timeout: ERROR, and the socket is closed."""

    async def body(mod: LiveModule) -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",%d' % port, ERROR, timeout=3)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(3)
                hello = conn.recv(5)
                assert hello[:1] == b"\x16"  # a ClientHello was sent
                while conn.recv(65536):  # then the module gave up and closed
                    pass
            assert mod.rt.net.links == {}
            await mod.cmd(b"AT+CIPSTATUS", None)

    live(body, options=FAST)


def test_a_client_that_never_speaks_tls_is_dropped_by_the_ssl_server(tmp_path: Path) -> None:
    from w800at.certs import create_dev_pki

    create_dev_pki(tmp_path)

    async def body(mod: LiveModule) -> None:
        port = free_port()
        await mod.cmd(b"AT+CIPMUX=1", OK)
        await mod.cmd(b'AT+CIPSERVER=1,%d,"SSL"' % port, OK)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(100), 3) == b""  # closed after 0.5 s
        writer.close()
        await mod.quiet(0.2)  # never a CONNECT
        await mod.cmd(b"AT+CIPSTATE?", OK)

    live(body, store_dir=tmp_path, options=FAST)


def finished_held_back(
    sock: socket.socket,
) -> tuple[ssl.MemoryBIO, ssl.MemoryBIO, ssl.SSLObject, bytes]:
    """A TLS 1.3 client on ``sock`` (any certificate) whose handshake is done but whose
    Finished, its last message, is not sent yet: (incoming, outgoing, the TLS object,
    the Finished), so that a test can send data right behind it in one write."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            inc.write(sock.recv(65536))
    finished = out.read()
    assert finished  # the client's Finished, not sent yet
    return inc, out, obj, finished


def test_data_that_comes_with_the_clients_finished_reaches_the_host(tmp_path: Path) -> None:
    """A client's first data in the same TCP segment as its Finished: the module's
    server finishes the handshake, gives the client an ID, then passes the data on,
    counted in TLS bytes in passive mode."""
    from w800at.certs import create_dev_pki

    create_dev_pki(tmp_path)

    def client(port: int) -> tuple[int, bytes, bool]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            inc, out, obj, finished = finished_held_back(sock)
            obj.write(b"hello")
            record = out.read()
            sock.sendall(finished + record)  # one write: Finished and data together
            # until the module closes (AT+CIPCLOSE): the session tickets its server
            # sends after the handshake are records too, but not the close; a client
            # that left on them would close the link before the host's AT+CIPCLOSE
            got, close_notify = until_closed(sock, inc, obj)
        return len(record), got, close_notify

    async def body(mod: LiveModule) -> None:
        port = free_port()
        await mod.cmd(b"AT+CIPMUX=1", OK)
        await mod.cmd(b"AT+CIPRECVMODE=1", OK)
        await mod.cmd(b'AT+CIPSERVER=1,%d,"SSL"' % port, OK)
        sent = asyncio.create_task(asyncio.to_thread(client, port))
        await mod.expect(b"0,CONNECT\r\n")
        notice = await mod.until(b"\r\n+IPD,0,")
        assert notice == b"\r\n+IPD,0,"
        wire = int((await mod.until(b"\r\n"))[:-2])
        await mod.cmd(b"AT+CIPRECVDATA=0,%d" % wire, b"+CIPRECVDATA:5,hello" + OK)
        await mod.cmd(b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
        # the client got no data, and the module's goodbye was a close_notify
        assert await sent == (wire, b"", True)

    live(body, store_dir=tmp_path)


async def socket_ended(mod: LiveModule, link_id: int = 0) -> None:
    """Until the runtime has seen link ``link_id``'s connection end."""
    for _ in range(500):
        if link_id not in mod.rt.net.links:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"link {link_id}'s connection never ended")


@pytest.mark.parametrize("goodbye", ["fin", "close_notify"])
def test_a_close_right_behind_a_clients_first_data_waits_for_the_read(
    tmp_path: Path, goodbye: str
) -> None:
    """The module's SSL server: a client sends its Finished and its data in one write
    and hangs up right behind them (a FIN, or a close_notify and a FIN).  The module
    adopts the client with its data first; the close is then held behind the unread
    data: the link stays listed and readable, and CLOSED follows the read's OK."""
    from w800at.certs import create_dev_pki

    create_dev_pki(tmp_path)

    def client(port: int) -> tuple[int, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            _, out, obj, finished = finished_held_back(sock)
            obj.write(b"hello")
            if goodbye == "close_notify":
                with contextlib.suppress(ssl.SSLWantReadError):
                    obj.unwrap()
            rest = out.read()
            sock.sendall(finished + rest)  # Finished, data (, close_notify): one write
            sock.shutdown(socket.SHUT_WR)  # and the FIN right behind
            # read what the module sends (its tickets) until it closes: no reset
            got = bytearray()
            while chunk := sock.recv(65536):
                got += chunk
        return len(rest), bytes(got)

    async def body(mod: LiveModule) -> None:
        port = free_port()
        await mod.cmd(b"AT+CIPMUX=1", OK)
        await mod.cmd(b"AT+CIPRECVMODE=1", OK)
        await mod.cmd(b'AT+CIPSERVER=1,%d,"SSL"' % port, OK)
        sent = asyncio.create_task(asyncio.to_thread(client, port))
        await mod.expect(b"0,CONNECT\r\n\r\n+IPD,0,")
        wire = int((await mod.until(b"\r\n"))[:-2])
        await socket_ended(mod)
        await mod.quiet(0.1)  # no CLOSED yet: the data is unread
        state = await mod.cmd(b"AT+CIPSTATE?")
        # still listed: a server link (<tetype> 1)
        assert state.startswith(b'+CIPSTATE:0,"SSL","127.0.0.1",'), state
        assert state.endswith(b",1\r\n" + OK), state
        await mod.cmd(b"AT+CIPRECVLEN?", b"+CIPRECVLEN:%d,,,,\r\n" % wire + OK)
        mod.send(b"AT+CIPRECVDATA=0,%d\r\n" % wire)
        await mod.expect(b"+CIPRECVDATA:5,hello" + OK + b"0,CLOSED\r\n")
        await mod.cmd(b"AT+CIPSTATE?", OK)
        rest, got = await sent
        # what the client's last write cost is what the host was shown
        assert wire == rest
        assert got  # the module's server sent its session tickets, then closed

    live(body, store_dir=tmp_path)


@pytest.mark.parametrize("passive", [False, True])
def test_data_and_close_notify_right_behind_the_servers_finished(
    pki: ForeignPki, passive: bool
) -> None:
    """AT+CIPSTART="SSL" to a server that greets and hangs up at once: its Finished
    (TLS 1.2: the handshake's last message), its data and its close_notify come in
    one write.  The module's link reads them with the handshake, before the engine has
    the link open; the host must still see CONNECT, then the data, then CLOSED (in
    passive mode: the close held behind the unread data)."""

    async def body(mod: LiveModule) -> None:
        ctx = server_ctx(pki, "1.2")
        with CountingTlsServer(ctx, greeting=b"hello", hang_up=True) as srv:
            await mod.cmd(b"AT+CIPMUX=1", OK)
            await mod.cmd(b"AT+CIPRECVMODE=%d" % passive, OK)
            await mod.cmd(b'AT+CIPSTART=0,"SSL","127.0.0.1",%d' % srv.port, b"0,CONNECT\r\n" + OK)
            srv.established()
            assert srv.greeting_wire and srv.hang_up_wire
            if not passive:
                await mod.expect(b"\r\n+IPD,0,5:hello\r\n0,CLOSED\r\n")
                await mod.cmd(b"AT+CIPSTATE?", OK)
                return
            await mod.expect(b"\r\n+IPD,0,")
            wire = int((await mod.until(b"\r\n"))[:-2])
            # the records read with the data are counted with it (the close_notify
            # came in the same read, so it is counted with the greeting)
            assert wire == srv.greeting_wire + srv.hang_up_wire
            await socket_ended(mod)
            await mod.quiet(0.1)  # no CLOSED yet: the data is unread
            state = await mod.cmd(b"AT+CIPSTATE?")
            # still listed: a client link (<tetype> 0)
            assert state.startswith(b'+CIPSTATE:0,"SSL","127.0.0.1",%d,' % srv.port), state
            assert state.endswith(b",0\r\n" + OK), state
            mod.send(b"AT+CIPRECVDATA=0,%d\r\n" % wire)
            await mod.expect(b"+CIPRECVDATA:5,hello" + OK + b"0,CLOSED\r\n")
            await mod.cmd(b"AT+CIPSTATE?", OK)

    live(body)

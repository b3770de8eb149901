"""The module's server with real sockets on loopback: TCP and SSL clients started by the
test connect to a whole module (Engine + Runtime); certificates are made at test time."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import pytest

from tests.live import LiveModule, free_port
from w800at.certs import create_dev_pki

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
TIMEOUT = 5.0


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def start_server(mod: LiveModule, line: str) -> None:
    await mod.cmd(b"AT+CIPMUX=1", OK)
    await mod.cmd(line.encode(), OK)


async def client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def turned_away(reader: asyncio.StreamReader) -> bool:
    """The module closed/reset the connection without serving it."""
    try:
        data = await asyncio.wait_for(reader.read(100), TIMEOUT)
    except (ConnectionError, ssl.SSLError):
        return True
    return data == b""


def test_tcp_server_data_both_ways(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with LiveModule(tmp_path) as mod:
            await start_server(mod, f"AT+CIPSERVER=1,{port}")
            await mod.cmd(b"AT+CIPSERVER?", b'+CIPSERVER:1,%d,"TCP",0\r\n' % port + OK)
            r, w = await client(port)
            await mod.expect(b"0,CONNECT\r\n")
            w.write(b"hello")
            await mod.expect(b"\r\n+IPD,0,5:hello\r\n")
            mod.send(b"AT+CIPSEND=0,3\r\n")
            await mod.expect(b"AT+CIPSEND=0,3\r\n\r\nOK\r\n\r\n>")
            mod.send(b"abc")
            await mod.expect(b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n")
            assert await asyncio.wait_for(r.readexactly(3), TIMEOUT) == b"abc"
            lport = w.get_extra_info("sockname")[1]
            await mod.cmd(
                b"AT+CIPSTATE?", b'+CIPSTATE:0,"TCP","127.0.0.1",%d,%d,1\r\n' % (lport, port) + OK
            )
            w.close()
            await mod.expect(b"0,CLOSED\r\n")
            await mod.cmd(b"AT+CIPSERVER=0", OK)
            with pytest.raises(OSError):
                await client(port)

    run(main())


def test_six_clients_against_maxconn_5(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with LiveModule(tmp_path) as mod:
            await mod.cmd(b"AT+CIPMUX=1", OK)
            await mod.cmd(b"AT+CIPSERVERMAXCONN=5", OK)
            await mod.cmd(b"AT+CIPSERVER=1,%d" % port, OK)
            conns = []
            for i in range(5):
                conns.append(await client(port))
                await mod.expect(b"%d,CONNECT\r\n" % i)
            r6, w6 = await client(port)
            assert await turned_away(r6)
            w6.close()
            await mod.quiet()
            await mod.cmd(b"AT+CIPCLOSE=2", b"2,CLOSED\r\n" + OK)
            assert await asyncio.wait_for(conns[2][0].read(10), TIMEOUT) == b""
            conns.append(await client(port))
            await mod.expect(b"2,CONNECT\r\n")
            for _, w in conns:
                w.close()

    run(main())


def test_maxconn_2_turns_away_the_third(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with LiveModule(tmp_path) as mod:
            await mod.cmd(b"AT+CIPMUX=1", OK)
            await mod.cmd(b"AT+CIPSERVERMAXCONN=2", OK)
            await mod.cmd(b"AT+CIPSERVER=1,%d" % port, OK)
            a = await client(port)
            await mod.expect(b"0,CONNECT\r\n")
            b = await client(port)
            await mod.expect(b"1,CONNECT\r\n")
            c = await client(port)
            assert await turned_away(c[0])
            await mod.quiet()
            for _, w in (a, b, c):
                w.close()

    run(main())


def test_cipsto_closes_idle_link_in_real_time(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with LiveModule(tmp_path) as mod:
            await start_server(mod, f"AT+CIPSERVER=1,{port}")
            await mod.cmd(b"AT+CIPSTO=2", OK)
            r, w = await client(port)
            await mod.expect(b"0,CONNECT\r\n")
            t0 = time.monotonic()
            await mod.expect(b"0,CLOSED\r\n", timeout=4.0)
            took = time.monotonic() - t0
            assert 1.8 <= took <= 3.0, took
            assert await asyncio.wait_for(r.read(10), TIMEOUT) == b""
            w.close()

    run(main())


def test_server_close_all_and_keep(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        async with LiveModule(tmp_path) as mod:
            await start_server(mod, f"AT+CIPSERVER=1,{port}")
            a = await client(port)
            await mod.expect(b"0,CONNECT\r\n")
            await mod.cmd(b"AT+CIPSERVER=0", OK)  # keeps link 0
            a[1].write(b"still")
            await mod.expect(b"\r\n+IPD,0,5:still\r\n")
            await mod.cmd(b"AT+CIPSERVER=1,%d" % port, OK)
            b = await client(port)
            await mod.expect(b"1,CONNECT\r\n")
            await mod.cmd(b"AT+CIPSERVER=0,1", b"0,CLOSED\r\n1,CLOSED\r\n" + OK)
            for r, w in (a, b):
                assert await asyncio.wait_for(r.read(10), TIMEOUT) == b""
                w.close()

    run(main())


def test_port_in_use_is_error(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
        try:
            async with LiveModule(tmp_path) as mod:
                await mod.cmd(b"AT+CIPMUX=1", OK)
                await mod.cmd(b"AT+CIPSERVER=1,%d" % port, ERROR)
                await mod.cmd(b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)
        finally:
            blocker.close()

    run(main())


# --- SSL server


def client_ctx(store: Path, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(store / "certs" / "dev-ca" / "cert.pem")
    ctx.check_hostname = True
    if with_cert:
        ctx.load_cert_chain(
            store / "certs" / "client" / "0" / "cert.pem",
            store / "certs" / "client" / "0" / "key.pem",
        )
    return ctx


async def ssl_client(
    port: int, ctx: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")


def test_ssl_server_with_ca_refuses_anonymous_serves_signed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    create_dev_pki(store)

    async def main() -> None:
        port = free_port()
        async with LiveModule(store) as mod:
            await start_server(mod, f'AT+CIPSERVER=1,{port},"SSL",1')
            # no client certificate: the handshake fails, no link ID is taken
            try:
                r, w = await ssl_client(port, client_ctx(store, with_cert=False))
            except (ssl.SSLError, ConnectionError):
                pass
            else:
                assert await turned_away(r)
                w.close()
            await mod.quiet(0.3)
            # a certificate signed by the server's CA: served as link 0
            r, w = await ssl_client(port, client_ctx(store, with_cert=True))
            await mod.expect(b"0,CONNECT\r\n")
            w.write(b"secure")
            await mod.expect(b"\r\n+IPD,0,6:secure\r\n")
            mod.send(b"AT+CIPSEND=0,2\r\n")
            await mod.expect(b"AT+CIPSEND=0,2\r\n\r\nOK\r\n\r\n>")
            mod.send(b"ok")
            await mod.expect(b"\r\nRecv 2 bytes\r\n\r\nSEND OK\r\n")
            assert await asyncio.wait_for(r.readexactly(2), TIMEOUT) == b"ok"
            w.close()
            await mod.expect(b"0,CLOSED\r\n")

    run(main())


def test_ssl_server_works_on_a_fresh_store(tmp_path: Path) -> None:
    store = tmp_path / "fresh"

    async def main() -> None:
        port = free_port()
        async with LiveModule(store) as mod:
            await start_server(mod, f'AT+CIPSERVER=1,{port},"SSL"')
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            _r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            await mod.expect(b"0,CONNECT\r\n")
            w.write(b"x")
            await mod.expect(b"\r\n+IPD,0,1:x\r\n")
            w.close()
            await mod.expect(b"0,CLOSED\r\n")
        assert (store / "certs" / "server" / "cert.pem").is_file()

    run(main())


def test_ssl_server_ca_without_client_ca_is_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with LiveModule(tmp_path / "fresh") as mod:
            await mod.cmd(b"AT+CIPMUX=1", OK)
            await mod.cmd(b'AT+CIPSERVER=1,%d,"SSL",1' % free_port(), ERROR)
            await mod.cmd(b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)

    run(main())


def test_tcpv6_server_on_loopback(tmp_path: Path) -> None:
    import socket

    async def main() -> None:
        port = free_port(socket.AF_INET6)
        async with LiveModule(tmp_path) as mod:
            await start_server(mod, f'AT+CIPSERVER=1,{port},"TCPv6"')
            _r, w = await asyncio.open_connection("::1", port)
            await mod.expect(b"0,CONNECT\r\n")
            lport = w.get_extra_info("sockname")[1]
            await mod.cmd(
                b"AT+CIPSTATE?", b'+CIPSTATE:0,"TCPv6","::1",%d,%d,1\r\n' % (lport, port) + OK
            )
            w.close()
            await mod.expect(b"0,CLOSED\r\n")

    run(main())


@pytest.mark.parametrize(
    ("bind", "reach", "miss"),
    [
        ("loopback", "127.0.0.1", None),
        ("127.0.0.2", "127.0.0.2", "127.0.0.1"),
        ("station", "127.0.0.1", "127.0.0.2"),  # the lab station address is 127.0.0.1
    ],
)
def test_server_bind_option(tmp_path: Path, bind: str, reach: str, miss: str | None) -> None:
    from tests.harness import LAB_ADDRESSES
    from w800at.core.options import ModuleOptions

    async def main() -> None:
        port = free_port()
        opts = ModuleOptions(addresses=LAB_ADDRESSES, server_bind=bind)
        async with LiveModule(tmp_path, opts) as mod:
            await start_server(mod, f"AT+CIPSERVER=1,{port}")
            if miss is not None:
                with pytest.raises(OSError):
                    await asyncio.open_connection(miss, port)
            _r, w = await asyncio.open_connection(reach, port)
            await mod.expect(b"0,CONNECT\r\n")
            w.close()
            await mod.expect(b"0,CLOSED\r\n")

    run(main())

"""End to end: `w800at certs init` then `w800at serve --pty`, driven by pyserial; an SSL
client with the dev PKI's client certificate connects to the module's SSL server."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ServeProcess
from tests.live import free_port
from w800at.cli import main

OK = b"\r\nOK\r\n"
Serve = Callable[..., ServeProcess]


def test_ssl_server_over_pty(serve: Serve, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert main(["certs", "init", "--store", str(store)]) == 0
    srv = serve("pty", store=store)
    port = srv.connect()
    port.expect(b"\r\nready\r\n")
    tcp = free_port()
    port.command(b"AT+CIPMUX=1\r\n", b"AT+CIPMUX=1\r\n" + OK)
    line = b'AT+CIPSERVER=1,%d,"SSL",1\r\n' % tcp
    port.command(line, line + OK)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(store / "certs" / "dev-ca" / "cert.pem")
    ctx.load_cert_chain(
        store / "certs" / "client" / "0" / "cert.pem", store / "certs" / "client" / "0" / "key.pem"
    )
    with (
        socket.create_connection(("127.0.0.1", tcp), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        port.expect(b"0,CONNECT\r\n")
        tls.sendall(b"over pty")
        port.expect(b"\r\n+IPD,0,8:over pty\r\n")
    port.expect(b"0,CLOSED\r\n")
    port.command(b"AT+CIPSERVER=0\r\n", b"AT+CIPSERVER=0\r\n" + OK)
    port.quiet()

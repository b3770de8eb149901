"""`w800at serve --tcp` and `--rfc2217`: the same module behind a socket."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from tests.conftest import ServeProcess

READY = b"\r\nready\r\n"
OK = b"\r\nOK\r\n"

Serve = Callable[..., ServeProcess]


def test_tcp_port_boot_commands_and_reconnect(serve: Serve) -> None:
    srv = serve("tcp")
    assert srv.port is not None and srv.port > 0
    assert srv.stderr_text() == f"w800at: w800 module on tcp 127.0.0.1:{srv.port}"
    port = srv.connect()
    port.expect(READY)
    port.command(b"AT+SYSLOG=1\r\n", b"AT+SYSLOG=1\r\n" + OK)
    port.command(b"at\r\n", b"at\r\nERR CODE:0x01030000\r\n\r\nERROR\r\n")
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.quiet()
    port.close()
    # a second connection is the same powered module: no ready, echo still off
    port2 = srv.connect()
    port2.command(b"AT\r\n", OK)
    port2.quiet()


def test_tcp_refuses_a_second_host(serve: Serve) -> None:
    srv = serve("tcp")
    port = srv.connect()
    port.expect(READY)
    assert srv.port is not None
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s2,
        contextlib.suppress(ConnectionResetError),
    ):
        assert s2.recv(100) == b""
    port.command(b"AT\r\n", b"AT\r\n" + OK)  # the first host is unaffected
    port.quiet()


def test_rfc2217_dtr_pulse_resets_the_module(serve: Serve) -> None:
    srv = serve("rfc2217")
    assert srv.stderr_text() == f"w800at: w800 module on rfc2217 127.0.0.1:{srv.port}"
    port = srv.connect()
    # pyserial's RFC 2217 open() ends with purges that drop what arrived meanwhile: the
    # module powers up only after them, so the boot "ready" reaches the host.
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT\r\n", OK)
    port.command(b"AT+CWMODE=0\r\n", OK)  # saved (AT+SYSSTORE=1): survives the reset
    port.ser.dtr = False
    port.ser.dtr = True
    port.expect(READY)
    port.command(b"AT\r\n", b"AT\r\n" + OK)  # echo back on: volatile settings reset
    port.command(b"AT+CWMODE?\r\n", b"AT+CWMODE?\r\n+CWMODE:0\r\n" + OK)
    port.quiet()
    # the data path keeps IAC (0xff) transparent: a line with 0xff is just an error
    port.command(b"AT\xff\r\n", b"AT\xff\r\n\r\nERROR\r\n")
    port.quiet()

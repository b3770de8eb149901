"""Passthrough and the ``+++`` escape in real time, through `w800at serve` on a PTY.

The engine tests check every ``+++`` rule under a manual clock; this runs them once
with real silences (w800 guard time: 30 ms) against a real TCP echo server.
"""

from __future__ import annotations

import time

from tests.conftest import ServeProcess
from tests.e2e.test_serve_pty import JOIN_OK, LAB_CONFIG, OK, READY, Serve
from tests.servers.tcp_servers import TcpEchoServer

SILENCE = 0.15  # comfortably above the 30 ms guard time
PROMPT = b"\r\nOK\r\n\r\n>"


def test_passthrough_escape_in_real_time(serve: Serve) -> None:
    srv: ServeProcess = serve("pty", config=LAB_CONFIG)
    port = srv.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b'AT+CWJAP="lab","lab-secret"\r\n', JOIN_OK)
    with TcpEchoServer() as echo:
        port.command(b"AT+CIPMODE=1\r\n", OK)
        port.command(f'AT+CIPSTART="TCP","127.0.0.1",{echo.port}\r\n'.encode(), b"CONNECT\r\n" + OK)
        port.command(b"AT+CIPSEND\r\n", PROMPT)
        time.sleep(SILENCE)

        # "+++" inside a data stream, without the silences, is data: echoed back raw
        port.send(b"abc+++def")
        port.expect(b"abc+++def")
        # "+++" after a silence but followed at once by more data is data too
        time.sleep(SILENCE)
        port.send(b"+++")
        port.send(b"x")
        port.expect(b"+++x")

        # silence, "+++", silence: back to command mode, nothing is printed
        time.sleep(SILENCE)
        port.send(b"+++")
        time.sleep(SILENCE)
        port.quiet()
        port.command(b"AT\r\n", OK)

        # the link stayed open: AT+CIPSEND enters passthrough again
        port.command(b"AT+CIPSEND\r\n", PROMPT)
        port.send(b"again")
        port.expect(b"again")
        time.sleep(SILENCE)
        port.send(b"+++")
        time.sleep(SILENCE)
        port.command(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n" + OK)
    port.quiet()

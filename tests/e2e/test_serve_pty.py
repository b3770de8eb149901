"""`w800at serve --pty` driven by pyserial: what a host driver sees, byte for byte."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.conftest import Port, ServeProcess

READY = b"\r\nready\r\n"
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"

W800_GMR = (
    b"AT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)\r\n"
    b"SDK version:W800 SDK v1.00.10\r\n"
    b"compile time(w800at):Nov 24 2026 00:00:00\r\n"
    b"Bin version:2.1.0(W800)\r\n"
)

#: fixed addresses and access points, so join output does not depend on the host
LAB_CONFIG = """
[station]
ip = "127.0.0.1"
gateway = "127.0.0.1"
netmask = "255.0.0.0"
mac = "02:11:22:33:44:55"
ip6_ll = "fe80::11:22ff:fe33:4455"
ip6_gl = "::1"

[[access_point]]
ssid = "lab"
password = "lab-secret"

[[access_point]]
ssid = "flaky"
fail = 4
"""

#: a join's answer: WIFI CONNECTED, WIFI GOT IP and OK, then the IPv6 URCs
JOIN_OK = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
#: the boot-time auto-join (AT+CWAUTOCONN): the same URCs, no command so no OK
AUTO_JOIN = JOIN_OK.replace(OK, b"")

Serve = Callable[..., ServeProcess]


def booted(srv: ServeProcess) -> Port:
    port = srv.connect()
    port.expect(READY)
    return port


def test_boot_echo_gmr_and_reopen_without_reset(serve: Serve) -> None:
    srv = serve("pty")
    port = booted(srv)
    port.command(b"AT\r\n", b"AT\r\n" + OK)
    port.command(b"AT+GMR\r\n", b"AT+GMR\r\n" + W800_GMR + OK)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)  # the line is echoed before echo goes off
    port.command(b"AT\r\n", OK)
    port.command(b"ATE1\r\n", OK)
    port.command(b"AT\r\n", b"AT\r\n" + OK)
    port.quiet()
    port.close()
    # Opening the port again is not a power cycle: no "ready", echo state kept.
    port2 = srv.connect()
    port2.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port2.close()
    port3 = srv.connect()
    port3.command(b"AT\r\n", OK)
    port3.quiet()


def test_error_paths_with_err_codes(serve: Serve) -> None:
    port = booted(serve("pty"))
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT+FOO\r\n", ERROR)
    port.command(b"AT+SYSLOG=1\r\n", OK)
    cases = [
        (b"AT+FOO\r\n", 0x01090000),  # unknown command
        (b"AT+GMR?\r\n", 0x010C0000),  # a form the command lacks
        (b"AT+CWMODE=4\r\n", 0x01070000),  # out of range
        (b"AT+CWMODE=1,1,1\r\n", 0x01060203),  # 3 parameters, 2 taken
        (b"AT+CWMODE=\r\n", 0x01060100),  # none given, 1 needed
        (b'AT+CWMODE="1"\r\n', 0x01050000),  # wrong type
        (b'AT+CWJAP="lab\r\n', 0x01080000),  # unterminated quote
        (b'AT+CWHOSTNAME="' + b"h" * 33 + b'"\r\n', 0x01040000),  # string too long
        (b"at\r\n", 0x01030000),  # lower-case prefix
        (b"AT\n", 0x01020000),  # LF without CR
        (b"AT" + b"X" * 255 + b"\r\n", 0x01010000),  # 257-byte line
    ]
    for line, code in cases:
        port.command(line, b"ERR CODE:0x%08x\r\n" % code + ERROR)
    # 256 bytes is still a line (answered as an unknown command, not as too long)
    port.command(b"AT" + b"X" * 254 + b"\r\n", b"ERR CODE:0x01090000\r\n" + ERROR)
    # a lone CR is not a terminator: no answer until the LF comes
    port.send(b"AT\r")
    port.quiet()
    port.command(b"\n", OK)
    port.command(b"\r\n", b"")  # an empty line is ignored
    port.command(b"AT\r\n", OK)
    port.quiet()


def test_busy_while_joining(serve: Serve) -> None:
    port = booted(serve("pty", config=LAB_CONFIG))
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    # join_time is 0.2 s: both lines arrive while the join runs
    port.send(b'AT+CWJAP="lab","lab-secret"\r\nAT\r\nAT+GMR\r\n')
    port.expect(b"\r\nbusy p...\r\n" * 2 + JOIN_OK)
    port.command(b"AT+CWSTATE?\r\n", b'+CWSTATE:2,"lab"\r\n' + OK)
    port.quiet()


def test_wifi_join_fail_quit(serve: Serve) -> None:
    port = booted(serve("pty", config=LAB_CONFIG))
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    # the w800 dialect: ERROR alone (WinnerMicro's W800 Wi-Fi AT page; esp-at adds
    # +CWJAP:<code> first, see tests/engine/test_wifi.py)
    port.command(b'AT+CWJAP="lab","wrong"\r\n', ERROR)
    port.command(b'AT+CWJAP="nowhere","x"\r\n', ERROR)
    port.command(b'AT+CWJAP="flaky","x"\r\n', ERROR)
    port.command(b"AT+CWSTATE?\r\n", b'+CWSTATE:4,""\r\n' + OK)
    port.command(b'AT+CWJAP="lab","lab-secret"\r\n', JOIN_OK)
    port.command(
        b"AT+CIFSR\r\n",
        b'+CIFSR:STAIP,"127.0.0.1"\r\n+CIFSR:STAIP6LL,"fe80::11:22ff:fe33:4455"\r\n'
        b'+CIFSR:STAIP6GL,"::1"\r\n+CIFSR:STAMAC,"02:11:22:33:44:55"\r\n' + OK,
    )
    port.command(b"AT+CWQAP\r\n", OK + b"WIFI DISCONNECT\r\n")
    # like ESP-AT (the station keeps its configured target), the SSID stays
    port.command(b"AT+CWSTATE?\r\n", b'+CWSTATE:4,"lab"\r\n' + OK)
    port.command(b"AT+CWJAP?\r\n", b"No AP\r\n" + OK)
    port.quiet()


def test_lenient_eol_option(serve: Serve) -> None:
    port = booted(serve("pty", "--lenient-eol"))
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT\r", OK)
    port.command(b"AT\n", OK)
    port.command(b"AT+GMR\r", W800_GMR + OK)
    port.quiet()


def test_esp_at_profile(serve: Serve) -> None:
    srv = serve("pty", profile="esp-at")
    assert srv.profile == "esp-at"
    port = booted(srv)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(
        b"AT+GMR\r\n",
        b"AT version:3.4.0.0(w800at - ESP32 - Nov 24 2026 00:00:00)\r\n"
        b"SDK version:v5.0.6\r\n"
        b"compile time(w800at):Nov 24 2026 00:00:00\r\n"
        b"Bin version:v3.4.0.0(WROOM-32)\r\n" + OK,
    )
    port.command(b"AT+CWHOSTNAME?\r\n", b"+CWHOSTNAME:espressif\r\n" + OK)
    port.quiet()


def test_rst_gives_ready_again(serve: Serve) -> None:
    port = booted(serve("pty"))
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT+RST\r\n", OK + READY)
    port.command(b"AT\r\n", b"AT\r\n" + OK)  # echo is back on after the reboot
    # a line sent while the module boots is lost (nobody listens yet)
    port.send(b"AT+RST\r\n")
    port.expect(b"AT+RST\r\n" + OK)
    port.send(b"AT\r\n")
    port.expect(READY)
    port.quiet()


@pytest.mark.parametrize("kind", ["pty"])
def test_startup_line_names_the_port(serve: Serve, kind: str) -> None:
    srv = serve(kind)
    assert srv.path is not None
    text = srv.stderr_text()
    assert text.startswith("w800at: w800 module on pty /dev/pts/")
    assert text.endswith(f" -> {srv.path}")
    t0 = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - t0 < 5

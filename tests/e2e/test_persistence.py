"""Settings survive a restart of `w800at serve` (AT+SYSSTORE=1), and only those."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.conftest import ServeProcess

from .test_serve_pty import AUTO_JOIN, JOIN_OK, LAB_CONFIG, OK, READY

Serve = Callable[..., ServeProcess]


def test_saved_settings_survive_restart_and_sysstore0_changes_do_not(serve: Serve) -> None:
    srv = serve("pty", config=LAB_CONFIG)
    port = srv.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b'AT+CWHOSTNAME="saved-host"\r\n', OK)
    port.command(b"AT+UART_DEF=921600,8,1,0,0\r\n", OK)
    port.command(b"AT+SYSSTORE=0\r\n", OK)
    port.command(b"AT+CWMODE=3\r\n", OK)  # not saved under AT+SYSSTORE=0
    port.command(b"AT+CWMODE?\r\n", b"+CWMODE:3\r\n" + OK)
    port.quiet()
    assert srv.stop() == 0
    saved = json.loads((srv.store / "settings.json").read_text())
    assert saved["hostname"] == "saved-host"
    assert "cwmode" not in saved

    srv2 = serve("pty", store=srv.store, config=LAB_CONFIG)
    port = srv2.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT+CWHOSTNAME?\r\n", b"+CWHOSTNAME:saved-host\r\n" + OK)
    port.command(b"AT+UART_DEF?\r\n", b"+UART_DEF:921600,8,1,0,0\r\n" + OK)
    port.command(b"AT+UART_CUR?\r\n", b"+UART_CUR:921600,8,1,0,0\r\n" + OK)
    port.command(b"AT+SYSSTORE?\r\n", b"+SYSSTORE:0\r\n" + OK)  # itself always saved
    port.command(b"AT+CWMODE?\r\n", b"+CWMODE:1\r\n" + OK)
    port.quiet()


def test_autoconnect_joins_the_saved_ap_at_boot(serve: Serve) -> None:
    srv = serve("pty", config=LAB_CONFIG)
    port = srv.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b'AT+CWJAP="lab","lab-secret"\r\n', JOIN_OK)
    port.quiet()
    assert srv.stop() == 0

    srv2 = serve("pty", store=srv.store, config=LAB_CONFIG)
    port = srv2.connect()
    port.expect(READY + AUTO_JOIN)
    port.command(b"AT+CWSTATE?\r\n", b'AT+CWSTATE?\r\n+CWSTATE:2,"lab"\r\n' + OK)
    port.command(b"AT+CWAUTOCONN=0\r\n", b"AT+CWAUTOCONN=0\r\n" + OK)
    port.quiet()
    assert srv2.stop() == 0

    srv3 = serve("pty", store=srv.store, config=LAB_CONFIG)
    port = srv3.connect()
    port.expect(READY)
    port.quiet(0.5)  # no auto-join: longer than join + DHCP time
    port.command(b"AT+CWSTATE?\r\n", b'AT+CWSTATE?\r\n+CWSTATE:0,""\r\n' + OK)


def test_restore_forgets_saved_settings_across_restart(serve: Serve) -> None:
    srv = serve("pty")
    port = srv.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b'AT+CWHOSTNAME="gone"\r\n', OK)
    port.command(b"AT+RESTORE\r\n", OK + READY)
    port.command(b"AT+CWHOSTNAME?\r\n", b"AT+CWHOSTNAME?\r\n+CWHOSTNAME:w800\r\n" + OK)
    port.quiet()
    assert srv.stop() == 0
    srv2 = serve("pty", store=srv.store)
    port = srv2.connect()
    port.expect(READY)
    port.command(b"AT+CWHOSTNAME?\r\n", b"AT+CWHOSTNAME?\r\n+CWHOSTNAME:w800\r\n" + OK)

"""Settings survive a restart of `w800at serve` (AT+SYSSTORE=1), and only those."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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


def test_a_settings_file_with_bad_values_is_checked_at_start(serve: Serve, tmp_path: Path) -> None:
    """Issue 12, item 13, through `w800at serve`: one stderr line per bad key, naming
    it and the file; the module serves; the good key is kept; the file is set aside."""
    store = tmp_path / "bad-store"
    store.mkdir()
    (store / "settings.json").write_text(
        json.dumps({"cwmode": "x", "hostname": 5, "uart_def": [57600, 8, 1, 0, 0]})
    )
    srv = serve("pty", store=store)
    port = srv.connect()
    port.expect(READY)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b"AT+CWMODE?\r\n", b"+CWMODE:1\r\n" + OK)
    port.command(b"AT+CWHOSTNAME?\r\n", b"+CWHOSTNAME:w800\r\n" + OK)
    port.command(b"AT+UART_DEF?\r\n", b"+UART_DEF:57600,8,1,0,0\r\n" + OK)
    port.quiet()
    assert srv.stop() == 0
    err = srv.stderr_text()
    lines = [x for x in err.splitlines() if "settings file" in x]
    assert len(lines) == 2, err
    assert all(str(store / "settings.json") in x for x in lines)
    assert "'cwmode'" in lines[0] + lines[1] and "'hostname'" in lines[0] + lines[1]
    assert "internal error" not in err and "Traceback" not in err
    assert json.loads((store / "settings.json").read_text()) == {"uart_def": [57600, 8, 1, 0, 0]}
    assert (store / "settings.corrupt").exists()

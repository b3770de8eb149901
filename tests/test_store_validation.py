"""The settings store checks what it loads against the settings' declarations
(issue 12, item 13): a value of the wrong type, range or length, or a key nobody
declares, is reported once (one log line naming the key and the file), that setting
starts from its default, the other keys are kept, and the file is set aside as
``settings.corrupt`` (the kept keys are written back).  Real files throughout."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveModule
from w800at.commands import FEATURES
from w800at.profiles import ESP_AT, W800, Profile
from w800at.store import SETTINGS_FILE, Store, validate_saved

OK = b"\r\nOK\r\n"
DEFS = FEATURES.settings

#: keys a real module saves, all valid
GOOD: dict[str, Any] = {
    "hostname": "kept-host",
    "uart_def": [57600, 8, 1, 0, 0],
    "cwautoconn": 0,
    "sysstore": 1,
    "wifi_join": {"ssid": "lab", "password": "secret", "bssid": ""},
    "cipdns": ["127.0.0.2", "::1"],
    "cipsslcconf": [[2, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
    "cipsta_static": ["192.168.1.50", "192.168.1.1", "255.255.255.0"],
    "cipsta_mac": "02:11:22:33:44:55",
    "cipv6": 0,
}

BAD = [
    # wrong types
    pytest.param("cwmode", "x", id="cwmode-string"),
    pytest.param("hostname", 5, id="hostname-int"),
    pytest.param("cwmode", True, id="cwmode-bool"),
    pytest.param("cwmode", 1.0, id="cwmode-float"),
    pytest.param("cwmode", None, id="cwmode-null"),
    pytest.param("cwmode", "1", id="cwmode-numeric-string"),
    pytest.param("uart_def", "115200", id="uart-string"),
    pytest.param("uart_def", {"baud": 9600}, id="uart-object"),
    pytest.param("wifi_join", ["lab", "secret"], id="join-list"),
    pytest.param("wifi_join", {"ssid": 5, "password": "p", "bssid": ""}, id="join-ssid-int"),
    pytest.param("wifi_join", {"ssid": "lab"}, id="join-missing-keys"),
    pytest.param("cipdns", "8.8.8.8", id="dns-string"),
    pytest.param("cipsslcconf", [0, 0, 0], id="sslconf-flat"),
    pytest.param("cipsta_mac", 2, id="mac-int"),
    # out of range, too long, too short, not an address
    pytest.param("cwmode", 7, id="cwmode-7"),
    pytest.param("cwdhcp", -1, id="dhcp-negative"),
    pytest.param("cipreconnintv", 0, id="reconnintv-0"),
    pytest.param("hostname", "h" * 33, id="hostname-33"),
    pytest.param("uart_def", [9600, 8], id="uart-short"),
    pytest.param("uart_def", [9600, 9, 1, 0, 0], id="uart-databits-9"),
    pytest.param("uart_def", [9600, 8, 1, 0, 0, 0], id="uart-long"),
    pytest.param("wifi_join", {"ssid": "s" * 33, "password": "", "bssid": ""}, id="join-ssid-33"),
    pytest.param("cipdns", [], id="dns-empty"),
    pytest.param("cipdns", ["dns.example"], id="dns-not-ip"),
    pytest.param("cipsta_static", ["999.1.1.1", "1.1.1.1", "255.0.0.0"], id="static-bad-ip"),
    pytest.param("cipsta_static", ["10.0.0.2"], id="static-short"),
    pytest.param("cipsta_mac", "02:11:22:33:44", id="mac-short"),
    pytest.param("cipsslcconf", [[4, 0, 0]], id="sslconf-auth-4"),
    pytest.param("cipsslcconf", [[1, -1, 0]], id="sslconf-slot-negative"),
    # nobody declares it
    pytest.param("cwmod", 1, id="unknown-key"),
]


def write(store: Path, data: object) -> bytes:
    store.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, indent=2).encode()
    (store / SETTINGS_FILE).write_bytes(raw)
    return raw


def bad_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "w800at.store"]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_a_bad_key_is_reported_once_and_the_rest_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str, value: object
) -> None:
    caplog.set_level(logging.ERROR, logger="w800at.store")
    data = {**GOOD, key: value}
    kept = {k: v for k, v in GOOD.items() if k != key}
    raw = write(tmp_path, data)
    st = Store(tmp_path)
    assert st.load(DEFS) == kept
    (line,) = bad_lines(caplog)
    assert f"key {key!r}" in line and str(st.path) in line and "settings.corrupt" in line
    if key != "wifi_join":
        assert "secret" not in line  # values are never echoed
    # the bad file is set aside as it was; the good keys are on disk again
    assert (tmp_path / "settings.corrupt").read_bytes() == raw
    assert json.loads(st.path.read_text()) == kept
    # so the next start is clean and reports nothing
    caplog.clear()
    assert st.load(DEFS) == kept
    assert bad_lines(caplog) == []


def test_several_bad_keys_one_line_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="w800at.store")
    write(tmp_path, {"cwmode": "x", "hostname": 5, "cwautoconn": 0, "nope": []})
    assert Store(tmp_path).load(DEFS) == {"cwautoconn": 0}
    lines = bad_lines(caplog)
    assert len(lines) == 3
    assert [k for k in ("'cwmode'", "'hostname'", "'nope'") if any(k in x for x in lines)] == [
        "'cwmode'",
        "'hostname'",
        "'nope'",
    ]


@pytest.mark.parametrize("content", [b'"a string"', b"5", b"null", b"true", b"[{}]"])
def test_json_that_is_not_an_object_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    caplog.set_level(logging.ERROR, logger="w800at.store")
    st = Store(tmp_path)
    st.path.write_bytes(content)
    assert st.load(DEFS) == {}
    assert (tmp_path / "settings.corrupt").read_bytes() == content
    assert not st.path.exists()
    (line,) = bad_lines(caplog)
    assert "not an object" in line and str(st.path) in line


def test_without_declarations_the_store_loads_what_is_there(tmp_path: Path) -> None:
    write(tmp_path, {"cwmode": "x"})
    assert Store(tmp_path).load() == {"cwmode": "x"}


@pytest.mark.parametrize("profile", [W800, ESP_AT], ids=["w800", "esp-at"])
def test_every_setting_declares_a_type_its_default_fits(profile: Profile) -> None:
    """The declarations are the schema: no setting without a type, and no default that
    the store would refuse (checked the way a saved file is)."""
    untyped = [n for n, d in DEFS.items() if d.type is Any]
    assert untyped == []
    defaults = {n: d.default_for(profile) for n, d in DEFS.items()}
    good, bad = validate_saved(defaults, DEFS)
    assert bad == []
    assert good == defaults


def test_what_the_engine_saves_loads_back(tmp_path: Path) -> None:
    """Every value a command stores passes the check it meets at the next start."""
    from tests.harness import Harness
    from w800at.core.actions import SaveSettings

    h = Harness()
    h.join()
    for line in (
        b'AT+CWHOSTNAME="h"',
        b"AT+CWMODE=3",
        b"AT+CWDHCP=1,1",
        b'AT+CIPSTA="192.168.1.50","192.168.1.1","255.255.255.0"',
        b'AT+CIPSTAMAC="02:11:22:33:44:55"',
        b'AT+CIPDNS=1,"127.0.0.2","::1"',
        b"AT+CIPSSLCCONF=3,1,2",
        b"AT+CIPRECONNINTV=36000",
        b"AT+UART_DEF=9600,7,2,1,3",
        b"AT+CWAUTOCONN=0",
        b"AT+CIPV6=0",
        b"AT+CIPMUX=1",
        b"AT+CIPSSLCCONF=5,2,0,0",
    ):
        assert h.send(line + b"\r\n").endswith(OK), line
    saves = [a for a in h.take(SaveSettings) if isinstance(a, SaveSettings)]
    snapshot = saves[-1].snapshot
    Store(tmp_path).save(snapshot)
    assert Store(tmp_path).load(DEFS) == snapshot
    assert not (tmp_path / "settings.corrupt").exists()
    h.check()


def test_the_module_serves_with_bad_keys_and_keeps_the_good_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole module on a store with ``{"cwmode": "x", "hostname": 5}`` beside good
    keys: it starts, every command answers (no internal error), the bad settings are
    at their defaults, the good ones as saved."""
    caplog.set_level(logging.ERROR, logger="w800at.store")
    write(
        tmp_path,
        {"cwmode": "x", "hostname": 5, "uart_def": [57600, 8, 1, 0, 0], "cwautoconn": 0},
    )

    async def main() -> None:
        async with LiveModule(tmp_path) as mod:
            await mod.cmd(b"AT+CWMODE?", b"+CWMODE:1\r\n" + OK)
            await mod.cmd(b"AT+CWHOSTNAME?", b"+CWHOSTNAME:w800\r\n" + OK)
            await mod.cmd(b"AT+UART_DEF?", b"+UART_DEF:57600,8,1,0,0\r\n" + OK)
            await mod.cmd(b"AT+CWAUTOCONN?", b"+CWAUTOCONN:0\r\n" + OK)
            await mod.cmd(b'AT+CWHOSTNAME="new"', OK)
            assert mod.engine.bugs == []

    asyncio.run(asyncio.wait_for(main(), 30))
    lines = bad_lines(caplog)
    assert len(lines) == 2
    assert any("'cwmode'" in x for x in lines) and any("'hostname'" in x for x in lines)
    saved = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert saved == {"hostname": "new", "uart_def": [57600, 8, 1, 0, 0], "cwautoconn": 0}
    assert json.loads((tmp_path / "settings.corrupt").read_text())["cwmode"] == "x"


def test_a_store_that_cannot_be_written_still_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting the file aside fails (a read-only store): the good keys still load."""
    import os

    import w800at.store

    caplog.set_level(logging.ERROR, logger="w800at.store")
    write(tmp_path, {"cwmode": "x", "cwautoconn": 0})

    def refuse(*a: object, **k: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(w800at.store.os, "replace", refuse)
    assert Store(tmp_path).load(DEFS) == {"cwautoconn": 0}
    assert any("could not be set aside" in x for x in bad_lines(caplog))
    monkeypatch.setattr(w800at.store.os, "replace", os.replace)
    assert json.loads((tmp_path / SETTINGS_FILE).read_text())["cwmode"] == "x"  # untouched


def test_a_fleet_checks_each_modules_store(tmp_path: Path) -> None:
    """`Fleet` reads its modules' stores itself (a batch per worker-thread trip): the
    same check applies to each."""
    from w800at import MemoryChannel
    from w800at.fleet import Fleet

    write(tmp_path / "w800-0000", {"cwmode": "x", "hostname": "zero"})
    write(tmp_path / "w800-0001", {"hostname": "one"})

    async def main() -> None:
        async with Fleet(2, lambda i, name: MemoryChannel(), store_root=tmp_path) as fleet:
            for i, name in ((0, b"zero"), (1, b"one")):
                host = fleet[i].host
                await host.expect(b"\r\nready\r\n")
                host.write(b"ATE0\r\nAT+CWMODE?\r\nAT+CWHOSTNAME?\r\n")
                want = b"ATE0\r\n" + OK + b"+CWMODE:1\r\n" + OK + b"+CWHOSTNAME:" + name
                assert await host.read_until(b"+CWHOSTNAME:" + name) == want
                assert fleet[i].engine.bugs == []

    asyncio.run(asyncio.wait_for(main(), 30))
    assert (tmp_path / "w800-0000" / "settings.corrupt").exists()
    assert not (tmp_path / "w800-0001" / "settings.corrupt").exists()

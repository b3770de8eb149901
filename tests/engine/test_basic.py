"""Basic commands: AT+RST, AT+GMR, AT+CMD?, AT+RESTORE, AT+SYSSTORE, AT+UART_CUR/DEF,
the TCP/IP commands' "no IP yet" rule, and the two dialects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Harness, both
from w800at.commands import FEATURES
from w800at.core.actions import ResetNetwork, SaveSettings, SetUart
from w800at.core.engine import Engine
from w800at.core.feature import Feature, FeatureSet
from w800at.core.params import Int
from w800at.core.registry import Command
from w800at.profiles import ESP_AT, W800, Profile

COMMANDS = FEATURES.commands

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"\r\nready\r\n"
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\nWIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"

W800_GMR = (
    b"AT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)\r\n"
    b"SDK version:W800 SDK v1.00.10\r\n"
    b"compile time(w800at):Nov 24 2026 00:00:00\r\n"
    b"Bin version:2.1.0(W800)\r\n"
)
ESP_GMR = (
    b"AT version:3.4.0.0(w800at - ESP32 - Nov 24 2026 00:00:00)\r\n"
    b"SDK version:v5.0.6\r\n"
    b"compile time(w800at):Nov 24 2026 00:00:00\r\n"
    b"Bin version:v3.4.0.0(WROOM-32)\r\n"
)


def quiet(profile: Any = W800, **kw: Any) -> Harness:
    h = Harness(profile, **kw)
    assert h.send(b"ATE0\r\n") == b"ATE0\r\n" + OK
    h.take()
    return h


def last_save(h: Harness) -> dict[str, Any]:
    saves = h.take(SaveSettings)
    assert saves, "no SaveSettings action"
    snap = saves[-1]
    assert isinstance(snap, SaveSettings)
    return snap.snapshot


@pytest.mark.parametrize(("profile", "gmr"), [(W800, W800_GMR), (ESP_AT, ESP_GMR)])
def test_gmr(profile: Any, gmr: bytes) -> None:
    h = Harness(profile)
    assert h.send(b"AT+GMR\r\n") == b"AT+GMR\r\n" + gmr + OK
    first = gmr.split(b"\r\n")[0]
    assert first.startswith(b"AT version:")
    assert len(first.split(b"(")[0][len(b"AT version:") :]) <= 10  # fits a 10-byte buffer
    h.check()


def test_esp_at_gmr_has_the_chip_tag_and_v3() -> None:
    assert b" - ESP32 - " in ESP_GMR and ESP_GMR.startswith(b"AT version:3.")


def test_rst_closes_links_and_boots_again() -> None:
    seen: list[Engine] = []
    h = quiet(features=FEATURES.plus(Feature("probe", on_reset=seen.append)))
    assert h.send(b"AT+SYSLOG=1\r\n") == OK
    assert h.send(b"AT+RST\r\n") == OK
    assert seen == [h.engine]
    assert len(h.take(ResetNetwork)) == 1
    assert h.send(b"AT\r\n") == b""  # booting: dropped
    assert h.advance(W800.boot_time) == READY
    assert h.send(b"AT+NOPE\r\n") == b"AT+NOPE\r\n" + ERROR  # echo on, SYSLOG off
    h.check()


def test_rst_while_a_join_runs_abandons_it() -> None:
    h = quiet()
    h.join()
    assert h.send(b'AT+CWJAP="lab","x"\r\n') == b"WIFI DISCONNECT\r\n"
    # an EN-pin reset (RFC 2217 DTR) mid-command: the join is dropped, no final result
    h.engine.reset()
    # no OK/FAIL for the abandoned join; AT+CWAUTOCONN=1 joins the saved AP again
    assert h.advance(2.0) == READY + JOINED
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:2,"lab"\r\n' + OK
    h.check()


def test_cmd_query_lists_every_command_with_its_forms() -> None:
    h = quiet()
    out = h.send(b"AT+CMD?\r\n")
    assert out.endswith(OK)
    rows = out[: -len(OK)].split(b"\r\n")
    assert rows[-1] == b""
    rows = rows[:-1]
    pat = re.compile(rb'^\+CMD:(\d+),"AT([^"]*)",([01]),([01]),([01]),([01])$')
    names = []
    for i, row in enumerate(rows):
        m = pat.match(row)
        assert m, row
        assert int(m.group(1)) == i  # consecutive indexes
        names.append(m.group(2).decode())
    assert names == sorted(n for n in COMMANDS if n not in W800.unsupported)
    assert b'+CMD:0,"AT",0,0,0,1' in rows
    by_name = {r.split(b'"')[1]: r.split(b",", 2)[2] for r in rows}
    assert by_name[b"AT+GMR"] == b"0,0,0,1"
    assert by_name[b"AT+CWJAP"] == b"1,1,1,1"
    assert by_name[b"AT+CWMODE"] == b"1,1,1,0"
    assert by_name[b"AT+CWSTATE"] == b"0,1,0,0"
    assert b"AT+CIPSENDL" not in by_name  # unsupported by the w800 dialect
    esp = quiet(ESP_AT).send(b"AT+CMD?\r\n")
    assert b'"AT+CIPSENDL"' in esp
    h.check()


def test_test_form_of_a_set_command_answers_ok() -> None:
    h = quiet()
    assert h.send(b"AT+CWMODE=?\r\n") == OK
    assert h.send(b"AT+GMR=?\r\n") == ERROR


def test_sysstore_1_saves_and_survives_restart() -> None:
    h = quiet()
    assert h.send(b"AT+SYSSTORE?\r\n") == b"+SYSSTORE:1\r\n" + OK
    assert h.send(b"AT+CWMODE=3\r\n") == OK
    snap = last_save(h)
    assert snap["cwmode"] == 3
    h2 = quiet(saved=snap)
    assert h2.send(b"AT+CWMODE?\r\n") == b"+CWMODE:3\r\n" + OK
    h.check()
    h2.check()


def test_sysstore_0_changes_are_lost_on_restart() -> None:
    h = quiet()
    assert h.send(b"AT+SYSSTORE=0\r\n") == OK
    snap = last_save(h)  # AT+SYSSTORE itself is always saved
    assert snap == {"sysstore": 0}
    assert h.send(b'AT+CWHOSTNAME="volatile"\r\nAT+CWMODE=2\r\n') == OK + OK
    assert h.take(SaveSettings) == []
    assert h.send(b"AT+CWMODE?\r\n") == b"+CWMODE:2\r\n" + OK  # in effect until restart
    h2 = quiet(saved=snap)
    assert h2.send(b"AT+CWMODE?\r\nAT+CWHOSTNAME?\r\nAT+SYSSTORE?\r\n") == (
        b"+CWMODE:1\r\n" + OK + b"+CWHOSTNAME:w800\r\n" + OK + b"+SYSSTORE:0\r\n" + OK
    )
    # AT+RST is a restart too
    assert h.send(b"AT+RST\r\n") == OK
    assert h.advance(1) == READY
    assert h.send(b"AT+CWMODE?\r\n") == b"AT+CWMODE?\r\n+CWMODE:1\r\n" + OK


def test_sysstore_range() -> None:
    h = quiet()
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(b"AT+SYSSTORE=2\r\n") == b"ERR CODE:0x01070000\r\n" + ERROR


def test_restore_forgets_saved_settings_and_reboots() -> None:
    h = quiet()
    h.send(b'AT+CWHOSTNAME="keep"\r\nAT+UART_DEF=9600,8,1,0,0\r\n')
    h.take()
    assert h.send(b"AT+RESTORE\r\n") == OK
    assert last_save(h) == {}
    assert len(h.take(ResetNetwork)) == 1
    assert h.advance(1) == READY
    assert h.send(b"AT+CWHOSTNAME?\r\nAT+UART_DEF?\r\n") == (
        b"AT+CWHOSTNAME?\r\n+CWHOSTNAME:w800\r\n"
        + OK
        + b"AT+UART_DEF?\r\n+UART_DEF:115200,8,1,0,0\r\n"
        + OK
    )
    h.check()


def test_uart_cur_applies_now_and_is_not_saved() -> None:
    h = quiet()
    assert h.send(b"AT+UART_CUR?\r\n") == b"+UART_CUR:115200,8,1,0,0\r\n" + OK
    assert h.send(b"AT+UART_CUR=921600,8,1,0,0\r\n") == OK
    acts = h.take()
    assert [type(a) for a in acts] == [SetUart]
    su = acts[0]
    assert isinstance(su, SetUart)
    assert (su.baud, su.databits, su.stopbits, su.parity, su.flow) == (921600, 8, 1, 0, 0)
    assert h.send(b"AT+UART_CUR?\r\nAT+UART_DEF?\r\n") == (
        b"+UART_CUR:921600,8,1,0,0\r\n" + OK + b"+UART_DEF:115200,8,1,0,0\r\n" + OK
    )
    h.send(b"AT+RST\r\n")
    h.advance(1)
    assert h.send(b"AT+UART_CUR?\r\n") == b"AT+UART_CUR?\r\n+UART_CUR:115200,8,1,0,0\r\n" + OK


def test_uart_def_is_saved_and_becomes_current_after_restart() -> None:
    h = quiet()
    assert h.send(b"AT+SYSSTORE=0\r\n") == OK  # UART_DEF is saved regardless
    h.take()
    assert h.send(b"AT+UART_DEF=57600,8,1,0,1\r\n") == OK
    acts = h.take()
    assert [type(a) for a in acts] == [SaveSettings, SetUart]
    snap = acts[0].snapshot  # type: ignore[attr-defined]
    assert snap["uart_def"] == [57600, 8, 1, 0, 1]
    h2 = quiet(saved=snap)
    assert h2.send(b"AT+UART_CUR?\r\n") == b"+UART_CUR:57600,8,1,0,1\r\n" + OK


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"AT+UART_CUR=79,8,1,0,0\r\n", 0x01070000),
        (b"AT+UART_CUR=115200,9,1,0,0\r\n", 0x01070001),
        (b"AT+UART_CUR=115200,8,4,0,0\r\n", 0x01070002),
        (b"AT+UART_CUR=115200,8,1,3,0\r\n", 0x01070003),
        (b"AT+UART_CUR=115200,8,1,0,4\r\n", 0x01070004),
        (b"AT+UART_CUR=115200,8,1,0\r\n", 0x01060504),
        (b"AT+UART_DEF=115200,8,1,0,0,0\r\n", 0x01060506),
    ],
)
def test_uart_bad_parameters(line: bytes, code: int) -> None:
    h = quiet()
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(line) == b"ERR CODE:0x%08x\r\n" % code + ERROR
    assert h.take(SetUart) == []


def test_sysmsg_query_and_set() -> None:
    h = quiet()
    assert h.send(b"AT+SYSMSG?\r\n") == b"+SYSMSG:0\r\n" + OK
    assert h.send(b"AT+SYSMSG=3\r\nAT+SYSMSG?\r\n") == OK + b"+SYSMSG:3\r\n" + OK
    assert h.send(b"AT+SYSMSG=8\r\n") == ERROR


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_sysmsg_is_saved_under_sysstore(profile: Profile) -> None:
    """Issue 12 item 12: ESP-AT v3.2 lists AT+SYSMSG among AT+SYSSTORE's commands."""
    h = Harness(profile)
    h.send(b"ATE0\r\n")
    h.take()
    assert h.send(b"AT+SYSMSG=5\r\n") == OK
    saves = [a for a in h.take(SaveSettings) if isinstance(a, SaveSettings)]
    assert saves and saves[-1].snapshot["sysmsg"] == 5
    h2 = Harness(profile, saved=saves[-1].snapshot)  # power-up with that NVS
    assert h2.send(b"AT+SYSMSG?\r\n") == b"AT+SYSMSG?\r\n+SYSMSG:5\r\n" + OK
    # AT+SYSSTORE=0: applies, is not saved, gone after a restart
    h2.send(b"ATE0\r\nAT+SYSSTORE=0\r\n")
    h2.take()
    assert h2.send(b"AT+SYSMSG=2\r\nAT+SYSMSG?\r\n") == OK + b"+SYSMSG:2\r\n" + OK
    assert all(
        a.snapshot.get("sysmsg") != 2 for a in h2.take(SaveSettings) if isinstance(a, SaveSettings)
    )
    h2.send(b"AT+RST\r\n")
    h2.advance(1.0)
    assert h2.send(b"AT+SYSMSG?\r\n") == b"AT+SYSMSG?\r\n+SYSMSG:5\r\n" + OK
    h2.check()


def _rfpower(h: Harness, bytewise: bool) -> bytes:
    h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
    lines = (
        b"AT+RFPOWER?\r\n"  # the ESP32 factory default
        b"AT+RFPOWER=80\r\nAT+RFPOWER?\r\n"  # 80 is in the 78 level
        b"AT+RFPOWER=40\r\nAT+RFPOWER?\r\n"  # [40,43] reads back 34
        b"AT+RFPOWER=77\r\nAT+RFPOWER?\r\n"
        b"AT+RFPOWER=39\r\nAT+RFPOWER=85\r\n"  # out of [40,84]
        b"AT+RFPOWER=78,0,0,0\r\n"  # Bluetooth LE powers: it is not initialised
        b"AT+RFPOWER=78,8\r\n"  # out of [0,7]
        b"AT+CWMODE=0\r\nAT+RFPOWER?\r\nAT+RFPOWER=60\r\n"  # Wi-Fi off
    )
    return h.send(lines, bytewise=bytewise)


def test_rfpower_esp_at() -> None:
    """Issue 12 item 2: AT+RFPOWER as ESP-AT documents it for the ESP32."""
    bad = b"ERR CODE:0x01070000\r\n" + ERROR  # <wifi_power>, parameter 0
    bad_ble = b"ERR CODE:0x01070001\r\n" + ERROR  # <ble_adv_power>, parameter 1
    failed = b"ERR CODE:0x010a0000\r\n" + ERROR
    assert both(_rfpower, profile=ESP_AT) == (
        b"+RFPOWER:78,0,0,0\r\n"
        + OK
        + OK
        + b"+RFPOWER:78,0,0,0\r\n"
        + OK
        + OK
        + b"+RFPOWER:34,0,0,0\r\n"
        + OK
        + OK
        + b"+RFPOWER:72,0,0,0\r\n"
        + OK
        + bad
        + bad
        + failed
        + bad_ble
        + OK
        + b"+RFPOWER:0,0,0,0\r\n"
        + OK
        + failed
    )


@pytest.mark.parametrize("line", [b"AT+RFPOWER?", b"AT+RFPOWER=78", b"AT+SYSTIMESTAMP?"])
def test_rfpower_and_systimestamp_are_unknown_to_w800(line: bytes) -> None:
    """Neither is in WinnerMicro's W800 command sets (Profile.unsupported)."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
        return h.send(line + b"\r\n", bytewise=bytewise)

    assert both(scenario) == b"ERR CODE:0x01090000\r\n" + ERROR


# --- commands that need an IP ----------------------------------------------------------


#: a test-only command with needs_ip=True, in a feature set of its own
IP_ONLY = "+TESTNEEDSIP"
WITH_IP_ONLY: FeatureSet = FEATURES.plus(
    Feature(
        "test",
        commands=(
            Command(
                IP_ONLY,
                execute=lambda m: None,
                set=lambda m, a: None,
                query=lambda m: None,
                params=(Int("n", 0, 9),),
                needs_ip=True,
            ),
        ),
    )
)


@pytest.fixture
def ip_only() -> Iterator[str]:
    yield IP_ONLY


def test_needs_ip_before_and_after_join(ip_only: str) -> None:
    h = quiet(features=WITH_IP_ONLY)
    h.send(b"AT+SYSLOG=1\r\n")
    no_ip = b"ERR CODE:0x010a0000\r\n" + ERROR
    assert h.send(b"AT%s\r\n" % ip_only.encode()) == no_ip
    assert h.send(b"AT%s=1\r\n" % ip_only.encode()) == no_ip
    assert h.send(b"AT%s=10\r\n" % ip_only.encode()) == (  # the grammar is checked first
        b"ERR CODE:0x01070000\r\n" + ERROR
    )
    assert h.send(b"AT%s?\r\n" % ip_only.encode()) == OK  # a query needs no network
    h.join()
    assert h.send(b"AT%s\r\n" % ip_only.encode()) == OK
    assert h.send(b"AT+CWQAP\r\n") == OK + b"WIFI DISCONNECT\r\n"
    assert h.send(b"AT%s\r\n" % ip_only.encode()) == no_ip
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b'AT+CIPDOMAIN="example.test"\r\n',
        b'AT+CIPSTART="TCP","127.0.0.1",80\r\n',
    ],
)
def test_network_commands_answer_error_before_a_join(line: bytes) -> None:
    if line[2:].split(b"=")[0].decode() not in COMMANDS:
        pytest.skip("command not registered yet")
    h = quiet()
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(line) == b"ERR CODE:0x010a0000\r\n" + ERROR
    assert h.take() == []  # nothing asked of the network
    h.check()


# --- dialects ------------------------------------------------------------------


@pytest.mark.parametrize("form", [b"", b"?", b"=?", b"=0,1"])
def test_unsupported_command_is_answered_like_an_unknown_one(form: bytes) -> None:
    name = sorted(W800.unsupported)[0].encode()
    h = quiet()
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(b"AT" + name + form + b"\r\n") == b"ERR CODE:0x01090000\r\n" + ERROR
    assert h.send(b"AT+NOPE" + form + b"\r\n") == b"ERR CODE:0x01090000\r\n" + ERROR


def test_esp_at_knows_cipsendl() -> None:
    h = quiet(ESP_AT)
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(b"AT+CIPSENDL=?\r\n") == OK


def test_profile_defaults_differ() -> None:
    assert quiet(W800).send(b"AT+CWHOSTNAME?\r\n") == b"+CWHOSTNAME:w800\r\n" + OK
    assert quiet(ESP_AT).send(b"AT+CWHOSTNAME?\r\n") == b"+CWHOSTNAME:espressif\r\n" + OK
    assert quiet(W800).send(b"AT+CIPV6?\r\n") == b"+CIPV6:1\r\n" + OK
    assert quiet(ESP_AT).send(b"AT+CIPV6?\r\n") == b"+CIPV6:0\r\n" + OK

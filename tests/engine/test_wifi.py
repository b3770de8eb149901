"""The simulated Wi-Fi station: join/fail/quit messages, scans, state, addresses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import LAB_ADDRESSES, Harness, both
from w800at.core.actions import SaveSettings
from w800at.core.options import ModuleOptions
from w800at.core.state import AccessPoint, derived_bssid
from w800at.profiles import ESP_AT, W800

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"\r\nready\r\n"
#: a join's answer: OK once IPv4 is up, then the IPv6 URCs (issue 12 item 5)
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
JOIN_TIME = W800.join_time + W800.dhcp_time + 0.001

APS = [
    AccessPoint("lab", password="secret", bssid="02:00:00:00:00:aa", channel=11, rssi=-40),
    AccessPoint("open", ecn=0, rssi=-70, bssid="02:00:00:00:00:bb", channel=1),
    AccessPoint("timeout", fail=1, bssid="02:00:00:00:00:cc"),
    AccessPoint("v4only", ipv6=False, bssid="02:00:00:00:00:dd"),
]
LAB = ModuleOptions(access_points=APS, addresses=LAB_ADDRESSES)


def quiet(profile: Any = W800, *, options: ModuleOptions | None = LAB, **kw: Any) -> Harness:
    h = Harness(profile, options=options, **kw)
    assert h.send(b"ATE0\r\nAT+SYSLOG=1\r\n") == b"ATE0\r\n" + OK + OK
    h.take()
    return h


def jap(h: Harness, line: bytes) -> bytes:
    return h.send(line) + h.advance(JOIN_TIME)


def test_join_success_messages_whole_and_bytewise() -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\n")
        out = h.send(b'AT+CWJAP="lab","secret"\r\n', bytewise=bytewise)
        assert out == b""
        out += h.advance(W800.join_time)
        assert out == b"WIFI CONNECTED\r\n"
        return out + h.advance(W800.dhcp_time)

    assert both(scenario, options=LAB) == JOINED


#: a failed join: +CWJAP:<code> (esp-at only, see Profile.cwjap_fail_code), then ERROR
#: with ERR CODE 0x010A0000 (execution failed) under AT+SYSLOG=1; no FAIL (ESP8266 AT 1.x)
JOIN_FAILED = b"ERR CODE:0x010a0000\r\n" + ERROR


@pytest.mark.parametrize("profile", [W800, ESP_AT])
@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b'AT+CWJAP="lab","wrong"\r\n', 2),
        (b'AT+CWJAP="nowhere","secret"\r\n', 3),
        (b'AT+CWJAP="timeout","x"\r\n', 1),
        (b'AT+CWJAP="lab","secret","02:00:00:00:00:ff"\r\n', 3),  # BSSID does not match
    ],
)
def test_join_failures(line: bytes, code: int, profile: Any) -> None:
    """Issue 12 item 4: ERROR, not FAIL; +CWJAP:<code> first where the dialect has it."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
        out = h.send(line, bytewise=bytewise) + h.advance(JOIN_TIME)
        return out + h.send(b"AT+CWSTATE?\r\nAT+CWJAP?\r\n", bytewise=bytewise)

    code_line = b"+CWJAP:%d\r\n" % code if profile.cwjap_fail_code else b""
    assert both(scenario, profile=profile, options=LAB) == (
        code_line + JOIN_FAILED + b'+CWSTATE:4,""\r\n' + OK + b"No AP\r\n" + OK
    )


def test_w800_join_failure_has_no_code_line() -> None:
    """WinnerMicro's W800 Wi-Fi AT page gives a failed AT+CWJAP as ERROR alone."""
    assert not W800.cwjap_fail_code and ESP_AT.cwjap_fail_code
    h = quiet()
    assert jap(h, b'AT+CWJAP="lab","wrong"\r\n') == JOIN_FAILED


@pytest.mark.parametrize("profile", [W800, ESP_AT])
@pytest.mark.parametrize(
    "bssid",
    [b"zz:00:00:00:00:aa", b"02:00:00:00:00", b"02-00-00-00-00-aa", b"02:00:00:00:00:aaa"],
)
def test_bad_bssid_is_a_parameter_error_and_keeps_the_ap(profile: Any, bssid: bytes) -> None:
    """Issue 12 item 4: a BSSID that does not parse is rejected before the join starts:
    no WIFI DISCONNECT, the station stays on its AP."""
    h = quiet(profile)
    h.send(b"AT+CIPV6=0\r\n")
    jap(h, b'AT+CWJAP="lab","secret"\r\n')
    # too long / not a MAC; <bssid> is parameter 2
    code = b"0x01040002" if len(bssid) > 17 else b"0x01070002"
    line = b'AT+CWJAP="open","","%s"\r\n' % bssid
    assert jap(h, line) == b"ERR CODE:%s\r\n" % code + ERROR
    assert h.send(b"AT+CWSTATE?\r\n") == b'+CWSTATE:2,"lab"\r\n' + OK
    assert h.engine.station.has_ip
    h.check()


def test_join_with_matching_bssid_and_no_ipv6() -> None:
    h = quiet()
    assert jap(h, b'AT+CWJAP="lab","secret","02:00:00:00:00:AA"\r\n') == JOINED
    assert jap(h, b'AT+CWJAP="v4only","x"\r\n') == (
        b"WIFI DISCONNECT\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK
    )  # an AP without IPv6: no IPv6 URCs


def test_failure_fault_injection_from_options() -> None:
    opts = ModuleOptions(access_points=[AccessPoint("lab", fail=4)], addresses=LAB_ADDRESSES)
    h = quiet(options=opts)
    assert jap(h, b'AT+CWJAP="lab","whatever"\r\n') == JOIN_FAILED  # w800: no code line
    h2 = quiet(ESP_AT, options=opts)
    assert jap(h2, b'AT+CWJAP="lab","whatever"\r\n') == b"+CWJAP:4\r\n" + JOIN_FAILED


def test_no_access_points_configured_means_any_join_works() -> None:
    h = quiet(options=None)
    assert jap(h, b'AT+CWJAP="anything","anypass"\r\n') == JOINED
    assert h.send(b"AT+CWJAP?\r\n") == (
        b'+CWJAP:"anything","%s",6,-45,0,1,3,0,1\r\n' % derived_bssid("anything").encode() + OK
    )


def test_query_state_and_quit() -> None:
    h = quiet()
    assert h.send(b"AT+CWSTATE?\r\n") == b'+CWSTATE:0,""\r\n' + OK
    assert h.send(b"AT+CWJAP?\r\n") == b"No AP\r\n" + OK
    assert jap(h, b'AT+CWJAP="lab","secret"\r\n') == JOINED
    assert h.send(b"AT+CWJAP?\r\n") == (
        b'+CWJAP:"lab","02:00:00:00:00:aa",11,-40,0,1,3,0,1\r\n' + OK
    )
    assert h.send(b"AT+CWSTATE?\r\n") == b'+CWSTATE:2,"lab"\r\n' + OK
    assert h.send(b"AT+CWQAP\r\n") == OK + b"WIFI DISCONNECT\r\n"
    assert h.send(b"AT+CWSTATE?\r\n") == b'+CWSTATE:4,"lab"\r\n' + OK
    assert h.send(b"AT+CWQAP\r\n") == OK  # already out: no message
    h.check()


def test_cwjap_query_idle_without_a_dialect_line() -> None:
    from dataclasses import replace

    h = quiet(replace(W800, cwjap_query_idle=None))
    assert h.send(b"AT+CWJAP?\r\n") == b"ERR CODE:0x010c0000\r\n" + ERROR


def test_join_again_disconnects_first() -> None:
    h = quiet()
    jap(h, b'AT+CWJAP="lab","secret"\r\n')
    assert jap(h, b'AT+CWJAP="lab","wrong"\r\n') == b"WIFI DISCONNECT\r\n" + JOIN_FAILED


def test_cwjap_execute_rejoins_the_saved_ap() -> None:
    h = quiet()
    assert h.send(b"AT+CWJAP\r\n") == b"ERR CODE:0x010c0000\r\n" + ERROR  # nothing saved
    jap(h, b'AT+CWJAP="lab","secret"\r\n')
    h.send(b"AT+CWQAP\r\n")
    assert jap(h, b"AT+CWJAP\r\n") == JOINED


def test_cwjap_parameter_errors() -> None:
    h = quiet()
    assert h.send(b'AT+CWJAP="lab"\r\n') == b"ERR CODE:0x01060201\r\n" + ERROR
    assert h.send(b'AT+CWJAP="' + b"s" * 33 + b'","p"\r\n') == (b"ERR CODE:0x01040000\r\n" + ERROR)
    assert h.send(b'AT+CWJAP="lab","' + b"p" * 65 + b'"\r\n') == (
        b"ERR CODE:0x01040001\r\n" + ERROR
    )
    assert h.send(b"AT+CWJAP=lab,secret\r\n") == b"ERR CODE:0x01050000\r\n" + ERROR
    # escapes inside strings: \" and \, and \\ are literal characters
    assert jap(h, b'AT+CWJAP="lab","s\\ecret"\r\n') == JOINED


def test_cwmode() -> None:
    h = quiet()
    assert h.send(b"AT+CWMODE?\r\n") == b"+CWMODE:1\r\n" + OK
    jap(h, b'AT+CWJAP="lab","secret"\r\n')
    assert h.send(b"AT+CWMODE=2\r\n") == b"WIFI DISCONNECT\r\n" + OK
    assert h.send(b"AT+CWMODE?\r\n") == b"+CWMODE:2\r\n" + OK
    assert h.send(b'AT+CWJAP="lab","secret"\r\n') == b"ERR CODE:0x010c0000\r\n" + ERROR
    assert h.send(b"AT+CWLAP\r\n") == b"ERR CODE:0x010c0000\r\n" + ERROR
    assert h.send(b'AT+CWHOSTNAME="x"\r\n') == b"ERR CODE:0x010c0000\r\n" + ERROR
    assert h.send(b"AT+CWMODE=3,0\r\nAT+CWMODE?\r\n") == OK + b"+CWMODE:3\r\n" + OK
    assert h.send(b"AT+CWMODE=4\r\n") == b"ERR CODE:0x01070000\r\n" + ERROR


#: the lab's APs as +CWLAP rows: ESP-AT's eleven fields (esp-at) and the nine of
#: WinnerMicro's W800 page (no <freq_offset>/<freqcal_val>; <bgn> b/g/n is 5 there)
ESP_ROWS = {
    "lab": b'+CWLAP:(3,"lab",-40,"02:00:00:00:00:aa",11,-1,-1,4,4,7,0)\r\n',
    "open": b'+CWLAP:(0,"open",-70,"02:00:00:00:00:bb",1,-1,-1,0,0,7,0)\r\n',
    "timeout": b'+CWLAP:(3,"timeout",-45,"02:00:00:00:00:cc",6,-1,-1,4,4,7,0)\r\n',
    "v4only": b'+CWLAP:(3,"v4only",-45,"02:00:00:00:00:dd",6,-1,-1,4,4,7,0)\r\n',
}
W800_ROWS = {
    "lab": b'+CWLAP:(3,"lab",-40,"02:00:00:00:00:aa",11,4,4,5,0)\r\n',
    "open": b'+CWLAP:(0,"open",-70,"02:00:00:00:00:bb",1,0,0,5,0)\r\n',
    "timeout": b'+CWLAP:(3,"timeout",-45,"02:00:00:00:00:cc",6,4,4,5,0)\r\n',
    "v4only": b'+CWLAP:(3,"v4only",-45,"02:00:00:00:00:dd",6,4,4,5,0)\r\n',
}
ROWS = {W800.name: W800_ROWS, ESP_AT.name: ESP_ROWS}
SCAN = W800.join_time + 0.001


def scan(h: Harness, line: bytes = b"AT+CWLAP\r\n", bytewise: bool = False) -> bytes:
    out = h.send(line, bytewise=bytewise)
    assert out in (b"", ERROR) or out.startswith(b"ERR CODE"), out  # a scan takes a while
    return out + h.advance(SCAN)


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cwlap_lists_configured_aps(profile: Any) -> None:
    """Issue 12 item 6: every field of the dialect's +CWLAP, in the config's order."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\n")
        return scan(h, bytewise=bytewise)

    rows = ROWS[profile.name]
    assert both(scenario, profile=profile, options=LAB) == b"".join(rows.values()) + OK


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cwlap_set_filters_by_ssid_mac_and_channel(profile: Any) -> None:
    rows = ROWS[profile.name]
    h = quiet(profile)
    assert scan(h, b'AT+CWLAP="open"\r\n') == rows["open"] + OK
    assert scan(h, b'AT+CWLAP="none"\r\n') == OK
    assert scan(h, b'AT+CWLAP=,"02:00:00:00:00:CC"\r\n') == rows["timeout"] + OK
    assert scan(h, b'AT+CWLAP="lab","02:00:00:00:00:cc"\r\n') == OK  # both must match
    assert scan(h, b"AT+CWLAP=,,6\r\n") == rows["timeout"] + rows["v4only"] + OK
    assert scan(h, b'AT+CWLAP="v4only",,6,0,120,300\r\n') == rows["v4only"] + OK
    # bad parameters: ERROR at once, no scan
    for line, code in (
        (b'AT+CWLAP=,"02:00:00:00:zz:cc"\r\n', 0x01070001),  # the parameter's index
        (b"AT+CWLAP=,,15\r\n", 0x01070002),
        (b"AT+CWLAP=,,6,2\r\n", 0x01070003),
        (b"AT+CWLAP=,,6,0,1501\r\n", 0x01070004),
        (b"AT+CWLAP=\r\n", 0x01060100),  # need 1, given 0
        (b'AT+CWLAP="a","b",1,0,0,0,0\r\n', 0x01060607),  # at most 6, given 7
    ):
        assert h.send(line) == b"ERR CODE:0x%08x\r\n" % code + ERROR, line
    h.check()


def test_cwlapopt_esp_at_sort_mask_and_filters() -> None:
    h = quiet(ESP_AT)
    # <sort_enable> 1: strongest first (stable for equal RSSI); mask 31: the first five
    assert h.send(b"AT+CWLAPOPT=1,31\r\n") == OK
    assert scan(h) == (
        b'+CWLAP:(3,"lab",-40,"02:00:00:00:00:aa",11)\r\n'
        b'+CWLAP:(3,"timeout",-45,"02:00:00:00:00:cc",6)\r\n'
        b'+CWLAP:(3,"v4only",-45,"02:00:00:00:00:dd",6)\r\n'
        b'+CWLAP:(0,"open",-70,"02:00:00:00:00:bb",1)\r\n' + OK
    )
    # any subset of the fields, in their order; an RSSI floor; only OPEN (bit 0)
    assert h.send(b"AT+CWLAPOPT=0,0x2\r\n") == b"ERR CODE:0x01050001\r\n" + ERROR
    assert h.send(b"AT+CWLAPOPT=0,1026,-60\r\n") == OK  # ssid (bit 1), wps (bit 10)
    assert scan(h) == (b'+CWLAP:("lab",0)\r\n+CWLAP:("timeout",0)\r\n+CWLAP:("v4only",0)\r\n' + OK)
    assert h.send(b"AT+CWLAPOPT=0,2047,-100,1\r\n") == OK
    assert scan(h) == ESP_ROWS["open"] + OK
    assert h.send(b"AT+CWLAPOPT=0,2047\r\n") == OK  # omitted filters: defaults again
    assert scan(h) == b"".join(ESP_ROWS.values()) + OK
    for line, code in (
        (b"AT+CWLAPOPT=2,31\r\n", 0x01070000),
        (b"AT+CWLAPOPT=1,2048\r\n", 0x01070001),
        (b"AT+CWLAPOPT=1,31,41\r\n", 0x01070002),
        (b"AT+CWLAPOPT=1,31,-101\r\n", 0x01070002),
        (b"AT+CWLAPOPT=1,31,-100,65536\r\n", 0x01070003),
        (b"AT+CWLAPOPT=1\r\n", 0x01060201),  # need 2, given 1
        (b"AT+CWLAPOPT?\r\n", 0x010C0000),  # a form the command does not have
    ):
        assert h.send(line) == b"ERR CODE:0x%08x\r\n" % code + ERROR, line
    h.check()


def test_cwlapopt_w800_has_no_sort_parameter() -> None:
    """WinnerMicro's W800 page: AT+CWLAPOPT=<print mask>[,<rssi filter>][,<authmode mask>],
    mask bits over its nine fields (default 0x1FF)."""
    h = quiet()
    assert h.send(b"AT+CWLAPOPT=31\r\n") == OK
    assert scan(h) == (
        b'+CWLAP:(3,"lab",-40,"02:00:00:00:00:aa",11)\r\n'
        b'+CWLAP:(0,"open",-70,"02:00:00:00:00:bb",1)\r\n'
        b'+CWLAP:(3,"timeout",-45,"02:00:00:00:00:cc",6)\r\n'
        b'+CWLAP:(3,"v4only",-45,"02:00:00:00:00:dd",6)\r\n' + OK
    )
    assert h.send(b"AT+CWLAPOPT=384,-100,8\r\n") == OK  # bgn, wps; WPA2_PSK only
    assert scan(h) == b"+CWLAP:(5,0)\r\n" * 3 + OK
    assert h.send(b"AT+CWLAPOPT=511\r\n") == OK
    assert scan(h) == b"".join(W800_ROWS.values()) + OK
    assert h.send(b"AT+CWLAPOPT=512\r\n") == b"ERR CODE:0x01070000\r\n" + ERROR
    assert h.send(b"AT+CWLAPOPT=1,31,-100,1\r\n") == b"ERR CODE:0x01060304\r\n" + ERROR
    h.check()


def test_every_ap_has_its_own_bssid() -> None:
    """An AP the config gives no BSSID gets one derived from its SSID: stable, unicast,
    locally administered, and different for different SSIDs."""
    aps = [AccessPoint("alpha"), AccessPoint("beta", ecn=0)]
    opts = ModuleOptions(access_points=aps, addresses=LAB_ADDRESSES)
    a, b = aps[0].bssid, aps[1].bssid
    assert a != b and a == AccessPoint("alpha").bssid
    assert a == derived_bssid("alpha") and int(a[:2], 16) & 0x03 == 0x02
    h = quiet(ESP_AT, options=opts)
    assert scan(h, b"AT+CWLAP\r\n") == (
        b'+CWLAP:(3,"alpha",-45,"%s",6,-1,-1,4,4,7,0)\r\n' % a.encode()
        + b'+CWLAP:(0,"beta",-45,"%s",6,-1,-1,0,0,7,0)\r\n' % b.encode()
        + OK
    )
    assert scan(h, b'AT+CWLAP=,"%s"\r\n' % b.upper().encode())[:19] == b'+CWLAP:(0,"beta",-4'
    assert jap(h, b'AT+CWJAP="alpha","pw","%s"\r\n' % b.encode()) == (
        b"+CWJAP:3\r\nERR CODE:0x010a0000\r\n" + ERROR  # beta's BSSID: no such AP
    )
    assert jap(h, b'AT+CWJAP="alpha","pw","%s"\r\n' % a.encode()).endswith(OK)


def test_cwlap_without_configured_aps_shows_the_joined_one() -> None:
    h = quiet(options=None)
    assert scan(h) == OK
    jap(h, b'AT+CWJAP="x","y"\r\n')
    bssid = derived_bssid("x").encode()
    assert scan(h) == b'+CWLAP:(3,"x",-45,"%s",6,4,4,5,0)\r\n' % bssid + OK


def test_addresses_before_and_after_join() -> None:
    h = quiet()
    assert h.send(b"AT+CIPSTA?\r\n") == (
        b'+CIPSTA:ip:"0.0.0.0"\r\n+CIPSTA:gateway:"0.0.0.0"\r\n+CIPSTA:netmask:"0.0.0.0"\r\n' + OK
    )
    assert h.send(b"AT+CIFSR\r\n") == (
        b'+CIFSR:STAIP,"0.0.0.0"\r\n+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n' + OK
    )
    jap(h, b'AT+CWJAP="lab","secret"\r\n')
    assert h.send(b"AT+CIPSTA?\r\n") == (
        b'+CIPSTA:ip:"127.0.0.1"\r\n+CIPSTA:gateway:"127.0.0.1"\r\n'
        b'+CIPSTA:netmask:"255.0.0.0"\r\n+CIPSTA:ip6ll:"fe80::1"\r\n'
        b'+CIPSTA:ip6gl:"::1"\r\n' + OK
    )
    assert h.send(b"AT+CIFSR\r\n") == (
        b'+CIFSR:STAIP,"127.0.0.1"\r\n+CIFSR:STAIP6LL,"fe80::1"\r\n'
        b'+CIFSR:STAIP6GL,"::1"\r\n+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n' + OK
    )
    assert h.send(b"AT+CWMODE=3\r\nAT+CIFSR\r\n") == OK + (
        b'+CIFSR:APIP,"192.168.4.1"\r\n+CIFSR:APMAC,"02:00:00:00:00:02"\r\n'
        b'+CIFSR:STAIP,"127.0.0.1"\r\n+CIFSR:STAIP6LL,"fe80::1"\r\n'
        b'+CIFSR:STAIP6GL,"::1"\r\n+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n' + OK
    )


def test_ipv6_lines_follow_cipv6() -> None:
    h = quiet(ESP_AT)  # CIPV6 off by default there
    assert jap(h, b'AT+CWJAP="lab","secret"\r\n') == (b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
    assert h.send(b"AT+CIPSTA?\r\n") == (
        b'+CIPSTA:ip:"127.0.0.1"\r\n+CIPSTA:gateway:"127.0.0.1"\r\n'
        b'+CIPSTA:netmask:"255.0.0.0"\r\n' + OK
    )


def test_static_ip_and_dhcp() -> None:
    h = quiet()
    assert h.send(b"AT+CWDHCP?\r\n") == b"+CWDHCP:3\r\n" + OK
    assert h.send(b'AT+CIPSTA="127.0.0.9","127.0.0.1","255.255.255.0"\r\n') == OK
    assert h.send(b"AT+CWDHCP?\r\n") == b"+CWDHCP:2\r\n" + OK  # static IP: DHCP off
    jap(h, b'AT+CWJAP="v4only","x"\r\n')
    assert h.send(b"AT+CIPSTA?\r\n") == (
        b'+CIPSTA:ip:"127.0.0.9"\r\n+CIPSTA:gateway:"127.0.0.1"\r\n'
        b'+CIPSTA:netmask:"255.255.255.0"\r\n' + OK
    )
    assert h.send(b'AT+CIPSTA="127.0.0.300"\r\n') == b"ERR CODE:0x01070000\r\n" + ERROR
    assert h.send(b"AT+CWDHCP=1,1\r\nAT+CWDHCP?\r\n") == OK + b"+CWDHCP:3\r\n" + OK
    assert h.send(b"AT+CWDHCP=0,2\r\nAT+CWDHCP?\r\n") == OK + b"+CWDHCP:1\r\n" + OK
    assert h.send(b"AT+CWDHCP=2,1\r\n") == b"ERR CODE:0x01070000\r\n" + ERROR
    jap(h, b'AT+CWJAP="v4only","x"\r\n')
    assert h.send(b"AT+CIFSR\r\n").startswith(b'+CIFSR:STAIP,"127.0.0.1"\r\n')  # DHCP again


def test_station_mac() -> None:
    h = quiet()
    assert h.send(b"AT+CIPSTAMAC?\r\n") == b'+CIPSTAMAC:"02:00:00:00:00:01"\r\n' + OK
    assert h.send(b'AT+CIPSTAMAC="1A:2B:3C:4D:5E:60"\r\n') == OK
    assert h.send(b"AT+CIPSTAMAC?\r\n") == b'+CIPSTAMAC:"1a:2b:3c:4d:5e:60"\r\n' + OK
    for bad in (b"01:00:00:00:00:00", b"zz:00:00:00:00:00", b"00:00:00:00:00"):
        assert h.send(b'AT+CIPSTAMAC="%s"\r\n' % bad) == b"ERR CODE:0x01070000\r\n" + ERROR


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_station_mac_set_while_joined_is_what_the_query_shows(profile: Any) -> None:
    """Issue 12 item 12: the station's interface takes the new address at once."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\nAT+CIPV6=0\r\n")
        h.join()
        line = b'AT+CIPSTAMAC="1a:2b:3c:4d:5e:60"\r\nAT+CIPSTAMAC?\r\nAT+CIFSR\r\n'
        out = h.send(line, bytewise=bytewise)
        h.send(b"AT+CWQAP\r\n")
        h.join()  # and on the next join too
        return out + h.send(b"AT+CIPSTAMAC?\r\n", bytewise=bytewise)

    mac = b'+CIPSTAMAC:"1a:2b:3c:4d:5e:60"\r\n' + OK
    assert both(scenario, profile=profile) == (
        OK + mac + b'+CIFSR:STAIP,"127.0.0.1"\r\n+CIFSR:STAMAC,"1a:2b:3c:4d:5e:60"\r\n' + OK + mac
    )


def test_hostname_and_autoconn_settings() -> None:
    h = quiet()
    assert h.send(b"AT+CWHOSTNAME?\r\n") == b"+CWHOSTNAME:w800\r\n" + OK
    assert h.send(b'AT+CWHOSTNAME="my-board"\r\nAT+CWHOSTNAME?\r\n') == (
        OK + b"+CWHOSTNAME:my-board\r\n" + OK
    )
    assert h.send(b"AT+CWAUTOCONN?\r\n") == b"+CWAUTOCONN:1\r\n" + OK
    assert h.send(b"AT+SYSSTORE=0\r\n") == OK
    h.take()
    assert h.send(b"AT+CWAUTOCONN=0\r\n") == OK
    saves = h.take(SaveSettings)
    assert saves and saves[-1].snapshot["cwautoconn"] == 0  # type: ignore[attr-defined]
    assert h.send(b"AT+CWAUTOCONN=2\r\n") == b"ERR CODE:0x01070000\r\n" + ERROR


def saved_join(**extra: Any) -> dict[str, Any]:
    return {"wifi_join": {"ssid": "lab", "password": "secret", "bssid": ""}, **extra}


def test_autoconnect_joins_at_boot_in_the_background() -> None:
    h = Harness(options=LAB, boot=False)
    h.engine.settings.saved.update(saved_join())
    h.engine.settings.boot()
    h.engine.power_on(h.now)
    assert h.advance(W800.boot_time) == READY
    # the module is not busy while it joins in the background
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:3,"lab"\r\n' + OK
    assert h.advance(W800.join_time) == b"WIFI CONNECTED\r\n"
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:1,"lab"\r\n' + OK
    # in the background: no OK, the URCs alone
    assert h.advance(W800.dhcp_time) == JOINED.replace(OK, b"")[len(b"WIFI CONNECTED\r\n") :]
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:2,"lab"\r\n' + OK
    h.check()


def test_autoconnect_off_or_wrong_password_at_boot() -> None:
    h = Harness(options=LAB, saved=saved_join(cwautoconn=0))
    assert h.boot_output == READY
    assert h.advance(2) == b""
    bad = saved_join()
    bad["wifi_join"]["password"] = "nope"
    h2 = Harness(options=LAB, saved=bad)
    assert h2.advance(2) == b""  # a failed background join prints nothing
    assert h2.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:4,""\r\n' + OK


@pytest.mark.parametrize("delay", [0.0, W800.join_time + 0.01])
@pytest.mark.parametrize("line", [b"AT+CWQAP\r\n", b"AT+CWMODE=0\r\n"])
def test_quit_during_autoconnect_cancels_it(line: bytes, delay: float) -> None:
    h = Harness(options=LAB, saved=saved_join())
    out = h.advance(delay) + h.send(line) + h.advance(2)
    connected = b"WIFI CONNECTED\r\n" if delay else b""
    disconnect = b"WIFI DISCONNECT\r\n" if delay else b""
    if line == b"AT+CWQAP\r\n":
        assert out == connected + line + OK + disconnect
    else:
        assert out == connected + line + disconnect + OK
    assert h.send(b"AT+CWSTATE?\r\n") == (
        b'AT+CWSTATE?\r\n+CWSTATE:4,"%s"\r\n' % (b"lab" if delay else b"") + OK
    )
    h.check()


def test_foreground_join_overtakes_autoconnect() -> None:
    h = Harness(options=LAB, saved=saved_join())
    h.send(b"ATE0\r\n")
    assert jap(h, b'AT+CWJAP="v4only","x"\r\n') == (
        b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK
    )  # the auto-join left no trace
    assert h.advance(2) == b""
    assert h.send(b"AT+CWSTATE?\r\n") == b'+CWSTATE:2,"v4only"\r\n' + OK

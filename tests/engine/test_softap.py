"""The SoftAP (issue 12 item 3): AT+CWMODE=2/3, AT+CWSAP, AT+CIPAP, AT+CIPAPMAC,
AT+CWLIF and AT+CIFSR's APIP/APMAC lines, byte-exact in both dialects."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.harness import LAB_ADDRESSES, Harness, both
from w800at.core.actions import SaveSettings
from w800at.core.net_actions import Listen
from w800at.core.options import ModuleOptions, SoftApOptions, SoftApStation
from w800at.profiles import ESP_AT, W800

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
STATIONS = [
    SoftApStation("192.168.4.2", "5c:cf:7f:00:00:01"),
    SoftApStation("192.168.4.3", "5c:cf:7f:00:00:02"),
]
OPTS = ModuleOptions(addresses=LAB_ADDRESSES, softap=SoftApOptions(stations=STATIONS))
#: the SoftAP's MAC: the station's (02:00:00:00:00:01) + 1
AP_MAC = b"02:00:00:00:00:02"
SSID = {W800.name: b"W800_000002", ESP_AT.name: b"ESP_000002"}
CIPAP = b'+CIPAP:ip:"%s"\r\n+CIPAP:gateway:"%s"\r\n+CIPAP:netmask:"%s"\r\n'


def err(code: int) -> bytes:
    return b"ERR CODE:0x%08x\r\n" % code + ERROR


def quiet(profile: Any = W800, options: ModuleOptions = OPTS) -> Harness:
    h = Harness(profile, options=options)
    h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
    h.take()
    return h


def _defaults(h: Harness, bytewise: bool) -> bytes:
    h.send(b"ATE0\r\n")
    lines = (
        b"AT+CIPAP?\r\nAT+CIPAPMAC?\r\n"  # station mode: what drivers ask at start-up
        b"AT+CWSAP?\r\nAT+CWLIF\r\nAT+CIFSR\r\n"  # the SoftAP is off
        b"AT+CWMODE=3\r\nAT+CWSAP?\r\nAT+CWLIF\r\nAT+CIFSR\r\n"
        b"AT+CWMODE=2\r\nAT+CIFSR\r\n"
    )
    return h.send(lines, bytewise=bytewise)


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_softap_defaults(profile: Any) -> None:
    sta = b'+CIFSR:STAIP,"0.0.0.0"\r\n+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n'
    ap = b'+CIFSR:APIP,"192.168.4.1"\r\n+CIFSR:APMAC,"%s"\r\n' % AP_MAC
    lif = b"+CWLIF:192.168.4.2,5c:cf:7f:00:00:01\r\n+CWLIF:192.168.4.3,5c:cf:7f:00:00:02\r\n"
    assert both(_defaults, profile=profile, options=OPTS) == (
        CIPAP % (b"192.168.4.1", b"192.168.4.1", b"255.255.255.0")
        + OK
        + b'+CIPAPMAC:"%s"\r\n' % AP_MAC
        + OK
        + ERROR  # AT+CWSAP? needs the SoftAP on
        + OK  # no SoftAP: no stations
        + sta
        + OK
        + OK
        + b'+CWSAP:"%s","",1,0,4,0\r\n' % SSID[profile.name]
        + OK
        + lif
        + OK
        + ap
        + sta
        + OK
        + OK
        + ap  # SoftAP only: no station lines
        + OK
    )


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cwsap_set_and_query(profile: Any) -> None:
    h = quiet(profile)
    assert h.send(b'AT+CWSAP="x","12345678",5,3\r\n') == err(0x010C0000)  # SoftAP off
    h.send(b"AT+CWMODE=2\r\n")
    assert h.send(b'AT+CWSAP="lab-ap","12345678",5,3\r\nAT+CWSAP?\r\n') == (
        OK + b'+CWSAP:"lab-ap","12345678",5,3,4,0\r\n' + OK
    )
    line = b'AT+CWSAP="open\\,ap","ignored",11,0,2,1\r\nAT+CWSAP?\r\n'
    assert h.send(line) == OK + b'+CWSAP:"open,ap","",11,0,2,1\r\n' + OK
    hexkey = b"0123456789abcdef" * 4
    assert h.send(b'AT+CWSAP="k","%s",1,4\r\n' % hexkey) == OK  # a 64-hex-digit PSK
    for line, code in (
        (b'AT+CWSAP="x","1234567",5,3', 0x01070001),  # passphrase too short
        (b'AT+CWSAP="x","' + b"p" * 64 + b'",5,3', 0x01070001),  # 64, not hex
        (b'AT+CWSAP="x","12345678",5,1', 0x01070003),  # WEP is not supported
        (b'AT+CWSAP="x","12345678",14,3', 0x01070002),
        (b'AT+CWSAP="x","12345678",0,3', 0x01070002),
        (b'AT+CWSAP="x","12345678",5,3,11', 0x01070004),
        (b'AT+CWSAP="x","12345678",5,3,4,2', 0x01070005),
        (b'AT+CWSAP="","12345678",5,3', 0x01070000),
        (b'AT+CWSAP="' + b"s" * 33 + b'","12345678",5,3', 0x01040000),
        (b'AT+CWSAP="x","12345678",5', 0x01060403),  # need 4, given 3
        (b'AT+CWSAP=x,"12345678",5,3', 0x01050000),
    ):
        assert h.send(line + b"\r\n") == err(code), line
    assert h.send(b"AT+CWSAP?\r\n") == b'+CWSAP:"k","%s",1,4,2,0\r\n' % hexkey + OK
    h.check()


def _cipap(h: Harness, bytewise: bool) -> bytes:
    h.send(b"ATE0\r\nAT+SYSLOG=1\r\nAT+CWMODE=3\r\n")
    lines = (
        b'AT+CIPAP="192.168.5.1"\r\nAT+CIPAP?\r\n'
        b'AT+CIPAP="10.1.2.3","10.1.2.254","255.255.0.0"\r\nAT+CIPAP?\r\n'
        b"AT+CIFSR\r\nAT+CWDHCP?\r\n"
    )
    return h.send(lines, bytewise=bytewise)


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cipap_set_and_query(profile: Any) -> None:
    """An omitted gateway is the SoftAP's own address; ESP-AT's static AT+CIPAP turns
    the SoftAP's DHCP server off (AT+CWDHCP bit 1), WinnerMicro's page says nothing of
    it (Profile.cipap_disables_dhcp)."""
    dhcp = b"+CWDHCP:1\r\n" if profile.cipap_disables_dhcp else b"+CWDHCP:3\r\n"
    assert both(_cipap, profile=profile, options=OPTS) == (
        OK
        + CIPAP % (b"192.168.5.1", b"192.168.5.1", b"255.255.255.0")
        + OK
        + OK
        + CIPAP % (b"10.1.2.3", b"10.1.2.254", b"255.255.0.0")
        + OK
        + b'+CIFSR:APIP,"10.1.2.3"\r\n+CIFSR:APMAC,"%s"\r\n' % AP_MAC
        + b'+CIFSR:STAIP,"0.0.0.0"\r\n+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n'
        + OK
        + dhcp
        + OK
    )


def test_cipap_bad_parameters_keep_the_address() -> None:
    h = quiet(ESP_AT)
    for line, code in (
        (b'AT+CIPAP="192.168.4.300"', 0x01070000),
        (b'AT+CIPAP="0.0.0.0"', 0x01070000),
        (b'AT+CIPAP="224.0.0.1"', 0x01070000),
        (b'AT+CIPAP="255.255.255.255"', 0x01070000),
        (b'AT+CIPAP="192.168.4.1","192.168.4.1","255.0.255.0"', 0x01070002),
        (b'AT+CIPAP="192.168.4.1","gw"', 0x01070001),
        (b"AT+CIPAP=192", 0x01050000),
        (b'AT+CIPAP="192.168.4.1","192.168.4.1","255.255.255.0","x"', 0x01060304),
    ):
        assert h.send(line + b"\r\n") == err(code), line
    assert (
        h.send(b"AT+CIPAP?\r\n") == CIPAP % (b"192.168.4.1", b"192.168.4.1", b"255.255.255.0") + OK
    )


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cipapmac_set_and_query(profile: Any) -> None:
    h = quiet(profile)
    assert h.send(b'AT+CIPAPMAC="1A:FE:35:98:D3:7B"\r\nAT+CIPAPMAC?\r\n') == (
        OK + b'+CIPAPMAC:"1a:fe:35:98:d3:7b"\r\n' + OK
    )
    h.send(b"AT+CWMODE=2\r\n")
    assert h.send(b"AT+CIFSR\r\n") == (
        b'+CIFSR:APIP,"192.168.4.1"\r\n+CIFSR:APMAC,"1a:fe:35:98:d3:7b"\r\n' + OK
    )
    assert (
        h.send(b"AT+CWSAP?\r\n")
        == (  # the default SSID follows the AP's MAC
            b'+CWSAP:"%s","",1,0,4,0\r\n' % (SSID[profile.name][:-6] + b"98D37B") + OK
        )
    )
    for bad in (b"15:fe:35:98:d3:7b", b"00:00:00:00:00:00", b"ff:ff:ff:ff:ff:ff", b"1a:fe:35"):
        assert h.send(b'AT+CIPAPMAC="%s"\r\n' % bad) == err(0x01070000), bad
    assert h.send(b"AT+CIPAPMAC?\r\n") == b'+CIPAPMAC:"1a:fe:35:98:d3:7b"\r\n' + OK
    h.check()


def test_cwlif_needs_the_softap_dhcp_server() -> None:
    h = quiet(ESP_AT)
    h.send(b"AT+CWMODE=2\r\n")
    assert h.send(b"AT+CWLIF\r\n").count(b"+CWLIF:") == 2
    assert h.send(b"AT+CWDHCP=0,2\r\nAT+CWLIF\r\n") == OK + OK
    assert h.send(b"AT+CWDHCP=1,2\r\nAT+CWLIF\r\n").count(b"+CWLIF:") == 2
    h2 = quiet(ESP_AT, options=ModuleOptions(addresses=LAB_ADDRESSES))
    assert h2.send(b"AT+CWMODE=2\r\nAT+CWLIF\r\n") == OK + OK  # none configured


def test_softap_settings_are_saved_under_sysstore() -> None:
    h = quiet(ESP_AT)
    h.send(b"AT+CWMODE=3\r\n")
    h.take()
    line = (
        b'AT+CWSAP="ap","12345678",6,3\r\nAT+CIPAP="192.168.7.1"\r\n'
        b'AT+CIPAPMAC="1a:00:00:00:00:01"\r\n'
    )
    assert h.send(line) == OK * 3
    snap = [a for a in h.take(SaveSettings) if isinstance(a, SaveSettings)][-1].snapshot
    assert snap["cwsap"] == ["ap", "12345678", 6, 3, 4, 0]
    assert snap["cipap"] == ["192.168.7.1", "192.168.7.1", "255.255.255.0"]
    assert snap["cipap_mac"] == "1a:00:00:00:00:01"
    h2 = Harness(ESP_AT, options=OPTS, saved=snap)
    assert h2.send(b"ATE0\r\nAT+CWSAP?\r\nAT+CIPAP?\r\n") == (
        b"ATE0\r\n"
        + OK
        + b'+CWSAP:"ap","12345678",6,3,4,0\r\n'
        + OK
        + CIPAP % (b"192.168.7.1", b"192.168.7.1", b"255.255.255.0")
        + OK
    )


def test_softap_from_the_config() -> None:
    ap = SoftApOptions(
        ip="10.0.0.1",
        gateway="10.0.0.1",
        netmask="255.255.255.0",
        mac="1a:00:00:00:00:aa",
        ssid="cfg-ap",
        password="cfg-secret",
        channel=9,
        ecn=3,
        max_conn=2,
        ssid_hidden=1,
    )
    h = quiet(ESP_AT, options=replace(OPTS, softap=ap))
    assert h.send(b"AT+CWMODE=2\r\nAT+CWSAP?\r\nAT+CIFSR\r\n") == (
        OK
        + b'+CWSAP:"cfg-ap","cfg-secret",9,3,2,1\r\n'
        + OK
        + b'+CIFSR:APIP,"10.0.0.1"\r\n+CIFSR:APMAC,"1a:00:00:00:00:aa"\r\n'
        + OK
    )


@pytest.mark.parametrize(
    ("mode", "bind", "also"),
    [
        (b"3", "loopback", ("127.0.0.9",)),  # SoftAP on: its stand-in too
        (b"1", "loopback", ()),  # SoftAP off
        (b"3", "all", ()),  # every address already
        (b"3", "127.0.0.9", ()),  # the same address
    ],
)
def test_server_also_listens_on_the_softap_host(
    mode: bytes, bind: str, also: tuple[str, ...]
) -> None:
    opts = replace(OPTS, softap=SoftApOptions(host="127.0.0.9"), server_bind=bind)
    h = quiet(ESP_AT, options=opts)
    h.send(b"AT+CWMODE=%s\r\nAT+CIPMUX=1\r\nAT+CIPSERVER=1,8080\r\n" % mode)
    (act,) = h.take(Listen)
    assert isinstance(act, Listen) and act.also == also
    assert h.complete(act, 8080) == OK
    h.send(b'AT+CIPSERVER=0\r\nAT+CIPV6=1\r\nAT+CIPSERVER=1,8081,"TCPv6"\r\n')
    (v6,) = h.take(Listen)
    assert isinstance(v6, Listen) and v6.also == ()  # the SoftAP is IPv4 only


def test_softap_values_of_another_shape_in_the_store_are_not_used() -> None:
    """A store edited by hand (or by another version): the config's SoftAP, no error."""
    saved = {"cwsap": ["x"], "cipap": 5, "cipap_mac": 7, "cwmode": 3}
    h = Harness(ESP_AT, options=OPTS, saved=saved)
    assert h.send(b"ATE0\r\nAT+CWSAP?\r\nAT+CIPAP?\r\nAT+CIPAPMAC?\r\n") == (
        b"ATE0\r\n"
        + OK
        + b'+CWSAP:"ESP_000002","",1,0,4,0\r\n'
        + OK
        + CIPAP % (b"192.168.4.1", b"192.168.4.1", b"255.255.255.0")
        + OK
        + b'+CIPAPMAC:"%s"\r\n' % AP_MAC
        + OK
    )
    h.check()

"""World events through the engine, with the manual clock: the exact bytes the host gets.

A vanished AP takes the firmware's own path (``WIFI DISCONNECT``, links ``CLOSED``,
auto-reconnect per AT+CWAUTOCONN); forced join outcomes fail as real joins do, after
the right time (``ERROR``; ``+CWJAP:<code>`` first in the esp-at dialect); new station
addresses, the SNTP clock, ``busy p...``, power off and on.
"""

from __future__ import annotations

import pytest

from tests.harness import LAB_ADDRESSES, Harness
from w800at.core.net_actions import Close, Connect, Connected
from w800at.core.options import ModuleOptions
from w800at.core.service_actions import SntpSync, SntpTime
from w800at.core.state import AccessPoint, StationAddresses, derived_bssid
from w800at.core.world import (
    ApAppear,
    ApChange,
    ApVanish,
    ClockShift,
    JoinOutcome,
    NextJoin,
    StationChange,
    WorldError,
)
from w800at.profiles import ESP_AT, W800, Profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
IPV6 = b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
#: a join in the background (auto-reconnect): no OK
GOT = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + IPV6
#: the host's AT+CWJAP: OK once IPv4 is up, the IPv6 URCs after it
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + IPV6
LAB_BSSID = derived_bssid("lab").encode()
P = W800
REJOIN = P.reconnect_interval + P.join_time + P.dhcp_time


def world(h: Harness, ev: object) -> bytes:
    h.engine.apply_world(ev, h.now)  # type: ignore[arg-type]
    return h._collect()


def open_link(h: Harness, link: int = 0, kind: str = "TCP") -> None:
    if not h.engine.links.multi:
        assert h.send(b"AT+CIPMUX=1\r\n") == b"AT+CIPMUX=1\r\n" + OK
    line = f'AT+CIPSTART={link},"{kind}","127.0.0.1",80\r\n'.encode()
    assert h.send(line) == line
    (act,) = h.take(Connect)
    assert h.complete(act, Connected("127.0.0.1", 80, "127.0.0.1", 40000 + link)) == (
        f"{link},CONNECT\r\n".encode() + OK
    )


def test_wifi_drop_disconnects_closes_links_and_rejoins_when_the_ap_is_back() -> None:
    h = Harness()
    assert h.join() == b'AT+CWJAP="lab","secret"\r\n' + JOINED
    open_link(h, 0)
    open_link(h, 3, "UDP")
    out = world(h, ApVanish(None))
    assert out == b"WIFI DISCONNECT\r\n0,CLOSED\r\n3,CLOSED\r\n"
    assert sorted(a.link_id for a in h.take(Close)) == [0, 3]
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:4,"lab"\r\n' + OK
    # AT+CWAUTOCONN=1 (default): it tries every second; the AP is gone: nothing printed
    assert h.advance(5 * REJOIN) == b""
    assert world(h, ApAppear(AccessPoint("lab"))) == b""
    # the next attempt: one interval, a scan, DHCP
    assert h.advance(REJOIN + 0.001) == GOT
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:2,"lab"\r\n' + OK
    h.check()


def test_the_rejoin_comes_one_interval_and_one_join_after_the_ap_is_back() -> None:
    h = Harness()
    h.join()
    world(h, ApVanish("lab"))
    world(h, ApAppear(AccessPoint("lab")))  # back at once: the first attempt succeeds
    assert h.advance(P.reconnect_interval + P.join_time + 0.001) == b"WIFI CONNECTED\r\n"
    assert h.advance(P.dhcp_time - 0.01) == b""
    assert h.advance(0.01) == b"WIFI GOT IP\r\nWIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"


def test_without_autoconn_the_station_stays_down() -> None:
    h = Harness()
    h.join()
    assert h.send(b"AT+CWAUTOCONN=0\r\n") == b"AT+CWAUTOCONN=0\r\n" + OK
    assert world(h, ApVanish(None)) == b"WIFI DISCONNECT\r\n"
    world(h, ApAppear(AccessPoint("lab")))
    assert h.advance(10.0) == b""
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:4,"lab"\r\n' + OK


def test_the_host_joining_elsewhere_stops_the_rejoin() -> None:
    h = Harness()
    h.join()
    world(h, ApVanish(None))
    assert h.send(b'AT+CWJAP="other","pw"\r\n') == b'AT+CWJAP="other","pw"\r\n'
    world(h, ApAppear(AccessPoint("lab")))
    out = h.advance(10.0)
    assert out == JOINED  # the host's join, once, and no rejoin of "lab" after it
    assert h.engine.station.ap is not None and h.engine.station.ap.ssid == "other"


def test_a_vanished_ap_cannot_be_joined_and_wifi_drop_needs_a_station() -> None:
    h = Harness()
    with pytest.raises(WorldError, match="not on an access point"):
        world(h, ApVanish(None))
    world(h, ApVanish("lab"))  # "any SSID joins": this one no longer does
    out = h.send(b'AT+CWJAP="lab","x"\r\n') + h.advance(1.0)
    assert out == b'AT+CWJAP="lab","x"\r\n' + ERROR  # code 3: w800 prints none
    out = h.send(b'AT+CWJAP="else","x"\r\n') + h.advance(1.0)
    assert out == b'AT+CWJAP="else","x"\r\n' + JOINED


def test_configured_aps_appear_change_and_vanish_in_cwlap() -> None:
    opts = ModuleOptions(access_points=[AccessPoint("lab", "secret123", rssi=-40, channel=1)])
    h = Harness(options=opts)
    world(h, ApAppear(AccessPoint("new", None, bssid="02:00:00:00:00:02", rssi=-70, channel=11)))
    world(h, ApChange("lab", rssi=-80, channel=3))
    out = h.send(b"AT+CWLAP\r\n") + h.advance(P.join_time)
    # the w800 dialect's nine fields; "lab" has no BSSID in the config: its own
    lab = b'+CWLAP:(3,"lab",-80,"%s",3,4,4,5,0)\r\n' % LAB_BSSID
    assert out == (
        b"AT+CWLAP\r\n" + lab + b'+CWLAP:(3,"new",-70,"02:00:00:00:00:02",11,4,4,5,0)\r\n' + OK
    )
    world(h, ApVanish("new"))
    out = h.send(b"AT+CWLAP\r\n") + h.advance(P.join_time)
    assert out == b"AT+CWLAP\r\n" + lab + OK
    with pytest.raises(WorldError, match="no access point 'nope'"):
        world(h, ApChange("nope", rssi=-1))


def test_a_new_password_drops_the_station_and_its_rejoin_fails() -> None:
    opts = ModuleOptions(access_points=[AccessPoint("lab", "secret123")], addresses=LAB_ADDRESSES)
    h = Harness(options=opts)
    out = h.send(b'AT+CWJAP="lab","secret123"\r\n') + h.advance(1.0)
    assert out.endswith(JOINED)
    open_link(h, 1)
    assert world(h, ApChange("lab", rssi=-90)) == b""  # RSSI alone: still joined
    assert h.send(b"AT+CWJAP?\r\n") == (
        b'AT+CWJAP?\r\n+CWJAP:"lab","%s",6,-90,0,1,3,0,1\r\n' % LAB_BSSID + OK
    )
    assert world(h, ApChange("lab", password="changed123")) == b"WIFI DISCONNECT\r\n1,CLOSED\r\n"
    assert h.advance(10 * REJOIN) == b""  # the saved password is wrong now
    world(h, ApChange("lab", password="secret123"))
    assert h.advance(REJOIN + 0.001) == GOT


def failed(profile: Profile, code: int) -> bytes:
    """A failed join's ending: ``+CWJAP:<code>`` first in the esp-at dialect only."""
    return (b"+CWJAP:%d\r\n" % code if profile.cwjap_fail_code else b"") + ERROR


DIALECTS = pytest.mark.parametrize("profile", [W800, ESP_AT], ids=["w800", "esp-at"])


@DIALECTS
@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (JoinOutcome.WRONG_PASSWORD, 2),
        (JoinOutcome.NO_AP, 3),
        (JoinOutcome.FAIL, 4),
    ],
)
def test_next_join_fails_after_the_scan_with_its_code(
    profile: Profile, outcome: JoinOutcome, code: int
) -> None:
    h = Harness(profile)
    world(h, NextJoin(outcome))
    assert h.send(b'AT+CWJAP="lab","x"\r\n') == b'AT+CWJAP="lab","x"\r\n'
    assert h.advance(profile.join_time - 0.01) == b""
    assert h.advance(0.02) == failed(profile, code)
    # used up: the next join works
    assert b"WIFI GOT IP\r\n" + OK in h.join()
    assert h.engine.station.has_ip


@DIALECTS
def test_next_join_timeout_takes_the_jap_timeout_and_keeps_the_module_busy(
    profile: Profile,
) -> None:
    h = Harness(profile)
    world(h, NextJoin(JoinOutcome.TIMEOUT, count=2))
    assert h.send(b'AT+CWJAP="lab","x"\r\n') == b'AT+CWJAP="lab","x"\r\n'
    assert h.advance(14.99) == b""
    assert h.send(b"AT\r\n") == b"\r\nbusy p...\r\n"
    assert h.advance(0.02) == failed(profile, 1)
    # <jap_timeout> of the command wins over the default
    line = b'AT+CWJAP="lab","x",,,,,,5\r\n'
    assert h.send(line) == line
    assert h.advance(4.99) == b""
    assert h.advance(0.02) == failed(profile, 1)


@DIALECTS
def test_next_join_without_dhcp_stays_associated_without_an_address(profile: Profile) -> None:
    h = Harness(profile)
    world(h, NextJoin(JoinOutcome.NO_DHCP, delay=3.0))
    assert h.send(b'AT+CWJAP="lab","x"\r\n') == b'AT+CWJAP="lab","x"\r\n'
    assert h.advance(profile.join_time + 0.001) == b"WIFI CONNECTED\r\n"
    assert h.advance(2.99) == b""
    assert h.advance(0.02) == failed(profile, 1)
    assert h.send(b"AT+CWSTATE?\r\n") == b'AT+CWSTATE?\r\n+CWSTATE:1,"lab"\r\n' + OK
    assert h.send(b'AT+CIPSTART="TCP","127.0.0.1",80\r\n').endswith(ERROR)


def test_new_station_addresses_close_tcp_links_and_say_got_ip_again() -> None:
    h = Harness()
    h.join()
    open_link(h, 0)
    open_link(h, 2, "UDP")
    new = StationAddresses(
        ip="10.9.8.7",
        gateway="10.9.8.1",
        netmask="255.255.255.0",
        ip6_ll="fe80::1",
        ip6_gl="::1",
        mac="02:00:00:00:00:01",
    )
    assert world(h, StationChange(new)) == b"0,CLOSED\r\nWIFI GOT IP\r\n"
    assert [a.link_id for a in h.take(Close)] == [0]
    assert h.send(b"AT+CIPSTA?\r\n").startswith(
        b'AT+CIPSTA?\r\n+CIPSTA:ip:"10.9.8.7"\r\n+CIPSTA:gateway:"10.9.8.1"\r\n'
    )
    assert h.send(b"AT+CIPSTATE?\r\n") == (
        b'AT+CIPSTATE?\r\n+CIPSTATE:2,"UDP","127.0.0.1",80,40002,0\r\n' + OK
    )


def test_the_sntp_clock_shift_applies_to_the_next_answer_and_syncs_now() -> None:
    h = Harness()
    h.join()
    line = b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n'
    assert h.send(line) == line + OK
    (sync,) = h.take(SntpSync)
    h.complete(sync, SntpTime(1_700_000_000.0, "ntp.test"))
    q = b"AT+CIPSNTPTIME?\r\n"
    assert h.send(q) == q + b"+CIPSNTPTIME:Tue Nov 14 22:13:20 2023\r\n" + OK
    assert world(h, ClockShift(86400.0)) == b""
    (sync,) = h.take(SntpSync)  # asked at once
    h.complete(sync, SntpTime(1_700_000_000.0, "ntp.test"))
    assert h.send(q) == q + b"+CIPSNTPTIME:Wed Nov 15 22:13:20 2023\r\n" + OK


def test_forced_busy_answers_exactly_n_lines_without_echo() -> None:
    h = Harness()
    h.engine.forced_busy = 2
    assert h.send(b"AT\r\nAT+GMR\r\nAT\r\n") == b"\r\nbusy p...\r\n\r\nbusy p...\r\nAT\r\n" + OK
    assert h.engine.forced_busy == 0


def test_power_off_hears_nothing_and_power_on_says_ready() -> None:
    h = Harness()
    h.join()
    open_link(h, 0)
    h.engine.power_off(h.now)
    assert h._collect() == b""
    assert h.send(b"AT\r\n") == b""
    assert h.advance(5.0) == b""
    h.engine.power_on(h.now)
    assert h.advance(P.boot_time) == b"\r\nready\r\n"
    assert h.engine.links.links == {}


class _Rebooter:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.seen: list[bytes] = []

    def line(self, raw: bytes) -> None:
        self.seen.append(raw)
        if raw == b"AT+RST\r\n":
            self.h.engine.reset()


def test_an_observer_sees_every_line_first_and_may_reboot_the_module() -> None:
    h = Harness()
    obs = _Rebooter(h)
    h.engine.observer = obs
    assert h.send(b"AT\r\nAT+RST\r\nAT\r\n") == b"AT\r\n" + OK  # the rest died with it
    assert obs.seen == [b"AT\r\n", b"AT+RST\r\n"]
    assert h.advance(P.boot_time) == b"\r\nready\r\n"

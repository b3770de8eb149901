"""Host identity: parsers over sample /proc and /sys text, plus a live read."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from pathlib import Path

import pytest

from w800at.runtime.netinfo import (
    FALLBACK_MAC,
    DefaultRoute,
    host_identity,
    parse_if_inet6,
    parse_mac,
    parse_proc_net_route,
)

ROUTE_HEADER = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
)

little_endian_only = pytest.mark.skipif(
    sys.byteorder != "little", reason="sample /proc/net/route text was captured on x86"
)


@little_endian_only
def test_route_default_with_gateway() -> None:
    text = ROUTE_HEADER + (
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert parse_proc_net_route(text) == [DefaultRoute("eth0", "192.0.2.1", 0)]


@little_endian_only
def test_route_lowest_metric_first_and_down_routes_ignored() -> None:
    text = ROUTE_HEADER + (
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth1\t00000000\t0200000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"  # not RTF_UP
        "wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n"  # no gateway
        "eth0\t0000000A\t00000000\t0001\t0\t0\t100\t000000FF\t0\t0\t0\n"
        "garbage line\n"
        "eth9\tZZZZZZZZ\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    assert parse_proc_net_route(text) == [
        DefaultRoute("wg0", "0.0.0.0", 50),
        DefaultRoute("eth0", "10.0.0.1", 100),
        DefaultRoute("wlan0", "192.168.1.1", 600),
    ]


def test_route_header_only_or_empty() -> None:
    assert parse_proc_net_route(ROUTE_HEADER) == []
    assert parse_proc_net_route("") == []


IF_INET6 = (
    "00000000000000000000000000000001 01 80 10 80       lo\n"
    "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
    "20010db8000000000000000000000042 04 40 00 c0     eth0\n"  # tentative (0x40): skipped
    "fd000000000000000000000000000002 04 40 00 82     eth0\n"
    "20010db8000000000000000000000099 04 40 00 00     eth0\n"
    "fe800000000000000000000000000077 05 40 20 80    wlan0\n"
    "short 04 40 20 80 eth0\n"
)


def test_if_inet6_link_local_and_first_usable_global() -> None:
    assert parse_if_inet6(IF_INET6, "eth0") == ("fe80::fc:ff:fe00:1", "fd00::2")
    assert parse_if_inet6(IF_INET6, "wlan0") == ("fe80::77", None)
    assert parse_if_inet6(IF_INET6, "lo") == (None, None)  # ::1 has host scope
    assert parse_if_inet6(IF_INET6, "eth7") == (None, None)
    assert parse_if_inet6("", "eth0") == (None, None)


def test_if_inet6_dad_failed_skipped() -> None:
    text = "fe800000000000000000000000000001 02 40 20 08 eth0\n"
    assert parse_if_inet6(text, "eth0") == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:FC:00:00:00:01\n", "02:fc:00:00:00:01"),
        ("a4:83:e7:12:34:56", "a4:83:e7:12:34:56"),
        ("00:00:00:00:00:00\n", None),
        ("", None),
        ("02:fc:00:00:00", None),
        ("zz:fc:00:00:00:01", None),
        ("00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00", None),  # infiniband-ish
    ],
)
def test_parse_mac(text: str, expected: str | None) -> None:
    assert parse_mac(text) == expected


def test_fallback_mac_is_locally_administered_unicast() -> None:
    first = int(FALLBACK_MAC.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_live_host_identity_is_consistent() -> None:
    ident = host_identity()
    ipaddress.IPv4Address(ident.ipv4)
    ipaddress.IPv4Address(ident.gateway)
    mask = ipaddress.IPv4Address(ident.netmask)
    assert re.fullmatch(r"1*0*", format(int(mask), "032b")), "netmask must be contiguous"
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", ident.mac)
    if ident.ipv6_ll is not None:
        assert ipaddress.IPv6Address(ident.ipv6_ll).is_link_local
    if ident.ipv6_gl is not None:
        assert not ipaddress.IPv6Address(ident.ipv6_gl).is_link_local
    names = {name for _index, name in socket.if_nameindex()}
    assert ident.ifname in names
    sys_mac = Path(f"/sys/class/net/{ident.ifname}/address")
    if ident.mac != FALLBACK_MAC and sys_mac.exists():
        assert sys_mac.read_text().strip().lower() == ident.mac
    # The address really belongs to this host: binding to it must work.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ident.ipv4, 0))


def test_fallback_to_loopback_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """No default route and no usable interface: a loopback station with the made-up MAC."""
    from w800at.runtime import netinfo

    monkeypatch.setattr(netinfo, "_read", lambda path: "")
    monkeypatch.setattr(socket, "if_nameindex", lambda: [(1, "lo")])
    assert host_identity() == netinfo.HostIdentity(
        ipv4="127.0.0.1",
        netmask="255.0.0.0",
        gateway="127.0.0.1",
        mac=FALLBACK_MAC,
        ipv6_ll=None,
        ipv6_gl=None,
        ifname="lo",
    )


@little_endian_only
def test_default_route_interface_without_ipv4_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from w800at.runtime import netinfo

    real_read = netinfo._read
    bogus_route = ROUTE_HEADER + "nosuchif0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"

    def fake_read(path: str) -> str:
        return bogus_route if path == "/proc/net/route" else real_read(path)

    monkeypatch.setattr(netinfo, "_read", fake_read)
    ident = host_identity()
    assert ident.ifname != "nosuchif0"
    assert ident.gateway in ("0.0.0.0", "127.0.0.1")  # found by interface scan or fallback

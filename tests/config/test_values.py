"""Good configuration files: what the checked values become."""

from __future__ import annotations

from pathlib import Path

import pytest

from w800at.config import host_addresses, load_config
from w800at.core.state import AccessPoint


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "w800at.toml"
    p.write_text(text)
    return load_config(p)


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.profile is None and cfg.lenient_eol is False
    o = cfg.options
    assert (o.dns_port, o.sntp_port, o.net_timeout) == (53, 123, 10.0)
    assert (o.server_bind, o.udp_bind) == ("loopback", "auto")
    assert o.access_points == []
    assert o.addresses == host_addresses()


def test_addresses_are_written_canonically(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        '[station]\nmac = "02:AA:bb:CC:dd:EE"\nip6_ll = "FE80:0:0::1"\n'
        'ip6_gl = "2001:DB8:0:0::50"\n',
    )
    a = cfg.options.addresses
    assert (a.mac, a.ip6_ll, a.ip6_gl) == ("02:aa:bb:cc:dd:ee", "fe80::1", "2001:db8::50")
    host = host_addresses()
    assert (a.ip, a.gateway, a.netmask) == (host.ip, host.gateway, host.netmask)


def test_bssid_is_lower_case(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[[access_point]]\nssid = 'lab'\nbssid = '02:00:00:00:00:AB'\n")
    assert cfg.options.access_points == [AccessPoint("lab", bssid="02:00:00:00:00:ab")]


@pytest.mark.parametrize(
    ("ecn", "password"),
    [
        (3, "8chars!!"),
        (3, "x" * 63),
        (4, "0123456789abcdef" * 4),  # a 64-hex-digit PSK
        (6, "with spaces and ~ punctuation"),
        (1, "abcde"),  # WEP-40
        (1, "abcdefghijklm"),  # WEP-104
        (1, "0123456789"),
        (1, "0123456789ABCDEF0123456789"),
    ],
)
def test_good_passwords(tmp_path: Path, ecn: int, password: str) -> None:
    cfg = load(tmp_path, f"[[access_point]]\nssid = 'lab'\necn = {ecn}\npassword = '{password}'\n")
    assert cfg.options.access_points[0].password == password


def test_an_open_ap_without_a_password(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[[access_point]]\nssid = 'cafe'\necn = 0\n")
    assert cfg.options.access_points == [AccessPoint("cafe", ecn=0)]


def test_limits_are_inclusive(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        f"[[access_point]]\nssid = '{'s' * 32}'\nchannel = 14\nrssi = -100\necn = 8\nfail = 4\n"
        "[[access_point]]\nssid = '\u00e9'\nchannel = 1\nrssi = 0\necn = 0\nfail = 1\n"
        "[network]\ndns_port = 65535\nsntp_port = 1\ntimeout = 3600\n",
    )
    a, b = cfg.options.access_points
    assert (a.channel, a.rssi, a.ecn, a.fail) == (14, -100, 8, 4)
    assert (b.ssid, b.channel, b.rssi, b.ecn, b.fail) == ("\u00e9", 1, 0, 0, 1)
    o = cfg.options
    assert (o.dns_port, o.sntp_port, o.net_timeout) == (65535, 1, 3600.0)
    assert isinstance(o.net_timeout, float)


@pytest.mark.parametrize("value", ["loopback", "station", "all", "127.0.0.2", "::1", "fe80::1%lo"])
def test_server_bind_choices(tmp_path: Path, value: str) -> None:
    cfg = load(tmp_path, f'[network]\nserver_bind = "{value}"\n')
    assert cfg.options.server_bind == value


@pytest.mark.parametrize("value", ["auto", "all", "127.0.0.1", "0.0.0.0", "::1"])
def test_udp_bind_choices(tmp_path: Path, value: str) -> None:
    cfg = load(tmp_path, f'[network]\nudp_bind = "{value}"\n')
    assert cfg.options.udp_bind == value


def test_a_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    p = tmp_path / "w800at.toml"
    p.write_bytes(b"\xef\xbb\xbfprofile = 'esp-at'\n")
    assert load_config(p).profile == "esp-at"


def test_an_empty_access_point_array_means_none(tmp_path: Path) -> None:
    assert load(tmp_path, "access_point = []\n").options.access_points == []

"""The TOML configuration file: every key checked, unknown ones rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from w800at.config import ConfigError, load_config
from w800at.core.state import AccessPoint

FULL = """
profile = "esp-at"
lenient_eol = true

[station]
ip = "192.168.1.50"
gateway = "192.168.1.1"
netmask = "255.255.255.0"
mac = "02:11:22:33:44:55"
ip6_ll = "fe80::11:22ff:fe33:4455"
ip6_gl = "2001:db8::50"

[[access_point]]
ssid = "lab"
password = "lab-secret"
bssid = "02:00:00:00:00:01"
channel = 11
rssi = -40
ecn = 4
ipv6 = false

[[access_point]]
ssid = "broken"
fail = 1

[network]
dns_port = 5353
sntp_port = 1123
timeout = 2.5
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "w800at.toml"
    p.write_text(text)
    return p


def test_no_file_gives_defaults() -> None:
    cfg = load_config(None)
    assert cfg.profile is None and cfg.lenient_eol is False
    assert cfg.options.access_points == []
    assert cfg.options.dns_port == 53 and cfg.options.sntp_port == 123
    assert cfg.options.net_timeout == 10.0


def test_every_key(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    assert cfg.profile == "esp-at" and cfg.lenient_eol is True
    a = cfg.options.addresses
    assert (a.ip, a.gateway, a.netmask, a.mac, a.ip6_ll, a.ip6_gl) == (
        "192.168.1.50",
        "192.168.1.1",
        "255.255.255.0",
        "02:11:22:33:44:55",
        "fe80::11:22ff:fe33:4455",
        "2001:db8::50",
    )
    assert cfg.options.access_points == [
        AccessPoint(
            "lab",
            password="lab-secret",
            bssid="02:00:00:00:00:01",
            channel=11,
            rssi=-40,
            ecn=4,
            ipv6=False,
        ),
        AccessPoint("broken", fail=1),
    ]
    assert (cfg.options.dns_port, cfg.options.sntp_port, cfg.options.net_timeout) == (
        5353,
        1123,
        2.5,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", ": colour: unknown key"),
        ("[station]\nipaddr = '1.2.3.4'\n", ": [station] ipaddr: unknown key"),
        (
            "[[access_point]]\nssid = 'a'\npasswd = 'x'\n",
            ": [[access_point]] #1 passwd: unknown key",
        ),
        ("[network]\ndns = 53\n", ": [network] dns: unknown key"),
        ("profile = 'esp8266'\n", ': profile: must be "w800" or "esp-at" (got "esp8266")'),
        ("lenient_eol = 'yes'\n", ': lenient_eol: must be true or false (got "yes")'),
        ("[[access_point]]\npassword = 'x'\n", ": [[access_point]] #1 ssid: is required"),
        ("[[access_point]]\nssid = 5\n", ": [[access_point]] #1 ssid: must be a string (got 5)"),
        (
            "[[access_point]]\nssid = 'a'\nchannel = true\n",
            ": [[access_point]] #1 channel: must be an integer (got true)",
        ),
        ("[[access_point]]\nssid = 'a'\nfail = 7\n", "from 1 to 4 (got 7)"),
        ("[access_point]\nssid = 'a'\n", ": [access_point]: must be an array of tables"),
        ("station = 1\n", ": station: must be a table (got 1)"),
        ("[network]\ntimeout = 'soon'\n", ': [network] timeout: must be a number (got "soon")'),
        ("this is = not toml [\n", "w800at.toml: line 1, column 6: invalid TOML: "),
    ],
)
def test_bad_configs_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_softap_table(tmp_path: Path) -> None:
    """Issue 12 item 3: the SoftAP's addresses, AT+CWSAP defaults, its stations (AT+CWLIF)
    and the host address standing for its IP."""
    from w800at.core.options import SoftApOptions, SoftApStation

    text = """
[softap]
ip = "10.9.0.1"
netmask = "255.255.0.0"
mac = "1A:00:00:00:00:AA"
ssid = "bench-ap"
password = "bench-secret"
channel = 13
ecn = 4
max_conn = 3
ssid_hidden = true
host = "loopback"

[[softap.station]]
ip = "10.9.0.2"
mac = "5c:cf:7f:00:00:01"
"""
    assert load_config(write(tmp_path, text)).options.softap == SoftApOptions(
        ip="10.9.0.1",
        gateway="10.9.0.1",  # omitted: the SoftAP is its network's gateway
        netmask="255.255.0.0",
        mac="1a:00:00:00:00:aa",
        ssid="bench-ap",
        password="bench-secret",
        channel=13,
        ecn=4,
        max_conn=3,
        ssid_hidden=1,
        host="127.0.0.1",
        stations=[SoftApStation("10.9.0.2", "5c:cf:7f:00:00:01")],
    )
    assert load_config(None).options.softap == SoftApOptions()

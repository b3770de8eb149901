"""Bad configuration files: each problem is one exact line, ``<file>: <where>: <what>``."""

from __future__ import annotations

from pathlib import Path

import pytest

from w800at.config import ConfigError, load_config

TOP_KEYS = "profile, lenient_eol, station, access_point, network, softap"
STATION_KEYS = "ip, gateway, netmask, mac, ip6_ll, ip6_gl"
AP_KEYS = "ssid, password, bssid, channel, rssi, ecn, ipv6, fail"
NETWORK_KEYS = "dns_port, sntp_port, timeout, server_bind, udp_bind"

WPA = "must be 8 to 63 printable ASCII characters (a WPA passphrase) or 64 hex digits (a PSK)"

#: (file text, the error line without the leading "<file>: ")
CASES = [
    # the probes' findings
    (
        "[network]\ntimeout = -1\n",
        "[network] timeout: must be more than 0 and at most 3600 seconds (got -1)",
    ),
    (
        "[network]\ntimeout = 0\n",
        "[network] timeout: must be more than 0 and at most 3600 seconds (got 0)",
    ),
    (
        "[network]\ntimeout = 3600.5\n",
        "[network] timeout: must be more than 0 and at most 3600 seconds (got 3600.5)",
    ),
    (
        "[network]\ntimeout = nan\n",
        "[network] timeout: must be more than 0 and at most 3600 seconds (got nan)",
    ),
    (
        "[network]\ntimeout = inf\n",
        "[network] timeout: must be more than 0 and at most 3600 seconds (got inf)",
    ),
    (
        '[station]\nip = "999.1.1.1"\n',
        '[station] ip: must be an IPv4 address such as 192.168.1.50 (got "999.1.1.1")',
    ),
    # [station]
    (
        '[station]\ngateway = "10.0.0"\n',
        '[station] gateway: must be an IPv4 address such as 192.168.1.50 (got "10.0.0")',
    ),
    (
        '[station]\nip = "010.1.1.1"\n',
        '[station] ip: must be an IPv4 address such as 192.168.1.50 (got "010.1.1.1")',
    ),
    (
        '[station]\nip = "::1"\n',
        '[station] ip: must be an IPv4 address such as 192.168.1.50 (got "::1")',
    ),
    (
        '[station]\nnetmask = "255.0.255.0"\n',
        "[station] netmask: must be a netmask: ones then zeros, such as 255.255.255.0 (got "
        '"255.0.255.0")',
    ),
    (
        '[station]\nnetmask = "0.0.0.0"\n',
        "[station] netmask: must be a netmask: ones then zeros, such as 255.255.255.0 (got "
        '"0.0.0.0")',
    ),
    (
        '[station]\nnetmask = "/24"\n',
        '[station] netmask: must be an IPv4 netmask such as 255.255.255.0 (got "/24")',
    ),
    (
        '[station]\nmac = "02:00:00:00:00"\n',
        "[station] mac: must be a MAC address: six hex pairs, xx:xx:xx:xx:xx:xx (got "
        '"02:00:00:00:00")',
    ),
    (
        '[station]\nmac = "02-11-22-33-44-55"\n',
        "[station] mac: must be a MAC address: six hex pairs, xx:xx:xx:xx:xx:xx (got "
        '"02-11-22-33-44-55")',
    ),
    (
        '[station]\nmac = "02:11:22:33:44:5g"\n',
        "[station] mac: must be a MAC address: six hex pairs, xx:xx:xx:xx:xx:xx (got "
        '"02:11:22:33:44:5g")',
    ),
    (
        '[station]\nmac = "01:00:5e:00:00:01"\n',
        "[station] mac: must be a unicast MAC: its first byte must be even (got "
        '"01:00:5e:00:00:01")',
    ),
    (
        '[station]\nmac = "00:00:00:00:00:00"\n',
        '[station] mac: must not be all zeros (got "00:00:00:00:00:00")',
    ),
    (
        '[station]\nip6_ll = "2001:db8::1"\n',
        '[station] ip6_ll: must be an IPv6 link-local address, in fe80::/10 (got "2001:db8::1")',
    ),
    (
        '[station]\nip6_ll = "fe80::1%eth0"\n',
        "[station] ip6_ll: must be an IPv6 link-local address such as fe80::1 without a %zone "
        '(got "fe80::1%eth0")',
    ),
    (
        '[station]\nip6_ll = "fe80::g"\n',
        '[station] ip6_ll: must be an IPv6 link-local address such as fe80::1 (got "fe80::g")',
    ),
    (
        '[station]\nip6_gl = "2001:db8::1::2"\n',
        '[station] ip6_gl: must be an IPv6 address such as 2001:db8::50 (got "2001:db8::1::2")',
    ),
    (
        '[station]\nip6_gl = "192.168.1.50"\n',
        '[station] ip6_gl: must be an IPv6 address such as 2001:db8::50 (got "192.168.1.50")',
    ),
    (
        '[station]\nip6_gl = "fe80::1"\n',
        "[station] ip6_gl: is link-local: that is ip6_ll; ip6_gl takes a global address (got "
        '"fe80::1")',
    ),
    (
        '[station]\nip6_gl = "ff02::1"\n',
        '[station] ip6_gl: must be a unicast IPv6 address such as 2001:db8::50 (got "ff02::1")',
    ),
    ("[station]\nip = 3232235826\n", "[station] ip: must be a string (got 3232235826)"),
    ('[station]\nipaddr = "1.2.3.4"\n', f"[station] ipaddr: unknown key (known: {STATION_KEYS})"),
    ("station = 1\n", "station: must be a table (got 1)"),
    # [[access_point]]
    (
        "[[access_point]]\npassword = 'lab-secret'\n",
        "[[access_point]] #1 ssid: is required but missing",
    ),
    (
        '[[access_point]]\nssid = ""\n',
        '[[access_point]] #1 ssid: must be 1 to 32 bytes long in UTF-8, not 0 (got "")',
    ),
    (
        f'[[access_point]]\nssid = "{"x" * 33}"\n',
        f'[[access_point]] #1 ssid: must be 1 to 32 bytes long in UTF-8, not 33 (got "{"x" * 33}")',
    ),
    (
        f'[[access_point]]\nssid = "{"é" * 17}"\n',
        f'[[access_point]] #1 ssid: must be 1 to 32 bytes long in UTF-8, not 34 (got "{"é" * 17}")',
    ),
    ("[[access_point]]\nssid = 5\n", "[[access_point]] #1 ssid: must be a string (got 5)"),
    (
        "[[access_point]]\nssid = 'lab'\npassword = 'secret'\n",
        f"[[access_point]] #1 password: {WPA}, not 6 characters",
    ),
    (
        f"[[access_point]]\nssid = 'lab'\npassword = '{'p' * 64}'\n",
        f"[[access_point]] #1 password: {WPA}; 64 characters must all be hex digits",
    ),
    (
        "[[access_point]]\nssid = 'lab'\npassword = 'café-crème'\n",
        f"[[access_point]] #1 password: {WPA}; it has other characters",
    ),
    (
        '[[access_point]]\nssid = "lab"\npassword = "tab\\tinside"\n',
        f"[[access_point]] #1 password: {WPA}; it has other characters",
    ),
    (
        "[[access_point]]\nssid = 'lab'\npassword = 12345678\n",
        "[[access_point]] #1 password: must be a string",
    ),
    (
        "[[access_point]]\nssid = 'open'\necn = 0\npassword = 'lab-secret'\n",
        "[[access_point]] #1 password: an open access point (ecn = 0) takes no password: remove "
        "it or set ecn",
    ),
    (
        "[[access_point]]\nssid = 'old'\necn = 1\npassword = 'abcdef'\n",
        "[[access_point]] #1 password: a WEP key (ecn = 1) must be 5 or 13 ASCII characters or 10 "
        "or 26 hex digits, not 6 characters",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nbssid = 'ff:ff:ff:ff:ff:ff'\n",
        "[[access_point]] #1 bssid: must be a unicast MAC: its first byte must be even (got "
        '"ff:ff:ff:ff:ff:ff")',
    ),
    (
        "[[access_point]]\nssid = 'lab'\nchannel = 0\n",
        "[[access_point]] #1 channel: must be a 2.4 GHz channel from 1 to 14 (got 0)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nchannel = 15\n",
        "[[access_point]] #1 channel: must be a 2.4 GHz channel from 1 to 14 (got 15)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nchannel = true\n",
        "[[access_point]] #1 channel: must be an integer (got true)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nchannel = 6.0\n",
        "[[access_point]] #1 channel: must be an integer (got 6.0)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nrssi = 5\n",
        "[[access_point]] #1 rssi: must be from -100 to 0 dBm (got 5)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nrssi = -101\n",
        "[[access_point]] #1 rssi: must be from -100 to 0 dBm (got -101)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\necn = 9\n",
        "[[access_point]] #1 ecn: must be an AT+CWLAP <ecn> code from 0 to 8 (got 9)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\necn = -1\n",
        "[[access_point]] #1 ecn: must be an AT+CWLAP <ecn> code from 0 to 8 (got -1)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nfail = 0\n",
        "[[access_point]] #1 fail: must be an AT+CWJAP error code from 1 to 4 (got 0)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nfail = 5\n",
        "[[access_point]] #1 fail: must be an AT+CWJAP error code from 1 to 4 (got 5)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nipv6 = 1\n",
        "[[access_point]] #1 ipv6: must be true or false (got 1)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\nipv6 = 'true'\n",
        '[[access_point]] #1 ipv6: must be true or false (got "true")',
    ),
    (
        "[[access_point]]\nssid = 'a'\npasswd = 'lab-secret'\n",
        f"[[access_point]] #1 passwd: unknown key (known: {AP_KEYS})",
    ),
    (
        "[[access_point]]\nssid = 'a'\n[[access_point]]\nssid = 'b'\nrssi = 1\n",
        "[[access_point]] #2 rssi: must be from -100 to 0 dBm (got 1)",
    ),
    (
        "[[access_point]]\nssid = 'lab'\n[[access_point]]\nssid = 'x'\n[[access_point]]\nssid = "
        "'lab'\n",
        "[[access_point]] #3 ssid: already the ssid of access point #1, and a join picks its "
        'access point by SSID alone (got "lab")',
    ),
    (
        "[access_point]\nssid = 'a'\n",
        "[access_point]: must be an array of tables: write [[access_point]]",
    ),
    ("access_point = [1]\n", "[[access_point]] #1: must be a table (got 1)"),
    # [network]
    ("[network]\ntimeout = 'soon'\n", '[network] timeout: must be a number (got "soon")'),
    ("[network]\ntimeout = true\n", "[network] timeout: must be a number (got true)"),
    ("[network]\ndns_port = 0\n", "[network] dns_port: must be from 1 to 65535 (got 0)"),
    ("[network]\ndns_port = 65536\n", "[network] dns_port: must be from 1 to 65535 (got 65536)"),
    ("[network]\nsntp_port = -123\n", "[network] sntp_port: must be from 1 to 65535 (got -123)"),
    ('[network]\nsntp_port = "123"\n', '[network] sntp_port: must be an integer (got "123")'),
    ("[network]\ndns_port = 53.0\n", "[network] dns_port: must be an integer (got 53.0)"),
    (
        '[network]\nserver_bind = "everywhere"\n',
        '[network] server_bind: must be "loopback", "station", "all" or a unicast IP address (got '
        '"everywhere")',
    ),
    (
        '[network]\nserver_bind = "224.0.0.1"\n',
        '[network] server_bind: must be "loopback", "station", "all" or a unicast IP address (got '
        '"224.0.0.1")',
    ),
    (
        '[network]\nudp_bind = "loopback"\n',
        '[network] udp_bind: must be "auto", "all" or a unicast IP address (got "loopback")',
    ),
    (
        '[network]\nudp_bind = "127.0.0.256"\n',
        '[network] udp_bind: must be "auto", "all" or a unicast IP address (got "127.0.0.256")',
    ),
    ("[network]\nudp_bind = 0\n", "[network] udp_bind: must be a string (got 0)"),
    ("[network]\ndns = 53\n", f"[network] dns: unknown key (known: {NETWORK_KEYS})"),
    ("[network.extra]\na = 1\n", f"[network] extra: unknown key (known: {NETWORK_KEYS})"),
    ("network = 'lab'\n", 'network: must be a table (got "lab")'),
    # top level
    ("colour = 1\n", f"colour: unknown key (known: {TOP_KEYS})"),
    ("[colour]\nred = 1\n", f"[colour]: unknown key (known: {TOP_KEYS})"),
    ('"two words" = 1\n', f'"two words": unknown key (known: {TOP_KEYS})'),
    ("profile = 'esp8266'\n", 'profile: must be "w800" or "esp-at" (got "esp8266")'),
    ("profile = 1\n", "profile: must be a string (got 1)"),
    ("lenient_eol = 'yes'\n", 'lenient_eol: must be true or false (got "yes")'),
    ("lenient_eol = 1\n", "lenient_eol: must be true or false (got 1)"),
    ("lenient_eol = 1979-05-27\n", "lenient_eol: must be true or false (got 1979-05-27)"),
    ('profile = "w800\\nrm -rf"\n', 'profile: must be "w800" or "esp-at" (got "w800\\nrm -rf")'),
    # TOML itself
    (
        "this is = not toml [\n",
        "line 1, column 6: invalid TOML: Expected '=' after a key in a key/value pair",
    ),
    (
        "[network]\ntimeout = 1\ntimeout = 2\n",
        "line 3, column 12: invalid TOML: Cannot overwrite a value",
    ),
    ("timeout = ", "end of document: invalid TOML: Invalid value"),
]


def write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "w800at.toml"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def error_line(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


@pytest.mark.parametrize(("text", "message"), CASES)
def test_bad_value_is_one_exact_line(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    assert error_line(p) == f"{p}: {message}"


def test_not_utf8(tmp_path: Path) -> None:
    p = write(tmp_path, b'[[access_point]]\nssid = "caf\xe9"\n')
    assert error_line(p) == (
        f"{p}: line 2, column 12: not UTF-8 text (byte 0xe9); a TOML file must be UTF-8"
    )


def test_utf16_file(tmp_path: Path) -> None:
    p = write(tmp_path, "profile = 'w800'\n".encode("utf-16"))
    assert error_line(p) == (
        f"{p}: line 1, column 1: not UTF-8 text (byte 0xff); a TOML file must be UTF-8"
    )


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.toml"
    assert error_line(p) == f"{p}: no such file"


def test_directory(tmp_path: Path) -> None:
    assert error_line(tmp_path) == f"{tmp_path}: is a directory, not a file"


def test_huge_file(tmp_path: Path) -> None:
    p = write(tmp_path, b"#" * (1 << 20) + b"\n")
    assert error_line(p) == f"{p}: too large for a configuration file (over 1 MiB)"


def test_deeply_nested_toml(tmp_path: Path) -> None:
    p = write(tmp_path, "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert error_line(p) == f"{p}: invalid TOML: nested too deeply"


def test_a_password_is_never_echoed(tmp_path: Path) -> None:
    p = write(tmp_path, "[[access_point]]\nssid = 'lab'\npassword = 'hunter2'\n")
    assert "hunter2" not in error_line(p)


def test_a_path_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    p = tmp_path / "odd\nname.toml"
    p.write_text("colour = 1\n")
    line = error_line(p)
    assert "\n" not in line
    assert line.startswith(f"{tmp_path}/odd\\nname.toml: colour: unknown key")


def test_only_the_first_problem_is_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "[network]\ndns_port = 0\nsntp_port = 0\n")
    assert error_line(p) == f"{p}: [network] dns_port: must be from 1 to 65535 (got 0)"


SOFTAP_KEYS = (
    "ip, gateway, netmask, mac, ssid, password, channel, ecn, max_conn, ssid_hidden, host, station"
)

#: the [softap] table (issue 12 item 3)
SOFTAP_CASES = [
    (
        '[softap]\nip = "0.0.0.0"\n',
        '[softap] ip: must be a unicast IPv4 address such as 192.168.4.1 (got "0.0.0.0")',
    ),
    (
        '[softap]\nhost = "::1"\n',
        '[softap] host: must be an IPv4 address such as 192.168.1.50 (got "::1")',
    ),
    (
        "[softap]\necn = 1\n",
        "[softap] ecn: must be 0 (open), 2, 3 or 4 (WPA/WPA2 PSK): AT+CWSAP's <ecn> (got 1)",
    ),
    ("[softap]\necn = 3\n", "[softap] password: a SoftAP with ecn 2, 3 or 4 needs a password"),
    ('[softap]\necn = 3\npassword = "short"\n', f"[softap] password: {WPA}, not 5 characters"),
    (
        "[softap]\nchannel = 14\n",
        "[softap] channel: must be a channel of the default country (CN) from 1 to 13 (got 14)",
    ),
    ("[softap]\nmax_conn = 0\n", "[softap] max_conn: must be a station count from 1 to 10 (got 0)"),
    ("[softap]\nssid_hidden = 1\n", "[softap] ssid_hidden: must be true or false (got 1)"),
    ("[softap]\nport = 1\n", f"[softap] port: unknown key (known: {SOFTAP_KEYS})"),
    (
        '[[softap.station]]\nip = "192.168.4.2"\n',
        "[softap] station[0] mac: is required but missing",
    ),
    (
        '[[softap.station]]\nip = "192.168.4.2"\nmac = "5c:cf:7f:00:00:01"\nname = "x"\n',
        "[softap] station[0] name: unknown key (known: ip, mac)",
    ),
]


@pytest.mark.parametrize(("text", "message"), SOFTAP_CASES)
def test_bad_softap_value_is_one_exact_line(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    assert error_line(p) == f"{p}: {message}"

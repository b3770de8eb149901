"""The SoftAP (AT+CWMODE=2/3): AT+CWSAP, AT+CIPAP, AT+CIPAPMAC, AT+CWLIF; and AT+CIFSR,
which lists both interfaces.

No radio is simulated: the SoftAP is its configuration and addresses (the config's
``[softap]`` table, changed from the AT port by AT+CWSAP, AT+CIPAP and AT+CIPAPMAC,
saved under AT+SYSSTORE=1), and the stations the config says are connected to it
(AT+CWLIF).  Its address stands for a real one of this host (``[softap] host``,
loopback by default): while the SoftAP is on, the module's server (AT+CIPSERVER) also
listens there, so a peer on this host plays a station that reaches the module at its
SoftAP address.

The commands follow ESP-AT's Wi-Fi page (docs/en/AT_Command_Set/Wi-Fi_AT_Commands.rst)
and WinnerMicro's W800 one (wm_iot_sdk docs/en/component_guides/AT/Wi-Fi_AT.rst), which
give the same bytes:

- ``AT+CWSAP?`` -> ``+CWSAP:<ssid>,<pwd>,<channel>,<ecn>,<max conn>,<ssid hidden>``
  (strings quoted, as ESP32 captures show); set ``<ssid>,<pwd>,<chl>,<ecn>[,<max
  conn>][,<ssid hidden>]``; "This command works only when AT+CWMODE=2 or AT+CWMODE=3".
- ``AT+CIPAP?`` -> ``+CIPAP:ip:"..."``, ``+CIPAP:gateway:"..."``,
  ``+CIPAP:netmask:"..."``; set ``<"ip">[,<"gateway">,<"netmask">]``.
- ``AT+CIPAPMAC?`` -> ``+CIPAPMAC:"<mac>"``; set ``<mac>``.
- ``AT+CWLIF`` -> ``+CWLIF:<ip addr>,<mac>`` per station (unquoted, as ESP32 AT prints
  it); "It works only when DHCP of both the SoftAP and the connected station are
  enabled" (AT+CWDHCP bit 1).
- ``AT+CIFSR``: ``APIP``/``APMAC`` while the SoftAP is on, then the station's lines.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.params import Args, Int, Str
from ..core.registry import Command
from ..core.settings import FLAG, SettingDef, int_range, ipv4_text, mac_text, text
from .wifi import CIPV6, CWMODE, DHCP, current_addresses, ipv4, parse_mac, station_mode

#: AT+CWSAP <ecn>: "encryption method; WEP is not supported. 0: OPEN 2: WPA_PSK 3:
#: WPA2_PSK 4: WPA_WPA2_PSK"
SAP_ECNS = (0, 2, 3, 4)
#: <max conn>: ESP-AT "Range: [1, 10]" (ESP32; WinnerMicro gives none)
MAX_CONN = 10
#: <channel>: the default country's channels (ESP-AT and W800 AT+CWCOUNTRY: "CN", 1-13)
MAX_CHANNEL = 13

_SAP: Any = tuple[  # type: ignore[misc]
    text(32), text(64), int_range(1, MAX_CHANNEL), int_range(0, 4), int_range(1, MAX_CONN), FLAG
]
#: [ssid, pwd, channel, ecn, max conn, ssid hidden] set by AT+CWSAP; None: the config's
SAP = SettingDef("cwsap", None, type=_SAP | None)
#: [ip, gateway, netmask] set by AT+CIPAP; None: the config's
AP_IP = SettingDef("cipap", None, type=tuple[ipv4_text, ipv4_text, ipv4_text] | None)
#: set by AT+CIPAPMAC; None: the config's (or the station's MAC + 1)
AP_MAC = SettingDef("cipap_mac", None, type=mac_text | None)


@dataclass(frozen=True)
class SapConfig:
    ssid: str
    pwd: str
    channel: int
    ecn: int
    max_conn: int
    hidden: int


def softap_on(m: Engine) -> bool:
    return m.settings.int(CWMODE) in (2, 3)


def ap_mac(m: Engine) -> str:
    saved = m.settings.get(AP_MAC)
    if isinstance(saved, str) and saved:
        return saved
    configured = m.options.softap.mac
    if configured:
        return configured
    sta = m.options.addresses.mac  # the station's own (config/host), not AT+CIPSTAMAC's
    return sta[:-2] + f"{(int(sta[-2:], 16) + 1) & 0xFF:02x}"


def ap_addresses(m: Engine) -> tuple[str, str, str]:
    saved = m.settings.get(AP_IP)
    if isinstance(saved, list) and len(saved) == 3 and all(isinstance(v, str) for v in saved):
        return saved[0], saved[1], saved[2]
    o = m.options.softap
    return o.ip, o.gateway, o.netmask


def sap_config(m: Engine) -> SapConfig:
    saved = m.settings.get(SAP)
    if (  # what AT+CWSAP saved (a value of another shape in the store is not used)
        isinstance(saved, list)
        and len(saved) == 6
        and all(isinstance(v, str) for v in saved[:2])
        and all(isinstance(v, int) for v in saved[2:])
    ):
        ssid, pwd, channel, ecn, max_conn, hidden = saved
        return SapConfig(ssid, pwd, channel, ecn, max_conn, hidden)
    o = m.options.softap
    ssid = o.ssid
    if ssid is None:
        ssid = m.profile.softap_ssid_prefix + ap_mac(m)[9:].replace(":", "").upper()
    return SapConfig(ssid, o.password, o.channel, o.ecn, o.max_conn, o.ssid_hidden)


def softap_host(m: Engine) -> str | None:
    """The host address standing for the SoftAP's IP, while the SoftAP is on."""
    return m.options.softap.host if softap_on(m) else None


def _need_softap(m: Engine) -> None:
    if not softap_on(m):
        raise CommandError(ErrCode.OPERATION, "the SoftAP is off (AT+CWMODE=2 or 3)")


# --- AT+CWSAP ------------------------------------------------------------------------


def _cwsap_q(m: Engine) -> None:
    _need_softap(m)
    c = sap_config(m)
    m.emit(
        render.info(
            "+CWSAP",
            render.q(c.ssid),
            render.q(c.pwd),
            c.channel,
            c.ecn,
            c.max_conn,
            c.hidden,
        )
    )


def check_sap_password(pwd: str, ecn: int) -> str:
    """<pwd>: "Length: 8 ~ 63 bytes ASCII" (WinnerMicro: "or 64 bytes in HEX"); an open
    SoftAP has none (a password given with <ecn> 0 is not used)."""
    if ecn == 0:
        return ""
    n = len(pwd)
    printable = all(" " <= c <= "~" for c in pwd)
    hexdigits = all(c in "0123456789abcdefABCDEF" for c in pwd)
    if not ((8 <= n <= 63 and printable) or (n == 64 and hexdigits)):
        raise CommandError(ErrCode.PARAM_INVALID, f"a {n}-byte SoftAP password")
    return pwd


def _cwsap_s(m: Engine, a: Args) -> None:
    _need_softap(m)
    ssid, pwd, ecn = a.str("ssid"), a.str("pwd"), a.int("ecn")
    if not ssid:
        raise a.error(ErrCode.PARAM_INVALID, "ssid", "empty SSID")
    pwd = a.check("pwd", check_sap_password, pwd, ecn)
    old = sap_config(m)
    max_conn = a.int("max_conn") if a.given("max_conn") else old.max_conn
    hidden = a.int("hidden") if a.given("hidden") else 0  # "0: broadcasting SSID (default)"
    m.settings.set(SAP, [ssid, pwd, a.int("channel"), ecn, max_conn, hidden])


# --- AT+CIPAP, AT+CIPAPMAC --------------------------------------------------------------


def _cipap_q(m: Engine) -> None:
    ip, gw, mask = ap_addresses(m)
    m.emit(render.cipap("ip", ip) + render.cipap("gateway", gw) + render.cipap("netmask", mask))


def _netmask(text: str) -> str:
    n = int(ipaddress.IPv4Address(ipv4(text, "netmask")))
    host = ~n & 0xFFFFFFFF
    if n == 0 or host & (host + 1):
        raise CommandError(ErrCode.PARAM_INVALID, f"netmask {text!r} is not ones then zeros")
    return str(ipaddress.IPv4Address(n))


def _cipap_s(m: Engine, a: Args) -> None:
    """An omitted gateway is the SoftAP's own address (it is the gateway of its network),
    an omitted netmask the current one."""
    ip = a.check("ip", ipv4, a.str("ip"), "ip")
    addr = ipaddress.IPv4Address(ip)
    if addr.is_unspecified or addr.is_multicast or ip == "255.255.255.255":
        raise a.error(ErrCode.PARAM_INVALID, "ip", f"{ip} cannot be the SoftAP's address")
    gw = a.check("gateway", ipv4, a.opt_str("gateway") or ip, "gateway")
    mask = a.check("netmask", _netmask, a.opt_str("netmask") or ap_addresses(m)[2])
    m.settings.set(AP_IP, [ip, gw, mask])
    if m.profile.cipap_disables_dhcp:
        m.settings.set(DHCP, m.settings.int(DHCP) & ~2)


def _apmac_q(m: Engine) -> None:
    m.emit(render.info("+CIPAPMAC", render.q(ap_mac(m))))


def _apmac_s(m: Engine, a: Args) -> None:
    m.settings.set(AP_MAC, parse_mac(a.str("mac")))


# --- AT+CWLIF, AT+CIFSR -----------------------------------------------------------------


def _cwlif(m: Engine) -> None:
    if not softap_on(m) or not m.settings.int(DHCP) & 2:
        return
    m.emit(b"".join(render.cwlif(s.ip, s.mac) for s in m.options.softap.stations))


def _cifsr(m: Engine) -> None:
    out = []
    if softap_on(m):
        out.append(render.cifsr("APIP", ap_addresses(m)[0]))
        out.append(render.cifsr("APMAC", ap_mac(m)))
    if station_mode(m):
        addr = current_addresses(m)
        out.append(render.cifsr("STAIP", addr.ip))
        if m.settings.int(CIPV6):
            if addr.ip6_ll:
                out.append(render.cifsr("STAIP6LL", addr.ip6_ll))
            if addr.ip6_gl:
                out.append(render.cifsr("STAIP6GL", addr.ip6_gl))
        out.append(render.cifsr("STAMAC", addr.mac))
    m.emit(b"".join(out))


_IP = Str("ip", 15)

FEATURE = Feature(
    "softap",
    commands=(
        Command(
            "+CWSAP",
            query=_cwsap_q,
            set=_cwsap_s,
            params=(
                Str("ssid", 32),
                Str("pwd", 64),
                Int("channel", 1, MAX_CHANNEL),
                Int("ecn", allowed=SAP_ECNS),
                Int("max_conn", 1, MAX_CONN, optional=True),
                Int("hidden", 0, 1, optional=True),
            ),
            summary="SoftAP configuration: SSID, password, channel, ecn, max stations, hidden",
        ),
        Command(
            "+CIPAP",
            query=_cipap_q,
            set=_cipap_s,
            params=(_IP, Str("gateway", 15, optional=True), Str("netmask", 15, optional=True)),
            summary="SoftAP IP addresses",
        ),
        Command(
            "+CIPAPMAC",
            query=_apmac_q,
            set=_apmac_s,
            params=(Str("mac", 17),),
            summary="SoftAP MAC address",
        ),
        Command("+CWLIF", execute=_cwlif, summary="stations connected to the SoftAP"),
        Command("+CIFSR", execute=_cifsr, summary="local IP and MAC addresses"),
    ),
    settings=(SAP, AP_IP, AP_MAC),
)

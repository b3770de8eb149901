"""The simulated Wi-Fi station: AT+CWMODE, AT+CWJAP, AT+CWQAP, AT+CWLAP, AT+CWSTATE,
AT+CIPSTA, AT+CIPSTAMAC, AT+CIFSR, AT+CWAUTOCONN, AT+CWHOSTNAME, AT+CWDHCP, AT+CIPV6.

Access points come from the configuration; with none configured any SSID joins with
any password.  Once "joined", the station's addresses are the host's own (or those
configured), because the links really leave from this host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from annotated_types import MaxLen
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from ..core import render
from ..core.actions import Sleep
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.params import Args, Int, Str
from ..core.registry import Command, Final, Task
from ..core.settings import FLAG, SettingDef, int_range, ipv4_text, mac_text, text
from ..core.state import AccessPoint, Station, StationAddresses, WifiState


class JoinRecord(TypedDict):
    """The AP last joined (AT+CWJAP's parameters); ``bssid`` "" when none was given."""

    ssid: Annotated[str, MaxLen(32)]
    password: Annotated[str, MaxLen(64)]
    bssid: Annotated[str, MaxLen(17)]


CWMODE = SettingDef("cwmode", 1, type=int_range(0, 3))
AUTOCONN = SettingDef("cwautoconn", 1, "always", FLAG)
JOIN = SettingDef("wifi_join", None, type=JoinRecord | None)
HOSTNAME = SettingDef("hostname", lambda p: p.hostname, type=text(32))
DHCP = SettingDef("cwdhcp", 3, type=int_range(0, 3))
#: [ip, gateway, netmask] or None
STATIC_IP = SettingDef("cipsta_static", None, type=tuple[ipv4_text, ipv4_text, ipv4_text] | None)
STA_MAC = SettingDef("cipsta_mac", None, type=mac_text | None)  # None: the configured/host MAC
CIPV6 = SettingDef("cipv6", lambda p: p.cipv6_default, type=FLAG)

#: the SoftAP's address (AT+CWMODE=2/3); the SoftAP itself is not simulated
SOFTAP_IP = "192.168.4.1"

#: AT+CWJAP failure codes (wire-format doc)
JAP_TIMEOUT, JAP_WRONG_PASSWORD, JAP_NO_AP, JAP_FAILED = 1, 2, 3, 4


def station_mode(m: Engine) -> bool:
    return m.settings.int(CWMODE) in (1, 3)


def addresses(m: Engine) -> StationAddresses:
    """The station's current addresses (static overrides, the MAC setting)."""
    base = m.options.addresses
    static = m.settings.get(STATIC_IP)
    mac = m.settings.get(STA_MAC) or base.mac
    if static:
        return replace(base, ip=static[0], gateway=static[1], netmask=static[2], mac=mac)
    return replace(base, mac=mac)


def find_ap(m: Engine, ssid: str) -> AccessPoint | None:
    aps = m.options.access_points
    if not aps:
        return AccessPoint(ssid=ssid)  # none configured: any SSID joins
    return next((ap for ap in aps if ap.ssid == ssid), None)


def _drop_station(m: Engine) -> None:
    """Leave the AP: WIFI DISCONNECT, links go down."""
    if m.station.state in (WifiState.CONNECTED_NO_IP, WifiState.GOT_IP):
        m.emit(render.WIFI_DISCONNECT)
        m.wifi_down()
    if m.station.state != WifiState.NOT_STARTED:
        m.station.state = WifiState.DISCONNECTED
    m.station.addr = None
    m.station.attempt += 1  # a join in flight (auto-join) is cancelled


def _cancelled(m: Engine, station: Station, attempt: int) -> bool:
    """A later join, AT+CWQAP, AT+CWMODE=0/2 or a reboot overtook this join."""
    return m.station is not station or station.attempt != attempt


def join(m: Engine, ssid: str, password: str, bssid: str | None, *, report: bool = True) -> Task:
    """Associate, then DHCP.  Returns None on success or FAIL; ``report``: print the
    ``+CWJAP:<code>`` line of a failure (AT+CWJAP does; the boot-time auto-join does not,
    there is no command for such a line to answer)."""
    _drop_station(m)
    station, attempt = m.station, m.station.attempt
    m.station.state = WifiState.CONNECTING
    m.station.ap = None
    m.station.target = ssid
    yield Sleep(m.profile.join_time)
    if _cancelled(m, station, attempt):
        return Final.FAIL
    ap = find_ap(m, ssid)
    code: int | None = None
    if ap is None or (bssid and bssid.lower() != ap.bssid.lower()):
        code = JAP_NO_AP
    elif ap.fail:
        code = ap.fail
    elif ap.password is not None and ap.password != password:
        code = JAP_WRONG_PASSWORD
    if code is not None or ap is None:
        m.station.state = WifiState.DISCONNECTED
        if report:
            m.emit(render.info("+CWJAP", code))
        return Final.FAIL
    m.station.state = WifiState.CONNECTED_NO_IP
    m.station.ap = ap
    m.emit(render.WIFI_CONNECTED)
    yield Sleep(m.profile.dhcp_time)
    if _cancelled(m, station, attempt):  # left meanwhile
        return Final.FAIL
    addr = addresses(m)
    has_v6 = bool(m.settings.int(CIPV6) and ap.ipv6)
    if not has_v6:  # no IPv6 from this AP: AT+CIPSTA?/AT+CIFSR must not show any
        addr = replace(addr, ip6_ll=None, ip6_gl=None)
    m.station.addr = addr
    m.station.state = WifiState.GOT_IP
    m.emit(render.WIFI_GOT_IP)
    if has_v6:
        if addr.ip6_ll:
            m.emit(render.WIFI_GOT_IP6_LL)
        if addr.ip6_gl:
            m.emit(render.WIFI_GOT_IP6_GL)
    m.settings.set(JOIN, {"ssid": ssid, "password": password, "bssid": bssid or ""})
    return None


# --- AT+CWMODE ---------------------------------------------------------------------


def _cwmode_q(m: Engine) -> None:
    m.emit(render.info("+CWMODE", m.settings.int(CWMODE)))


def _cwmode_s(m: Engine, a: Args) -> None:
    mode = a.int("mode")
    if mode in (0, 2):
        _drop_station(m)
    m.settings.set(CWMODE, mode)


# --- AT+CWJAP ----------------------------------------------------------------------


def _need_station(m: Engine) -> None:
    if not station_mode(m):
        raise CommandError(ErrCode.OPERATION, "station mode is off (AT+CWMODE)")


def _cwjap_s(m: Engine, a: Args) -> Task:
    _need_station(m)
    return join(m, a.str("ssid"), a.str("pwd"), a.opt_str("bssid"))


def _cwjap_x(m: Engine) -> Task:
    _need_station(m)
    saved = m.settings.get(JOIN)
    if not saved:
        raise CommandError(ErrCode.OPERATION, "no saved AP to join")
    return join(m, saved["ssid"], saved["password"], saved["bssid"] or None)


def _cwjap_q(m: Engine) -> None:
    ap = m.station.ap
    if ap is None or (not m.station.has_ip and m.station.state != WifiState.CONNECTED_NO_IP):
        idle = m.profile.cwjap_query_idle
        if idle is None:
            raise CommandError(ErrCode.OPERATION, "not connected")
        m.emit(render.line(idle))
        return
    m.emit(
        render.info(
            "+CWJAP", render.q(ap.ssid), render.q(ap.bssid), ap.channel, ap.rssi, 0, 1, 3, 0, 1
        )
    )


# --- AT+CWQAP / AT+CWLAP / AT+CWSTATE ------------------------------------------------


def _cwqap(m: Engine) -> Final:
    m.emit(render.OK)
    _drop_station(m)
    return Final.NONE


def _visible_aps(m: Engine) -> list[AccessPoint]:
    if m.options.access_points:
        return list(m.options.access_points)
    return [m.station.ap] if m.station.ap is not None else []


def _cwlap(m: Engine, ssid: str | None = None) -> Task:
    _need_station(m)
    yield Sleep(m.profile.join_time)
    rows = [
        render.cwlap(ap.ecn, ap.ssid, ap.rssi, ap.bssid, ap.channel)
        for ap in _visible_aps(m)
        if ssid is None or ap.ssid == ssid
    ]
    m.emit(b"".join(rows))
    return None


def _cwlap_s(m: Engine, a: Args) -> Task:
    return _cwlap(m, a.str("ssid"))


def _cwstate_q(m: Engine) -> None:
    """``<"ssid">`` is the target AP's: the one joined, or the one being joined."""
    st = m.station
    if st.state is WifiState.CONNECTING:
        ssid = st.target
    else:
        ssid = st.ap.ssid if st.ap is not None else ""
    m.emit(render.info("+CWSTATE", int(m.station.state), render.q(ssid)))


# --- addresses: AT+CIPSTA, AT+CIPSTAMAC, AT+CIFSR -----------------------------------


def _current(m: Engine) -> StationAddresses:
    return m.station.addr if m.station.addr is not None else StationAddresses(mac=addresses(m).mac)


def _cipsta_q(m: Engine) -> None:
    addr = _current(m)
    out = [
        render.cipsta("ip", addr.ip),
        render.cipsta("gateway", addr.gateway),
        render.cipsta("netmask", addr.netmask),
    ]
    if m.settings.int(CIPV6):
        if addr.ip6_ll:
            out.append(render.cipsta("ip6ll", addr.ip6_ll))
        if addr.ip6_gl:
            out.append(render.cipsta("ip6gl", addr.ip6_gl))
    m.emit(b"".join(out))


def _ipv4(text: str, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise CommandError(ErrCode.PARAM_INVALID, f"{what} {text!r} is not IPv4") from None


def _cipsta_s(m: Engine, a: Args) -> None:
    ip = _ipv4(a.str("ip"), "ip")
    gw = _ipv4(a.opt_str("gateway") or m.options.addresses.gateway, "gateway")
    mask = _ipv4(a.opt_str("netmask") or m.options.addresses.netmask, "netmask")
    m.settings.set(STATIC_IP, [ip, gw, mask])
    m.settings.set(DHCP, m.settings.int(DHCP) & ~1)
    if m.station.addr is not None:
        m.station.addr = addresses(m)


def _mac_q(m: Engine) -> None:
    m.emit(render.info("+CIPSTAMAC", render.q(_current(m).mac)))


def _mac_s(m: Engine, a: Args) -> None:
    mac = a.str("mac").lower()
    parts = mac.split(":")
    if (
        len(parts) != 6
        or any(len(p) != 2 or not all(c in "0123456789abcdef" for c in p) for p in parts)
        or int(parts[0], 16) & 1
    ):
        raise CommandError(ErrCode.PARAM_INVALID, f"bad MAC {mac!r}")
    m.settings.set(STA_MAC, mac)


def _cifsr(m: Engine) -> None:
    out = []
    mode = m.settings.int(CWMODE)
    if mode in (2, 3):
        out.append(render.cifsr("APIP", SOFTAP_IP))
        out.append(render.cifsr("APMAC", _ap_mac(addresses(m).mac)))
    if mode in (1, 3):
        addr = _current(m)
        out.append(render.cifsr("STAIP", addr.ip))
        if m.settings.int(CIPV6):
            if addr.ip6_ll:
                out.append(render.cifsr("STAIP6LL", addr.ip6_ll))
            if addr.ip6_gl:
                out.append(render.cifsr("STAIP6GL", addr.ip6_gl))
        out.append(render.cifsr("STAMAC", addr.mac))
    m.emit(b"".join(out))


def _ap_mac(sta_mac: str) -> str:
    first = int(sta_mac[:2], 16) | 0x02
    return f"{first:02x}{sta_mac[2:]}"


# --- AT+CWAUTOCONN, AT+CWHOSTNAME, AT+CWDHCP, AT+CIPV6 -------------------------------


def _simple(
    setting: SettingDef, label: str, kind: str = "int"
) -> tuple[Callable[[Engine], None], Callable[[Engine, Args], None]]:
    def query(m: Engine) -> None:
        v = m.settings.get(setting)
        m.emit(render.info(label, v))

    def set_(m: Engine, a: Args) -> None:
        m.settings.set(setting, a.int("value") if kind == "int" else a.str("value"))

    return query, set_


_autoconn_q, _autoconn_s = _simple(AUTOCONN, "+CWAUTOCONN")
_hostname_q, _hostname_s0 = _simple(HOSTNAME, "+CWHOSTNAME", "str")
_cipv6_q, _cipv6_s = _simple(CIPV6, "+CIPV6")


def _hostname_s(m: Engine, a: Args) -> None:
    _need_station(m)
    _hostname_s0(m, a)


def _dhcp_q(m: Engine) -> None:
    m.emit(render.info("+CWDHCP", m.settings.int(DHCP)))


def _dhcp_s(m: Engine, a: Args) -> None:
    bits = a.int("mode")
    cur = m.settings.int(DHCP)
    new = cur | bits if a.int("operate") else cur & ~bits
    m.settings.set(DHCP, new)
    if new & 1:
        m.settings.set(STATIC_IP, None)


def _autojoin(m: Engine) -> None:
    """Boot hook: AT+CWAUTOCONN=1 joins the saved AP in the background."""
    saved = m.settings.get(JOIN)
    if not (m.settings.int(AUTOCONN) and saved and station_mode(m)):
        return
    m.spawn(
        join(m, saved["ssid"], saved["password"], saved["bssid"] or None, report=False), "auto-join"
    )


FEATURE = Feature(
    "wifi",
    commands=(
        Command(
            "+CWMODE",
            query=_cwmode_q,
            set=_cwmode_s,
            params=(Int("mode", 0, 3), Int("auto_connect", 0, 1, optional=True)),
            summary="Wi-Fi mode: 0 off, 1 station, 2 SoftAP, 3 both",
        ),
        Command(
            "+CWJAP",
            query=_cwjap_q,
            set=_cwjap_s,
            execute=_cwjap_x,
            params=(
                Str("ssid", 32),
                Str("pwd", 64),
                Str("bssid", 17, optional=True),
                Int("pci_en", 0, 1, optional=True),
                Int("reconn_interval", 0, 7200, optional=True),
                Int("listen_interval", 1, 100, optional=True),
                Int("scan_mode", 0, 1, optional=True),
                Int("jap_timeout", 3, 600, optional=True),
                Int("pmf", 0, 7, optional=True),
            ),
            summary="join an access point",
        ),
        Command("+CWQAP", execute=_cwqap, summary="leave the access point"),
        Command(
            "+CWLAP",
            execute=_cwlap,
            set=_cwlap_s,
            params=(Str("ssid", 32),),
            summary="list access points",
        ),
        Command("+CWSTATE", query=_cwstate_q, summary="station state"),
        Command(
            "+CIPSTA",
            query=_cipsta_q,
            set=_cipsta_s,
            params=(
                Str("ip", 15),
                Str("gateway", 15, optional=True),
                Str("netmask", 15, optional=True),
            ),
            summary="station IP addresses",
        ),
        Command(
            "+CIPSTAMAC",
            query=_mac_q,
            set=_mac_s,
            params=(Str("mac", 17),),
            summary="station MAC address",
        ),
        Command("+CIFSR", execute=_cifsr, summary="local IP and MAC addresses"),
        Command(
            "+CWAUTOCONN",
            query=_autoconn_q,
            set=_autoconn_s,
            params=(Int("value", 0, 1),),
            summary="join the saved AP at power-up",
        ),
        Command(
            "+CWHOSTNAME",
            query=_hostname_q,
            set=_hostname_s,
            params=(Str("value", 32),),
            summary="station host name",
        ),
        Command(
            "+CWDHCP",
            query=_dhcp_q,
            set=_dhcp_s,
            params=(Int("operate", 0, 1), Int("mode", 0, 3)),
            summary="DHCP on/off: bit 0 station, bit 1 SoftAP",
        ),
        Command(
            "+CIPV6",
            query=_cipv6_q,
            set=_cipv6_s,
            params=(Int("value", 0, 1),),
            summary="enable IPv6 (TCPv6/UDPv6/SSLv6, ping6, DNS6)",
        ),
    ),
    settings=(CWMODE, AUTOCONN, JOIN, HOSTNAME, DHCP, STATIC_IP, STA_MAC, CIPV6),
    on_boot=_autojoin,
)

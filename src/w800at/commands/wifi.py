"""The simulated Wi-Fi station: AT+CWMODE, AT+CWJAP, AT+CWQAP, AT+CWLAP, AT+CWLAPOPT,
AT+CWSTATE, AT+CIPSTA, AT+CIPSTAMAC, AT+CWAUTOCONN, AT+CWHOSTNAME, AT+CWDHCP, AT+CIPV6.
(The SoftAP and AT+CIFSR, which lists both interfaces: ``softap.py``.)

Access points come from the configuration; with none configured any SSID joins with
any password.  Once "joined", the station's addresses are the host's own (or those
configured), because the links really leave from this host.

World events (`w800at.core.world`, the test bench) land in `_on_world`: an AP that
vanishes (or changes its password) under the station takes the same path as any other
loss of the network (``WIFI DISCONNECT``, every feature's ``on_wifi_down``: links
``CLOSED``), then AT+CWAUTOCONN=1 rejoins the saved AP every `Profile.reconnect_interval`
seconds until it is back (nothing printed for attempts that fail; ``WIFI CONNECTED``,
``WIFI GOT IP`` once one succeeds).  Joins can be made to fail (`NextJoin`): the join
ends in ``ERROR`` as any failed join (with ``+CWJAP:<code>`` first in the esp-at
dialect); ``timeout`` and ``no_dhcp`` take the join's ``<jap_timeout>`` (default 15 s)
and their code is 1; ``no_dhcp`` first says ``WIFI CONNECTED`` and leaves the station
associated without an address (AT+CWSTATE? 1).  New addresses from the network
(`StationChange`) are announced with ``WIFI GOT IP``; TCP and SSL links bound to the old
IPv4 address end (``CLOSED``), as lwIP aborts them; UDP links stay.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from annotated_types import MaxLen
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from ..core import render
from ..core.actions import Sleep
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.params import Args, Int, Signature, Str
from ..core.registry import Command, Final, Task
from ..core.settings import FLAG, SettingDef, int_range, ipv4_text, mac_text, text
from ..core.state import AccessPoint, Station, StationAddresses, WifiState
from ..core.world import (
    ApAppear,
    ApChange,
    ApVanish,
    JoinOutcome,
    NextJoin,
    StationChange,
    WorldError,
    WorldEvent,
)


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

#: a MAC address as the AT commands take it (hex digits in either case)
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")

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
    ap = next((ap for ap in m.options.access_points if ap.ssid == ssid), None)
    if ap is None and m.world.any_ssid and ssid not in m.world.gone:
        return AccessPoint(ssid=ssid)  # none configured: any SSID joins
    return ap


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


#: the +CWJAP code of each forced outcome (NO_DHCP: the wait for an address times out)
_OUTCOME_CODES = {
    JoinOutcome.TIMEOUT: JAP_TIMEOUT,
    JoinOutcome.WRONG_PASSWORD: JAP_WRONG_PASSWORD,
    JoinOutcome.NO_AP: JAP_NO_AP,
    JoinOutcome.FAIL: JAP_FAILED,
    JoinOutcome.NO_DHCP: JAP_TIMEOUT,
}


def join(
    m: Engine,
    ssid: str,
    password: str,
    bssid: str | None,
    *,
    report: bool = True,
    timeout: float | None = None,
) -> Task:
    """Associate, then DHCP.  ``report``: this is AT+CWJAP (the boot-time auto-join and
    the auto-reconnect are not: no command for their lines to answer).  ``timeout``:
    AT+CWJAP's ``<jap_timeout>``, how long a join the network does not answer waits.

    A failure ends in ``ERROR`` (ESP-AT v2.x/v3.x; ``FAIL`` was the old ESP8266 AT
    1.x ending), preceded in dialects that print it by ``+CWJAP:<code>``.  On success
    the join answers ``WIFI CONNECTED``, ``WIFI GOT IP`` and ``OK`` ("OK means that the
    IPv4 network is ready"), then the IPv6 URCs (ESP-AT documents them as
    ``[WIFI GOT IPv6 LL]`` / ``[WIFI GOT IPv6 GL]`` after OK); so the task writes its
    own OK and returns `Final.NONE`."""
    _drop_station(m)
    station, attempt = m.station, m.station.attempt
    m.station.state = WifiState.CONNECTING
    m.station.ap = None
    m.station.target = ssid
    forced = m.world.take_join()
    outcome, delay = forced if forced is not None else (None, None)
    wait = (
        delay if delay is not None else timeout if timeout is not None else m.profile.join_timeout
    )
    yield Sleep(wait if outcome is JoinOutcome.TIMEOUT else m.profile.join_time)
    if _cancelled(m, station, attempt):
        raise CommandError(ErrCode.EXEC_FAILED, f"join of {ssid!r} overtaken")
    ap = find_ap(m, ssid)
    code: int | None = None
    if outcome is not None and outcome is not JoinOutcome.NO_DHCP:
        code = _OUTCOME_CODES[outcome]
    elif ap is None or (bssid and bssid.lower() != ap.bssid.lower()):
        code = JAP_NO_AP
    elif ap.fail:
        code = ap.fail
    elif ap.password is not None and ap.password != password:
        code = JAP_WRONG_PASSWORD
    if code is not None or ap is None:
        m.station.state = WifiState.DISCONNECTED
        if report and m.profile.cwjap_fail_code:
            m.emit(render.info("+CWJAP", code))
        raise CommandError(ErrCode.EXEC_FAILED, f"join of {ssid!r} failed: code {code}")
    m.station.state = WifiState.CONNECTED_NO_IP
    m.station.ap = ap
    m.emit(render.WIFI_CONNECTED)
    if outcome is JoinOutcome.NO_DHCP:  # associated, but no lease ever comes
        yield Sleep(wait)
        if _cancelled(m, station, attempt):
            raise CommandError(ErrCode.EXEC_FAILED, f"join of {ssid!r} overtaken")
        if report and m.profile.cwjap_fail_code:
            m.emit(render.info("+CWJAP", JAP_TIMEOUT))
        raise CommandError(ErrCode.EXEC_FAILED, f"join of {ssid!r}: no address by DHCP")
    yield Sleep(m.profile.dhcp_time)
    if _cancelled(m, station, attempt):  # left meanwhile
        raise CommandError(ErrCode.EXEC_FAILED, f"join of {ssid!r} overtaken")
    addr = addresses(m)
    has_v6 = bool(m.settings.int(CIPV6) and ap.ipv6)
    if not has_v6:  # no IPv6 from this AP: AT+CIPSTA?/AT+CIFSR must not show any
        addr = replace(addr, ip6_ll=None, ip6_gl=None)
    m.station.addr = addr
    m.station.state = WifiState.GOT_IP
    m.emit(render.WIFI_GOT_IP)
    m.settings.set(JOIN, {"ssid": ssid, "password": password, "bssid": bssid or ""})
    if report:
        m.save_if_dirty()
        m.emit(render.OK)
    if has_v6:
        if addr.ip6_ll:
            m.emit(render.WIFI_GOT_IP6_LL)
        if addr.ip6_gl:
            m.emit(render.WIFI_GOT_IP6_GL)
    return Final.NONE


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
    bssid = a.opt_str("bssid") or None
    if bssid is not None and not _MAC.fullmatch(bssid):
        # checked before the join starts: a bad parameter leaves the current AP alone
        raise a.error(ErrCode.PARAM_INVALID, "bssid", f"bssid {bssid!r} is not a MAC address")
    timeout = a.opt_int("jap_timeout")
    return join(
        m,
        a.str("ssid"),
        a.str("pwd"),
        bssid,
        timeout=float(timeout) if timeout is not None else None,
    )


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
    aps = list(m.options.access_points)
    cur = m.station.ap
    if cur is not None and m.world.any_ssid and all(ap.ssid != cur.ssid for ap in aps):
        aps.append(cur)  # the made-up AP of an "any SSID joins" world, while joined
    return aps


# AT+CWLAPOPT (not saved: it is not among AT+SYSSTORE's commands in either dialect).
# The value: [sort, print mask, rssi filter, authmode mask]; None: the defaults.
#: <rssi filter> "Default: -100. Range: [-100,40]"; <authmode mask> "Default: 0xFFFF"
RSSI_MIN, RSSI_MAX, AUTHMODE_ALL = -100, 40, 0xFFFF
_LAPOPT: Any = tuple[  # type: ignore[misc]
    FLAG, int_range(0, 0x7FF), int_range(RSSI_MIN, RSSI_MAX), int_range(0, AUTHMODE_ALL)
]
#: [sort, print mask, rssi filter, authmode mask]; None: the defaults
LAPOPT = SettingDef("cwlapopt", None, "never", _LAPOPT | None)


def _lapopt(m: Engine) -> tuple[int, int, int, int]:
    v = m.settings.get(LAPOPT)
    if v is None:
        return 0, (1 << len(m.profile.cwlap_fields)) - 1, RSSI_MIN, AUTHMODE_ALL
    sort, mask, rssi, auth = v
    return int(sort), int(mask), int(rssi), int(auth)


@functools.cache
def _lapopt_params(fields: int, sort: bool) -> Signature:
    tail = (
        Int("mask", 0, (1 << fields) - 1),
        Int("rssi", RSSI_MIN, RSSI_MAX, optional=True),
        Int("authmode", 0, AUTHMODE_ALL, optional=True),
    )
    return (Int("sort", 0, 1), *tail) if sort else tail


def _lapopt_signature(m: Engine) -> Signature:
    """ESP-AT: ``AT+CWLAPOPT=<sort_enable>,<print mask>[,<rssi filter>][,<authmode
    mask>]``; WinnerMicro's W800: ``AT+CWLAPOPT=<print mask>[,...]`` (Profile)."""
    p = m.profile
    return _lapopt_params(len(p.cwlap_fields), p.cwlapopt_sort)


def _lapopt_s(m: Engine, a: Args) -> None:
    """An omitted <rssi filter> / <authmode mask> is its default again."""
    m.settings.set(
        LAPOPT,
        [
            a.opt_int("sort") or 0,
            a.int("mask"),
            a.int("rssi") if a.given("rssi") else RSSI_MIN,
            a.int("authmode") if a.given("authmode") else AUTHMODE_ALL,
        ],
    )


#: <pairwise_cipher>, <group_cipher> of an AP by its <ecn> (0 None, 1 WEP40, 2 WEP104,
#: 3 TKIP, 4 CCMP, 7 unknown/SMS4): what scans of such APs show in ESP-AT captures
_CIPHERS = {0: (0, 0), 1: (1, 1), 2: (3, 3), 3: (4, 4), 4: (4, 4), 5: (4, 4), 6: (4, 4), 7: (4, 4)}


def _ciphers(ap: AccessPoint) -> tuple[int, int]:
    if ap.ecn == 1 and ap.password is not None and len(ap.password) in (13, 26):
        return 2, 2  # a 104-bit WEP key
    return _CIPHERS.get(ap.ecn, (7, 7))  # 8 WAPI_PSK: SMS4, "unknown" to ESP-AT


def _cwlap_row(m: Engine, ap: AccessPoint, mask: int) -> bytes:
    pairwise, group = _ciphers(ap)
    values: dict[str, object] = {
        "ecn": ap.ecn,
        "ssid": render.q(ap.ssid),
        "rssi": ap.rssi,
        "mac": render.q(ap.bssid),
        "channel": ap.channel,
        # "frequency offset (reserved item)", "frequency calibration value (reserved
        # item)": ESP32 AT prints -1 for both
        "freq_offset": -1,
        "freqcal_val": -1,
        "pairwise_cipher": pairwise,
        "group_cipher": group,
        "bgn": m.profile.cwlap_bgn,
        "wps": 0,
    }
    fields = m.profile.cwlap_fields
    return render.cwlap(values[f] for i, f in enumerate(fields) if mask >> i & 1)


def _cwlap(
    m: Engine, ssid: str | None = None, mac: str | None = None, channel: int | None = None
) -> Task:
    """The visible APs that pass AT+CWLAP's filters and AT+CWLAPOPT's <rssi filter> and
    <authmode mask>, sorted by RSSI (strongest first) when <sort_enable> is 1."""
    _need_station(m)
    yield Sleep(m.profile.join_time)
    sort, mask, rssi_min, auth = _lapopt(m)
    aps = [
        ap
        for ap in _visible_aps(m)
        if (ssid is None or ap.ssid == ssid)
        and (mac is None or ap.bssid.lower() == mac)
        and (channel is None or ap.channel == channel)
        and ap.rssi >= rssi_min
        and auth >> ap.ecn & 1
    ]
    if sort:
        aps.sort(key=lambda ap: -ap.rssi)
    m.emit(b"".join(_cwlap_row(m, ap, mask) for ap in aps))
    return None


#: AT+CWLAP=[<ssid>,<mac>,<channel>,<scan_type>,<scan_time_min>,<scan_time_max>] (ESP-AT
#: and WinnerMicro's W800 page alike): "<scan_type> 0: active scan 1: passive scan",
#: "<scan_time_min>/<scan_time_max> ... Range [0,1500]" (ms per channel; the simulated
#: scan takes its fixed time, so they only have to be valid)
_CWLAP_PARAMS = (
    Str("ssid", 32, optional=True),
    Str("mac", 17, optional=True),
    Int("channel", 1, 14, optional=True),
    Int("scan_type", 0, 1, optional=True),
    Int("scan_time_min", 0, 1500, optional=True),
    Int("scan_time_max", 0, 1500, optional=True),
)


def _cwlap_s(m: Engine, a: Args) -> Task:
    if not any(a.given(p.name) for p in _CWLAP_PARAMS):
        raise a.count_error(1, "AT+CWLAP= without any parameter")
    mac = a.opt_str("mac") or None
    if mac is not None and not _MAC.fullmatch(mac):
        raise a.error(ErrCode.PARAM_INVALID, "mac", f"mac {mac!r} is not a MAC address")
    ssid = a.opt_str("ssid") if a.given("ssid") else None
    return _cwlap(m, ssid, mac.lower() if mac else None, a.opt_int("channel"))


def _cwstate_q(m: Engine) -> None:
    """``<"ssid">`` is the target AP's: the one joined, or the one being joined."""
    st = m.station
    if st.state is WifiState.CONNECTING:
        ssid = st.target
    else:
        ssid = st.ap.ssid if st.ap is not None else ""
    m.emit(render.info("+CWSTATE", int(m.station.state), render.q(ssid)))


# --- addresses: AT+CIPSTA, AT+CIPSTAMAC, AT+CIFSR -----------------------------------


def current_addresses(m: Engine) -> StationAddresses:
    """The station interface's addresses now (no IP before a join)."""
    return m.station.addr if m.station.addr is not None else StationAddresses(mac=addresses(m).mac)


def _cipsta_q(m: Engine) -> None:
    addr = current_addresses(m)
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


def ipv4(text: str, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise CommandError(ErrCode.PARAM_INVALID, f"{what} {text!r} is not IPv4") from None


def _cipsta_s(m: Engine, a: Args) -> None:
    ip = a.check("ip", ipv4, a.str("ip"), "ip")
    gw = a.check("gateway", ipv4, a.opt_str("gateway") or m.options.addresses.gateway, "gateway")
    mask = a.check("netmask", ipv4, a.opt_str("netmask") or m.options.addresses.netmask, "netmask")
    m.settings.set(STATIC_IP, [ip, gw, mask])
    m.settings.set(DHCP, m.settings.int(DHCP) & ~1)
    if m.station.addr is not None:
        m.station.addr = addresses(m)


def _mac_q(m: Engine) -> None:
    m.emit(render.info("+CIPSTAMAC", render.q(current_addresses(m).mac)))


def parse_mac(text: str) -> str:
    """A MAC address the module can take (AT+CIPSTAMAC, AT+CIPAPMAC): "Bit 0 of the MAC
    address CANNOT be 1 ... FF:FF:FF:FF:FF:FF and 00:00:00:00:00:00 are invalid"."""
    mac = text.lower()
    if not _MAC.fullmatch(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise CommandError(ErrCode.PARAM_INVALID, f"bad MAC {text!r}")
    return mac


def _mac_s(m: Engine, a: Args) -> None:
    mac = parse_mac(a.str("mac"))
    m.settings.set(STA_MAC, mac)
    if m.station.addr is not None:  # joined: the interface has the new address now
        m.station.addr = replace(m.station.addr, mac=mac)


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


def _saved_join(m: Engine) -> dict[str, Any] | None:
    """The saved AP, when AT+CWAUTOCONN=1 says to join it by itself."""
    saved = m.settings.get(JOIN)
    if not (m.settings.int(AUTOCONN) and saved and station_mode(m)):
        return None
    return dict(saved)


def _autojoin(m: Engine) -> None:
    """Boot hook: AT+CWAUTOCONN=1 joins the saved AP in the background."""
    saved = _saved_join(m)
    if saved is None:
        return
    m.spawn(
        join(m, saved["ssid"], saved["password"], saved["bssid"] or None, report=False), "auto-join"
    )


# --- the world changes (the test bench) --------------------------------------------


def _lost_ap(m: Engine) -> None:
    """The AP went away under the station: down, then rejoin per AT+CWAUTOCONN."""
    _drop_station(m)
    saved = _saved_join(m)
    if saved is not None:
        m.spawn(_reconnect(m, m.station, saved), "auto-reconnect")


def _reconnect(m: Engine, station: Station, saved: dict[str, Any]) -> Task:
    """Rejoin the saved AP every `Profile.reconnect_interval` s until it works, or until
    the host joins, leaves, changes the mode, or the module reboots."""
    while True:
        mark = station.attempt
        yield Sleep(m.profile.reconnect_interval)
        if m.station is not station or station.attempt != mark:
            return None  # the host (or a reboot) took over
        try:
            yield from join(
                m, saved["ssid"], saved["password"], saved["bssid"] or None, report=False
            )
        except CommandError:  # failed (nothing printed) or overtaken
            if m.station is not station or station.attempt != mark + 1:
                return None  # overtaken while trying
        else:
            return None  # joined


def _set_aps(m: Engine, aps: list[AccessPoint]) -> None:
    """The engine's own list from now on (options may be shared by a fleet)."""
    m.options = replace(m.options, access_points=aps)


def _on_ap(m: Engine, ssid: str) -> bool:
    st = m.station
    return (
        st.ap is not None
        and st.ap.ssid == ssid
        and st.state
        in (
            WifiState.CONNECTED_NO_IP,
            WifiState.GOT_IP,
        )
    )


def _replace_ap(m: Engine, ap: AccessPoint) -> None:
    """``ap`` in the list (where its SSID was, else last)."""
    aps = list(m.options.access_points)
    at = next((i for i, a in enumerate(aps) if a.ssid == ap.ssid), None)
    if at is None:
        aps.append(ap)
    else:
        aps[at] = ap
    _set_aps(m, aps)


def _ap_appear(m: Engine, ap: AccessPoint) -> None:
    _replace_ap(m, ap)
    m.world.gone.discard(ap.ssid)


def _ap_vanish(m: Engine, ssid: str | None) -> None:
    if ssid is None:  # "wifi drop": the AP the station is on
        st = m.station
        if st.ap is None or st.state not in (WifiState.CONNECTED_NO_IP, WifiState.GOT_IP):
            raise WorldError("the station is not on an access point")
        ssid = st.ap.ssid
    listed = any(a.ssid == ssid for a in m.options.access_points)
    if not listed and not (m.world.any_ssid and ssid not in m.world.gone):
        raise WorldError(f"no access point {ssid!r}")
    _set_aps(m, [a for a in m.options.access_points if a.ssid != ssid])
    if m.world.any_ssid:
        m.world.gone.add(ssid)
    if _on_ap(m, ssid):
        _lost_ap(m)


def _ap_change(m: Engine, ev: ApChange) -> None:
    old = next((a for a in m.options.access_points if a.ssid == ev.ssid), None)
    if old is None:
        cur = m.station.ap
        if m.world.any_ssid and cur is not None and cur.ssid == ev.ssid:
            old = cur  # the made-up AP the station is on becomes a listed one
        else:
            raise WorldError(f"no access point {ev.ssid!r}")
    new = replace(
        old,
        rssi=old.rssi if ev.rssi is None else ev.rssi,
        password=old.password if ev.password is None else ev.password,
        channel=old.channel if ev.channel is None else ev.channel,
        ecn=old.ecn if ev.ecn is None else ev.ecn,
    )
    _replace_ap(m, new)
    if not _on_ap(m, ev.ssid):
        return
    if new.password != old.password:  # the AP is reconfigured: its clients are dropped
        _lost_ap(m)
    else:
        m.station.ap = new


def _station_change(m: Engine, addrs: StationAddresses) -> None:
    m.options = replace(m.options, addresses=addrs)
    st = m.station
    if st.state is not WifiState.GOT_IP or st.addr is None or m.settings.get(STATIC_IP):
        return  # not joined (the next join gets them), or a static address (no DHCP)
    old = st.addr
    new = addresses(m)
    if not (m.settings.int(CIPV6) and st.ap is not None and st.ap.ipv6):
        new = replace(new, ip6_ll=None, ip6_gl=None)
    st.addr = new
    if new.ip != old.ip:
        m.links.lost_all(streams_only=True)  # lwIP aborts TCP PCBs on the old address
        m.emit(render.WIFI_GOT_IP)
    if new.ip6_gl and new.ip6_gl != old.ip6_gl:
        m.emit(render.WIFI_GOT_IP6_GL)


def _on_world(m: Engine, ev: WorldEvent) -> bool:
    if isinstance(ev, ApAppear):
        _ap_appear(m, ev.ap)
    elif isinstance(ev, ApVanish):
        _ap_vanish(m, ev.ssid)
    elif isinstance(ev, ApChange):
        _ap_change(m, ev)
    elif isinstance(ev, NextJoin):
        m.world.joins.extend([(ev.outcome, ev.delay)] * ev.count)
    elif isinstance(ev, StationChange):
        _station_change(m, ev.addresses)
    else:
        return False
    return True


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
            params=_CWLAP_PARAMS,
            summary="list access points (filters: SSID, BSSID, channel)",
        ),
        Command(
            "+CWLAPOPT",
            set=_lapopt_s,
            params=_lapopt_signature,
            summary="AT+CWLAP: sort by RSSI (esp-at), fields shown, RSSI and auth filters",
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
    settings=(CWMODE, AUTOCONN, JOIN, HOSTNAME, DHCP, STATIC_IP, STA_MAC, CIPV6, LAPOPT),
    on_boot=_autojoin,
    on_world=_on_world,
)

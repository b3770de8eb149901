"""The configuration file (TOML) and how it becomes `ModuleOptions`.

Every key is optional (``ssid`` is required inside an ``[[access_point]]``)::

    profile = "w800"            # or "esp-at"; the CLI's --profile wins
    lenient_eol = false         # accept a lone CR or LF as a line terminator

    [station]                   # addresses once joined; default: the host's own
    ip = "192.168.1.50"         # IPv4
    gateway = "192.168.1.1"     # IPv4
    netmask = "255.255.255.0"   # IPv4 netmask (contiguous ones)
    mac = "02:11:22:33:44:55"   # unicast MAC, xx:xx:xx:xx:xx:xx
    ip6_ll = "fe80::11:22ff:fe33:4455"  # IPv6 link-local (fe80::/10)
    ip6_gl = "2001:db8::50"     # IPv6, not link-local

    [[access_point]]            # none: any SSID joins with any password
    ssid = "lab"                # 1-32 bytes, unique among the access points
    password = "lab-secret"     # omit: any password; see _check_password
    bssid = "02:00:00:00:00:01" # unicast MAC; omit: derived from the SSID
    channel = 6                 # 1-14
    rssi = -45                  # -100..0
    ecn = 3                     # 0-8, AT+CWLAP's <ecn>
    ipv6 = true                 # the AP hands out IPv6 addresses
    fail = 1                    # make every join fail with this +CWJAP code (1-4)

    [softap]                    # the SoftAP (AT+CWMODE=2/3); every key optional
    ip = "192.168.4.1"          # AT+CIPAP?: IPv4 (gateway, netmask too)
    mac = "02:11:22:33:44:56"   # AT+CIPAPMAC?; omit: the station's MAC + 1
    ssid = "ESP_334456"         # AT+CWSAP? (password, channel, ecn, max_conn, ssid_hidden)
    host = "127.0.0.1"          # this host's address standing for ip: AT+CIPSERVER
                                # also listens there while the SoftAP is on
    [[softap.station]]          # a station connected to the SoftAP (AT+CWLIF)
    ip = "192.168.4.2"
    mac = "5c:cf:7f:00:00:01"

    [network]                   # lab overrides
    dns_port = 53               # port of the AT+CIPDNS servers (1-65535)
    sntp_port = 123             # port of the SNTP servers (1-65535)
    timeout = 10.0              # seconds for connect, DNS, ping, SNTP (0 < t <= 3600)
    server_bind = "loopback"    # AT+CIPSERVER listens on: "loopback", "station", "all", an IP
    udp_bind = "auto"           # UDP links bind: "auto", "all", an IP (net_sockopts.udp_socket)

The file is checked by the pydantic models below (unknown keys are errors, types are
strict: no ``"5"`` for an integer, no ``1`` for a boolean), then converted into the
`Config` / `ModuleOptions` / `AccessPoint` / `StationAddresses` the module uses.

Every problem is reported as one `ConfigError` whose text is a single line::

    <file>: <where>: <what is wrong>[ (got <value>)]

``<where>`` is a key path (``[network] timeout``, ``[[access_point]] #2 channel`` -- the
2nd ``[[access_point]]`` table of the file -- or a top-level ``profile``), or a position
(``line 3, column 7``) for TOML syntax and encoding errors.  Only the first problem is
reported.  Passwords are never echoed.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from .core.options import ModuleOptions, SoftApOptions, SoftApStation
from .core.state import AccessPoint, StationAddresses
from .log import get_logger
from .profiles import PROFILES

log = get_logger("w800at.config")

#: a configuration file larger than this is refused (it is surely not one)
MAX_BYTES = 1 << 20
#: [network] timeout: an upper bound that still catches a value given in milliseconds
MAX_TIMEOUT = 3600.0


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    profile: str | None = None
    lenient_eol: bool = False
    options: ModuleOptions = field(default_factory=ModuleOptions)


def host_addresses() -> StationAddresses:
    """The host's own addresses, read without sending any traffic."""
    try:
        from .runtime.netinfo import host_identity
    except ImportError:  # pragma: no cover - netinfo ships with the package
        return StationAddresses(ip="127.0.0.1", gateway="127.0.0.1", netmask="255.0.0.0")
    ident = host_identity()
    return StationAddresses(
        ip=ident.ipv4,
        gateway=ident.gateway,
        netmask=ident.netmask,
        ip6_ll=ident.ipv6_ll,
        ip6_gl=ident.ipv6_gl,
        mac=ident.mac,
    )


# --- value checks (each raises a PydanticCustomError whose message is the "what") ---


def _bad(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    """A validation error.  ``message`` must not contain text from the file (pydantic
    fills ``{name}`` fields in it).  ``ctx`` may hold ``key`` (a key below the failing
    one, for checks made on a whole table or array) and ``got`` (the value to show
    instead of the checked one)."""
    return PydanticCustomError(kind, message, ctx or None)


def _ipv4(v: str) -> str:
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise _bad("ipv4", "must be an IPv4 address such as 192.168.1.50") from None


def _netmask(v: str) -> str:
    try:
        n = int(ipaddress.IPv4Address(v))
    except ValueError:
        raise _bad("netmask", "must be an IPv4 netmask such as 255.255.255.0") from None
    host = ~n & 0xFFFFFFFF
    if n == 0 or host & (host + 1):
        raise _bad("netmask", "must be a netmask: ones then zeros, such as 255.255.255.0")
    return str(ipaddress.IPv4Address(n))


def _ipv6(v: str, what: str) -> ipaddress.IPv6Address:
    if "%" in v:
        raise _bad("ipv6", f"must be {what} without a %zone")
    try:
        return ipaddress.IPv6Address(v)
    except ValueError:
        raise _bad("ipv6", f"must be {what}") from None


def _ip6_ll(v: str) -> str:
    a = _ipv6(v, "an IPv6 link-local address such as fe80::1")
    if not a.is_link_local:
        raise _bad("ipv6", "must be an IPv6 link-local address, in fe80::/10")
    return str(a)


def _ip6_gl(v: str) -> str:
    a = _ipv6(v, "an IPv6 address such as 2001:db8::50")
    if a.is_link_local:
        raise _bad("ipv6", "is link-local: that is ip6_ll; ip6_gl takes a global address")
    if a.is_multicast or a.is_unspecified:
        raise _bad("ipv6", "must be a unicast IPv6 address such as 2001:db8::50")
    return str(a)


_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


def _mac(v: str) -> str:
    if not _MAC.fullmatch(v):
        raise _bad("mac", "must be a MAC address: six hex pairs, xx:xx:xx:xx:xx:xx")
    first = int(v[:2], 16)
    if first & 1:
        raise _bad("mac", "must be a unicast MAC: its first byte must be even")
    if v.replace(":", "").strip("0") == "":
        raise _bad("mac", "must not be all zeros")
    return v.lower()


def _unicast_ip(v: str) -> bool:
    """An IPv4 or IPv6 literal (a ``%zone`` allowed) that is not a multicast group."""
    try:
        return not ipaddress.ip_address(v).is_multicast
    except ValueError:
        return False


def _server_bind(v: str) -> str:
    if v in ("loopback", "station", "all") or _unicast_ip(v):
        return v
    raise _bad("choice", 'must be "loopback", "station", "all" or a unicast IP address')


def _udp_bind(v: str) -> str:
    if v in ("auto", "all") or _unicast_ip(v):
        return v
    raise _bad("choice", 'must be "auto", "all" or a unicast IP address')


def _profile(v: str) -> str:
    if v in PROFILES:
        return v
    names = [f'"{p}"' for p in PROFILES]
    raise _bad("choice", f"must be {' or '.join(names)}")


def _in_range(lo: int, hi: int, what: str = "", unit: str = "") -> AfterValidator:
    def check(v: int) -> int:
        if not lo <= v <= hi:
            raise _bad("range", f"must be {what}from {lo} to {hi}{unit}")
        return v

    return AfterValidator(check)


def _timeout(v: float) -> float:
    if not 0 < v <= MAX_TIMEOUT:  # also false for nan
        raise _bad("range", f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return v


def _ssid(v: str) -> str:
    n = len(v.encode())
    if not 1 <= n <= 32:
        raise _bad("length", f"must be 1 to 32 bytes long in UTF-8, not {n}")
    return v


def _check_password(password: str, ecn: int) -> None:
    """WPA/WPA2/WPA3/WAPI: a passphrase of 8-63 printable ASCII characters or a PSK of
    64 hex digits (IEEE 802.11 PSK rules; ESP-AT's AT+CWJAP takes at most 63 bytes of
    ASCII).  WEP: a key of 5 or 13 ASCII characters or 10 or 26 hex digits.  Open (ecn 0):
    no password at all."""
    n = len(password)
    hexdigits = n > 0 and all(c in "0123456789abcdefABCDEF" for c in password)
    printable = all(" " <= c <= "~" for c in password)
    if ecn == 0:
        raise _bad(
            "password",
            "an open access point (ecn = 0) takes no password: remove it or set ecn",
            key="password",
        )
    if ecn == 1:
        if (n in (5, 13) and printable) or (n in (10, 26) and hexdigits):
            return
        raise _bad(
            "password",
            f"a WEP key (ecn = 1) must be 5 or 13 ASCII characters or 10 or 26 hex digits, "
            f"not {n} characters",
            key="password",
        )
    if (8 <= n <= 63 and printable) or (n == 64 and hexdigits):
        return
    if not printable:
        what = "; it has other characters"
    elif n == 64:
        what = "; 64 characters must all be hex digits"
    else:
        what = f", not {n} characters"
    raise _bad(
        "password",
        "must be 8 to 63 printable ASCII characters (a WPA passphrase) or 64 hex digits"
        f" (a PSK){what}",
        key="password",
    )


Ipv4 = Annotated[str, AfterValidator(_ipv4)]
Mac = Annotated[str, AfterValidator(_mac)]
Port = Annotated[int, _in_range(1, 65535)]

_STRICT = ConfigDict(extra="forbid", strict=True)


class StationTable(BaseModel):
    model_config = _STRICT

    ip: Ipv4 | None = None
    gateway: Ipv4 | None = None
    netmask: Annotated[str, AfterValidator(_netmask)] | None = None
    mac: Mac | None = None
    ip6_ll: Annotated[str, AfterValidator(_ip6_ll)] | None = None
    ip6_gl: Annotated[str, AfterValidator(_ip6_gl)] | None = None


class AccessPointTable(BaseModel):
    model_config = _STRICT

    ssid: Annotated[str, AfterValidator(_ssid)]
    password: str | None = None
    bssid: Mac | None = None
    channel: Annotated[int, _in_range(1, 14, "a 2.4 GHz channel ")] | None = None
    rssi: Annotated[int, _in_range(-100, 0, unit=" dBm")] | None = None
    ecn: Annotated[int, _in_range(0, 8, "an AT+CWLAP <ecn> code ")] | None = None
    ipv6: bool | None = None
    fail: Annotated[int, _in_range(1, 4, "an AT+CWJAP error code ")] | None = None

    @model_validator(mode="after")
    def _password_fits_ecn(self) -> AccessPointTable:
        if self.password is not None:
            ecn = self.ecn if self.ecn is not None else AccessPoint.ecn
            _check_password(self.password, ecn)
        return self

    def convert(self) -> AccessPoint:
        return AccessPoint(**self.model_dump(exclude_none=True))


def _softap_ip(v: str) -> str:
    ip = ipaddress.IPv4Address(_ipv4(v))
    if ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise _bad("ipv4", "must be a unicast IPv4 address such as 192.168.4.1")
    return str(ip)


def _softap_host(v: str) -> str:
    if v == "loopback":
        return "127.0.0.1"
    return _softap_ip(v)


#: AT+CWSAP's <ecn>: "WEP is not supported"
_SOFTAP_ECNS = (0, 2, 3, 4)


def _softap_ecn(v: int) -> int:
    if v not in _SOFTAP_ECNS:
        raise _bad("choice", "must be 0 (open), 2, 3 or 4 (WPA/WPA2 PSK): AT+CWSAP's <ecn>")
    return v


class SoftApStationTable(BaseModel):
    model_config = _STRICT

    ip: Annotated[str, AfterValidator(_softap_ip)]
    mac: Mac

    def convert(self) -> SoftApStation:
        return SoftApStation(self.ip, self.mac)


class SoftApTable(BaseModel):
    model_config = _STRICT

    ip: Annotated[str, AfterValidator(_softap_ip)] | None = None
    gateway: Ipv4 | None = None
    netmask: Annotated[str, AfterValidator(_netmask)] | None = None
    mac: Mac | None = None
    ssid: Annotated[str, AfterValidator(_ssid)] | None = None
    password: str | None = None
    channel: Annotated[int, _in_range(1, 13, "a channel of the default country (CN) ")] | None = (
        None
    )
    ecn: Annotated[int, AfterValidator(_softap_ecn)] | None = None
    max_conn: Annotated[int, _in_range(1, 10, "a station count ")] | None = None
    ssid_hidden: bool | None = None
    host: Annotated[str, AfterValidator(_softap_host)] | None = None
    station: list[SoftApStationTable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _password_fits_ecn(self) -> SoftApTable:
        if self.password is not None:
            _check_password(self.password, self.ecn if self.ecn is not None else 0)
        elif self.ecn:
            raise _bad("password", "a SoftAP with ecn 2, 3 or 4 needs a password", key="password")
        return self

    def convert(self) -> SoftApOptions:
        given = self.model_dump(exclude_none=True, exclude={"station", "ssid_hidden"})
        if self.ip is not None and self.gateway is None:
            given["gateway"] = self.ip  # the SoftAP is its network's gateway
        opts = SoftApOptions(**given, stations=[s.convert() for s in self.station])
        if self.ssid_hidden is not None:
            opts.ssid_hidden = int(self.ssid_hidden)
        return opts


class NetworkTable(BaseModel):
    model_config = _STRICT

    dns_port: Port | None = None
    sntp_port: Port | None = None
    timeout: Annotated[float, AfterValidator(_timeout)] | None = None
    server_bind: Annotated[str, AfterValidator(_server_bind)] | None = None
    udp_bind: Annotated[str, AfterValidator(_udp_bind)] | None = None


class ConfigFile(BaseModel):
    """The whole file."""

    model_config = _STRICT

    profile: Annotated[str, AfterValidator(_profile)] | None = None
    lenient_eol: bool = False
    station: StationTable = Field(default_factory=StationTable)
    access_point: list[AccessPointTable] = Field(default_factory=list)
    network: NetworkTable = Field(default_factory=NetworkTable)
    softap: SoftApTable = Field(default_factory=SoftApTable)

    @field_validator("access_point")
    @classmethod
    def _unique_ssids(cls, aps: list[AccessPointTable]) -> list[AccessPointTable]:
        seen: dict[str, int] = {}
        for i, ap in enumerate(aps):
            if ap.ssid in seen:
                raise _bad(
                    "duplicate",
                    f"already the ssid of access point #{seen[ap.ssid] + 1}, and a join picks"
                    " its access point by SSID alone",
                    key=(i, "ssid"),
                    got=ap.ssid,
                )
            seen[ap.ssid] = i
        return aps

    def convert(self) -> Config:
        station = replace(host_addresses(), **self.station.model_dump(exclude_none=True))
        net = self.network.model_dump(exclude_none=True)
        if "timeout" in net:
            net["net_timeout"] = net.pop("timeout")
        opts = ModuleOptions(
            access_points=[ap.convert() for ap in self.access_point],
            addresses=station,
            softap=self.softap.convert(),
            **net,
        )
        return Config(profile=self.profile, lenient_eol=self.lenient_eol, options=opts)


#: the table model found under each key path (for "unknown key" hints)
_TABLES: dict[tuple[str, ...], type[BaseModel]] = {
    (): ConfigFile,
    ("station",): StationTable,
    ("access_point",): AccessPointTable,
    ("network",): NetworkTable,
    ("softap",): SoftApTable,
    ("softap", "station"): SoftApStationTable,
}


# --- reading the file and reporting -----------------------------------------------


def load_config(path: Path | None) -> Config:
    """The configuration in ``path`` (None: defaults); `ConfigError` (one line) if bad."""
    if path is None:
        return ConfigFile().convert()
    name = _show_path(path)
    return config_from_data(_parse(path, name), name)


def config_from_data(data: dict[str, Any], name: str = "config") -> Config:
    """The configuration a TOML file would give, from its tables as Python values
    (``{"access_point": [{"ssid": "lab"}]}``), checked the same way; `ConfigError`
    names the problem after ``name``."""
    try:
        model = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{name}: {_explain(exc.errors()[0], data)}") from None
    return model.convert()


def _parse(path: Path, name: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"{name}: too large for a configuration file (over {MAX_BYTES >> 20} MiB)"
        )
    try:
        text = raw.decode("utf-8-sig")  # TOML is UTF-8; a leading BOM is tolerated
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{name}: line {line}, column {column}: not UTF-8 text "
            f"(byte 0x{raw[exc.start]:02x}); a TOML file must be UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", msg, re.S)
        if m is None:
            raise ConfigError(f"{name}: invalid TOML: {_one_line(msg)}") from None
        raise ConfigError(f"{name}: {m[2]}: invalid TOML: {_one_line(m[1])}") from None
    except RecursionError:
        raise ConfigError(f"{name}: invalid TOML: nested too deeply") from None


#: pydantic's own error types -> what to say
_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "missing": "is required but missing",
}


def _explain(err: ErrorDetails, data: dict[str, Any]) -> str:
    """``<where>: <what>[ (got <value>)]`` for one pydantic error."""
    ctx = err.get("ctx") or {}
    loc: tuple[int | str, ...] = tuple(err["loc"])
    key = ctx.get("key")
    if key is not None:
        loc += key if isinstance(key, tuple) else (key,)
    kind = err["type"]
    value = ctx["got"] if "got" in ctx else err.get("input")
    if kind == "extra_forbidden":
        owner = _TABLES.get(tuple(str(k) for k in loc[:-1] if isinstance(k, str)))
        known = ", ".join(owner.model_fields) if owner is not None else ""
        return f"{_where(loc, data)}: unknown key (known: {known})"
    if kind == "list_type" and loc == ("access_point",):
        return f"{_where(loc, data)}: must be an array of tables: write [[access_point]]"
    what = _TYPE_MESSAGES.get(kind) or _one_line(err["msg"])
    if kind == "missing" or loc[-1] == "password":  # passwords are never echoed
        return f"{_where(loc, data)}: {what}"
    return f"{_where(loc, data)}: {what} (got {_show(value)})"


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``profile``, ``[station]``, ``[network] timeout``, ``[[access_point]] #2 ssid``."""
    head, rest = str(loc[0]), list(loc[1:])
    value = data.get(head)
    if isinstance(value, list) and (
        head == "access_point" or (value and all(isinstance(v, dict) for v in value))
    ):
        out = f"[[{_key(head)}]]"
        if rest and isinstance(rest[0], int):
            out += f" #{int(rest.pop(0)) + 1}"  # counted from 1, as a reader would
    elif isinstance(value, dict):
        out = f"[{_key(head)}]"
    else:
        out = _key(head)
    for part in rest:
        out += f" {_key(str(part))}" if isinstance(part, str) else f"[{part}]"
    return out


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _show(k)


def _show(value: object) -> str:
    """A value as it would be written in TOML, on one line and not too long."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 64 else value[:61] + "..."
        return _one_line(json.dumps(text, ensure_ascii=False))
    if isinstance(value, int | float):
        return repr(value)  # TOML spells nan and inf as Python does
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return _one_line(repr(value))


def _one_line(text: str) -> str:
    """Escape anything that is not printable (line breaks included)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _show_path(path: Path) -> str:
    return _one_line(str(path))

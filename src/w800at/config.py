"""The configuration file (TOML) and how it becomes `ModuleOptions`.

Every key is optional::

    profile = "w800"            # or "esp-at"; the CLI's --profile wins
    lenient_eol = false         # accept a lone CR or LF as a line terminator

    [station]                   # addresses once joined; default: the host's own
    ip = "192.168.1.50"
    gateway = "192.168.1.1"
    netmask = "255.255.255.0"
    mac = "02:11:22:33:44:55"
    ip6_ll = "fe80::11:22ff:fe33:4455"
    ip6_gl = "2001:db8::50"

    [[access_point]]            # none: any SSID joins with any password
    ssid = "lab"
    password = "secret"         # omit: any password
    bssid = "02:00:00:00:00:01"
    channel = 6
    rssi = -45
    ecn = 3
    fail = 1                    # make every join fail with this +CWJAP code

    [network]                   # lab overrides
    dns_port = 53               # port of the AT+CIPDNS servers
    sntp_port = 123             # port of the SNTP servers
    timeout = 10.0              # seconds for connect, DNS, ping, SNTP
    server_bind = "loopback"    # AT+CIPSERVER listens on: "loopback", "station", "all", an IP
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.options import ModuleOptions
from .core.state import AccessPoint, StationAddresses
from .log import get_logger
from .profiles import PROFILES

log = get_logger("w800at.config")


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


_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "None": type(None)}


def _pick(table: Any, cls: type, where: str) -> dict[str, Any]:
    """Check a TOML table against a dataclass: known keys, right types, required ones."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    fs = {f.name: f for f in fields(cls)}
    unknown = set(table) - set(fs)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key, value in table.items():
        names = [t.strip() for t in str(fs[key].type).split("|")]
        allowed = tuple(_TYPES[t] for t in names if t in _TYPES)
        if allowed and (
            not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)
        ):
            raise ConfigError(f"{where}: {key} = {value!r} is not {fs[key].type}")
    missing = [
        f.name
        for f in fs.values()
        if f.name not in table and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    return dict(table)


def load_config(path: Path | None) -> Config:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    known = {"profile", "lenient_eol", "station", "access_point", "network"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))}")
    addr = host_addresses()
    station = _pick(data.get("station", {}), StationAddresses, "[station]")
    for k, v in station.items():
        setattr(addr, k, v)
    profile = data.get("profile")
    if profile is not None and profile not in PROFILES:
        raise ConfigError(f"profile = {profile!r}: choose from {', '.join(PROFILES)}")
    if not isinstance(data.get("lenient_eol", False), bool):
        raise ConfigError("lenient_eol must be true or false")
    ap_tables = data.get("access_point", [])
    if not isinstance(ap_tables, list):
        raise ConfigError("access points are [[access_point]] tables")
    aps = [AccessPoint(**_pick(t, AccessPoint, "[[access_point]]")) for t in ap_tables]
    for ap in aps:
        if ap.fail is not None and not 1 <= ap.fail <= 4:
            raise ConfigError(f"[[access_point]] {ap.ssid}: fail must be 1-4 (AT+CWJAP codes)")
    net = data.get("network", {})
    if not isinstance(net, dict):
        raise ConfigError("[network] must be a table")
    bad = set(net) - {"dns_port", "sntp_port", "timeout", "server_bind"}
    if bad:
        raise ConfigError(f"[network]: unknown key(s) {', '.join(sorted(bad))}")
    try:
        opts = ModuleOptions(
            access_points=aps,
            addresses=addr,
            dns_port=int(net.get("dns_port", 53)),
            sntp_port=int(net.get("sntp_port", 123)),
            net_timeout=float(net.get("timeout", 10.0)),
            server_bind=str(net.get("server_bind", "loopback")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[network]: {exc}") from exc
    return Config(
        profile=data.get("profile"), lenient_eol=bool(data.get("lenient_eol", False)), options=opts
    )

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
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.options import ModuleOptions
from .core.state import AccessPoint, StationAddresses

log = logging.getLogger("w800at.config")


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
    return StationAddresses(ip=ident.ipv4, gateway=ident.gateway, netmask=ident.netmask,
                            ip6_ll=ident.ipv6_ll, ip6_gl=ident.ipv6_gl, mac=ident.mac)


def _pick(table: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
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
    aps = [AccessPoint(**_pick(t, AccessPoint, "[[access_point]]"))
           for t in data.get("access_point", [])]
    net = data.get("network", {})
    bad = set(net) - {"dns_port", "sntp_port", "timeout"}
    if bad:
        raise ConfigError(f"[network]: unknown key(s) {', '.join(sorted(bad))}")
    opts = ModuleOptions(access_points=aps, addresses=addr,
                         dns_port=int(net.get("dns_port", 53)),
                         sntp_port=int(net.get("sntp_port", 123)),
                         net_timeout=float(net.get("timeout", 10.0)))
    return Config(profile=data.get("profile"), lenient_eol=bool(data.get("lenient_eol", False)),
                  options=opts)

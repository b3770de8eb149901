"""Run-time state of the simulated station (not settings: nothing here is saved)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum


class WifiState(IntEnum):
    """AT+CWSTATE? codes."""

    NOT_STARTED = 0
    CONNECTED_NO_IP = 1
    GOT_IP = 2
    CONNECTING = 3
    DISCONNECTED = 4


def derived_bssid(ssid: str) -> str:
    """A BSSID of its own for every SSID (an AP the config gives none): six bytes of
    the SSID's SHA-256, made a locally administered unicast MAC (first byte ``x2``,
    ``x6``, ``xA`` or ``xE``), so scans and joins by BSSID tell the APs apart."""
    raw = bytearray(hashlib.sha256(ssid.encode("utf-8", "surrogatepass")).digest()[:6])
    raw[0] = (raw[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


@dataclass
class AccessPoint:
    """A simulated AP (from the config file, or made up for an SSID when none is set)."""

    ssid: str
    password: str | None = None  # None: any password joins
    #: "" (the default): derived from the SSID (`derived_bssid`)
    bssid: str = ""
    channel: int = 6
    rssi: int = -45
    ecn: int = 3  # WPA2_PSK
    ipv6: bool = True
    #: a join always fails with this AT+CWJAP code (1-4): fault injection for drivers
    fail: int | None = None

    def __post_init__(self) -> None:
        if not self.bssid:
            self.bssid = derived_bssid(self.ssid)


@dataclass
class StationAddresses:
    """What the station gets from "DHCP": by default the host's own addresses."""

    ip: str = "0.0.0.0"
    gateway: str = "0.0.0.0"
    netmask: str = "0.0.0.0"
    ip6_ll: str | None = None
    ip6_gl: str | None = None
    mac: str = "02:00:00:00:00:00"


@dataclass
class Station:
    state: WifiState = WifiState.NOT_STARTED
    ap: AccessPoint | None = None
    #: the SSID a join in progress is trying (AT+CWSTATE? shows it while connecting)
    target: str = ""
    addr: StationAddresses | None = None
    #: bumped by every join and every drop: a join whose number is stale was cancelled
    attempt: int = 0

    @property
    def has_ip(self) -> bool:
        return self.state == WifiState.GOT_IP


@dataclass
class ServerState:
    """The running AT+CIPSERVER (``engine.server``; None when there is none)."""

    port: int
    kind: str
    ca_enable: int


@dataclass
class ServiceState:
    """The network services' per-module state (``engine.services``)."""

    #: the module clock: Unix time ``clock_unix`` at engine time ``clock_at``
    clock_unix: float = 0.0
    clock_at: float = 0.0
    #: bumped by every AT+CIPSNTPCFG and reboot: older sync results are dropped
    generation: int = 0
    #: the generation whose first successful sync was announced (``+TIME_UPDATED``)
    announced: int = -1

    def unix_now(self, now: float) -> float:
        return self.clock_unix + (now - self.clock_at)

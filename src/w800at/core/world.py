"""World events: what changes around the module while it runs (the test bench).

Access points appear, vanish or change; the next join fails in a given way; the
station's addresses change; the SNTP servers' clock is shifted.  Each is a small record
handed to `Engine.apply_world`, which runs every feature's ``on_world`` handler: the
feature that owns the state reacts exactly as the firmware would (a vanished AP takes
the same path as any other loss of the network: ``WIFI DISCONNECT``, every link
``CLOSED``, auto-reconnect per AT+CWAUTOCONN), so the bytes stay dialect-correct.

`World` is the part of that state the engine keeps (a module reboot does not change
the world around it).  DNS answers are the runtime's business (`ModuleOptions.dns`).
No I/O here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from .state import AccessPoint, StationAddresses


class WorldError(ValueError):
    """A world event that cannot apply now (no such AP, the station is not on one)."""


class JoinOutcome(Enum):
    """How the next join ends (``+CWJAP:<code>``: 1 timeout, 2 wrong password, 3 no AP,
    4 failed; ``no_dhcp``: associated, but no address ever comes)."""

    TIMEOUT = "timeout"
    WRONG_PASSWORD = "wrong_password"
    NO_AP = "no_ap"
    FAIL = "fail"
    NO_DHCP = "no_dhcp"


@dataclass(frozen=True)
class ApAppear:
    """An access point comes up (or comes back); an SSID already there is replaced."""

    ap: AccessPoint


@dataclass(frozen=True)
class ApVanish:
    """An access point goes away; ``None``: the one the station is on (``wifi drop``)."""

    ssid: str | None = None


@dataclass(frozen=True)
class ApChange:
    """An access point changes; None leaves a field as it is.  A new password makes the
    AP drop its clients (they must join again, with the new one)."""

    ssid: str
    rssi: int | None = None
    password: str | None = None
    channel: int | None = None
    ecn: int | None = None


@dataclass(frozen=True)
class NextJoin:
    """The next ``count`` joins (AT+CWJAP, auto-join, auto-reconnect) end this way.
    ``delay``: seconds a timeout (or the wait for DHCP) takes; None: the join's own
    ``<jap_timeout>``, else the dialect's default."""

    outcome: JoinOutcome
    count: int = 1
    delay: float | None = None


@dataclass(frozen=True)
class StationChange:
    """The network hands the station other addresses (a new DHCP lease)."""

    addresses: StationAddresses


@dataclass(frozen=True)
class ClockShift:
    """The SNTP servers' clock moves by ``seconds``; with ``sync_now`` a module whose
    SNTP client is on asks at once instead of at its next interval."""

    seconds: float
    sync_now: bool = True


WorldEvent = ApAppear | ApVanish | ApChange | NextJoin | StationChange | ClockShift


@dataclass
class World:
    """The engine's record of the world (``Engine.world``; it survives reboots)."""

    #: no access point configured: any SSID joins (except those that vanished)
    any_ssid: bool = True
    #: SSIDs that vanished while ``any_ssid`` (they no longer join)
    gone: set[str] = field(default_factory=set)
    #: outcomes queued for the next joins: (outcome, delay)
    joins: deque[tuple[JoinOutcome, float | None]] = field(default_factory=deque)
    #: added to every SNTP answer (seconds)
    sntp_offset: float = 0.0

    def take_join(self) -> tuple[JoinOutcome, float | None] | None:
        """The outcome forced on the join starting now, if any (used up)."""
        return self.joins.popleft() if self.joins else None

"""The test bench's operations, as one table: every door reads it.

Each `Op` is one operation of `w800at.control.Control`: its name (the Python method, the
scenario action), the pydantic model of its arguments, its HTTP route, its ``w800at
ctl`` words.  The HTTP API registers its routes and builds its OpenAPI document from
`OPS`, ``w800at ctl`` parses its verbs with it, scenario files name their actions with
it: nothing is listed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import models as M


class ControlError(Exception):
    """An operation that cannot be done now: ``status`` is the HTTP status it maps to
    (400 bad request, 404 no such thing, 409 not now)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Op:
    """One operation: its name (the Python method, the scenario action), its
    arguments' model, and where it lives in the HTTP API and ``w800at ctl``."""

    name: str
    model: type[BaseModel] | Any
    method: str
    path: str
    words: tuple[str, ...]
    summary: str
    #: ``w800at ctl`` arguments given without ``key=`` (in this order)
    positional: tuple[str, ...] = ()
    #: usable as a scenario action (it changes something)
    action: bool = True


OPS: tuple[Op, ...] = (
    Op(
        "status",
        M.NoArgs,
        "GET",
        "/status",
        ("status",),
        "mode, Wi-Fi, links, faults",
        action=False,
    ),
    Op(
        "wifi_drop",
        M.WifiDrop,
        "POST",
        "/wifi/drop",
        ("wifi", "drop"),
        "the AP vanishes: WIFI DISCONNECT, links CLOSED, rejoin per AT+CWAUTOCONN",
    ),
    Op("aps", M.NoArgs, "GET", "/wifi/aps", ("wifi", "aps"), "the access points", action=False),
    Op(
        "ap_add",
        M.ApAdd,
        "POST",
        "/wifi/aps",
        ("wifi", "ap", "add"),
        "an access point comes up",
        ("ssid",),
    ),
    Op(
        "ap_change",
        M.ApChange,
        "PATCH",
        "/wifi/aps/{ssid}",
        ("wifi", "ap", "set"),
        "an access point changes RSSI, password, channel",
        ("ssid",),
    ),
    Op(
        "ap_remove",
        M.ApRemove,
        "DELETE",
        "/wifi/aps/{ssid}",
        ("wifi", "ap", "remove"),
        "an access point goes away",
        ("ssid",),
    ),
    Op(
        "next_join",
        M.NextJoin,
        "POST",
        "/wifi/next-join",
        ("wifi", "next-join"),
        "the next joins time out, get a wrong password, find no AP, fail, or get no DHCP",
        ("outcome",),
    ),
    Op(
        "station_set",
        M.StationSet,
        "PUT",
        "/station",
        ("station", "set"),
        "the network hands the station new addresses",
    ),
    Op("dns", M.NoArgs, "GET", "/dns", ("dns", "list"), "the DNS overrides", action=False),
    Op(
        "dns_set",
        M.DnsSet,
        "PUT",
        "/dns/{name}",
        ("dns", "set"),
        "DNS answers for a name: addresses, NXDOMAIN, or no answer",
        ("name",),
    ),
    Op(
        "dns_clear",
        M.DnsClear,
        "DELETE",
        "/dns",
        ("dns", "clear"),
        "forget a DNS override (or all)",
        ("name",),
    ),
    Op(
        "sntp_shift",
        M.SntpShift,
        "POST",
        "/sntp/shift",
        ("sntp", "shift"),
        "the SNTP servers' clock moves",
        ("seconds",),
    ),
    Op(
        "link_fault",
        M.LinkFaultRequest,
        "POST",
        "/links/faults",
        ("link", "fault"),
        "a fault on a link (Toxiproxy's toxics, refuse, tls_fail)",
        ("target", "type"),
    ),
    Op("faults", M.NoArgs, "GET", "/faults", ("faults",), "every fault installed", action=False),
    Op(
        "fault_remove",
        M.FaultRemove,
        "DELETE",
        "/faults/{id}",
        ("fault", "remove"),
        "remove a fault",
        ("id",),
    ),
    Op("faults_clear", M.NoArgs, "DELETE", "/faults", ("faults", "clear"), "remove every fault"),
    Op(
        "uart_fault",
        M.UartFaultRequest,
        "POST",
        "/uart/faults",
        ("uart", "fault"),
        "a host-port fault: corrupt, drop, duplicate, delay, hang, dead, reset",
        ("type",),
    ),
    Op(
        "uart_busy",
        M.UartBusy,
        "POST",
        "/uart/busy",
        ("uart", "busy"),
        "answer busy p... to the next command lines",
        ("count",),
    ),
    Op(
        "uart_inject",
        M.UartInject,
        "POST",
        "/uart/inject",
        ("uart", "inject"),
        "bytes on the line now: data, a URC, garbage",
    ),
    Op(
        "uart_clear",
        M.NoArgs,
        "DELETE",
        "/uart/faults",
        ("uart", "clear"),
        "remove every host-port fault",
    ),
    Op(
        "power_reset",
        M.NoArgs,
        "POST",
        "/power/reset",
        ("power", "reset"),
        "reset (EN pin): links gone, ready again",
    ),
    Op(
        "power_cycle",
        M.PowerCycle,
        "POST",
        "/power/cycle",
        ("power", "cycle"),
        "power off, then on: links gone, ready again",
        ("off",),
    ),
    Op(
        "seed",
        M.Seed,
        "POST",
        "/seed",
        ("seed",),
        "seed the random generator (toxicity, jitter, UART rates)",
        ("seed",),
    ),
    Op(
        "scenario",
        M.NoArgs,
        "GET",
        "/scenario",
        ("scenario", "show"),
        "the scenario's rules and what fired",
        action=False,
    ),
    Op(
        "scenario_clear",
        M.NoArgs,
        "DELETE",
        "/scenario",
        ("scenario", "clear"),
        "drop the scenario",
        action=False,
    ),
)
OPS_BY_NAME = {op.name: op for op in OPS}

#: ``w800at ctl uart corrupt rate=0.01`` is ``uart fault type=corrupt rate=0.01``
UART_TYPES = ("corrupt", "drop", "duplicate", "delay", "hang", "dead", "reset")


def validate(op: Op, args: dict[str, Any]) -> Any:
    """The operation's arguments as its model (pydantic ValidationError if bad)."""
    return op.model.model_validate(args)

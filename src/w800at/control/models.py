"""The test bench's requests, as schemas (pydantic): every door validates with these.

The Python methods of `w800at.control.Control`, the HTTP API's bodies, the ``w800at
ctl`` arguments and the actions of scenario files are all checked by the same models,
so a bad value gets the same clear message wherever it comes from.  Unknown keys are
errors; numbers are range-checked; times are seconds unless a Toxiproxy field says
otherwise (``latency`` and ``jitter`` ms, ``delay`` µs, ``timeout`` ms, ``rate`` KB/s).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "ApAdd",
    "ApChange",
    "ApRemove",
    "DnsClear",
    "DnsSet",
    "FaultRemove",
    "LinkFault",
    "LinkFaultRequest",
    "NextJoin",
    "NoArgs",
    "PowerCycle",
    "Seed",
    "SntpShift",
    "StationSet",
    "UartBusy",
    "UartFault",
    "UartFaultRequest",
    "UartInject",
    "ValidationError",
    "WaitFor",
    "WifiDrop",
    "describe_error",
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ssid(v: str) -> str:
    n = len(v.encode("utf-8"))
    if not 1 <= n <= 32:
        raise ValueError(f"must be 1 to 32 bytes of UTF-8, not {n}")
    return v


def _mac(v: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", v):
        raise ValueError("must be a MAC address such as 02:00:00:00:00:01")
    if int(v[:2], 16) & 1:
        raise ValueError("must be a unicast MAC address (first byte even)")
    return v.lower()


def _ipv4(v: str) -> str:
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise ValueError("must be an IPv4 address such as 192.168.1.50") from None


def _netmask(v: str) -> str:
    ip = int(ipaddress.IPv4Address(_ipv4(v)))
    if ip and (~ip & 0xFFFFFFFF) & ((~ip & 0xFFFFFFFF) + 1):
        raise ValueError("must be a netmask: ones then zeros, such as 255.255.255.0")
    return str(ipaddress.IPv4Address(ip))


def _ipv6(v: str) -> str:
    try:
        return str(ipaddress.IPv6Address(v))
    except ValueError:
        raise ValueError("must be an IPv6 address without a %zone") from None


def _ip(v: str) -> str:
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError(f"must be an IPv4 or IPv6 address, not {v!r}") from None


_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _dns_name(v: str) -> str:
    name = v.rstrip(".").lower()
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError("must be a domain name such as foo.test")
    return name


def _regex(v: str) -> str:
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    return v


def _hostport(v: str) -> str:
    host, sep, port = v.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, such as 127.0.0.1:8080 (port 1 to 65535)")
    return f"{host}:{int(port)}"


Ssid = Annotated[str, AfterValidator(_ssid)]
Mac = Annotated[str, AfterValidator(_mac)]
IPv4 = Annotated[str, AfterValidator(_ipv4)]
Netmask = Annotated[str, AfterValidator(_netmask)]
IPv6 = Annotated[str, AfterValidator(_ipv6)]
IP = Annotated[str, AfterValidator(_ip)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Regex = Annotated[str, AfterValidator(_regex)]
HostPort = Annotated[str, AfterValidator(_hostport)]
LinkId = Annotated[int, Field(ge=0, le=4, description="a link ID, 0 to 4")]
Seconds = Annotated[float, Field(gt=0, le=86400)]


class NoArgs(Model):
    """No parameters."""


# --- the world around the module -----------------------------------------------------


class WifiDrop(Model):
    """The access point vanishes (default: the one the station is on): the station
    says ``WIFI DISCONNECT``, its links ``CLOSED``, and rejoins per AT+CWAUTOCONN."""

    ssid: Ssid | None = Field(None, description="the AP to take away (default: the station's)")
    duration: Seconds | None = Field(None, description="seconds until the AP comes back")


class ApAdd(Model):
    """An access point comes up (an SSID already there is replaced)."""

    ssid: Ssid
    password: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="none: any password joins"
    )
    bssid: Mac | None = Field(None, description="none: its own, derived from the SSID")
    channel: Annotated[int, Field(ge=1, le=14)] = 6
    rssi: Annotated[int, Field(ge=-100, le=0)] = -45
    ecn: Annotated[int, Field(ge=0, le=8)] = 3
    ipv6: bool = True


class ApRemove(Model):
    """An access point goes away for good (``ap add`` brings it back)."""

    ssid: Ssid


class ApChange(Model):
    """An access point changes (a new password drops its clients)."""

    ssid: Ssid
    rssi: Annotated[int, Field(ge=-100, le=0)] | None = None
    password: Annotated[str, Field(max_length=64)] | None = None
    channel: Annotated[int, Field(ge=1, le=14)] | None = None
    ecn: Annotated[int, Field(ge=0, le=8)] | None = None

    @model_validator(mode="after")
    def _something(self) -> ApChange:
        if all(v is None for v in (self.rssi, self.password, self.channel, self.ecn)):
            raise ValueError("give at least one of rssi, password, channel, ecn")
        return self


class NextJoin(Model):
    """The next joins (AT+CWJAP, auto-join, auto-reconnect) end this way."""

    outcome: Literal["timeout", "wrong_password", "no_ap", "fail", "no_dhcp"]
    count: Annotated[int, Field(ge=1, le=1000)] = 1
    delay: Annotated[float, Field(ge=0, le=3600)] | None = Field(
        None,
        description="seconds a timeout (or the wait for DHCP) takes; default the "
        "join's <jap_timeout>, 15 s",
    )


class StationSet(Model):
    """The network hands the station new addresses (a new DHCP lease)."""

    ip: IPv4 | None = None
    gateway: IPv4 | None = None
    netmask: Netmask | None = None
    ip6_ll: IPv6 | None = None
    ip6_gl: IPv6 | None = None

    @model_validator(mode="after")
    def _something(self) -> StationSet:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("give at least one of ip, gateway, netmask, ip6_ll, ip6_gl")
        if self.ip6_ll is not None and not ipaddress.IPv6Address(self.ip6_ll).is_link_local:
            raise ValueError("ip6_ll must be a link-local address (fe80::/10)")
        return self


class DnsSet(Model):
    """What the world's DNS answers for ``name``: addresses, NXDOMAIN, or nothing."""

    name: DnsName
    address: IP | None = Field(None, description="one address (or give addresses)")
    addresses: Annotated[list[IP], Field(min_length=1, max_length=16)] | None = None
    nxdomain: bool = False
    no_answer: bool = Field(False, description="the query is never answered (it times out)")

    @model_validator(mode="after")
    def _one(self) -> DnsSet:
        given = [
            self.address is not None or self.addresses is not None,
            self.nxdomain,
            self.no_answer,
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one of address/addresses, nxdomain, no_answer")
        if self.address is not None and self.addresses is not None:
            raise ValueError("give address or addresses, not both")
        return self

    @property
    def all_addresses(self) -> tuple[str, ...]:
        if self.address is not None:
            return (self.address,)
        return tuple(self.addresses or ())


class DnsClear(Model):
    """Forget the override for ``name`` (none: all of them)."""

    name: DnsName | None = None


class SntpShift(Model):
    """The SNTP servers' clock moves (every answer from now on is that far off)."""

    seconds: Annotated[float, Field(ge=-1e10, le=1e10)]
    sync_now: bool = Field(True, description="a module whose SNTP client is on asks now")


# --- link faults -----------------------------------------------------------------------


class _LinkFaultBase(Model):
    link: LinkId | None = Field(None, description="target: the link with this ID")
    remote: HostPort | None = Field(None, description="target: every link to HOST:PORT")
    next: bool = Field(False, description="target: the next link opened")
    stream: Literal["upstream", "downstream"] = Field(
        "downstream", description="upstream: module to peer; downstream: peer to module"
    )
    toxicity: Annotated[float, Field(ge=0, le=1)] = Field(
        1.0, description="the chance it applies to a link it meets"
    )
    duration: Seconds | None = Field(None, description="seconds until it removes itself")
    count: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None, description="remote target: how many links (connects) it applies to"
    )

    @model_validator(mode="after")
    def _target(self) -> _LinkFaultBase:
        n = (self.link is not None) + (self.remote is not None) + self.next
        if n != 1:
            raise ValueError("give exactly one target: link=ID, remote=HOST:PORT or next=true")
        if self.count is not None and self.remote is None:
            raise ValueError("count is for remote targets (a link or the next link is one)")
        return self


Ms = Annotated[float, Field(ge=0, le=3_600_000)]


class LatencyFault(_LinkFaultBase):
    type: Literal["latency"]
    latency: Ms = Field(description="ms")
    jitter: Ms = Field(0.0, description="ms, either way")


class BandwidthFault(_LinkFaultBase):
    type: Literal["bandwidth"]
    rate: Annotated[float, Field(gt=0, le=10_000_000)] = Field(description="KB/s (1000 bytes)")


class SlicerFault(_LinkFaultBase):
    type: Literal["slicer"]
    average_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(description="bytes")
    size_variation: Annotated[int, Field(ge=0, le=1_000_000)] = Field(0, description="bytes")
    delay: Annotated[float, Field(ge=0, le=60_000_000)] = Field(0.0, description="µs")

    @model_validator(mode="after")
    def _variation(self) -> SlicerFault:
        if self.size_variation >= self.average_size:
            raise ValueError("size_variation must be smaller than average_size")
        return self


class TimeoutFault(_LinkFaultBase):
    type: Literal["timeout"]
    timeout: Ms = Field(0.0, description="ms until the link closes; 0: it stays open")


class ResetPeerFault(_LinkFaultBase):
    type: Literal["reset_peer"]
    timeout: Ms = Field(0.0, description="ms until the RST (0: now)")
    after: Annotated[int, Field(ge=1, le=2**40)] | None = Field(
        None, description="RST once the stream has carried this many bytes"
    )

    @model_validator(mode="after")
    def _when(self) -> ResetPeerFault:
        if self.after is not None and self.timeout:
            raise ValueError("give after (bytes) or timeout (ms), not both")
        return self


class CloseFault(_LinkFaultBase):
    type: Literal["close"]
    timeout: Ms = Field(0.0, description="ms until the FIN (0: now)")


class LimitDataFault(_LinkFaultBase):
    type: Literal["limit_data"]
    bytes: Annotated[int, Field(ge=0, le=2**40)] = Field(description="bytes before the FIN")


class RefuseFault(_LinkFaultBase):
    type: Literal["refuse"]


class TlsFailFault(_LinkFaultBase):
    type: Literal["tls_fail"]


LinkFault = Annotated[
    LatencyFault
    | BandwidthFault
    | SlicerFault
    | TimeoutFault
    | ResetPeerFault
    | CloseFault
    | LimitDataFault
    | RefuseFault
    | TlsFailFault,
    Field(discriminator="type"),
]


class LinkFaultRequest(RootModel[LinkFault]):
    """A link fault (Toxiproxy's toxics, plus refuse and tls_fail)."""


LINK_FAULT = TypeAdapter(LinkFault)


class FaultRemove(Model):
    """Remove one fault by its ID (link or UART)."""

    id: Annotated[int, Field(ge=1)]


# --- the host port (UART) --------------------------------------------------------------


class _UartFaultBase(Model):
    duration: Seconds | None = Field(None, description="seconds until it removes itself")


class UartRateFault(_UartFaultBase):
    type: Literal["corrupt", "drop", "duplicate"]
    rate: Annotated[float, Field(gt=0, le=1)] = Field(description="chance per byte")
    stream: Literal["upstream", "downstream", "both"] = Field(
        "downstream", description="upstream: host to module; downstream: module to host"
    )


class UartDelayFault(_UartFaultBase):
    type: Literal["delay"]
    seconds: Annotated[float, Field(gt=0, le=600)]


class UartHangFault(Model):
    type: Literal["hang"]
    seconds: Annotated[float, Field(gt=0, le=3600)]


class UartDeadFault(Model):
    type: Literal["dead"]


class UartResetFault(Model):
    type: Literal["reset"]


UartFault = Annotated[
    UartRateFault | UartDelayFault | UartHangFault | UartDeadFault | UartResetFault,
    Field(discriminator="type"),
]


class UartFaultRequest(RootModel[UartFault]):
    """A host-port fault."""


UART_FAULT = TypeAdapter(UartFault)


class UartBusy(Model):
    """Answer ``busy p...`` to the next ``count`` command lines the module would run."""

    count: Annotated[int, Field(ge=1, le=100_000)] = 1


class UartInject(Model):
    """Bytes on the line at once: ``data`` (escaped as in traces: ``\\r``, ``\\n``,
    ``\\\\``, ``\\xNN``), a ``urc`` line (CR LF added), or ``garbage`` random bytes."""

    data: Annotated[str, Field(min_length=1, max_length=262144)] | None = None
    urc: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    garbage: Annotated[int, Field(ge=1, le=65536)] | None = None
    stream: Literal["downstream", "upstream"] = Field(
        "downstream", description="downstream: to the host; upstream: to the module"
    )

    @model_validator(mode="after")
    def _one(self) -> UartInject:
        if (self.data is not None) + (self.urc is not None) + (self.garbage is not None) != 1:
            raise ValueError("give exactly one of data, urc, garbage")
        if self.data is not None:
            _unescape(self.data)
        return self

    def payload(self, random_bytes: Any) -> bytes:
        if self.data is not None:
            return _unescape(self.data)
        if self.urc is not None:
            return self.urc.encode("latin-1", "replace") + b"\r\n"
        assert self.garbage is not None
        data: bytes = random_bytes(self.garbage)
        return data


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            if ord(c) > 0xFF:
                raise ValueError(f"data: character {c!r} is not a byte; write \\xNN")
            out.append(ord(c))
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif nxt in ("\\", "r", "n", "t", "0"):
            out.append({"\\": 0x5C, "r": 0x0D, "n": 0x0A, "t": 0x09, "0": 0x00}[nxt])
            i += 2
        else:
            raise ValueError(f"data: bad escape at {i}: use \\r \\n \\t \\0 \\\\ or \\xNN")
    return bytes(out)


# --- power, events, seed ----------------------------------------------------------------


class PowerCycle(Model):
    """Power off, then on after ``off`` seconds: links gone, ``ready`` again."""

    off: Annotated[float, Field(ge=0, le=60)] = 0.1


class WaitFor(Model):
    """Wait for the next event of ``kind`` whose text matches ``match`` (a regex)."""

    kind: Annotated[str, Field(min_length=1, max_length=32)]
    match: Regex | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 5.0
    since: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="count events after this sequence number (default: after the "
        "last match or control operation)",
    )


class Seed(Model):
    """Seed the module's random generator (toxicity, jitter, UART rates, garbage)."""

    seed: int


#: the tags of the discriminated unions (pydantic puts them in an error's location)
_TAGS = frozenset(
    {"latency", "bandwidth", "slicer", "timeout", "reset_peer", "close", "limit_data"}
    | {"refuse", "tls_fail", "corrupt", "drop", "duplicate", "delay", "hang", "dead", "reset"}
    | {"function-after"}
)


def describe_error(exc: ValidationError) -> str:
    """One line per problem: ``where: what (got ...)``."""
    parts = []
    for err in exc.errors(include_url=False):
        path = list(err["loc"])
        if len(path) > 1 and path[0] in _TAGS:
            path = path[1:]
        loc = ".".join(str(p) for p in path if p != "function-after")
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}")
    return "; ".join(parts)

"""What the user's configuration gives the module (not AT settings: these never change
from the AT port).  Built by `w800at.config` from the TOML file and the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .state import AccessPoint, StationAddresses


@dataclass(frozen=True)
class DnsAnswer:
    """What the world's DNS says for one name (the test bench's overrides): these
    addresses, or NXDOMAIN, or nothing at all (the query times out)."""

    addresses: tuple[str, ...] = ()
    nxdomain: bool = False
    no_answer: bool = False


_NO_DNS: Mapping[str, DnsAnswer] = MappingProxyType({})


@dataclass(frozen=True)
class SoftApStation:
    """A station connected to the module's SoftAP (AT+CWLIF lists it)."""

    ip: str
    mac: str


@dataclass
class SoftApOptions:
    """The SoftAP (AT+CWMODE=2/3) as the configuration gives it; AT+CWSAP, AT+CIPAP and
    AT+CIPAPMAC change it from the AT port (saved settings win over these)."""

    #: AT+CIPAP?: ESP-AT's and WinnerMicro's default SoftAP network
    ip: str = "192.168.4.1"
    gateway: str = "192.168.4.1"
    netmask: str = "255.255.255.0"
    #: None: the station's MAC + 1 (ESP-IDF's universal MAC scheme: SoftAP = base + 1)
    mac: str | None = None
    #: AT+CWSAP?: None: the dialect's prefix and the last three bytes of the AP's MAC
    #: (ESP-AT: ``ESP_XXXXXX``; "The default SSID varies from device to device as it
    #: consists of the MAC address of the device")
    ssid: str | None = None
    password: str = ""
    channel: int = 1
    ecn: int = 0
    max_conn: int = 4
    ssid_hidden: int = 0
    #: the address of this host that stands for the SoftAP's IP: the module's server
    #: (AT+CIPSERVER) also listens there while the SoftAP is on
    host: str = "127.0.0.1"
    #: stations connected to the SoftAP (AT+CWLIF); none by default
    stations: list[SoftApStation] = field(default_factory=list)


@dataclass
class ModuleOptions:
    #: simulated access points; empty = any SSID joins with any password
    access_points: list[AccessPoint] = field(default_factory=list)
    #: the station's addresses once joined (by default the host's own)
    addresses: StationAddresses = field(default_factory=StationAddresses)
    #: lab overrides: the port DNS queries go to (AT+CIPDNS servers), and SNTP's port
    dns_port: int = 53
    sntp_port: int = 123
    #: seconds to wait for network operations (connect, DNS, ping, SNTP)
    net_timeout: float = 10.0
    #: where the module's own server (AT+CIPSERVER) listens: "loopback" (default: only
    #: this host can reach it), "station" (the station's address), "all" (every
    #: interface), or an IP literal.  See w800at.runtime.server.
    server_bind: str = "loopback"
    #: the host's own DNS servers (AT+CIPDNS? shows them while <enable> is 0); None:
    #: unknown, the spec's defaults are shown
    system_dns: tuple[str, ...] | None = None
    #: what a UDP link binds when AT+CIPSTART gives no <local IP>: "auto" (default: the
    #: loopback address for a loopback remote, else this host's own source address
    #: toward the remote; the wildcard only for broadcast and multicast remotes), "all"
    #: (the wildcard, every interface), or an IP literal.  See
    #: w800at.runtime.net_sockopts.udp_bind_address.
    udp_bind: str = "auto"
    #: DNS overrides, by lower-case name without a trailing dot: every name the module
    #: resolves (AT+CIPDOMAIN, AT+CIPSTART, AT+PING, SNTP, UDP sends) is looked up here
    #: first, whatever AT+CIPDNS says (see w800at.runtime.services.resolve_name)
    dns: Mapping[str, DnsAnswer] = field(default_factory=lambda: _NO_DNS)
    #: the SoftAP (AT+CWMODE=2/3): its addresses, AT+CWSAP defaults, the stations
    #: AT+CWLIF lists, and the host address that stands for its IP
    softap: SoftApOptions = field(default_factory=SoftApOptions)

"""The host's network identity, used as the simulated station's IP / MAC (AT+CIPSTA?, AT+CIFSR).

The emulator's sockets really leave through the host, so the station reports the host's own
address on the interface carrying the default route.  Everything is read from /proc, /sys and
``ioctl`` - no packet is sent.  The parsing is split into pure functions over file text so it
can be tested with sample data.

Interface choice: the default route's interface (lowest metric) from /proc/net/route; else the
first interface that is up, not loopback and has an IPv4 address; else loopback 127.0.0.1 with
a made-up locally administered MAC.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FALLBACK_MAC",
    "HostIdentity",
    "host_identity",
    "parse_if_inet6",
    "parse_mac",
    "parse_proc_net_route",
]

#: Locally administered (bit 1 of the first octet set), unicast; "W800" in octets 2-5.
FALLBACK_MAC = "02:57:38:30:30:01"

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_RTF_UP = 0x1
_RTF_GATEWAY = 0x2
# /proc/net/if_inet6 scope values (IPV6_ADDR_* >> 16) and flags (IFA_F_*).
_SCOPE_GLOBAL = 0x00
_SCOPE_LINK = 0x20
_IFA_F_DADFAILED = 0x08
_IFA_F_TENTATIVE = 0x40


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """Addresses the simulated station reports; IPv6 fields are ``None`` when absent."""

    ipv4: str
    netmask: str
    gateway: str
    mac: str
    ipv6_ll: str | None
    ipv6_gl: str | None
    ifname: str


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """One default route from /proc/net/route."""

    ifname: str
    gateway: str
    metric: int


def _hex_le_ipv4(field: str) -> str:
    """/proc/net/route prints the network-order address read as a native integer, in hex.

    Packing it back in native order recovers the bytes (``010200C0`` is 192.0.2.1 on x86).
    """
    return socket.inet_ntoa(struct.pack("=I", int(field, 16)))


def parse_proc_net_route(text: str) -> list[DefaultRoute]:
    """Default routes (destination and mask 0, route up) sorted by metric, lowest first."""
    routes: list[DefaultRoute] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, gateway, flags = int(fields[1], 16), fields[2], int(fields[3], 16)
            metric, mask = int(fields[6]), int(fields[7], 16)
        except ValueError:
            continue
        if dest == 0 and mask == 0 and flags & _RTF_UP:
            gw = _hex_le_ipv4(gateway) if flags & _RTF_GATEWAY else "0.0.0.0"
            routes.append(DefaultRoute(ifname=fields[0], gateway=gw, metric=metric))
    return sorted(routes, key=lambda route: route.metric)


def parse_if_inet6(text: str, ifname: str) -> tuple[str | None, str | None]:
    """``(link-local, global)`` IPv6 addresses of *ifname* from /proc/net/if_inet6 text.

    Lines are ``address ifindex prefixlen scope flags name`` in hex; addresses still in
    duplicate address detection (tentative) or that failed it are skipped, as the kernel
    would not use them as a source either.
    """
    link_local: str | None = None
    global_: str | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or fields[5] != ifname or len(fields[0]) != 32:
            continue
        try:
            address = str(ipaddress.IPv6Address(bytes.fromhex(fields[0])))
            scope, flags = int(fields[3], 16), int(fields[4], 16)
        except ValueError:
            continue
        if flags & (_IFA_F_TENTATIVE | _IFA_F_DADFAILED):
            continue
        if scope == _SCOPE_LINK and link_local is None:
            link_local = address
        elif scope == _SCOPE_GLOBAL and global_ is None:
            global_ = address
    return link_local, global_


def parse_mac(text: str) -> str | None:
    """Normalise a /sys/class/net/<if>/address value; ``None`` if absent or all zero."""
    mac = text.strip().lower()
    octets = mac.split(":")
    if len(octets) != 6 or not all(len(o) == 2 for o in octets):
        return None
    try:
        if int("".join(octets), 16) == 0:
            return None
    except ValueError:
        return None
    return mac


def _read(path: str) -> str:
    """File text, or empty string when it does not exist (e.g. no IPv6 in the kernel)."""
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def _ioctl_ipv4(sock: socket.socket, request: int, ifname: str) -> str | None:
    """IPv4 address from an ifreq ioctl (SIOCGIFADDR / SIOCGIFNETMASK), ``None`` if unset."""
    ifreq = struct.pack("16s16x", ifname.encode()[:15])
    try:
        result = fcntl.ioctl(sock.fileno(), request, ifreq)
    except OSError:
        return None
    return socket.inet_ntoa(result[20:24])


def _if_flags(sock: socket.socket, ifname: str) -> int:
    """SIOCGIFFLAGS for *ifname*, 0 if the interface is gone."""
    ifreq = struct.pack("16s16x", ifname.encode()[:15])
    try:
        result = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, ifreq)
    except OSError:
        return 0
    return int(struct.unpack_from("H", result, 16)[0])


def _identity_for(sock: socket.socket, ifname: str, gateway: str) -> HostIdentity | None:
    """The identity of *ifname*, or ``None`` if it has no IPv4 address."""
    ipv4 = _ioctl_ipv4(sock, _SIOCGIFADDR, ifname)
    if ipv4 is None:
        return None
    netmask = _ioctl_ipv4(sock, _SIOCGIFNETMASK, ifname) or "255.255.255.255"
    mac = parse_mac(_read(f"/sys/class/net/{ifname}/address")) or FALLBACK_MAC
    ll, gl = parse_if_inet6(_read("/proc/net/if_inet6"), ifname)
    return HostIdentity(ipv4, netmask, gateway, mac, ll, gl, ifname)


def host_identity() -> HostIdentity:
    """Read the host identity now (cheap; callers may cache it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for route in parse_proc_net_route(_read("/proc/net/route")):
            found = _identity_for(sock, route.ifname, route.gateway)
            if found is not None:
                return found
        for _index, ifname in socket.if_nameindex():
            flags = _if_flags(sock, ifname)
            if flags & _IFF_UP and not flags & _IFF_LOOPBACK:
                found = _identity_for(sock, ifname, "0.0.0.0")
                if found is not None:
                    return found
    return HostIdentity(
        ipv4="127.0.0.1",
        netmask="255.0.0.0",
        gateway="127.0.0.1",
        mac=FALLBACK_MAC,
        ipv6_ll=None,
        ipv6_gl=None,
        ifname="lo",
    )

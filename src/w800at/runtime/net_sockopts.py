"""Socket options for links: keepalive, linger, nodelay, multicast and broadcast.

Kept apart from the protocols so the option mapping (AT+CIPTCPOPT / CIPSTART's
keep_alive -> setsockopt) is in one small, testable place.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from typing import Any

from ..core.net_actions import SockOpts

#: TCP keepalive probe interval and count the W800 firmware uses (spec: AT+CIPSTART)
KEEPINTVL = 1
KEEPCNT = 3


def apply_tcp_opts(sock: Any, opts: SockOpts) -> None:
    """Apply ``opts`` to a TCP socket (a socket or asyncio's TransportSocket)."""
    if opts.keepalive > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, opts.keepalive)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPINTVL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPCNT)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
    if opts.linger >= 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, opts.linger))
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 0, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if opts.nodelay else 0)
    # SO_SNDTIMEO is not set on the socket: asyncio sockets never block.  The link
    # enforces it per Send instead (see net_links.StreamLink.send).


def is_ip_literal(host: str) -> bool:
    """True for IPv4/IPv6 literals, including ``[::1]`` and scoped ``fe80::1%eth0``."""
    bare = host.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    bare = bare.split("%", 1)[0]
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return False
    return True


def is_multicast(ip: str) -> bool:
    return ipaddress.ip_address(ip.split("%", 1)[0]).is_multicast


def _ifindex_for(local_ip: str | None) -> int:
    """The interface index owning ``local_ip`` (IPv6 multicast needs an index, not an IP)."""
    if not local_ip or local_ip == "::":
        return 0
    if "%" in local_ip:
        return socket.if_nametoindex(local_ip.split("%", 1)[1])
    if ipaddress.ip_address(local_ip).is_loopback:
        with contextlib.suppress(OSError):
            return socket.if_nametoindex("lo")
    want = ipaddress.ip_address(local_ip).packed.hex()
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:  # Linux
        for row in table:
            fields = row.split()
            if len(fields) >= 6 and fields[0] == want:
                return int(fields[1], 16)
    return 0


def udp_socket(remote_ip: str, local_ip: str | None, local_port: int) -> socket.socket:
    """A bound, non-blocking UDP socket for a link to ``remote_ip``.

    Multicast remotes: bind the wildcard address on ``local_port`` (shared with
    SO_REUSEADDR, as several links may join one group), join the group on the
    interface of ``local_ip`` (IPv4: by address; IPv6: by interface index) and loop
    our own datagrams back.  IPv4 links may always send to broadcast addresses
    (lwIP does not require an opt-in).
    """
    v6 = ipaddress.ip_address(remote_ip.split("%", 1)[0]).version == 6
    family = socket.AF_INET6 if v6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if is_multicast(remote_ip):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _join(sock, v6, remote_ip, local_ip, local_port)
        else:
            if not v6:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind((local_ip or ("::" if v6 else "0.0.0.0"), local_port))
    except BaseException:
        sock.close()
        raise
    return sock


def _join(sock: socket.socket, v6: bool, group: str, local_ip: str | None, port: int) -> None:
    if v6:
        index = _ifindex_for(local_ip)
        sock.bind(("::", port))
        mreq = socket.inet_pton(socket.AF_INET6, group.split("%", 1)[0]) + struct.pack("@I", index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        return
    iface = local_ip if local_ip and local_ip != "0.0.0.0" else "0.0.0.0"
    sock.bind(("0.0.0.0", port))
    mreq = socket.inet_aton(group) + socket.inet_aton(iface)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)

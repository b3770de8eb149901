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


_LOOPBACK = {False: "127.0.0.1", True: "::1"}
_ANY = {False: "0.0.0.0", True: "::"}


def _sockaddr(host: str, port: int, v6: bool) -> tuple[Any, ...]:
    """A socket address for ``host`` (an IP literal; IPv6 may carry a ``%zone``)."""
    family = socket.AF_INET6 if v6 else socket.AF_INET
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
    return tuple(infos[0][4])


class _Broadcast(Exception):
    pass


def source_address(remote_ip: str) -> str | None:
    """This host's own address toward ``remote_ip``, as the routing table picks it.

    Found by connecting a UDP socket and reading its name: a UDP connect sends nothing.
    None when there is no route.  Raises `_Broadcast` for a broadcast address (the
    kernel refuses a connect to one from a socket without SO_BROADCAST)."""
    v6 = ipaddress.ip_address(remote_ip.split("%", 1)[0]).version == 6
    remote = _sockaddr(remote_ip, 9, v6)
    with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(remote)
        except PermissionError:
            raise _Broadcast(remote_ip) from None
        except OSError:
            return None
        host = str(probe.getsockname()[0])
    if v6 and ipaddress.IPv6Address(host).is_link_local and len(remote) == 4 and remote[3]:
        host = f"{host}%{remote[3]}"  # the zone is the remote's: same interface
    return host


def udp_bind_address(
    remote_ip: str, local_ip: str | None, local_port: int, choice: str = "auto"
) -> tuple[Any, ...]:
    """The socket address a UDP link to a unicast or broadcast ``remote_ip`` binds.

    Binding the wildcard would open ``local_port`` on every interface of the user's
    machine, so (as the module's server does) it is not the default:

    - ``local_ip`` (AT+CIPSTART's ``<local IP>``) when given: exactly that;
    - ``choice`` (config ``[network] udp_bind``) ``"all"``: the wildcard; an IP literal
      of the link's family: that address (a link of the other family goes on as
      ``"auto"``);
    - ``"auto"``: the wildcard for a broadcast remote (broadcasts arrive only there);
      else this host's own source address toward the remote (`source_address`): the
      loopback address for a loopback remote, the outgoing interface's address for
      others; loopback when there is no route at all (sending fails then, as it would
      anyway).
    """
    v6 = ipaddress.ip_address(remote_ip.split("%", 1)[0]).version == 6
    if local_ip:
        host = local_ip
    elif choice == "all":
        host = _ANY[v6]
    elif choice != "auto" and ipaddress.ip_address(choice.split("%", 1)[0]).version == (
        6 if v6 else 4
    ):
        host = choice
    elif remote_ip == "255.255.255.255":
        host = _ANY[v6]
    else:
        try:  # for a loopback remote this is the loopback address
            host = source_address(remote_ip) or _LOOPBACK[v6]
        except _Broadcast:  # a subnet's broadcast address (127.255.255.255 too)
            host = _ANY[v6]
    return _sockaddr(host, local_port, v6)


def udp_socket(
    remote_ip: str, local_ip: str | None, local_port: int, bind: str = "auto"
) -> socket.socket:
    """A bound, non-blocking UDP socket for a link to ``remote_ip``.

    Unicast and broadcast remotes: bound per `udp_bind_address` (``bind`` is the
    config's ``[network] udp_bind``).  Multicast remotes: bind the wildcard address on
    ``local_port`` (shared with SO_REUSEADDR, as several links may join one group),
    join the group on the interface of ``local_ip`` (IPv4: by address; IPv6: by
    interface index) and loop our own datagrams back.  IPv4 links may always send to
    broadcast addresses (lwIP does not require an opt-in).
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
            sock.bind(udp_bind_address(remote_ip, local_ip, local_port, bind))
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

"""Real ICMP echo ("ping") for AT+PING, asyncio-based.

The emulated module answers ``AT+PING`` with a genuine round-trip time, so this module sends a
real ICMP / ICMPv6 echo request from the host and waits for the matching echo reply.

Socket choice, in order:

1. ``SOCK_RAW`` (needs root or ``CAP_NET_RAW``).  A raw socket sees *every* ICMP packet the
   host receives - other processes' traffic, and on loopback even our own echo *request* -
   so replies are matched strictly by type, identifier, sequence number and a random payload.
2. ``SOCK_DGRAM`` + ``IPPROTO_ICMP[V6]`` - Linux "ping sockets", allowed for unprivileged users
   whose group is inside ``net.ipv4.ping_group_range``.  The kernel rewrites the identifier to
   the socket's local "port" and only delivers replies for this socket; we still match the
   sequence number and payload.
3. Otherwise :class:`PingUnavailable` is raised with an explanation.

Only IP literals are accepted; name resolution is the resolver's job (``AT+PING`` resolves the
name first, with the station's DNS settings).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import random
import socket
import struct
import time

__all__ = ["PingError", "PingTimeout", "PingUnavailable", "ping"]

_ICMP_ECHO_REQUEST = 8
_ICMP_ECHO_REPLY = 0
_ICMP6_ECHO_REQUEST = 128
_ICMP6_ECHO_REPLY = 129
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
_RECV_SIZE = 65535

# Process-wide sequence counter: concurrent pings in one process never share (id, seq).
_sequence = itertools.count(random.randrange(0x10000))


class PingError(Exception):
    """Base class for ping failures."""


class PingTimeout(PingError):
    """No matching echo reply arrived within the timeout."""


class PingUnavailable(PingError):
    """The host does not let this process send ICMP echo requests at all."""


def icmp_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (one's complement of the one's-complement sum)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(ipv6: bool, identifier: int, sequence: int, payload: bytes) -> bytes:
    """Build an ICMP (or ICMPv6) echo request.

    For ICMPv6 the checksum field is left zero: it covers an IPv6 pseudo-header which the Linux
    kernel fills in for both raw ICMPv6 sockets and ping sockets.
    """
    if ipv6:
        return _HEADER.pack(_ICMP6_ECHO_REQUEST, 0, 0, identifier, sequence) + payload
    unsummed = _HEADER.pack(_ICMP_ECHO_REQUEST, 0, 0, identifier, sequence) + payload
    checksum = icmp_checksum(unsummed)
    return _HEADER.pack(_ICMP_ECHO_REQUEST, 0, checksum, identifier, sequence) + payload


def parse_echo_reply(
    packet: bytes, *, ipv6: bool, has_ip_header: bool
) -> tuple[int, int, bytes] | None:
    """Return ``(identifier, sequence, payload)`` if *packet* is an echo reply, else ``None``.

    Raw IPv4 sockets hand us the IP header too (its length is in the IHL nibble); IPv6 raw
    sockets and ping sockets start at the ICMP header.
    """
    if has_ip_header:
        if not packet:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < _HEADER.size:
        return None
    kind, code, _checksum, identifier, sequence = _HEADER.unpack_from(packet)
    expected = _ICMP6_ECHO_REPLY if ipv6 else _ICMP_ECHO_REPLY
    if kind != expected or code != 0:
        return None
    return identifier, sequence, packet[_HEADER.size :]


def _open_socket(ipv6: bool) -> tuple[socket.socket, bool]:
    """Open the best ICMP socket available; return it and whether it is a raw socket."""
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if ipv6 else socket.IPPROTO_ICMP
    errors: list[str] = []
    for kind, raw in ((socket.SOCK_RAW, True), (socket.SOCK_DGRAM, False)):
        try:
            sock = socket.socket(family, kind, proto)
        except (PermissionError, OSError) as exc:
            errors.append(f"{'raw' if raw else 'datagram'} ICMP socket: {exc.strerror or exc}")
            continue
        sock.setblocking(False)
        return sock, raw
    raise PingUnavailable(
        "cannot send ICMP echo requests: "
        + "; ".join(errors)
        + " (run as root / grant CAP_NET_RAW, or widen net.ipv4.ping_group_range)"
    )


async def ping(address: str, *, timeout: float, payload_size: int = 32) -> float:
    """Send one ICMP echo request to the literal *address*; return the round-trip time in ms.

    Raises :class:`ValueError` for a non-literal address, :class:`PingUnavailable` when no ICMP
    socket can be opened, :class:`PingTimeout` when no matching reply arrives within *timeout*
    seconds, and :class:`PingError` for a send failure (e.g. network unreachable).
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"ping needs an IP address literal, got {address!r}") from None
    ipv6 = ip.version == 6
    sock, raw = _open_socket(ipv6)
    loop = asyncio.get_running_loop()
    identifier = random.randrange(0x10000)
    sequence = next(_sequence) & 0xFFFF
    payload = os.urandom(payload_size)
    request = build_echo_request(ipv6, identifier, sequence, payload)
    target: tuple[str, int] | tuple[str, int, int, int]
    target = (address, 0, 0, 0) if ipv6 else (address, 0)
    try:
        start = time.perf_counter()
        try:
            await loop.sock_sendto(sock, request, target)
        except OSError as exc:
            raise PingError(f"cannot send echo request to {address}: {exc}") from exc
        try:
            async with asyncio.timeout(timeout):
                while True:
                    packet = await loop.sock_recv(sock, _RECV_SIZE)
                    reply = parse_echo_reply(packet, ipv6=ipv6, has_ip_header=raw and not ipv6)
                    if reply is None:
                        continue
                    r_id, r_seq, r_payload = reply
                    # Ping sockets rewrite the identifier, so only raw sockets can check it.
                    if (raw and r_id != identifier) or r_seq != sequence or r_payload != payload:
                        continue
                    return (time.perf_counter() - start) * 1000.0
        except TimeoutError:
            raise PingTimeout(f"no echo reply from {address} within {timeout:g} s") from None
    finally:
        sock.close()

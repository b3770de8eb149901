"""A minimal SNTP client (RFC 4330, NTPv4 client mode) for AT+CIPSNTPCFG / AT+CIPSNTPTIME.

The emulated module keeps its own clock synchronised from the configured SNTP servers, like the
real firmware does, rather than copying the host clock - so tests can point it at a local server
that serves a fixed time and assert exact ``AT+CIPSNTPTIME?`` output.

One request, one reply.  The reply is validated as RFC 4330 section 5 asks: mode 4 (server),
a version we speak, leap indicator not 3 (unsynchronised), stratum 1..15 (stratum 0 is a
Kiss-o'-Death whose reference id carries an ASCII code such as ``RATE`` or ``DENY``),
a non-zero transmit timestamp, and the originate timestamp echoing our transmit timestamp.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import time

__all__ = ["NTP_UNIX_OFFSET", "SntpError", "build_request", "parse_reply", "sntp_query"]

#: Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET = 2_208_988_800
_PACKET = struct.Struct("!BBbbII4sQQQQ")
_MODE_CLIENT = 3
_MODE_SERVER = 4
_VERSION = 4


class SntpError(Exception):
    """No usable time could be obtained from the server."""


def unix_to_ntp(unix_seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point, modulo 2**32 seconds) for a Unix time."""
    seconds = unix_seconds + NTP_UNIX_OFFSET
    whole = int(seconds // 1)
    fraction = int((seconds - whole) * 2**32) & 0xFFFFFFFF
    return ((whole & 0xFFFFFFFF) << 32) | fraction


def ntp_to_unix(timestamp: int) -> float:
    """Unix seconds for a 64-bit NTP timestamp.

    RFC 4330 section 3: if the most significant bit of the seconds is clear the time is in
    era 1 (2036-02-07 onwards), so 2**32 seconds are added.
    """
    seconds = timestamp >> 32
    fraction = timestamp & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += 2**32
    return seconds - NTP_UNIX_OFFSET + fraction / 2**32


def build_request(transmit: int) -> bytes:
    """48-byte client request: LI=0, VN=4, mode 3, transmit timestamp = *transmit*."""
    first = (0 << 6) | (_VERSION << 3) | _MODE_CLIENT
    return _PACKET.pack(first, 0, 0, 0, 0, 0, b"\x00" * 4, 0, 0, 0, transmit)


def parse_reply(data: bytes, transmit: int) -> float | None:
    """Validate a server reply to the request that carried *transmit*; return Unix seconds.

    Returns ``None`` for a packet that is not an answer to our request (wrong originate
    timestamp, too short, not from a server) - the caller keeps waiting, since such a packet
    may be stale or spoofed.  Raises :class:`SntpError` for a genuine answer that must not be
    used (Kiss-o'-Death, unsynchronised server, zero transmit timestamp).
    """
    if len(data) < _PACKET.size:
        return None
    first, stratum, _poll, _prec, _rdelay, _rdisp, ref_id, _ref, origin, _recv, xmit = (
        _PACKET.unpack_from(data)
    )
    leap, version, mode = first >> 6, (first >> 3) & 0x07, first & 0x07
    if mode != _MODE_SERVER or version not in (3, 4) or origin != transmit:
        return None
    if stratum == 0:
        code = ref_id.decode("ascii", errors="replace").rstrip("\x00")
        raise SntpError(f"server sent Kiss-o'-Death {code!r}")
    if stratum > 15:
        raise SntpError(f"server stratum {stratum} is invalid")
    if leap == 3:
        raise SntpError("server clock is not synchronised (leap indicator 3)")
    if xmit == 0:
        raise SntpError("server transmit timestamp is zero")
    return ntp_to_unix(xmit)


async def sntp_query(server: str, port: int = 123, *, timeout: float) -> float:
    """Ask the SNTP server at IP literal *server* for the time; return it as Unix seconds.

    The transmit timestamp we send is the host time with random low-order fraction bits, so a
    reply's originate timestamp proves it answers this very request.  Raises
    :class:`SntpError` on timeout, ICMP port-unreachable, or an unusable reply, and
    :class:`ValueError` if *server* is not an IP address.
    """
    try:
        ip = ipaddress.ip_address(server)
    except ValueError:
        raise ValueError(f"SNTP server must be an IP address, got {server!r}") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    transmit = (unix_to_ntp(time.time()) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            # A connected UDP socket only receives datagrams from the server itself and
            # reports ICMP port-unreachable as ConnectionRefusedError.
            await loop.sock_connect(sock, (server, port))
            await loop.sock_sendall(sock, build_request(transmit))
            async with asyncio.timeout(timeout):
                while True:
                    result = parse_reply(await loop.sock_recv(sock, 1024), transmit)
                    if result is not None:
                        return result
        except TimeoutError:
            raise SntpError(f"no SNTP reply from {server}:{port} within {timeout:g} s") from None
        except OSError as exc:
            raise SntpError(f"SNTP query to {server}:{port} failed: {exc}") from exc

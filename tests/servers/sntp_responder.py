"""A small SNTP server for tests that serves a fixed, configurable time.

The NTP encoding here is written independently of ``w800at.runtime.sntp`` so a shared bug
cannot make a wrong time look right.  Fields can be tweaked to produce faulty replies:
``stratum=0`` plus ``kiss_code`` for a Kiss-o'-Death, ``leap=3`` for an unsynchronised
server, ``echo_origin=False`` for a reply that does not answer the request, ``mode`` for a
non-server reply, ``silent=True`` to never answer.

    with SntpResponder(unix_time=1_634_636_876.0) as ntp:
        host, port = ntp.address
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import threading
from dataclasses import dataclass

from tests.servers.background import BackgroundServer

__all__ = ["SntpRequest", "SntpResponder"]

_NTP_EPOCH_OFFSET = 2_208_988_800  # 1900-01-01 -> 1970-01-01 in seconds
_FORMAT = struct.Struct("!BBbbII4sQQQQ")


def _ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp for *unix_time* (era 0 only, i.e. before 2036, plus wrap)."""
    total = round((unix_time + _NTP_EPOCH_OFFSET) * 2**32)
    return total & 0xFFFFFFFF_FFFFFFFF


@dataclass(frozen=True)
class SntpRequest:
    """A request as received, with its decoded header fields."""

    data: bytes
    client: tuple[str, int]
    version: int
    mode: int
    transmit: int


class SntpResponder(BackgroundServer):
    """Threaded UDP SNTP server bound to ``host``:``port`` (0 = ephemeral)."""

    def __init__(
        self,
        unix_time: float,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stratum: int = 2,
        leap: int = 0,
        mode: int = 4,
        kiss_code: str | None = None,
        echo_origin: bool = True,
        silent: bool = False,
    ) -> None:
        super().__init__("sntp-responder")
        self.unix_time = unix_time
        self.host = host
        self.stratum = stratum
        self.leap = leap
        self.mode = mode
        self.kiss_code = kiss_code
        self.echo_origin = echo_origin
        self.silent = silent
        self.requests: list[SntpRequest] = []
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def requests_snapshot(self) -> list[SntpRequest]:
        with self._lock:
            return list(self.requests)

    def _sockets(self) -> list[socket.socket | None]:
        return [self._sock]

    def _serve(self) -> None:
        while not self._stopping:
            readable, _, _ = select.select([self._sock, self._wake_r], [], [])
            if self._sock not in readable:
                continue
            try:
                data, client = self._sock.recvfrom(2048)
            except OSError:
                continue
            if len(data) < _FORMAT.size:
                continue
            fields = _FORMAT.unpack_from(data)
            request = SntpRequest(
                data=data,
                client=(client[0], client[1]),
                version=(fields[0] >> 3) & 0x07,
                mode=fields[0] & 0x07,
                transmit=fields[10],
            )
            with self._lock:
                self.requests.append(request)
            if not self.silent:
                self._sock.sendto(self._reply(request), client)

    def _reply(self, request: SntpRequest) -> bytes:
        now = _ntp_timestamp(self.unix_time)
        if self.kiss_code is not None:
            ref_id = self.kiss_code.encode("ascii")[:4].ljust(4, b"\x00")
        else:
            ref_id = b"LOCL"
        first = (self.leap << 6) | (request.version << 3) | self.mode
        origin = request.transmit if self.echo_origin else 0
        return _FORMAT.pack(first, self.stratum, 6, -20, 0, 0, ref_id, now, origin, now, now)

"""A small real DNS server for tests, answering A/AAAA from a dict.

Queries are parsed and answered with dnspython (``dns.message.from_wire`` / ``make_response``)
over UDP, and optionally TCP on the same port.  Names not in the table get NXDOMAIN; a known
name without records of the asked type gets an empty NOERROR answer (NODATA), as a real
authoritative server would.  Every query is recorded.  ``silent=True`` records but never
answers, for timeout tests.

    with DnsResponder({"example.test": ["192.0.2.1", "2001:db8::1"]}) as dns:
        host, port = dns.address
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.servers.background import BackgroundServer

__all__ = ["DnsQuery", "DnsResponder"]


@dataclass(frozen=True)
class DnsQuery:
    """One query as received: lower-case name without trailing dot, type text, transport."""

    name: str
    rdtype: str
    transport: str
    client: tuple[str, int]


def _normalise(name: str) -> str:
    return name.rstrip(".").lower()


class DnsResponder(BackgroundServer):
    """Threaded DNS server bound to ``host``:``port`` (0 = ephemeral)."""

    def __init__(
        self,
        records: Mapping[str, Iterable[str]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tcp: bool = False,
        ttl: int = 60,
        silent: bool = False,
    ) -> None:
        super().__init__("dns-responder")
        self.host = host
        self.ttl = ttl
        self.silent = silent
        self.queries: list[DnsQuery] = []
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        for name, addresses in (records or {}).items():
            self.set_records(name, addresses)
        self._family = (
            socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        )
        self._udp = socket.socket(self._family, socket.SOCK_DGRAM)
        self._udp.bind((host, port))
        self.port: int = self._udp.getsockname()[1]
        self._tcp: socket.socket | None = None
        if tcp:
            self._tcp = socket.socket(self._family, socket.SOCK_STREAM)
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._tcp.bind((host, self.port))
            self._tcp.listen(8)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to configure as the DNS server."""
        return self.host, self.port

    def set_records(self, name: str, addresses: Iterable[str]) -> None:
        """Replace the addresses served for *name* (IPv4 -> A, IPv6 -> AAAA)."""
        checked = [str(ipaddress.ip_address(a)) for a in addresses]
        with self._lock:
            self._records[_normalise(name)] = checked

    def queries_snapshot(self) -> list[DnsQuery]:
        """A copy of the recorded queries (safe while the server runs)."""
        with self._lock:
            return list(self.queries)

    # -- lifecycle ---------------------------------------------------------------------

    def _sockets(self) -> list[socket.socket | None]:
        return [self._udp, self._tcp]

    # -- serving -----------------------------------------------------------------------

    def _serve(self) -> None:
        watched: list[socket.socket] = [self._udp, self._wake_r]
        if self._tcp is not None:
            watched.append(self._tcp)
        while not self._stopping:
            readable, _, _ = select.select(watched, [], [])
            if self._udp in readable:
                try:
                    wire, client = self._udp.recvfrom(65535)
                except OSError:
                    continue
                reply = self._answer(wire, "udp", (client[0], client[1]))
                if reply is not None:
                    self._udp.sendto(reply, client)
            if self._tcp is not None and self._tcp in readable:
                conn, client = self._tcp.accept()
                threading.Thread(
                    target=self._serve_tcp, args=(conn, (client[0], client[1])), daemon=True
                ).start()

    def _serve_tcp(self, conn: socket.socket, client: tuple[str, int]) -> None:
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    header = _recv_exact(conn, 2)
                    if header is None:
                        return
                    wire = _recv_exact(conn, struct.unpack("!H", header)[0])
                    if wire is None:
                        return
                    reply = self._answer(wire, "tcp", client)
                    if reply is not None:
                        conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    def _answer(self, wire: bytes, transport: str, client: tuple[str, int]) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = _normalise(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append(DnsQuery(name, rdtype, transport, client))
            addresses = self._records.get(name)
        if self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            wanted = 4 if rdtype == "A" else 6 if rdtype == "AAAA" else 0
            matching = [a for a in addresses if ipaddress.ip_address(a).version == wanted]
            if matching:
                rrset = dns.rrset.from_text_list(
                    question.name, self.ttl, dns.rdataclass.IN, rdtype, matching
                )
                response.answer.append(rrset)
        limit = 65535 if transport == "tcp" else max(512, query.payload)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    """Read exactly *size* bytes, or ``None`` if the peer closed first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)

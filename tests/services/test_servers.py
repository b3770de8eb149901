"""The loopback test servers, exercised with plain sockets and dnspython (not our code)."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.servers.dns_responder import DnsResponder
from tests.servers.fixtures import SNTP_FIXED_TIME
from tests.servers.sntp_responder import SntpResponder
from tests.servers.tcp_servers import (
    TcpEchoServer,
    TcpSinkServer,
    TcpSourceServer,
    UdpEchoServer,
)

# -- DNS ---------------------------------------------------------------------------------------


def _ask(server: DnsResponder, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    host, port = server.address
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=2)
    return dns.query.udp(query, host, port=port, timeout=2)


def test_dns_answers_a_aaaa_nodata_nxdomain() -> None:
    with DnsResponder({"Host.Test.": ["192.0.2.1", "192.0.2.2", "2001:db8::1"]}) as server:
        a = _ask(server, "host.test", "A")
        assert a.rcode() == dns.rcode.NOERROR
        assert sorted(r.address for r in a.answer[0]) == ["192.0.2.1", "192.0.2.2"]
        assert a.answer[0].ttl == 60
        aaaa = _ask(server, "HOST.test", "AAAA")
        assert [r.address for r in aaaa.answer[0]] == ["2001:db8::1"]
        mx = _ask(server, "host.test", "MX")
        assert mx.rcode() == dns.rcode.NOERROR and mx.answer == []
        missing = _ask(server, "other.test", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN and missing.answer == []
        seen = [(q.name, q.rdtype, q.transport) for q in server.queries_snapshot()]
    assert seen == [
        ("host.test", "A", "udp"),
        ("host.test", "AAAA", "udp"),
        ("host.test", "MX", "udp"),
        ("other.test", "A", "udp"),
    ]


def test_dns_tcp_on_same_port_and_set_records() -> None:
    with DnsResponder({}, tcp=True) as server:
        assert _ask(server, "late.test", "A", tcp=True).rcode() == dns.rcode.NXDOMAIN
        server.set_records("late.test", ["198.51.100.7"])
        reply = _ask(server, "late.test", "A", tcp=True)
        assert [r.address for r in reply.answer[0]] == ["198.51.100.7"]
        assert [q.transport for q in server.queries_snapshot()] == ["tcp", "tcp"]


def test_dns_truncates_oversized_udp_answer() -> None:
    many = [f"10.0.{i // 256}.{i % 256}" for i in range(100)]  # 100 A records > 512 bytes
    with DnsResponder({"big.test": many}, tcp=True) as server:
        udp = _ask(server, "big.test", "A")
        assert udp.flags & dns.flags.TC
        tcp = _ask(server, "big.test", "A", tcp=True)
        assert len(tcp.answer[0]) == 100


def test_dns_silent_records_but_does_not_answer() -> None:
    with DnsResponder({"a.test": ["192.0.2.1"]}, silent=True) as server:
        with pytest.raises(dns.exception.Timeout):
            dns.query.udp(
                dns.message.make_query("a.test", "A"), server.host, port=server.port, timeout=0.3
            )
        assert len(server.queries_snapshot()) == 1


def test_dns_ignores_garbage() -> None:
    with DnsResponder({"a.test": ["192.0.2.1"]}) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            sock.sendto(b"\x00\x01garbage", server.address)
            with pytest.raises(TimeoutError):
                sock.recv(512)
        # still serving afterwards
        assert _ask(server, "a.test", "A").rcode() == dns.rcode.NOERROR


def test_dns_rejects_non_ip_records() -> None:
    with pytest.raises(ValueError):
        DnsResponder({"a.test": ["not-an-ip"]})


# -- SNTP --------------------------------------------------------------------------------------


def _sntp_request(transmit: int) -> bytes:
    return struct.pack("!BBbbII4sQQQQ", 0x23, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0, transmit)


def test_sntp_reply_fields() -> None:
    with (
        SntpResponder(SNTP_FIXED_TIME) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.settimeout(2)
        sock.sendto(_sntp_request(0xDEADBEEF_00C0FFEE), server.address)
        data = sock.recv(1024)
    fields = struct.unpack("!BBbbII4sQQQQ", data)
    assert fields[0] == 0x24  # LI 0, version echoed (4), mode 4
    assert fields[1] == 2
    assert fields[6] == b"LOCL"
    assert fields[8] == 0xDEADBEEF_00C0FFEE  # originate = our transmit
    expected = (int(SNTP_FIXED_TIME) + 2_208_988_800) << 32
    assert fields[9] == fields[10] == expected
    (request,) = server.requests_snapshot()
    assert request.mode == 3 and request.version == 4 and request.transmit == 0xDEADBEEF_00C0FFEE


def test_sntp_kiss_of_death_fields() -> None:
    with (
        SntpResponder(0.0, stratum=0, kiss_code="RATE", echo_origin=False) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        sock.settimeout(2)
        sock.sendto(_sntp_request(5), server.address)
        fields = struct.unpack("!BBbbII4sQQQQ", sock.recv(1024))
    assert fields[1] == 0 and fields[6] == b"RATE" and fields[8] == 0


# -- TCP / UDP ---------------------------------------------------------------------------------


def test_tcp_echo_large_payload() -> None:
    payload = os.urandom(4 * 1024 * 1024 + 3)
    with TcpEchoServer() as server, socket.create_connection(server.address, timeout=10) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(1 << 20)
            assert chunk
            received += chunk
        sender.join()
        assert bytes(received) == payload
        server.wait_bytes(len(payload))
        assert server.bytes_received == len(payload)
        assert server.connections_accepted == 1


def test_tcp_echo_ipv6() -> None:
    try:
        server = TcpEchoServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback address on this host")
    with server, socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"hello")
        assert sock.recv(16) == b"hello"


def test_tcp_sink_counts_hashes_and_pushes() -> None:
    first = os.urandom(1_000_003)
    with TcpSinkServer() as server:
        with socket.create_connection(server.address, timeout=5) as a:
            a.sendall(first)
            server.wait_connection_bytes(0, len(first))
            server.send_to(0, b"to-client")
            assert a.recv(64) == b"to-client"
        server.wait_closed(0)
        with socket.create_connection(server.address, timeout=5) as b:
            b.sendall(b"second")
            server.wait_connection_bytes(1, 6)
            server.close_client(1)
            assert b.recv(64) == b""
        c0, c1 = server.connections
        assert c0.bytes_received == len(first) and bytes(c0.data) == first
        assert c0.sha256 == hashlib.sha256(first).hexdigest()
        assert c1.data == bytearray(b"second")
        assert server.bytes_received == len(first) + 6


def test_tcp_sink_without_keeping_data() -> None:
    with TcpSinkServer(keep_data=False) as server, socket.create_connection(server.address) as s:
        s.sendall(b"x" * 100_000)
        server.wait_bytes(100_000)
        assert server.connection(0).data == bytearray()
        assert server.connection(0).sha256 == hashlib.sha256(b"x" * 100_000).hexdigest()


def test_tcp_source_sends_then_half_closes() -> None:
    payload = os.urandom(300_000)
    with TcpSourceServer(payload) as server, socket.create_connection(server.address) as sock:
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        assert bytes(received) == payload
        sock.sendall(b"still open")  # half-closed: the server keeps reading
        server.wait_bytes(10)


def test_wait_helpers_time_out() -> None:
    with TcpSinkServer() as server, pytest.raises(TimeoutError):
        server.wait_connections(1, timeout=0.2)


def test_udp_echo() -> None:
    with UdpEchoServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for size in (1, 1400, 65507):
            data = os.urandom(size)
            sock.sendto(data, server.address)
            assert sock.recv(65535) == data
        server.wait_datagrams(3)
        assert [len(d) for d, _ in server.datagrams] == [1, 1400, 65507]
        assert server.bytes_received == 1 + 1400 + 65507
        assert server.datagrams[0][1] == ("127.0.0.1", sock.getsockname()[1])


def test_fixtures_start_servers(
    dns_responder: DnsResponder,
    sntp_responder: SntpResponder,
    tcp_echo_server: TcpEchoServer,
    tcp_sink_server: TcpSinkServer,
    udp_echo_server: UdpEchoServer,
) -> None:
    reply = _ask(dns_responder, "example.test", "AAAA")
    assert [r.address for r in reply.answer[0]] == ["2001:db8::10"]
    assert sntp_responder.unix_time == SNTP_FIXED_TIME
    with socket.create_connection(tcp_echo_server.address, timeout=2) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
    with socket.create_connection(tcp_sink_server.address, timeout=2) as sock:
        sock.sendall(b"sink")
        tcp_sink_server.wait_bytes(4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"u", udp_echo_server.address)
        assert sock.recv(8) == b"u"

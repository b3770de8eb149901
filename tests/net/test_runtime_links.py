"""The runtime's link handlers against real loopback sockets (engine link table faked)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import struct
from pathlib import Path

from tests.net.helpers import RecordingRuntime, run
from tests.netns import private_netns, run_pytest_in
from tests.servers.tcp_servers import TcpEchoServer, TcpSinkServer, UdpEchoServer
from w800at.core.net_actions import (
    Close,
    Connect,
    Connected,
    Send,
    SetReading,
    SetSockOpts,
    SockOpts,
    TlsSettings,
)
from w800at.runtime import net
from w800at.runtime.net_links import LinkGone, StreamLink


def _free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _sock(rt: RecordingRuntime, link_id: int) -> socket.socket:
    link = rt.net.links[link_id]
    s = link.transport.get_extra_info("socket")
    assert s is not None
    return s  # type: ignore[no-any-return]


def test_tcp_connect_send_receive_and_peer_close() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpEchoServer() as srv:
            c = await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            assert isinstance(c, Connected)
            assert (c.remote_ip, c.remote_port, c.local_ip) == ("127.0.0.1", srv.port, "127.0.0.1")
            assert c.local_port > 0
            payload = os.urandom(300_000)
            assert await rt.ok(Send(0, payload)) == len(payload)
            await rt.until(lambda: len(rt.links.data.get(0, b"")) >= len(payload))
            assert bytes(rt.links.data[0]) == payload
            assert set(rt.links.addrs) == {("127.0.0.1", srv.port)}
            assert rt.links.closed == []
        # the server stopped: its side of the link is shut down -> one closed event
        await rt.until(lambda: rt.links.closed != [])
        assert rt.links.closed == [(0, "closed")]
        assert 0 not in rt.net.links
        r = await rt.result(Send(0, b"x"))
        assert isinstance(r, LinkGone)

    run(main)


def test_connect_refused_is_an_exception_and_no_link() -> None:
    async def main(rt: RecordingRuntime) -> None:
        r = await rt.result(Connect(1, "TCP", "127.0.0.1", _free_port()))
        assert isinstance(r, ConnectionRefusedError)
        assert rt.net.links == {}
        assert rt.links.closed == []

    run(main)


def test_engine_close_is_graceful_and_silent() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(2, "TCP", "127.0.0.1", srv.port))
            data = os.urandom(1_000_000)
            assert await rt.ok(Send(2, data)) == len(data)
            assert await rt.ok(Close(2)) is None
            await asyncio.to_thread(srv.wait_closed, 0)
            rec = srv.connection(0)
            assert rec.sha256 == hashlib.sha256(data).hexdigest()  # flushed before FIN
            await asyncio.sleep(0.05)  # give a stray event a chance to show up
            assert rt.links.closed == []
            assert await rt.ok(Close(2)) is None  # closing a closed link is harmless

    run(main)


def test_local_ip_binding_and_ipv6() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpEchoServer() as srv:
            c = await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port, local_ip="127.0.0.2"))
            assert c.local_ip == "127.0.0.2"
        with TcpEchoServer(host="::1") as srv6:
            c6 = await rt.ok(Connect(1, "TCPv6", "::1", srv6.port))
            assert (c6.remote_ip, c6.local_ip) == ("::1", "::1")
            assert await rt.ok(Send(1, b"hello6")) == 6
            await rt.until(lambda: bytes(rt.links.data.get(1, b"")) == b"hello6")

    run(main)


def test_host_name_resolved() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpEchoServer() as srv:
            c = await rt.ok(Connect(0, "TCP", "localhost", srv.port))
            assert c.remote_ip == "127.0.0.1"

    run(main)


def test_socket_options_applied() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpEchoServer() as srv:
            opts = SockOpts(linger=3, nodelay=1, sndtimeo=0, keepalive=7)
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port, opts=opts))
            s = _sock(rt, 0)
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            lg = struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
            assert lg == (1, 3)
            await rt.ok(SetSockOpts(0, SockOpts()))
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            lg = struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
            assert lg[0] == 0
            r = await rt.result(SetSockOpts(4, SockOpts()))
            assert isinstance(r, LinkGone)

    run(main)


class _Stuck:
    """A TCP listener that accepts but never reads, with tiny buffers: sends block."""

    def __init__(self) -> None:
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.conn, _ = self.lsock.accept()
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.lsock.close()


async def _fill(rt: RecordingRuntime, link_id: int) -> None:
    """Send until the kernel stops taking data (a Send would have to wait)."""
    link = rt.net.links[link_id]
    assert isinstance(link, StreamLink)
    link.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    for _ in range(1000):
        r = link.send(b"z" * 65536, None)
        if not isinstance(r, int):
            r.cancel()
            return
    raise AssertionError("kernel never pushed back")


def test_send_timeout_gives_send_fail_then_link_death_fails_waiting_send() -> None:
    async def main(rt: RecordingRuntime) -> None:
        stuck = _Stuck()
        try:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", stuck.port, opts=SockOpts(sndtimeo=100)))
            conn = stuck.accept()
            await _fill(rt, 0)
            t0 = rt.loop.time()
            r = await rt.result(Send(0, b"more"))
            assert isinstance(r, TimeoutError)
            assert 0.09 <= rt.loop.time() - t0 < 2.0
            # sndtimeo 0: wait as long as needed, but fail when the link dies
            await rt.ok(SetSockOpts(0, SockOpts(sndtimeo=0)))
            token = rt.do(Send(0, b"again"))
            await asyncio.sleep(0.2)
            assert token not in rt.results  # still waiting
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST
            stuck.conn = None
            await rt.until(lambda: token in rt.results)
            assert isinstance(rt.results[token], ConnectionError)
            await rt.until(lambda: rt.links.closed != [])
            assert rt.links.closed == [(0, "reset")]
        finally:
            stuck.close()

    run(main)


def test_blocked_send_completes_once_peer_reads() -> None:
    async def main(rt: RecordingRuntime) -> None:
        stuck = _Stuck()
        try:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", stuck.port))
            conn = stuck.accept()
            await _fill(rt, 0)
            token = rt.do(Send(0, b"tail"))
            await asyncio.sleep(0.05)
            assert token not in rt.results
            conn.setblocking(False)

            async def drain() -> None:
                while token not in rt.results:
                    try:
                        conn.recv(1 << 20)
                    except BlockingIOError:
                        await asyncio.sleep(0.001)

            await asyncio.wait_for(drain(), 5)
            assert rt.results[token] == 4
        finally:
            stuck.close()

    run(main)


def test_set_reading_pauses_and_resumes() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            await rt.ok(SetReading(0, True))
            srv.send_to(0, b"held back")
            await asyncio.sleep(0.1)
            assert rt.links.data == {}
            await rt.ok(SetReading(0, False))
            await rt.until(lambda: bytes(rt.links.data.get(0, b"")) == b"held back")

    run(main)


def test_host_backpressure_pauses_all_links_until_drained() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            await rt.ok(Connect(1, "TCP", "127.0.0.1", srv.port))
            rt.mem.backlog = net.HIGH_WATER + 1  # the host stopped reading
            srv.send_to(0, b"first")
            await rt.until(lambda: bytes(rt.links.data.get(0, b"")) == b"first")
            assert rt.net.host_paused
            assert all(not link.reading for link in rt.net.links.values())
            srv.send_to(1, b"second")
            await asyncio.sleep(0.05)
            assert 1 not in rt.links.data
            rt.mem.backlog = net.LOW_WATER  # drained
            await rt.until(lambda: bytes(rt.links.data.get(1, b"")) == b"second")
            assert not rt.net.host_paused

    run(main)


def test_reset_drops_every_link_without_events() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            await rt.ok(Connect(3, "TCP", "127.0.0.1", srv.port))
            rt._reset_network()
            await asyncio.to_thread(srv.wait_closed, 0)
            await asyncio.to_thread(srv.wait_closed, 1)
            await asyncio.sleep(0.05)
            assert rt.links.closed == []
            assert rt.net.links == {}

    run(main)


def test_udp_echo_per_send_address_and_local_port() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with UdpEchoServer() as a, UdpEchoServer() as b:
            lport = _free_port(socket.SOCK_DGRAM)
            c = await rt.ok(Connect(0, "UDP", "127.0.0.1", a.port, local_port=lport))
            assert (c.remote_ip, c.remote_port, c.local_port) == ("127.0.0.1", a.port, lport)
            assert await rt.ok(Send(0, b"one")) == 3
            assert await rt.ok(Send(0, b"two", addr=("localhost", b.port))) == 3
            await rt.until(lambda: len(rt.links.datagrams) == 2)
            got = sorted((d, addr) for _, d, addr in rt.links.datagrams)
            assert got == [(b"one", ("127.0.0.1", a.port)), (b"two", ("127.0.0.1", b.port))]

    run(main)


def test_udp_multicast_ipv4_on_loopback() -> None:
    async def main(rt: RecordingRuntime) -> None:
        group, port = "239.255.77.1", _free_port(socket.SOCK_DGRAM)
        await rt.ok(Connect(0, "UDP", group, port, local_ip="127.0.0.1", local_port=port))
        await rt.ok(Connect(1, "UDP", group, port, local_ip="127.0.0.1", local_port=port))
        assert await rt.ok(Send(0, b"to the group")) == 12
        await rt.until(lambda: {i for i, _, _ in rt.links.datagrams} == {0, 1})
        assert {d for _, d, _ in rt.links.datagrams} == {b"to the group"}

    run(main)


#: set in the inner run: the scoped link-local address of the veth end to use
MCAST6_LOCAL = "W800AT_TEST_MCAST6_LOCAL"


def test_udp_multicast_ipv6() -> None:
    """IPv6 multicast needs a multicast-capable link, and Linux's lo does not deliver
    IPv6 groups even with IFF_MULTICAST set.  So the test runs again inside a private
    namespace with a veth pair (the host's network is not touched)."""
    local = os.environ.get(MCAST6_LOCAL)
    if not local:
        with private_netns(
            "mcast6",
            ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["link", "set", "v1", "up"],
            ["link", "set", "v0", "up"],
            ["-6", "addr", "add", "fe80::77/64", "dev", "v0", "nodad"],
        ) as ns:
            run_pytest_in(ns, f"{__file__}::test_udp_multicast_ipv6", {MCAST6_LOCAL: "fe80::77%v0"})
        return

    async def main(rt: RecordingRuntime) -> None:
        group, port = "ff02::77", _free_port(socket.SOCK_DGRAM, "::1")
        r = await rt.result(Connect(0, "UDPv6", group, port, local_ip=local, local_port=port))
        assert isinstance(r, Connected), r
        assert await rt.ok(Send(0, b"v6 group")) == 8
        await rt.until(lambda: rt.links.datagrams != [])
        assert rt.links.datagrams[0][:2] == (0, b"v6 group")

    run(main)


def test_udp_broadcast_allowed() -> None:
    async def main(rt: RecordingRuntime) -> None:
        await rt.ok(Connect(0, "UDP", "127.0.0.1", _free_port(socket.SOCK_DGRAM)))
        assert _sock(rt, 0).getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1

    run(main)


def _tls_echo_ctx(store: Path) -> object:
    from w800at.runtime.tls import server_context

    return server_context(store, require_client_cert=False)


async def _tls_echo(rt: RecordingRuntime, store: Path) -> asyncio.Server:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def data_received(self, data: bytes) -> None:
            self.t.write(data)  # type: ignore[attr-defined]

    return await rt.loop.create_server(Echo, "127.0.0.1", 0, ssl=_tls_echo_ctx(store))  # type: ignore[arg-type]


def test_ssl_auth0_and_verified_name(tmp_path: Path) -> None:
    from w800at.certs import server_identity_paths

    async def main(rt: RecordingRuntime) -> None:
        server = await _tls_echo(rt, tmp_path)
        port = server.sockets[0].getsockname()[1]
        try:
            await rt.ok(Connect(0, "SSL", "127.0.0.1", port))
            data = os.urandom(200_000)
            assert await rt.ok(Send(0, data)) == len(data)
            await rt.until(lambda: len(rt.links.data.get(0, b"")) >= len(data))
            assert bytes(rt.links.data[0]) == data
            # auth 2: the server's own certificate installed as CA 0
            ca = tmp_path / "certs" / "ca" / "0"
            ca.mkdir(parents=True)
            shutil.copy(server_identity_paths(tmp_path).cert, ca / "ca.pem")
            await rt.ok(Connect(1, "SSL", "127.0.0.1", port, tls=TlsSettings(auth_mode=2)))
            bad = TlsSettings(auth_mode=2, common_name="not-this.example")
            r = await rt.result(Connect(2, "SSL", "127.0.0.1", port, tls=bad))
            assert isinstance(r, Exception) and "mismatch" in str(r)
            assert 2 not in rt.net.links
            no_ca = TlsSettings(auth_mode=2, ca_number=1)
            r = await rt.result(Connect(3, "SSL", "127.0.0.1", port, tls=no_ca))
            assert isinstance(r, Exception)
            assert rt.links.closed == []
        finally:
            server.close()

    run(main, store_dir=tmp_path)


def test_adopt_accepted_connection() -> None:
    async def main(rt: RecordingRuntime) -> None:
        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                rt.net.adopt(4, "TCP", transport)

        server = await rt.loop.create_server(Accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"from client")
            await rt.until(lambda: bytes(rt.links.data.get(4, b"")) == b"from client")
            assert await rt.ok(Send(4, b"from module")) == 11
            assert await reader.readexactly(11) == b"from module"
            writer.close()
            await rt.until(lambda: rt.links.closed == [(4, "closed")])
        finally:
            server.close()

    run(main)


def test_client_link_held_until_engine_has_it() -> None:
    """Data the peer sends at once must not reach the engine before its Connected."""

    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            feat = rt.net
            link_task = asyncio.ensure_future(feat._open(Connect(0, "TCP", "127.0.0.1", srv.port)))
            await asyncio.wait_for(link_task, 5)
            srv.send_to(0, b"early bird")
            await asyncio.sleep(0.1)
            link = feat.links[0]
            assert link.held and not link.reading
            assert rt.links.data == {}
            link.release()
            await rt.until(lambda: bytes(rt.links.data.get(0, b"")) == b"early bird")

    run(main)


def test_a_send_that_times_out_is_never_sent() -> None:
    """so_sndtimeo: the stack had no room for the data within the time, so it was not
    taken (SEND FAIL) and never goes out, even once the peer reads again."""

    async def main(rt: RecordingRuntime) -> None:
        stuck = _Stuck()
        try:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", stuck.port, opts=SockOpts(sndtimeo=100)))
            conn = stuck.accept()
            link = rt.net.links[0]
            assert isinstance(link, StreamLink)
            sent = bytearray()
            while True:  # fill the stack: the first send it cannot take waits
                chunk = b"z" * 65536
                r = link.send(chunk, None)
                if not isinstance(r, int):
                    break
                sent += chunk
            r.cancel()  # withdraw the probe: it was never written
            r2 = await rt.result(Send(0, b"LATE"))
            assert isinstance(r2, TimeoutError)
            await rt.ok(SetSockOpts(0, SockOpts(sndtimeo=0)))
            token = rt.do(Send(0, b"NEXT"))  # waits for room, then goes out
            got = bytearray()
            conn.setblocking(False)
            while token not in rt.results or len(got) < len(sent) + 4:
                try:
                    data = conn.recv(1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                assert data, "the link closed"
                got += data
            assert rt.results[token] == 4
            assert bytes(got) == bytes(sent) + b"NEXT"  # no LATE, no probe
        finally:
            stuck.close()

    run(main)

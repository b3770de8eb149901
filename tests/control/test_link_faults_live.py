"""Link faults on a real module over a real TCP port, with real loopback peers: what the
host reads (byte-exact) and what the peer got, when, and how its connection ended."""

from __future__ import annotations

import asyncio
import itertools
import socket
from pathlib import Path

import pytest

from tests.control.helpers import OK, BenchModule, Peer
from tests.servers.tcp_servers import UdpEchoServer
from w800at.control import ControlError

pytestmark = pytest.mark.timeout(60)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


async def send(b: BenchModule, link: int, data: bytes) -> None:
    """AT+CIPSEND of ``data`` on ``link``: the module takes it (SEND OK)."""
    line = f"AT+CIPSEND={link},{len(data)}".encode()
    b.send(line + b"\r\n")
    await b.expect(line + b"\r\n" + OK + b"\r\n>")
    b.send(data)
    await b.expect(b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(data))


def test_reset_peer_after_bytes_upstream(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            fault = await b.control.link_fault("reset_peer", link=0, after=1000, stream="upstream")
            assert fault["description"] == "reset_peer RST after 1000 bytes (upstream)"
            await send(b, 0, bytes(range(256)) * 3)  # 768: all of it passes
            await send(b, 0, b"x" * 500)  # the RST comes after 232 of these
            await b.expect(b"0,CLOSED\r\n")
            conn = await peer.ended()
            assert conn.end == "reset"
            assert conn.data == bytes(range(256)) * 3 + b"x" * 232
            await b.quiet()
            # the fault ended with its link: the next link 0 is plain
            await b.cmd(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % peer.port, b"0,CONNECT\r\n" + OK)
            await send(b, 0, b"y" * 2000)
            assert (await peer.received(2000, 1)).data == b"y" * 2000
            assert await b.control.faults() == []
        trace = b.trace_text()
        assert "-- fault link 0 reset_peer RST after 1000 bytes (upstream): RST sent" in trace

    run(main())


def test_reset_peer_after_bytes_downstream(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(1, peer.port)
            conn = await peer.conn()
            await b.control.link_fault("reset_peer", link=1, after=7)  # downstream: Toxiproxy's
            conn.send(b"0123456789")
            await b.expect(b"\r\n+IPD,1,7:0123456\r\n1,CLOSED\r\n")
            await peer.ended()
            assert conn.end == "reset"
            await b.quiet()

    run(main())


def test_reset_peer_now_and_close_after_a_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.open_tcp(2, peer.port)
            await b.control.link_fault("reset_peer", link=0)
            await b.expect(b"0,CLOSED\r\n")
            assert (await peer.ended(0)).end == "reset"
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await b.control.link_fault("close", link=2, timeout=300)
            await b.expect(b"2,CLOSED\r\n")
            c2 = await peer.ended(1)
            assert c2.end == "eof"
            assert 0.29 <= c2.ended - t0 < 0.6

    run(main())


def test_limit_data_closes_with_a_fin_after_the_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("limit_data", link=0, bytes=10, stream="upstream")
            await send(b, 0, b"0123456789abcdef")
            await b.expect(b"0,CLOSED\r\n")
            conn = await peer.ended()
            assert (conn.data, conn.end) == (b"0123456789", "eof")

    run(main())


def test_latency_delays_what_the_peer_gets_not_the_hosts_answer(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("latency", link=0, latency=300, stream="upstream")
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await send(b, 0, b"hello")
            assert loop.time() - t0 < 0.2  # SEND OK at once: the stack took it
            conn = await peer.received(5)
            assert conn.data == b"hello"
            assert 0.29 <= conn.chunks[0][0] - t0 < 0.6
            # downstream latency: the +IPD comes late
            await b.control.link_fault("latency", link=0, latency=200)
            t1 = loop.time()
            conn.send(b"back")
            await b.expect(b"\r\n+IPD,0,4:back\r\n")
            arrived = b.arrivals[-1][0]
            assert 0.19 <= arrived - t1 < 0.5

    run(main())


def test_bandwidth_paces_the_bytes_to_the_peer(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("bandwidth", link=0, rate=20, stream="upstream")  # 20 KB/s
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await send(b, 0, bytes(5000))  # a quarter of a second at 20 KB/s
            conn = await peer.received(5000)
            took = conn.chunks[-1][0] - t0
            assert 0.24 <= took < 0.5, took
            assert len(conn.chunks) >= 10  # it trickled in, 10 ms at a time

    run(main())


def test_slicer_splits_what_the_module_receives(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            conn = await peer.conn()
            await b.control.link_fault("slicer", link=0, average_size=3, delay=20000)  # 20 ms
            conn.send(b"abcdefgh")
            await b.expect(b"\r\n+IPD,0,3:abc\r\n\r\n+IPD,0,3:def\r\n\r\n+IPD,0,2:gh\r\n")
            times = [t for t, _ in b.arrivals[-3:]]
            gaps = [y - x for x, y in itertools.pairwise(times)]
            assert all(0.015 <= g < 0.2 for g in gaps), gaps

    run(main())


def test_timeout_stalls_the_link_and_it_stays_open(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            conn = await peer.conn()
            down = await b.control.link_fault("timeout", link=0)
            up = await b.control.link_fault("timeout", link=0, stream="upstream")
            conn.send(b"never seen")
            await send(b, 0, b"never sent")
            await b.quiet(0.3)
            assert conn.data == b"" and conn.end == ""
            await b.control.fault_remove(down["id"])
            await b.control.fault_remove(up["id"])
            conn.send(b"seen")
            await b.expect(b"\r\n+IPD,0,4:seen\r\n")
            state = await b.cmd(b"AT+CIPSTATE?")
            assert state.startswith(
                b'AT+CIPSTATE?\r\n+CIPSTATE:0,"TCP","127.0.0.1",%d,' % peer.port
            )
            await send(b, 0, b"sent")
            assert (await peer.received(4)).data == b"sent"

    async def main_close() -> None:
        async with Peer() as peer, BenchModule(tmp_path / "b") as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("timeout", link=0, timeout=200)
            await b.expect(b"0,CLOSED\r\n")
            assert (await peer.ended()).end == "eof"

    run(main())
    (tmp_path / "b").mkdir()
    run(main_close())


def test_refuse_the_next_connect(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.cmd(b"AT+CIPMUX=1", OK)
            await b.control.link_fault("refuse", next=True)
            line = b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % peer.port
            await b.cmd(line, b"\r\nERROR\r\n")
            await asyncio.sleep(0.1)
            assert peer.conns == []  # nothing reached the peer
            await b.cmd(line, b"0,CONNECT\r\n" + OK)  # only the next one
            await peer.conn()

    run(main())


def test_remote_target_refuses_every_connect_to_it_until_removed(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, Peer() as other, BenchModule(tmp_path) as b:
            await b.join()
            await b.cmd(b"AT+CIPMUX=1", OK)
            f = await b.control.link_fault("refuse", remote=f"127.0.0.1:{peer.port}")
            for _ in range(2):
                await b.cmd(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % peer.port, b"\r\nERROR\r\n")
            await b.open_tcp(1, other.port)  # another peer: not touched
            await b.control.fault_remove(f["id"])
            await b.cmd(b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % peer.port, b"0,CONNECT\r\n" + OK)

    run(main())


def test_tls_fail_fails_the_next_handshake(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.cmd(b"AT+CIPMUX=1", OK)
            await b.control.link_fault("tls_fail", link=4)
            await b.cmd(b'AT+CIPSTART=4,"SSL","127.0.0.1",%d' % peer.port, b"\r\nERROR\r\n")
            conn = await peer.ended()
            assert (conn.data, conn.end) == (b"", "eof")  # a connection, no ClientHello
            assert await b.control.faults() == []

    run(main())


def test_next_link_faults_bind_to_the_next_link_opened(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("limit_data", next=True, bytes=2, stream="upstream")
            await send(b, 0, b"link 0 is not the next one")
            await b.open_tcp(3, peer.port)
            await send(b, 3, b"abc")
            await b.expect(b"3,CLOSED\r\n")
            assert (await peer.ended(1)).data == b"ab"
            assert (await peer.received(26, 0)).data == b"link 0 is not the next one"

    run(main())


def test_toxicity_zero_spares_the_link_and_the_fault_expires(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.link_fault("reset_peer", link=0, toxicity=0.0)
            await send(b, 0, b"ok")
            assert (await peer.received(2)).data == b"ok"
            await b.control.link_fault("timeout", remote=f"127.0.0.1:{peer.port}", duration=0.3)
            await asyncio.sleep(0.5)
            assert await b.control.faults() == []
            await send(b, 0, b"again")
            assert (await peer.received(7)).data == b"okagain"

    run(main())


def test_udp_latency_delays_datagrams_both_ways(tmp_path: Path) -> None:
    async def main() -> None:
        with UdpEchoServer() as echo:
            async with BenchModule(tmp_path) as b:
                await b.join()
                await b.cmd(b"AT+CIPMUX=1", OK)
                line = b'AT+CIPSTART=1,"UDP","127.0.0.1",%d' % echo.port
                await b.cmd(line, b"1,CONNECT\r\n" + OK)
                await b.control.link_fault("latency", link=1, latency=150, stream="upstream")
                await b.control.link_fault("latency", link=1, latency=150)
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                await send(b, 1, b"ping")
                await b.expect(b"\r\n+IPD,1,4:ping\r\n")
                assert 0.29 <= b.arrivals[-1][0] - t0 < 0.8
                with pytest.raises(ControlError, match="link 1 is UDP: reset_peer needs"):
                    await b.control.link_fault("reset_peer", link=1)

    run(main())


def test_a_server_accepted_link_gets_a_remote_fault(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.join()
            await b.cmd(b"AT+CIPMUX=1", OK)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            await b.cmd(b"AT+CIPSERVER=1,%d" % port, OK)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            local = writer.get_extra_info("sockname")
            await b.expect(b"0,CONNECT\r\n")
            await b.control.link_fault("limit_data", remote=f"{local[0]}:{local[1]}", bytes=3)
            writer.write(b"abcdef")
            await b.expect(b"\r\n+IPD,0,3:abc\r\n0,CLOSED\r\n")
            assert await reader.read() == b""  # FIN
            writer.close()

    run(main())

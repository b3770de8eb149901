"""Every example of the spec's link and service sections, run through a whole module
(`tests.live.LiveModule`: real Engine + Runtime) against real servers on loopback.

The engine tests check each rule under a manual clock; this file takes the examples of
``shared/spec/tcpip-at-commands.txt`` as they are written and checks the exact bytes a
host would read, with real sockets behind them.  Only addresses, ports and names are
swapped, so that no traffic ever leaves the host:

- a remote ``192.168.x.y`` -> ``127.0.0.1`` (a server this test started, ephemeral port);
- a "local IP" such as ``192.168.10.100`` -> ``127.0.0.2``: the server then asserts the
  connection really came from 127.0.0.2 (the binding is proven, not just accepted);
- ``fe80::...`` / ``FE80::...`` remotes -> ``::1``;
- domain names -> ``*.test`` names served by `DnsResponder` on 127.0.0.2, after
  ``AT+CIPDNS=1`` points the module at it (the host's resolver is never asked);
- SNTP servers -> names for `SntpResponder` on 127.0.0.1 (``ModuleOptions.sntp_port``).

Sections without an "Example" block (AT+CIPV6, AT+CIPSTATE, AT+CIPSTARTEX, AT+CIPSEND,
AT+CIPSENDEX, AT+CIPCLOSE, AT+CIPTCPOPT, +++) get one test of the command forms and
responses their text documents.

Long timers (AT+CIPSTO=10, AT+CIPRECONNINTV=10, AT+CIPSNTPINTV=3600) run at the spec's
values on `WarpLoop`, an event loop whose clock the test can move forward: the module's
engine and runtime take all their time from ``loop.time()``, so a jump of the clock is
to them exactly the time passing, while the sockets stay real.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.harness import LAB_ADDRESSES
from tests.live import ERROR, JOINED, OK, LiveModule, free_port
from tests.netns import private_netns, run_pytest_in
from tests.servers.dns_responder import DnsResponder
from tests.servers.sntp_responder import SntpResponder
from tests.servers.tcp_servers import TcpEchoServer, TcpSinkServer, UdpEchoServer
from tests.tls.peers import TlsServerPeer, plain_server_context, write_pem
from w800at.certs import create_dev_pki, self_signed_certificate
from w800at.core.links import LinkState
from w800at.core.options import ModuleOptions

PROMPT = b"\r\nOK\r\n\r\n>"
SEND_OK = b"\r\nSEND OK\r\n"
#: the instant the SNTP responder serves: 2021-10-19 09:47:56 UTC, the spec's example
T0 = 1_634_636_876.0
#: where the DNS responder listens (AT+CIPDNS=1,"127.0.0.2")
DNS_HOST = "127.0.0.2"
#: the +++ guard is 30 ms on the W800: silences comfortably longer than that
SILENCE = 0.1
T = TypeVar("T")


# --- the loop, the module and small helpers ---------------------------------------------


class WarpLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs ``skipped`` seconds ahead of the real one."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped = 0.0

    def time(self) -> float:
        return float(super().time()) + self.skipped


async def warp(seconds: float) -> None:
    """Let ``seconds`` pass for the module at once, and run what fell due.

    Call it only while the test itself is not waiting on a deadline (a read)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, WarpLoop)
    loop.skipped += seconds
    for _ in range(3):
        await asyncio.sleep(0)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=WarpLoop) as runner:
        runner.run(main())


def options(dns_port: int = 9, sntp_port: int = 9, net_timeout: float = 3.0) -> ModuleOptions:
    return ModuleOptions(
        addresses=LAB_ADDRESSES, dns_port=dns_port, sntp_port=sntp_port, net_timeout=net_timeout
    )


async def skip_delays(mod: LiveModule, step: Awaitable[T]) -> T:
    """Await ``step`` (a boot, a Wi-Fi join: only the module's own timers in between),
    moving the clock to each timer the engine sets instead of waiting for it."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, WarpLoop)
    task = asyncio.ensure_future(step)
    while not task.done():
        await asyncio.sleep(0)
        engine = getattr(mod, "engine", None)
        when = engine.get_timer() if engine is not None else None
        if when is not None and when > loop.time():
            loop.skipped += when - loop.time()
    return task.result()


@asynccontextmanager
async def module(
    store: Path | None = None, opts: ModuleOptions | None = None, *, join: bool = True
) -> AsyncIterator[LiveModule]:
    """A booted module, joined to the lab Wi-Fi (station 127.0.0.1) unless ``join=False``.

    The boot and join delays (the W800 profile's 0.3 s + 0.2 s + DHCP) are skipped with
    `skip_delays`: they are not what these tests are about, and they would make up most
    of the file's run time."""
    live = LiveModule(store, opts or options())
    async with AsyncExitStack() as stack:
        mod = await skip_delays(live, stack.enter_async_context(live))
        if join:
            await skip_delays(mod, mod.join())
        yield mod


async def join(mod: LiveModule, line: bytes) -> None:
    """The spec's own AT+CWJAP line, answered exactly as the lab join is."""
    mod.send(line + b"\r\n")
    await skip_delays(mod, mod.expect(line + b"\r\n" + JOINED))


async def cmd(mod: LiveModule, line: bytes, answer: bytes) -> None:
    """``line`` is answered with exactly its echo and ``answer``."""
    await mod.cmd(line, answer)


async def send(mod: LiveModule, head: bytes, payload: bytes, after: bytes = SEND_OK) -> None:
    """A send command (``head``), its payload, and exactly ``Recv n bytes`` + ``after``."""
    mod.send(head + b"\r\n")
    await mod.expect(head + b"\r\n" + PROMPT)
    mod.send(payload)
    await mod.expect(b"\r\nRecv %d bytes\r\n" % len(payload) + after)


async def passthrough(mod: LiveModule) -> None:
    """``AT+CIPSEND`` (execute form, AT+CIPMODE=1): OK and the ``>`` of data mode."""
    mod.send(b"AT+CIPSEND\r\n")
    await mod.expect(b"AT+CIPSEND\r\n" + PROMPT)


async def until(pred: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for an event outside the module (a server thread, a link state)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def link_socket(mod: LiveModule, link_id: int) -> socket.socket:
    """The module's real socket for ``link_id``."""
    link = mod.rt.net.links[link_id]
    sock = link.transport.get_extra_info("socket")
    assert sock is not None
    return sock  # type: ignore[no-any-return]


def udp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def icmp_ok(family: int, proto: int) -> bool:
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(family, kind, proto).close()
        except OSError:
            continue
        return True
    return False


needs_icmp = pytest.mark.skipif(
    not (
        icmp_ok(socket.AF_INET, socket.IPPROTO_ICMP)
        and icmp_ok(socket.AF_INET6, socket.IPPROTO_ICMPV6)
    ),
    reason="no ICMP sockets here (root/CAP_NET_RAW or ping_group_range)",
)


def tls_peer(tmp_path: Path, host: str = "127.0.0.1") -> TlsServerPeer:
    """A one-connection TLS echo server with a self-signed certificate made now."""
    cert, key = self_signed_certificate("www.winnermicro.test")
    pem = write_pem(tmp_path / "peer", "server", cert, key)
    return TlsServerPeer(plain_server_context(pem, tmp_path / "peer" / "server.key"), host)


async def tls_talk(mod: LiveModule) -> None:
    """On a fresh SSL link to a `TlsServerPeer`: "ping" out, its echo in, then its close."""
    await send(mod, b"AT+CIPSEND=4", b"ping", SEND_OK + b"\r\n+IPD,9:echo:ping\r\n")
    await mod.expect(b"CLOSED\r\n")


# --- AT+CIPV6 (no example block: the query, and "enable IPv6 before using it") ----------


def test_cipv6_query_and_ipv6_links_need_it() -> None:
    async def main() -> None:
        with TcpEchoServer(host="::1") as echo:
            async with module() as mod:
                await cmd(mod, b"AT+CIPV6?", b"+CIPV6:1\r\n" + OK)  # default 1
                await cmd(mod, b"AT+CIPV6=0", OK)
                await cmd(mod, b"AT+CIPV6?", b"+CIPV6:0\r\n" + OK)
                line = b'AT+CIPSTART="TCPv6","::1",%d' % echo.port
                await cmd(mod, line, ERROR)
                assert echo.connections_accepted == 0
                await cmd(mod, b"AT+CIPV6=1", OK)
                await cmd(mod, line, b"CONNECT\r\n" + OK)
                await asyncio.to_thread(echo.wait_connections, 1)

    run(main)


# --- AT+CIPSTATE (no example block: both documented responses) ---------------------------


def test_cipstate_without_and_with_links() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo, UdpEchoServer() as udp:
            async with module() as mod:
                await cmd(mod, b"AT+CIPSTATE?", OK)  # "When there is no connection"
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(
                    mod, b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % echo.port, b"0,CONNECT\r\n" + OK
                )
                lport = udp_port()
                await cmd(
                    mod,
                    b'AT+CIPSTART=3,"UDP","127.0.0.1",%d,%d' % (udp.port, lport),
                    b"3,CONNECT\r\n" + OK,
                )
                await asyncio.to_thread(echo.wait_connections, 1)
                tcp_local = echo.peers[0][1]
                await cmd(
                    mod,
                    b"AT+CIPSTATE?",
                    b'+CIPSTATE:0,"TCP","127.0.0.1",%d,%d,0\r\n' % (echo.port, tcp_local)
                    + b'+CIPSTATE:3,"UDP","127.0.0.1",%d,%d,0\r\n' % (udp.port, lport)
                    + OK,
                )

    run(main)


# --- AT+CIPDOMAIN ------------------------------------------------------------------------

DOMAIN_RECORDS = {
    "www.winnermicro.test": ["127.0.0.11", "::1"],
    "ds.test-ipv6.test": ["127.0.0.12", "::1"],
    "ipv6.test-ipv6.test": ["::1"],
}


def test_cipdomain_example() -> None:
    async def main() -> None:
        with DnsResponder(DOMAIN_RECORDS, host=DNS_HOST) as dns:
            async with module(opts=options(dns.port), join=False) as mod:
                await cmd(mod, b"AT+CWMODE=1", OK)
                await join(mod, b'AT+CWJAP="SSID","password"')
                # names are resolved only by the test's responder, never the host's resolver
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(
                    mod, b'AT+CIPDOMAIN="www.winnermicro.test"', b'+CIPDOMAIN:"127.0.0.11"\r\n' + OK
                )
                await cmd(
                    mod, b'AT+CIPDOMAIN="ds.test-ipv6.test",1', b'+CIPDOMAIN:"127.0.0.12"\r\n' + OK
                )
                await cmd(
                    mod,
                    b'AT+CIPDOMAIN="www.winnermicro.test",2',
                    b'+CIPDOMAIN:"127.0.0.11"\r\n' + OK,
                )
                await cmd(
                    mod, b'AT+CIPDOMAIN="ipv6.test-ipv6.test",3', b'+CIPDOMAIN:"::1"\r\n' + OK
                )
                assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [
                    ("www.winnermicro.test", "A"),
                    ("ds.test-ipv6.test", "A"),
                    ("www.winnermicro.test", "A"),
                    ("ipv6.test-ipv6.test", "AAAA"),
                ]

    run(main)


# --- AT+CIPSTART: TCP ----------------------------------------------------------------------


def test_cipstart_tcp_example() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await send(mod, b"AT+CIPSEND=5", b"hello", SEND_OK + b"\r\n+IPD,5:hello\r\n")
                assert echo.connections_accepted == 1

    run(main)


def test_cipstart_tcp_keep_alive_example() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(
                    mod, b'AT+CIPSTART="TCP","127.0.0.1",%d,60' % echo.port, b"CONNECT\r\n" + OK
                )
                sock = link_socket(mod, 0)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                # the same setting as AT+CIPTCPOPT's <keep_alive> (spec)
                await cmd(
                    mod,
                    b"AT+CIPTCPOPT?",
                    b"+CIPTCPOPT:0,-1,0,0,60\r\n"
                    + b"".join(b"+CIPTCPOPT:%d,-1,0,0,0\r\n" % i for i in range(1, 5))
                    + OK,
                )

    run(main)


def test_cipstart_tcp_local_ip_example() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                # the spec's empty <keep_alive>, then the local IP (192.168.10.100 there)
                await cmd(
                    mod,
                    b'AT+CIPSTART="TCP","127.0.0.1",%d,,"127.0.0.2"' % echo.port,
                    b"CONNECT\r\n" + OK,
                )
                await asyncio.to_thread(echo.wait_connections, 1)
                assert echo.peers[0][0] == "127.0.0.2"
                await send(mod, b"AT+CIPSEND=3", b"abc", SEND_OK + b"\r\n+IPD,3:abc\r\n")

    run(main)


def test_cipstart_tcpv6_example() -> None:
    async def main() -> None:
        with TcpEchoServer(host="::1") as echo:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="TCPv6","::1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await send(mod, b"AT+CIPSEND=2", b"v6", SEND_OK + b"\r\n+IPD,2:v6\r\n")
                await asyncio.to_thread(echo.wait_connections, 1)
                assert echo.peers[0][0] == "::1"
                await cmd(
                    mod,
                    b"AT+CIPSTATE?",
                    b'+CIPSTATE:0,"TCPv6","::1",%d,%d,0\r\n' % (echo.port, echo.peers[0][1]) + OK,
                )

    run(main)


# --- AT+CIPSTART: UDP ----------------------------------------------------------------------


def test_cipstart_udp_local_port_mode_2_example() -> None:
    """<mode> 2: every datagram received makes its sender the link's remote."""

    async def main() -> None:
        with UdpEchoServer() as echo, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(5)
            lport = udp_port()  # the spec's 1002
            async with module() as mod:
                await cmd(
                    mod,
                    b'AT+CIPSTART="UDP","127.0.0.1",%d,%d,2' % (echo.port, lport),
                    b"CONNECT\r\n" + OK,
                )
                await send(mod, b"AT+CIPSEND=4", b"ping", SEND_OK + b"\r\n+IPD,4:ping\r\n")
                assert echo.datagrams == [(b"ping", ("127.0.0.1", lport))]
                # another sender: its datagram comes in, and it becomes the remote
                peer.sendto(b"new", ("127.0.0.1", lport))
                await mod.expect(b"\r\n+IPD,3:new\r\n")
                pport = peer.getsockname()[1]
                await cmd(
                    mod,
                    b"AT+CIPSTATE?",
                    b'+CIPSTATE:0,"UDP","127.0.0.1",%d,%d,0\r\n' % (pport, lport) + OK,
                )
                await send(mod, b"AT+CIPSEND=5", b"reply")
                data, addr = await asyncio.to_thread(peer.recvfrom, 100)
                assert (data, addr) == (b"reply", ("127.0.0.1", lport))
                assert len(echo.datagrams) == 1

    run(main)


def test_cipstart_udp_local_ip_example() -> None:
    async def main() -> None:
        with UdpEchoServer() as echo:
            async with module() as mod:
                # empty <local port> and <mode>, then the local IP (192.168.101.100 there)
                await cmd(
                    mod,
                    b'AT+CIPSTART="UDP","127.0.0.1",%d,,,"127.0.0.2"' % echo.port,
                    b"CONNECT\r\n" + OK,
                )
                await send(mod, b"AT+CIPSEND=4", b"from", SEND_OK + b"\r\n+IPD,4:from\r\n")
                ((data, (ip, _port)),) = echo.datagrams
                assert (data, ip) == (b"from", "127.0.0.2")

    run(main)


def test_cipstart_udpv6_example() -> None:
    async def main() -> None:
        with UdpEchoServer(host="::1") as echo:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="UDPv6","::1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await send(mod, b"AT+CIPSEND=6", b"v6 udp", SEND_OK + b"\r\n+IPD,6:v6 udp\r\n")
                assert [(d, a[0]) for d, a in echo.datagrams] == [(b"v6 udp", "::1")]

    run(main)


def test_cipstart_udp_multicast_ipv4_example() -> None:
    """The spec's ``AT+CIPSTART="UDP","239.255.255.254",8080``, with the local IP set.

    Written as in the spec (no local IP) the kernel would join the group on, and send it
    out of, the host's real interface.  With the documented <local IP> parameter set to
    127.0.0.1 the group lives on loopback only.  The <local port> is the group's port, so
    that the module's own socket (multicast loop) and a test listener receive it."""

    async def main() -> None:
        group, port = "239.255.255.254", udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("0.0.0.0", port))
            listener.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(group) + socket.inet_aton("127.0.0.1"),
            )
            listener.settimeout(5)
            async with module() as mod:
                await cmd(
                    mod,
                    b'AT+CIPSTART="UDP","%s",%d,%d,0,"127.0.0.1"' % (group.encode(), port, port),
                    b"CONNECT\r\n" + OK,
                )
                await send(mod, b"AT+CIPSEND=5", b"group", SEND_OK + b"\r\n+IPD,5:group\r\n")
                data, (ip, sport) = await asyncio.to_thread(listener.recvfrom, 100)
                assert (data, sport) == (b"group", port)
                assert ipaddress.ip_address(ip).is_loopback
                # and what another member sends to the group reaches the module
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as member:
                    member.setsockopt(
                        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
                    )
                    member.sendto(b"member", (group, port))
                await mod.expect(b"\r\n+IPD,6:member\r\n")

    run(main)


#: set in the inner run (inside the private namespace): the veth end's scoped address
MCAST6_LOCAL = "W800AT_SPEC_MCAST6_LOCAL"
#: the spec's group as written.  Its scope nibble is F ("reserved"), but Linux joins it
#: and sends to it on the veth link all the same, so no substitute group is needed.
MCAST6_GROUP = "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFE"


def test_cipstart_udpv6_multicast_example() -> None:
    """``AT+CIPSTART="UDPv6","FFFF:...:FFFE",8080`` needs a multicast-capable link: Linux's
    ``lo`` does not deliver IPv6 groups.  So, like tests/net/test_runtime_links.py, the test
    runs again inside a private network namespace with a veth pair, with the veth end's
    link-local address as the <local IP>: nothing can reach the host's interfaces."""
    local = os.environ.get(MCAST6_LOCAL)
    if not local:
        with private_netns(
            "spec-mc6",
            ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["link", "set", "v1", "up"],
            ["link", "set", "v0", "up"],
            ["-6", "addr", "add", "fe80::77/64", "dev", "v0", "nodad"],
        ) as ns:
            run_pytest_in(
                ns,
                f"{__file__}::test_cipstart_udpv6_multicast_example",
                {MCAST6_LOCAL: "fe80::77%v0"},
            )
        return

    async def main() -> None:
        port = udp_port("::1")
        index = socket.if_nametoindex(local.split("%", 1)[1])
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("::", port))
            listener.setsockopt(
                socket.IPPROTO_IPV6,
                socket.IPV6_JOIN_GROUP,
                socket.inet_pton(socket.AF_INET6, MCAST6_GROUP) + struct.pack("@I", index),
            )
            listener.settimeout(5)
            async with module() as mod:
                await cmd(
                    mod,
                    b'AT+CIPSTART="UDPv6","%s",%d,%d,0,"%s"'
                    % (MCAST6_GROUP.encode(), port, port, local.encode()),
                    b"CONNECT\r\n" + OK,
                )
                await send(mod, b"AT+CIPSEND=8", b"v6 group", SEND_OK + b"\r\n+IPD,8:v6 group\r\n")
                data, addr = await asyncio.to_thread(listener.recvfrom, 100)
                assert (data, addr[1]) == (b"v6 group", port)

    run(main)


# --- AT+CIPSTART: SSL ----------------------------------------------------------------------


def test_cipstart_ssl_domain_example(tmp_path: Path) -> None:
    async def main() -> None:
        names = {"www.winnermicro.test": ["127.0.0.1"]}
        with DnsResponder(names, host=DNS_HOST) as dns, tls_peer(tmp_path) as peer:
            async with module(tmp_path / "store", options(dns.port)) as mod:
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(
                    mod,
                    b'AT+CIPSTART="SSL","www.winnermicro.test",%d' % peer.port,
                    b"CONNECT\r\n" + OK,
                )
                await tls_talk(mod)
        assert peer.record.handshake_ok and peer.record.received == b"ping"
        assert peer.record.sni == ["www.winnermicro.test"]  # the name, as typed
        assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [
            ("www.winnermicro.test", "A")
        ]

    run(main)


def test_cipstart_ssl_local_ip_example(tmp_path: Path) -> None:
    async def main() -> None:
        with tls_peer(tmp_path) as peer:
            async with module(tmp_path / "store") as mod:
                await cmd(
                    mod,
                    b'AT+CIPSTART="SSL","127.0.0.1",%d,,"127.0.0.2"' % peer.port,
                    b"CONNECT\r\n" + OK,
                )
                await tls_talk(mod)
        assert peer.record.handshake_ok and peer.record.received == b"ping"
        assert peer.record.peer is not None and peer.record.peer[0] == "127.0.0.2"

    run(main)


def test_cipstart_sslv6_example(tmp_path: Path) -> None:
    async def main() -> None:
        with tls_peer(tmp_path, "::1") as peer:
            async with module(tmp_path / "store") as mod:
                await cmd(mod, b'AT+CIPSTART="SSLv6","::1",%d' % peer.port, b"CONNECT\r\n" + OK)
                await tls_talk(mod)
        assert peer.record.handshake_ok and peer.record.received == b"ping"
        assert peer.record.peer is not None and peer.record.peer[0] == "::1"

    run(main)


# --- AT+CIPSTARTEX (no example block: "the system will automatically assign an ID") -------


def test_cipstartex_assigns_the_lowest_free_id() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo, UdpEchoServer() as udp:
            async with module() as mod:
                # single connection: as AT+CIPSTART
                await cmd(
                    mod, b'AT+CIPSTARTEX="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK
                )
                await cmd(mod, b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(
                    mod, b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % echo.port, b"0,CONNECT\r\n" + OK
                )
                await cmd(
                    mod, b'AT+CIPSTARTEX="TCP","127.0.0.1",%d' % echo.port, b"1,CONNECT\r\n" + OK
                )
                await cmd(
                    mod, b'AT+CIPSTARTEX="UDP","127.0.0.1",%d' % udp.port, b"2,CONNECT\r\n" + OK
                )
                await cmd(mod, b"AT+CIPCLOSE=0", b"0,CLOSED\r\n" + OK)
                await cmd(
                    mod, b'AT+CIPSTARTEX="TCP","127.0.0.1",%d' % echo.port, b"0,CONNECT\r\n" + OK
                )
                await send(mod, b"AT+CIPSEND=2,3", b"udp", SEND_OK + b"\r\n+IPD,2,3:udp\r\n")
                await asyncio.to_thread(echo.wait_connections, 4)
                assert echo.connections_accepted == 4

    run(main)


# --- AT+CIPSEND (no example block: the documented forms) ---------------------------------


def test_cipsend_single_and_limits() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                # "If no connection is established ... ERROR"
                await cmd(mod, b"AT+CIPSEND=5", ERROR)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % sink.port, b"CONNECT\r\n" + OK)
                big = bytes(range(256)) * 22 + bytes(128)  # 5760: the documented maximum
                await send(mod, b"AT+CIPSEND=5760", big)
                await cmd(mod, b"AT+CIPSEND=5761", ERROR)
                await asyncio.to_thread(sink.wait_connection_bytes, 0, 5760)
                assert bytes(sink.connection(0).data) == big

    run(main)


def test_cipsend_multi_connection_form() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMUX=1", OK)
                for i in (0, 1):
                    await cmd(
                        mod,
                        b'AT+CIPSTART=%d,"TCP","127.0.0.1",%d' % (i, sink.port),
                        b"%d,CONNECT\r\n" % i + OK,
                    )
                    await asyncio.to_thread(sink.wait_connections, i + 1)
                await send(mod, b"AT+CIPSEND=1,6", b"link 1")
                await send(mod, b"AT+CIPSEND=0,6", b"link 0")
                await asyncio.to_thread(sink.wait_connection_bytes, 0, 6)
                await asyncio.to_thread(sink.wait_connection_bytes, 1, 6)
                assert [bytes(c.data) for c in sink.connections] == [b"link 0", b"link 1"]

    run(main)


def test_cipsend_udp_remote_host_and_port_form() -> None:
    async def main() -> None:
        with UdpEchoServer() as first, UdpEchoServer() as other:
            async with module() as mod:
                await cmd(
                    mod, b'AT+CIPSTART="UDP","127.0.0.1",%d' % first.port, b"CONNECT\r\n" + OK
                )
                await send(
                    mod,
                    b'AT+CIPSEND=5,"127.0.0.1",%d' % other.port,
                    b"there",
                    SEND_OK + b"\r\n+IPD,5:there\r\n",
                )
                await send(mod, b"AT+CIPSEND=4", b"home", SEND_OK + b"\r\n+IPD,4:home\r\n")
                assert [d for d, _ in other.datagrams] == [b"there"]
                assert [d for d, _ in first.datagrams] == [b"home"]

    run(main)


# --- AT+CIPSENDEX (no example block: \0 ends the data; \\0 is a literal \0) -----------------


def test_cipsendex_backslash_zero() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % sink.port, b"CONNECT\r\n" + OK)
                mod.send(b"AT+CIPSENDEX=10\r\n")
                await mod.expect(b"AT+CIPSENDEX=10\r\n" + PROMPT)
                mod.send(b"ab\\0")  # \0: the data ends here, before the 10 bytes
                await mod.expect(b"\r\nRecv 2 bytes\r\n" + SEND_OK)
                mod.send(b"AT+CIPSENDEX=4\r\n")
                await mod.expect(b"AT+CIPSENDEX=4\r\n" + PROMPT)
                mod.send(b"a\\\\0b")  # \\0 is sent as \0; \<any> drops the backslash
                await mod.expect(b"\r\nRecv 4 bytes\r\n" + SEND_OK)
                await cmd(mod, b"AT", OK)  # back in command mode
                await asyncio.to_thread(sink.wait_connection_bytes, 0, 6)
                assert bytes(sink.connection(0).data) == b"aba\\0b"

    run(main)


# --- AT+CIPCLOSE (no example block: both forms, and ID 5 = all) ---------------------------


def test_cipclose_single_and_multi() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % sink.port, b"CONNECT\r\n" + OK)
                await cmd(mod, b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
                await asyncio.to_thread(sink.wait_closed, 0)
                await cmd(mod, b"AT+CIPMUX=1", OK)
                for i in (0, 2, 4):
                    await cmd(
                        mod,
                        b'AT+CIPSTART=%d,"TCP","127.0.0.1",%d' % (i, sink.port),
                        b"%d,CONNECT\r\n" % i + OK,
                    )
                await asyncio.to_thread(sink.wait_connections, 4)  # the sink accepted them
                await cmd(mod, b"AT+CIPCLOSE=2", b"2,CLOSED\r\n" + OK)
                await asyncio.to_thread(sink.wait_closed, 2)
                assert not sink.connections[1].closed and not sink.connections[3].closed
                await cmd(mod, b"AT+CIPCLOSE=5", b"0,CLOSED\r\n4,CLOSED\r\n" + OK)
                for i in (1, 3):
                    await asyncio.to_thread(sink.wait_closed, i)
                await cmd(mod, b"AT+CIPSTATE?", OK)

    run(main)


# --- AT+CIPMUX ---------------------------------------------------------------------------


def test_cipmux_example() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMUX?", b"+CIPMUX:0\r\n" + OK)
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(mod, b"AT+CIPMUX?", b"+CIPMUX:1\r\n" + OK)
                await cmd(
                    mod, b'AT+CIPSTART=4,"TCP","127.0.0.1",%d' % echo.port, b"4,CONNECT\r\n" + OK
                )
                await send(mod, b"AT+CIPSEND=4,4", b"mux1", SEND_OK + b"\r\n+IPD,4,4:mux1\r\n")
                # "can only be changed when all connections are closed"
                await cmd(mod, b"AT+CIPMUX=0", ERROR)

    run(main)


# --- AT+CIPMODE and +++ ------------------------------------------------------------------


def test_cipmode_example_passthrough() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMODE=1", OK)
                await cmd(mod, b"AT+CIPMODE?", b"+CIPMODE:1\r\n" + OK)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await passthrough(mod)  # the execute form
                mod.send(b"raw bytes, no +IPD")
                await mod.expect(b"raw bytes, no +IPD")
                await asyncio.sleep(SILENCE)
                mod.send(b"+++")
                await asyncio.sleep(SILENCE)
                await cmd(mod, b"AT+CIPMODE=0", OK)
                await send(mod, b"AT+CIPSEND=3", b"abc", SEND_OK + b"\r\n+IPD,3:abc\r\n")

    run(main)


def test_plus_plus_plus_exits_data_mode() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMODE=1", OK)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await passthrough(mod)
                await asyncio.sleep(SILENCE)
                mod.send(b"abc+++def")  # no silence around it: data
                await mod.expect(b"abc+++def")
                await asyncio.sleep(SILENCE)
                mod.send(b"+++")
                mod.send(b"x")  # more input right after the third +: data
                await mod.expect(b"+++x")
                await asyncio.sleep(SILENCE)
                mod.send(b"+")  # three + within 30 ms of each other, silence around
                mod.send(b"+")
                mod.send(b"+")
                await mod.quiet(SILENCE)  # "no command reply"
                await cmd(mod, b"AT", OK)
                # the link stayed open: passthrough again, same connection
                await passthrough(mod)
                mod.send(b"again")
                await mod.expect(b"again")
                assert echo.connections_accepted == 1

    run(main)


# --- AT+CIPSERVER ------------------------------------------------------------------------


def test_cipserver_tcp_example_and_close_all() -> None:
    async def main() -> None:
        port = free_port()  # the spec's 80
        async with module() as mod:
            await cmd(mod, b"AT+CIPMUX=1", OK)
            await cmd(mod, b"AT+CIPSERVER=1,%d" % port, OK)
            await cmd(mod, b"AT+CIPSERVER?", b'+CIPSERVER:1,%d,"TCP",0\r\n' % port + OK)
            r0, w0 = await asyncio.open_connection("127.0.0.1", port)
            await mod.expect(b"0,CONNECT\r\n")
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            await mod.expect(b"1,CONNECT\r\n")
            w1.write(b"hi")
            await mod.expect(b"\r\n+IPD,1,2:hi\r\n")
            # "Close the server and close all connections"
            await cmd(mod, b"AT+CIPSERVER=0,1", b"0,CLOSED\r\n1,CLOSED\r\n" + OK)
            for r, w in ((r0, w0), (r1, w1)):
                assert await asyncio.wait_for(r.read(10), 5) == b""
                w.close()
            await cmd(mod, b"AT+CIPSERVER?", b"+CIPSERVER:0\r\n" + OK)
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)

    run(main)


async def turned_away(reader: asyncio.StreamReader) -> bool:
    """The module closed or reset the connection without serving it."""
    try:
        data = await asyncio.wait_for(reader.read(100), 5)
    except (ConnectionError, ssl.SSLError):
        return True
    return data == b""


def _client_ctx(store: Path, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(store / "certs" / "dev-ca" / "cert.pem")
    if with_cert:
        ctx.load_cert_chain(
            store / "certs" / "client" / "0" / "cert.pem",
            store / "certs" / "client" / "0" / "key.pem",
        )
    return ctx


def test_cipserver_ssl_with_ca_example(tmp_path: Path) -> None:
    store = tmp_path / "store"
    create_dev_pki(store)

    async def main() -> None:
        port = free_port()  # the spec's 443
        async with module(store) as mod:
            await cmd(mod, b"AT+CIPMUX=1", OK)
            await cmd(mod, b'AT+CIPSERVER=1,%d,"SSL",1' % port, OK)
            await cmd(mod, b"AT+CIPSERVER?", b'+CIPSERVER:1,%d,"SSL",1\r\n' % port + OK)
            # <CA enable> 1: a client without a certificate is refused, no link ID taken
            try:
                r, w = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=_client_ctx(store, False), server_hostname="localhost"
                )
            except (ssl.SSLError, ConnectionError):
                pass
            else:
                assert await turned_away(r)
                w.close()
            r, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=_client_ctx(store, True), server_hostname="localhost"
            )
            await mod.expect(b"0,CONNECT\r\n")
            w.write(b"secure")
            await mod.expect(b"\r\n+IPD,0,6:secure\r\n")
            await send(mod, b"AT+CIPSEND=0,2", b"ok")
            assert await asyncio.wait_for(r.readexactly(2), 5) == b"ok"
            w.close()
            await mod.expect(b"0,CLOSED\r\n")

    run(main)


def test_cipserver_sslv6_example(tmp_path: Path) -> None:
    store = tmp_path / "store"
    create_dev_pki(store)

    async def main() -> None:
        port = free_port(socket.AF_INET6)
        async with module(store) as mod:
            await cmd(mod, b"AT+CIPMUX=1", OK)
            await cmd(mod, b'AT+CIPSERVER=1,%d,"SSLv6",0' % port, OK)
            r, w = await asyncio.open_connection(
                "::1", port, ssl=_client_ctx(store, False), server_hostname="localhost"
            )
            await mod.expect(b"0,CONNECT\r\n")
            lport = w.get_extra_info("sockname")[1]
            await cmd(
                mod, b"AT+CIPSTATE?", b'+CIPSTATE:0,"SSLv6","::1",%d,%d,1\r\n' % (lport, port) + OK
            )
            w.write(b"six")
            await mod.expect(b"\r\n+IPD,0,3:six\r\n")
            await cmd(mod, b"AT+CIPSERVER=0,1", b"0,CLOSED\r\n" + OK)
            assert await asyncio.wait_for(r.read(10), 5) == b""
            w.close()

    run(main)


# --- AT+CIPSERVERMAXCONN -----------------------------------------------------------------


def test_cipservermaxconn_example() -> None:
    async def main() -> None:
        port = free_port()
        async with module() as mod:
            await cmd(mod, b"AT+CIPMUX=1", OK)
            await cmd(mod, b"AT+CIPSERVERMAXCONN=2", OK)
            await cmd(mod, b"AT+CIPSERVER=1,%d" % port, OK)
            await cmd(mod, b"AT+CIPSERVERMAXCONN?", b"+CIPSERVERMAXCONN:2\r\n" + OK)
            clients = []
            for i in range(2):
                clients.append(await asyncio.open_connection("127.0.0.1", port))
                await mod.expect(b"%d,CONNECT\r\n" % i)
            r3, w3 = await asyncio.open_connection("127.0.0.1", port)
            assert await turned_away(r3)
            await mod.quiet()
            w3.close()
            for i, (_, w) in enumerate(clients):
                w.close()
                await mod.expect(b"%d,CLOSED\r\n" % i)

    run(main)


# --- AT+CIPSTO (10 s at the spec's value, on the warped clock) ---------------------------


def test_cipsto_example() -> None:
    async def main() -> None:
        port = free_port()  # the spec's 1001
        async with module() as mod:
            await cmd(mod, b"AT+CIPMUX=1", OK)
            await cmd(mod, b"AT+CIPSERVER=1,%d" % port, OK)
            await cmd(mod, b"AT+CIPSTO=10", OK)
            await cmd(mod, b"AT+CIPSTO?", b"+CIPSTO:10\r\n" + OK)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await mod.expect(b"0,CONNECT\r\n")
            await warp(9.0)
            w.write(b"x")  # communication resets the timer
            await mod.expect(b"\r\n+IPD,0,1:x\r\n")
            await warp(9.5)
            await mod.quiet(0.1)  # 9.6 s idle: still open
            await warp(0.5)
            await mod.expect(b"0,CLOSED\r\n")
            assert await asyncio.wait_for(r.read(10), 5) == b""
            w.close()

    run(main)


# --- AT+CIPSNTPCFG / AT+CIPSNTPTIME / AT+CIPSNTPINTV ------------------------------------

SNTP_NAMES = {
    name: ["127.0.0.1"]
    for name in ("cn.ntp.test", "ntp.sjtu.test", "0.pool.ntp.test", "time.google.test")
}
CN = b'"cn.ntp.test","ntp.sjtu.test"'
NY = b'"0.pool.ntp.test","time.google.test"'


async def sntp_time(mod: LiveModule, timeout: float = 5.0) -> bytes:
    """AT+CIPSNTPTIME? once the clock was set (before the first sync it reads 1969/1970)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        out = await mod.cmd(b"AT+CIPSNTPTIME?")
        if not re.search(rb" 19(69|70)\r\n", out) or loop.time() > end:
            return out
        await asyncio.sleep(0.02)


def time_answer(*shown: bytes) -> tuple[bytes, ...]:
    """The query's exact answer: the shown time, or one second on if a second ticked."""
    return tuple(b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:" + s + b"\r\n" + OK for s in shown)


@pytest.mark.parametrize(
    ("args", "query", "shown"),
    [
        (b"1,8," + CN, b"1,8," + CN, (b"Tue Oct 19 17:47:56 2021", b"Tue Oct 19 17:47:57 2021")),
        (b"1,800," + CN, b"1,8," + CN, (b"Tue Oct 19 17:47:56 2021", b"Tue Oct 19 17:47:57 2021")),
        (b"1,-5," + NY, b"1,-5," + NY, (b"Tue Oct 19 04:47:56 2021", b"Tue Oct 19 04:47:57 2021")),
        (
            b"1,-500," + NY,
            b"1,-5," + NY,
            (b"Tue Oct 19 04:47:56 2021", b"Tue Oct 19 04:47:57 2021"),
        ),
        (
            b"1,1245," + NY,
            b"1,12," + NY,
            (b"Tue Oct 19 22:32:56 2021", b"Tue Oct 19 22:32:57 2021"),
        ),
    ],
    ids=["china-8", "china-800", "new-york--5", "new-york--500", "chatham-1245"],
)
def test_cipsntpcfg_example(args: bytes, query: bytes, shown: tuple[bytes, bytes]) -> None:
    async def main() -> None:
        with DnsResponder(SNTP_NAMES, host=DNS_HOST) as dns, SntpResponder(T0) as ntp:
            async with module(opts=options(dns.port, ntp.port)) as mod:
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(mod, b"AT+CIPSNTPCFG=" + args, OK)
                await cmd(mod, b"AT+CIPSNTPCFG?", b"+CIPSNTPCFG:" + query + b"\r\n" + OK)
                assert await sntp_time(mod) in time_answer(*shown)
                first = args.split(b'"')[1].decode()
                assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [(first, "A")]
                assert len(ntp.requests_snapshot()) == 1

    run(main)


def test_cipsntptime_example_with_servers() -> None:
    async def main() -> None:
        with DnsResponder(SNTP_NAMES, host=DNS_HOST) as dns, SntpResponder(T0) as ntp:
            async with module(opts=options(dns.port, ntp.port), join=False) as mod:
                await cmd(mod, b"AT+CWMODE=1", OK)
                await join(mod, b'AT+CWJAP="1234567890","1234567890"')
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(mod, b"AT+CIPSNTPCFG=1,8," + CN, OK)
                assert await sntp_time(mod) in time_answer(
                    b"Tue Oct 19 17:47:56 2021", b"Tue Oct 19 17:47:57 2021"
                )

    run(main)


def test_cipsntptime_example_default_servers() -> None:
    """``AT+CIPSNTPCFG=1,530`` names no server: the module asks its defaults
    ("cn.ntp.org.cn" first).  That name is served by the test's DNS responder, which the
    added ``AT+CIPDNS=1`` line makes the module use, so nothing leaves the host."""

    async def main() -> None:
        names = {"cn.ntp.org.cn": ["127.0.0.1"]}
        with DnsResponder(names, host=DNS_HOST) as dns, SntpResponder(T0) as ntp:
            async with module(opts=options(dns.port, ntp.port), join=False) as mod:
                await cmd(mod, b"AT+CWMODE=1", OK)
                await join(mod, b'AT+CWJAP="1234567890","1234567890"')
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(mod, b"AT+CIPSNTPCFG=1,530", OK)
                assert await sntp_time(mod) in time_answer(
                    b"Tue Oct 19 15:17:56 2021", b"Tue Oct 19 15:17:57 2021"
                )
                assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [
                    ("cn.ntp.org.cn", "A")
                ]

    run(main)


def test_cipsntpintv_example() -> None:
    async def main() -> None:
        with DnsResponder(SNTP_NAMES, host=DNS_HOST) as dns, SntpResponder(T0) as ntp:
            async with module(opts=options(dns.port, ntp.port)) as mod:
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await cmd(mod, b"AT+CIPSNTPCFG=1,8," + CN, OK)
                # "Synchronize time once per hour"
                await cmd(mod, b"AT+CIPSNTPINTV=3600", OK)
                await cmd(mod, b"AT+CIPSNTPINTV?", b"+CIPSNTPINTV:3600\r\n" + OK)
                await until(lambda: len(ntp.requests_snapshot()) == 1, "the first sync")
                await sntp_time(mod)  # the answer has been taken
                await warp(3590.0)
                await asyncio.sleep(0.2)
                assert len(ntp.requests_snapshot()) == 1
                await warp(15.0)
                await until(lambda: len(ntp.requests_snapshot()) == 2, "the hourly sync")

    run(main)


# --- AT+CIPDINFO -------------------------------------------------------------------------


def test_cipdinfo_example() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b"AT+CIPDINFO?", b"+CIPDINFO:false\r\n" + OK)
                await cmd(mod, b"AT+CIPDINFO=1", OK)
                await cmd(mod, b"AT+CIPDINFO?", b"+CIPDINFO:true\r\n" + OK)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK)
                await send(
                    mod,
                    b"AT+CIPSEND=5",
                    b"where",
                    SEND_OK + b'\r\n+IPD,5,"127.0.0.1",%d:where\r\n' % echo.port,
                )
                # "+CIPRECVDATA" too
                await cmd(mod, b"AT+CIPRECVMODE=1", OK)
                await send(mod, b"AT+CIPSEND=4", b"more", SEND_OK + b"\r\n+IPD,4\r\n")
                await cmd(
                    mod,
                    b"AT+CIPRECVDATA=10",
                    b'+CIPRECVDATA:4,"127.0.0.1",%d,more' % echo.port + OK,
                )

    run(main)


# --- AT+CIPRECONNINTV (1 s at the spec's value, on the warped clock) ----------------------


def test_cipreconnintv_example() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b"AT+CIPRECONNINTV=10", OK)  # 10 x 100 ms
                await cmd(mod, b"AT+CIPRECONNINTV?", b"+CIPRECONNINTV:10\r\n" + OK)
                await cmd(mod, b"AT+CIPMODE=1", OK)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % sink.port, b"CONNECT\r\n" + OK)
                await passthrough(mod)
                table = mod.engine.links
                sink.close_client(0)
                await until(
                    lambda: (lk := table.get(0)) is not None and lk.state is LinkState.CONNECTING,
                    "the link lost",
                )
                await warp(0.8)
                await asyncio.sleep(0.1)
                assert sink.connections_accepted == 1  # 0.9 s: not yet
                await warp(0.2)
                await asyncio.to_thread(sink.wait_connections, 2)
                await until(
                    lambda: (lk := table.get(0)) is not None and lk.state is LinkState.OPEN,
                    "the link back",
                )
                mod.send(b"after")  # still in passthrough, on the new connection
                await asyncio.to_thread(sink.wait_connection_bytes, 1, 5)
                assert bytes(sink.connections[1].data) == b"after"
                assert bytes(mod.buf) == b""  # the reconnect printed nothing in data mode

    run(main)


# --- AT+CIPRECVMODE / AT+CIPRECVDATA / AT+CIPRECVLEN ------------------------------------


def test_ciprecvmode_example() -> None:
    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b"AT+CIPRECVMODE=1", OK)
                await cmd(mod, b"AT+CIPRECVMODE?", b"+CIPRECVMODE:1\r\n" + OK)
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % sink.port, b"CONNECT\r\n" + OK)
                sink.send_to(0, b"12345")
                await mod.expect(b"\r\n+IPD,5\r\n")  # single connection: +IPD,<len>
                sink.send_to(0, b"678")
                await mod.quiet()  # not reported again until read
                await cmd(mod, b"AT+CIPRECVDATA=100", b"+CIPRECVDATA:8,12345678" + OK)
                # disconnected: the buffered data can still be read, CLOSED after it
                sink.send_to(0, b"last")
                await mod.expect(b"\r\n+IPD,4\r\n")
                sink.close_client(0)
                await mod.quiet()
                await cmd(mod, b"AT+CIPRECVDATA=4", b"+CIPRECVDATA:4,last" + OK)
                await mod.expect(b"CLOSED\r\n")

    run(main)


def test_ciprecvdata_example() -> None:
    async def main() -> None:
        payload = bytes(range(100))
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(mod, b"AT+CIPRECVMODE=1", OK)
                await cmd(
                    mod, b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % sink.port, b"0,CONNECT\r\n" + OK
                )
                sink.send_to(0, payload)  # "the host MCU receives 100 bytes ..."
                await mod.expect(b"\r\n+IPD,0,100\r\n")
                await cmd(mod, b"AT+CIPRECVDATA=0,100", b"+CIPRECVDATA:100," + payload + OK)

    run(main)


def test_ciprecvlen_example() -> None:
    """The spec's example line reads ``+CIPRECVLEN:100,,,,,`` (six fields), but the
    response format it documents has five, one per link; five it is."""

    async def main() -> None:
        with TcpSinkServer() as sink:
            async with module() as mod:
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(mod, b"AT+CIPRECVMODE=1", OK)
                await cmd(
                    mod, b'AT+CIPSTART=0,"TCP","127.0.0.1",%d' % sink.port, b"0,CONNECT\r\n" + OK
                )
                sink.send_to(0, b"r" * 100)
                await mod.expect(b"\r\n+IPD,0,100\r\n")
                await cmd(mod, b"AT+CIPRECVLEN?", b"+CIPRECVLEN:100,,,,\r\n" + OK)

    run(main)


# --- AT+PING -----------------------------------------------------------------------------


async def ping(mod: LiveModule, line: bytes) -> None:
    """Exactly the echo, ``+PING:<ms>`` (a whole number, at least 1) and OK."""
    out = await mod.cmd(line)
    m = re.fullmatch(re.escape(line) + rb"\r\n\+PING:([1-9][0-9]*)\r\n\r\nOK\r\n", out)
    assert m is not None, out
    assert int(m.group(1)) < 3000


@needs_icmp
def test_ping_example() -> None:
    async def main() -> None:
        names = {"www.baidu.test": ["127.0.0.1"]}
        with DnsResponder(names, host=DNS_HOST) as dns:
            async with module(opts=options(dns.port)) as mod:
                await ping(mod, b'AT+PING="127.0.0.1"')
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2"', OK)
                await ping(mod, b'AT+PING="www.baidu.test"')
                await ping(mod, b'AT+PING="::1"')  # the spec's 240E:FF:E020:966:0:FF:B042:F296
                assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [
                    ("www.baidu.test", "A")
                ]

    run(main)


# --- AT+CIPDNS ---------------------------------------------------------------------------

DNS_RECORDS = {"dns.example.test": ["127.0.0.21"]}


def test_cipdns_example() -> None:
    async def main() -> None:
        from w800at.runtime.resolver import system_dns_servers

        with (
            DnsResponder(DNS_RECORDS, host="::1") as dns6,
            DnsResponder(DNS_RECORDS, host="127.0.0.3", port=dns6.port) as dns4,
        ):
            # a DNS server that does not answer costs net_timeout / 2: keep it short
            async with module(opts=options(dns6.port, net_timeout=1.0)) as mod:
                # automatic: the host's own servers are shown (nothing is resolved here)
                await cmd(mod, b"AT+CIPDNS=0", OK)
                shown = b"".join(b',"%s"' % s.encode() for s in system_dns_servers()[:2])
                await cmd(mod, b"AT+CIPDNS?", b"+CIPDNS:0" + shown + b"\r\n" + OK)
                # two IPv4 servers (the spec's 208.67.222.222 and 8.8.8.8): nothing answers
                # on 127.0.0.2, so the name is resolved by the second one
                await cmd(mod, b'AT+CIPDNS=1,"127.0.0.2","127.0.0.3"', OK)
                await cmd(mod, b"AT+CIPDNS?", b'+CIPDNS:1,"127.0.0.2","127.0.0.3"\r\n' + OK)
                await cmd(
                    mod, b'AT+CIPDOMAIN="dns.example.test"', b'+CIPDOMAIN:"127.0.0.21"\r\n' + OK
                )
                assert len(dns4.queries_snapshot()) == 1
                # IPv6 servers (the spec's 240c::6666 and 2001:4860:4860::8888): loopback
                # has one IPv6 address, so the second server is an IPv4 one
                await cmd(mod, b'AT+CIPDNS=1,"::1","127.0.0.3"', OK)
                await cmd(mod, b"AT+CIPDNS?", b'+CIPDNS:1,"::1","127.0.0.3"\r\n' + OK)
                await cmd(
                    mod, b'AT+CIPDOMAIN="dns.example.test"', b'+CIPDOMAIN:"127.0.0.21"\r\n' + OK
                )
                assert [q.client[0] for q in dns6.queries_snapshot()] == ["::1"]
                assert len(dns4.queries_snapshot()) == 1

    run(main)


# --- AT+CIPTCPOPT (no example block: both set forms and the query) -----------------------


def test_ciptcpopt_forms() -> None:
    async def main() -> None:
        with TcpEchoServer() as echo:
            async with module() as mod:
                await cmd(mod, b'AT+CIPSTART="TCP","127.0.0.1",%d' % echo.port, b"CONNECT\r\n" + OK)
                sock = link_socket(mod, 0)
                await cmd(mod, b"AT+CIPTCPOPT=3,1,5000,30", OK)
                assert struct.unpack(
                    "ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)
                ) == (1, 3)
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
                # empty options keep their last value
                await cmd(mod, b"AT+CIPTCPOPT=,0,,", OK)
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
                defaults = b"".join(b"+CIPTCPOPT:%d,-1,0,0,0\r\n" % i for i in range(1, 5))
                await cmd(mod, b"AT+CIPTCPOPT?", b"+CIPTCPOPT:0,3,0,5000,30\r\n" + defaults + OK)
                await cmd(mod, b"AT+CIPCLOSE", b"CLOSED\r\n" + OK)
                # multiple connections: <link ID> first; 5 = every link
                await cmd(mod, b"AT+CIPMUX=1", OK)
                await cmd(mod, b"AT+CIPTCPOPT=5,-1,0,0,0", OK)
                await cmd(mod, b"AT+CIPTCPOPT=2,,1,,", OK)
                await cmd(
                    mod,
                    b"AT+CIPTCPOPT?",
                    b"".join(b"+CIPTCPOPT:%d,-1,%d,0,0\r\n" % (i, i == 2) for i in range(5)) + OK,
                )
                await cmd(
                    mod, b'AT+CIPSTART=2,"TCP","127.0.0.1",%d' % echo.port, b"2,CONNECT\r\n" + OK
                )
                assert link_socket(mod, 2).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1

    run(main)

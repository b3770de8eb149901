"""Where a UDP link binds: not the wildcard address unless the remote or the
configuration (``[network] udp_bind``) needs it.

Every datagram here goes to loopback, or to the address of a private network namespace
made for the test (`tests.netns`).  Checks of a bound address read ``getsockname()``:
choosing an address sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

import pytest

from tests.harness import LAB_ADDRESSES
from tests.live import OK, LiveModule
from tests.net.helpers import RecordingRuntime, run
from tests.netns import private_netns, run_pytest_in
from tests.servers.tcp_servers import UdpEchoServer
from w800at.core.net_actions import Connect, Connected, Send
from w800at.core.options import ModuleOptions
from w800at.runtime.net_sockopts import udp_bind_address, udp_socket


def udp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def bound(rt: RecordingRuntime, link_id: int) -> tuple[str, int]:
    sock = rt.net.links[link_id].transport.get_extra_info("socket")
    name = sock.getsockname()
    return str(name[0]), int(name[1])


# --- the choice itself -----------------------------------------------------------------


@pytest.mark.parametrize("remote", ["127.0.0.1", "127.0.0.9", "127.1.2.3"])
def test_loopback_remote_binds_loopback(remote: str) -> None:
    assert udp_bind_address(remote, None, 1112) == ("127.0.0.1", 1112)


def test_ipv6_loopback_remote_binds_ipv6_loopback() -> None:
    assert udp_bind_address("::1", None, 1112) == ("::1", 1112, 0, 0)


@pytest.mark.parametrize("remote", ["255.255.255.255", "127.255.255.255"])
def test_broadcast_remote_binds_the_wildcard(remote: str) -> None:
    assert udp_bind_address(remote, None, 1112) == ("0.0.0.0", 1112)


def test_udp_bind_all_binds_the_wildcard() -> None:
    assert udp_bind_address("127.0.0.1", None, 1112, "all") == ("0.0.0.0", 1112)
    assert udp_bind_address("::1", None, 1112, "all") == ("::", 1112, 0, 0)


def test_udp_bind_address_applies_to_its_own_family() -> None:
    assert udp_bind_address("127.0.0.1", None, 7, "127.0.0.2") == ("127.0.0.2", 7)
    assert udp_bind_address("::1", None, 7, "127.0.0.2") == ("::1", 7, 0, 0)  # "auto"
    assert udp_bind_address("::1", None, 7, "::1") == ("::1", 7, 0, 0)


def test_the_local_ip_of_cipstart_wins() -> None:
    assert udp_bind_address("127.0.0.1", "127.0.0.3", 7) == ("127.0.0.3", 7)
    assert udp_bind_address("127.0.0.1", "127.0.0.3", 7, "all") == ("127.0.0.3", 7)
    assert udp_bind_address("255.255.255.255", "127.0.0.3", 7) == ("127.0.0.3", 7)
    assert udp_bind_address("127.0.0.1", "0.0.0.0", 7) == ("0.0.0.0", 7)


def test_udp_socket_binds_the_chosen_address() -> None:
    port = udp_port()
    with udp_socket("127.0.0.1", None, port) as s:
        assert s.getsockname() == ("127.0.0.1", port)
    with udp_socket("127.0.0.1", None, port, "all") as s:
        assert s.getsockname() == ("0.0.0.0", port)
    with udp_socket("255.255.255.255", None, 0) as s:
        assert s.getsockname()[0] == "0.0.0.0"


# --- links opened by the runtime ---------------------------------------------------------


def test_udp_link_to_loopback_is_bound_to_loopback_and_echoes() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with UdpEchoServer() as echo:
            lport = udp_port()
            c = await rt.ok(Connect(0, "UDP", "127.0.0.1", echo.port, local_port=lport))
            assert isinstance(c, Connected)
            assert (c.local_ip, c.local_port) == ("127.0.0.1", lport)
            assert bound(rt, 0) == ("127.0.0.1", lport)
            assert await rt.ok(Send(0, b"both ways")) == 9
            await rt.until(lambda: len(rt.links.datagrams) == 1)
            assert rt.links.datagrams == [(0, b"both ways", ("127.0.0.1", echo.port))]
            assert echo.datagrams == [(b"both ways", ("127.0.0.1", lport))]

    run(main)


def test_udpv6_link_to_loopback_is_bound_to_ipv6_loopback() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with UdpEchoServer("::1") as echo:
            lport = udp_port("::1")
            await rt.ok(Connect(0, "UDPv6", "::1", echo.port, local_port=lport))
            assert bound(rt, 0) == ("::1", lport)
            assert await rt.ok(Send(0, b"six")) == 3
            await rt.until(lambda: len(rt.links.datagrams) == 1)
            assert rt.links.datagrams[0][1] == b"six"

    run(main)


def test_udp_link_without_local_port_is_bound_to_loopback_too() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with UdpEchoServer() as echo:
            await rt.ok(Connect(0, "UDP", "127.0.0.1", echo.port))
            ip, port = bound(rt, 0)
            assert ip == "127.0.0.1" and port > 0

    run(main)


def test_multicast_remote_still_binds_the_wildcard() -> None:
    async def main(rt: RecordingRuntime) -> None:
        group, port = "239.255.77.3", udp_port()
        await rt.ok(Connect(0, "UDP", group, port, local_ip="127.0.0.1", local_port=port))
        assert bound(rt, 0) == ("0.0.0.0", port)

    run(main)


def test_broadcast_remote_still_binds_the_wildcard() -> None:
    async def main(rt: RecordingRuntime) -> None:
        port = udp_port()
        await rt.ok(Connect(0, "UDP", "255.255.255.255", 9, local_port=port))  # nothing sent
        assert bound(rt, 0) == ("0.0.0.0", port)

    run(main)


def test_config_udp_bind_all_binds_the_wildcard() -> None:
    async def main(rt: RecordingRuntime) -> None:
        rt.engine.options.udp_bind = "all"
        with UdpEchoServer() as echo:
            lport = udp_port()
            await rt.ok(Connect(0, "UDP", "127.0.0.1", echo.port, local_port=lport))
            assert bound(rt, 0) == ("0.0.0.0", lport)

    run(main)


def test_config_udp_bind_address() -> None:
    async def main(rt: RecordingRuntime) -> None:
        rt.engine.options.udp_bind = "127.0.0.4"
        with UdpEchoServer() as echo:
            await rt.ok(Connect(0, "UDP", "127.0.0.1", echo.port))
            assert bound(rt, 0)[0] == "127.0.0.4"
            assert await rt.ok(Send(0, b"hi")) == 2
            await rt.until(lambda: len(rt.links.datagrams) == 1)
            assert echo.datagrams[0][1][0] == "127.0.0.4"

    run(main)


def test_explicit_local_ip_wins_over_the_config() -> None:
    async def main(rt: RecordingRuntime) -> None:
        rt.engine.options.udp_bind = "all"
        with UdpEchoServer() as echo:
            lport = udp_port("127.0.0.2")
            await rt.ok(
                Connect(0, "UDP", "127.0.0.1", echo.port, local_ip="127.0.0.2", local_port=lport)
            )
            assert bound(rt, 0) == ("127.0.0.2", lport)

    run(main)


# --- through a real module (AT commands) ----------------------------------------------


@contextlib.asynccontextmanager
async def module(udp_bind: str = "auto") -> AsyncIterator[LiveModule]:
    options = ModuleOptions(addresses=LAB_ADDRESSES, udp_bind=udp_bind)
    async with LiveModule(options=options) as mod:
        await mod.cmd(b"ATE0", OK)
        await mod.join()
        yield mod


def module_link_address(mod: LiveModule, link_id: int = 0) -> tuple[str, int]:
    sock = mod.rt.net.links[link_id].transport.get_extra_info("socket")
    name = sock.getsockname()
    return str(name[0]), int(name[1])


@pytest.mark.parametrize(("udp_bind", "expected"), [("auto", "127.0.0.1"), ("all", "0.0.0.0")])
def test_cipstart_udp_with_local_port(udp_bind: str, expected: str) -> None:
    """``AT+CIPSTART="UDP","127.0.0.1",<port>,<local port>,0``: bound to loopback (or
    the wildcard when the configuration says "all"), and data flows both ways."""

    async def main() -> None:
        with UdpEchoServer() as echo:
            lport = udp_port()
            async with module(udp_bind) as mod:
                await mod.cmd(
                    b'AT+CIPSTART="UDP","127.0.0.1",%d,%d,0' % (echo.port, lport),
                    b"CONNECT\r\n" + OK,
                )
                assert module_link_address(mod) == (expected, lport)
                mod.send(b"AT+CIPSEND=4\r\n")
                await mod.expect(b"\r\nOK\r\n\r\n>")
                mod.send(b"ping")
                await mod.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n\r\n+IPD,4:ping\r\n")
                assert echo.datagrams == [(b"ping", ("127.0.0.1", lport))]

    asyncio.run(main())


# --- in a private network namespace with a second address -------------------------------

#: set for the inner run, inside the namespace
NETNS_ADDR = "W800AT_TEST_UDP_BIND_ADDR"


def test_in_a_namespace_with_another_address() -> None:
    """The namespace has ``lo`` and a veth end with 192.0.2.77/24 (and no default route).
    A loopback link's port is not reachable on 192.0.2.77 unless ``udp_bind = "all"``;
    a link toward the /24 binds 192.0.2.77; one toward its broadcast address the
    wildcard; one toward an address without a route falls back to loopback."""
    addr = os.environ.get(NETNS_ADDR)
    if not addr:
        with private_netns(
            "udpbind",
            ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["link", "set", "v1", "up"],
            ["link", "set", "v0", "up"],
            ["addr", "add", "192.0.2.77/24", "dev", "v0"],
        ) as ns:
            run_pytest_in(
                ns,
                f"{__file__}::test_in_a_namespace_with_another_address",
                {NETNS_ADDR: "192.0.2.77"},
            )
        return

    assert udp_bind_address("192.0.2.50", None, 7) == (addr, 7)
    assert udp_bind_address("192.0.2.255", None, 7) == ("0.0.0.0", 7)
    assert udp_bind_address("198.51.100.1", None, 7) == ("127.0.0.1", 7)  # no route

    async def reachable_on_addr(rt: RecordingRuntime, udp_bind: str) -> bool:
        rt.engine.options.udp_bind = udp_bind
        with UdpEchoServer() as echo:
            lport = udp_port()
            await rt.ok(Connect(0, "UDP", "127.0.0.1", echo.port, local_port=lport))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                peer.sendto(b"via addr", (addr, lport))  # inside the namespace
                peer.sendto(b"via lo", ("127.0.0.1", lport))
            await rt.until(lambda: b"via lo" in {d for _, d, _ in rt.links.datagrams})
            return b"via addr" in {d for _, d, _ in rt.links.datagrams}

    results: dict[str, bool] = {}
    for choice in ("auto", "all"):

        async def main(rt: RecordingRuntime, choice: str = choice) -> None:
            results[choice] = await reachable_on_addr(rt, choice)

        run(main)
    assert results == {"auto": False, "all": True}

"""Many modules in one process (`w800at.Fleet`): 200 over in-memory ports, 200 over
TCP ports, each joining Wi-Fi and echoing through its own loopback TCP link; every
peer connection must carry exactly one module's bytes (no cross talk)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from tests.harness import LAB_ADDRESSES
from w800at import MemoryChannel, Module, ModuleOptions
from w800at.channels.tcp import TcpChannel
from w800at.fleet import Fleet, FleetError, module_names

OK = b"\r\nOK\r\n"
#: a join's answer: OK once IPv4 is up, then the IPv6 URCs
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
N = 200


class RecordingEcho:
    """An asyncio TCP echo server that keeps every connection's bytes."""

    def __init__(self) -> None:
        #: the bytes each connection carried, by the client's (the module's) port
        self.conns: dict[int, bytearray] = {}
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        got = bytearray()
        self.conns[int(w.get_extra_info("peername")[1])] = got
        while data := await r.read(65536):
            got += data
            w.write(data)
        w.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


class Host:
    """The host side of one module's AT port: write, and read exactly."""

    def __init__(
        self, write: Callable[[bytes], None], read: Callable[[int], Awaitable[bytes]]
    ) -> None:
        self.write = write
        self._read = read
        self.buf = bytearray()

    async def expect(self, data: bytes) -> None:
        while len(self.buf) < len(data):
            self.buf += await self._read(65536)
        got = bytes(self.buf[: len(data)])
        del self.buf[: len(data)]
        assert got == data, (got, data)


def payload_for(name: str) -> bytes:
    """Each module's own bytes: its name, then 96 bytes no other module sends."""
    digest = hashlib.sha512(name.encode()).digest()
    return name.encode() + b":" + digest + hashlib.sha256(digest).digest()


async def echo_session(host: Host, module: Module, port: int, local: dict[str, int]) -> None:
    """Join, open a link to the echo server, send our bytes, get exactly them back;
    ``local[name]`` is the link's local port (how the server tells modules apart)."""
    name = module.name
    await host.expect(b"\r\nready\r\n")
    host.write(b"ATE0\r\n")
    await host.expect(b"ATE0\r\n" + OK)
    host.write(b'AT+CWJAP="lab","secret"\r\n')
    await host.expect(JOINED)
    host.write(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % port)
    await host.expect(b"CONNECT\r\n" + OK)
    link = module.engine.links.get(0)
    assert link is not None
    local[name] = link.local_port
    data = payload_for(name)
    host.write(b"AT+CIPSEND=%d\r\n" % len(data))
    await host.expect(b"\r\nOK\r\n\r\n>")
    host.write(data)
    await host.expect(b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(data))
    await host.expect(b"\r\n+IPD,%d:" % len(data) + data + b"\r\n")
    host.write(b"AT+CIPCLOSE\r\n")
    await host.expect(b"CLOSED\r\n" + OK)


def check_no_cross_talk(echo: RecordingEcho, local: dict[str, int]) -> None:
    """One peer connection per module, carrying exactly that module's bytes."""
    assert sorted(echo.conns) == sorted(local.values())
    for name, port in local.items():
        assert bytes(echo.conns[port]) == payload_for(name), name


def test_200_modules_over_memory_channels_echo_without_cross_talk() -> None:
    async def main() -> None:
        echo = RecordingEcho()
        port = await echo.start()
        local: dict[str, int] = {}
        opts = ModuleOptions(addresses=LAB_ADDRESSES, system_dns=())
        async with Fleet(N, lambda i, name: MemoryChannel(), options=opts) as fleet:
            assert [m.name for m in fleet] == module_names(N)

            async def one(i: int) -> None:
                m = fleet[i]
                host = Host(m.host.write, m.host.read)
                await echo_session(host, m, port, local)

            await asyncio.gather(*(one(i) for i in range(N)))
            for m in fleet:
                assert m.engine.bugs == []
        echo.close()
        assert sorted(local) == module_names(N)
        check_no_cross_talk(echo, local)

    asyncio.run(main())


def test_200_modules_over_tcp_ports_echo_without_cross_talk() -> None:
    async def main() -> None:
        echo = RecordingEcho()
        port = await echo.start()
        local: dict[str, int] = {}
        opts = ModuleOptions(addresses=LAB_ADDRESSES, system_dns=())
        async with Fleet(N, lambda i, name: TcpChannel("127.0.0.1", 0), options=opts) as fleet:
            ports = {m.channel.port for m in fleet}  # type: ignore[attr-defined]
            assert len(ports) == N

            async def one(i: int) -> None:
                m = fleet[i]
                r, w = await asyncio.open_connection("127.0.0.1", m.channel.port)  # type: ignore[attr-defined]
                host = Host(w.write, r.read)
                try:
                    await echo_session(host, m, port, local)
                finally:
                    w.close()

            await asyncio.gather(*(one(i) for i in range(N)))
            for m in fleet:
                assert m.engine.bugs == []
        echo.close()
        assert sorted(local) == module_names(N)
        check_no_cross_talk(echo, local)

    asyncio.run(main())


def test_a_module_that_cannot_start_stops_the_whole_fleet() -> None:
    async def main() -> None:
        taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        busy = int(taken.sockets[0].getsockname()[1])
        chans: list[TcpChannel] = []

        def chan(i: int, name: str) -> TcpChannel:
            c = TcpChannel("127.0.0.1", busy if i == 3 else 0)
            chans.append(c)
            return c

        fleet = Fleet(6, chan, options=ModuleOptions(addresses=LAB_ADDRESSES, system_dns=()))
        try:
            await fleet.start()
        except FleetError as exc:
            assert str(exc).startswith(f"module w800-0003 (tcp 127.0.0.1:{busy}) did not start: ")
        else:
            raise AssertionError("the fleet started with a port in use")
        finally:
            taken.close()
        # every other module's port is closed again
        for c in chans:
            if c.port and c.port != busy:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", c.port)
                except ConnectionRefusedError:
                    continue
                w.close()
                raise AssertionError(f"port {c.port} still listens")

    asyncio.run(main())

"""The AT port on a TCP socket (``nc 127.0.0.1 PORT``, ``socat``, a test harness).

A UART has exactly one host, so a second connection while one is active is
closed at once with a log line rather than interleaving two hosts' bytes.
Asyncio protocols (not streams) keep the data path to one callback per chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from ..log import get_logger
from ..runtime.net_sockopts import is_ip_literal
from .base import Channel, ChannelEvents

log = get_logger("w800at.channel")


def format_hostport(host: str, port: int) -> str:
    """``host:port``, with IPv6 literals bracketed as in URLs."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to an IP literal (cheaper than asyncio's resolving path, which
    counts when a fleet opens thousands); the error names the address."""
    v6 = ":" in host
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"cannot listen on {format_hostport(host, port)}: {exc.strerror}"
        ) from None
    return sock


class SingleClientServer:
    """Accepts one client at a time and hands it to ``on_client``.

    Shared by the raw TCP and the RFC 2217 channels: both are "one host on the
    line", and both refuse a second connection the same way.
    """

    def __init__(self, kind: str, host: str, port: int) -> None:
        self.kind = kind
        self.host = host
        self.port = port
        self.active: asyncio.Transport | None = None
        self._server: asyncio.Server | None = None
        self.paused = False

    @property
    def where(self) -> str:
        return format_hostport(self.host, self.port)

    async def listen(self, factory: Callable[[], asyncio.Protocol]) -> int:
        loop = asyncio.get_running_loop()
        plain_ip = is_ip_literal(self.host) and "%" not in self.host and "[" not in self.host
        sock = _listening_socket(self.host, self.port) if plain_ip else None
        if sock is None:  # a name: asyncio resolves it and binds every address
            self._server = await loop.create_server(factory, self.host, self.port)
        else:
            try:
                self._server = await loop.create_server(factory, sock=sock)
            except BaseException:
                sock.close()
                raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def admit(self, transport: asyncio.Transport) -> bool:
        """Claim the line for ``transport``, or refuse it if a host is already on."""
        peer = transport.get_extra_info("peername")
        if self.active is not None:
            log.warning(
                "%s %s: refused connection from %s: a host is already attached (%s)",
                self.kind,
                self.where,
                peer,
                self.active.get_extra_info("peername"),
            )
            transport.abort()
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Interactive AT traffic: do not let Nagle hold back "OK\r\n".
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.active = transport
        if self.paused:
            transport.pause_reading()
        log.info("%s %s: host connected from %s", self.kind, self.where, peer)
        return True

    def pause_reading(self) -> None:
        if not self.paused:
            self.paused = True
            if self.active is not None and not self.active.is_closing():
                self.active.pause_reading()

    def resume_reading(self) -> None:
        if self.paused:
            self.paused = False
            if self.active is not None and not self.active.is_closing():
                self.active.resume_reading()

    def release(self, transport: asyncio.Transport) -> bool:
        """Forget ``transport`` if it is the active one; True if it was."""
        if self.active is not transport:
            return False
        self.active = None
        log.info("%s %s: host disconnected", self.kind, self.where)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self.active is not None:
            self.active.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _TcpProtocol(asyncio.Protocol):
    """One connection: forwards bytes straight to the events sink if admitted."""

    def __init__(self, server: SingleClientServer, events: ChannelEvents) -> None:
        self._server = server
        self._events = events
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._server.admit(transport):
            self._transport = transport
            self._events.attached()

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._events.data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None and self._server.release(self._transport):
            self._transport = None
            self._events.detached()


class TcpChannel(Channel):
    """A TCP listener on ``host:port`` (port 0 = pick one; see ``port``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server = SingleClientServer("tcp", host, port)
        self.description = f"tcp {format_hostport(host, port)}"

    async def start(self, events: ChannelEvents) -> None:
        self.port = await self._server.listen(lambda: _TcpProtocol(self._server, events))
        self.description = f"tcp {format_hostport(self.host, self.port)}"

    def write(self, data: bytes) -> None:
        transport = self._server.active
        if transport is None or transport.is_closing():
            log.debug("tcp: no host attached, dropped %d bytes", len(data))
            return
        transport.write(data)

    def pending(self) -> int:
        transport = self._server.active
        return transport.get_write_buffer_size() if transport is not None else 0

    def pause_reading(self) -> None:
        self._server.pause_reading()

    def resume_reading(self) -> None:
        self._server.resume_reading()

    def set_baud(self, baud: int) -> None:
        """A socket has no line rate: nothing to change."""

    async def close(self) -> None:
        await self._server.close()

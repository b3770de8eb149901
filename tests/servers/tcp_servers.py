"""Loopback TCP echo / sink / source servers and a UDP echo server for data-path tests.

All bind an ephemeral port on 127.0.0.1 by default (pass ``host="::1"`` for IPv6), run in
daemon threads (one per TCP connection, blocking I/O with 256 KiB reads and 4 MiB socket
buffers), are context managers, and count what they saw.  Waiting helpers
(``wait_bytes``, ``wait_connections``, ...) use a condition variable, so tests never sleep.

* :class:`TcpEchoServer` - sends every byte back on the same connection.
* :class:`TcpSinkServer` - swallows data, keeping per-connection byte counts, SHA-256 and
  (optionally) the bytes; can also push data to / close a client on demand.
* :class:`TcpSourceServer` - sends a fixed payload to each client on accept, then optionally
  closes (half-close by default so the client can still talk).
* :class:`UdpEchoServer` - returns every datagram to its sender and records it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.servers.background import ThreadedServer

__all__ = [
    "SinkConnection",
    "TcpEchoServer",
    "TcpSinkServer",
    "TcpSourceServer",
    "UdpEchoServer",
]

RECV_SIZE = 256 * 1024
SOCKET_BUFFER = 4 * 1024 * 1024


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def _big_buffers(sock: socket.socket) -> None:
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)


class _Waitable:
    """A condition variable plus a "wait until predicate" helper with a deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
                self._cond.wait(remaining)


class _TcpServer(_Waitable, ThreadedServer):
    """Listening socket, accept thread and one handler thread per connection."""

    name = "tcp-server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 64) -> None:
        _Waitable.__init__(self)
        ThreadedServer.__init__(self, self.name)
        self.host = host
        self._listener = socket.socket(_family(host), socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _big_buffers(self._listener)  # inherited by accepted sockets
        self._listener.bind((host, port))
        self._listener.listen(backlog)
        self.port: int = self._listener.getsockname()[1]
        self.connections_accepted = 0
        self.bytes_received = 0
        #: the client address (ip, port) of each accepted connection, in order
        self.peers: list[tuple[str, int]] = []
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stop(self) -> None:
        """Close the listener and every client connection, then join all threads."""
        self._stopping = True
        if self._started:
            # Connecting to ourselves wakes the blocked accept() portably (closing or shutting
            # down a listening socket from another thread does not on every kernel).
            with contextlib.suppress(OSError):
                socket.create_connection(self.address, timeout=1).close()
            self._thread.join(timeout=5)
        self._listener.close()
        with self._cond:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def wait_connections(self, count: int, timeout: float = 5.0) -> None:
        """Block until at least *count* connections were accepted."""
        self._wait(lambda: self.connections_accepted >= count, timeout, f"{count} connections")

    def wait_bytes(self, count: int, timeout: float = 5.0) -> None:
        """Block until at least *count* bytes were received in total."""
        self._wait(lambda: self.bytes_received >= count, timeout, f"{count} bytes")

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            if self._stopping:
                conn.close()
                return
            with self._cond:
                index = self.connections_accepted
                self.connections_accepted += 1
                self.peers.append((peer[0], peer[1]))
                self._clients.append(conn)
                self._register(index, conn)
                self._cond.notify_all()
            thread = threading.Thread(
                target=self._run_handler, args=(index, conn), name=self.name, daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run_handler(self, index: int, conn: socket.socket) -> None:
        try:
            self._handle(index, conn)
        except OSError:
            pass
        finally:
            conn.close()
            self._closed(index)
            self._notify()

    def _register(self, index: int, conn: socket.socket) -> None:
        """Hook: called under the lock when connection *index* is accepted."""

    def _closed(self, index: int) -> None:
        """Hook: called when connection *index*'s handler finished."""

    def _handle(self, index: int, conn: socket.socket) -> None:
        raise NotImplementedError

    def _count(self, size: int) -> None:
        with self._cond:
            self.bytes_received += size
            self._cond.notify_all()


class TcpEchoServer(_TcpServer):
    """Echo every received byte back to its sender."""

    name = "tcp-echo"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.bytes_sent = 0

    def _handle(self, index: int, conn: socket.socket) -> None:
        while True:
            data = conn.recv(RECV_SIZE)
            if not data:
                return
            self._count(len(data))
            conn.sendall(data)
            with self._cond:
                self.bytes_sent += len(data)


@dataclass
class SinkConnection:
    """What one sink connection received; ``closed`` once the peer closed it."""

    index: int
    bytes_received: int = 0
    data: bytearray = field(default_factory=bytearray)
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    closed: bool = False

    @property
    def sha256(self) -> str:
        return self.hasher.hexdigest()


class TcpSinkServer(_TcpServer):
    """Swallow all data; record per-connection counts and SHA-256 (and bytes, if kept)."""

    name = "tcp-sink"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_data: bool = True) -> None:
        super().__init__(host, port)
        self.keep_data = keep_data
        self.connections: list[SinkConnection] = []
        self._sockets: dict[int, socket.socket] = {}

    def _register(self, index: int, conn: socket.socket) -> None:
        self.connections.append(SinkConnection(index))
        self._sockets[index] = conn

    def _closed(self, index: int) -> None:
        with self._cond:
            self.connections[index].closed = True

    def _handle(self, index: int, conn: socket.socket) -> None:
        record = self.connections[index]
        while True:
            data = conn.recv(RECV_SIZE)
            if not data:
                return
            with self._cond:
                record.bytes_received += len(data)
                record.hasher.update(data)
                if self.keep_data:
                    record.data += data
                self.bytes_received += len(data)
                self._cond.notify_all()

    def connection(self, index: int = 0, timeout: float = 5.0) -> SinkConnection:
        """The record of connection *index*, waiting for it to be accepted."""
        self.wait_connections(index + 1, timeout)
        return self.connections[index]

    def wait_connection_bytes(self, index: int, count: int, timeout: float = 5.0) -> None:
        """Block until connection *index* received at least *count* bytes."""
        record = self.connection(index, timeout)
        self._wait(lambda: record.bytes_received >= count, timeout, f"{count} bytes on #{index}")

    def wait_closed(self, index: int = 0, timeout: float = 5.0) -> None:
        """Block until the peer of connection *index* closed (recv returned EOF)."""
        record = self.connection(index, timeout)
        self._wait(lambda: record.closed, timeout, f"connection #{index} to close")

    def send_to(self, index: int, data: bytes) -> None:
        """Push *data* from the server to client *index* (e.g. to provoke +IPD)."""
        self.wait_connections(index + 1)
        self._sockets[index].sendall(data)

    def close_client(self, index: int) -> None:
        """Close connection *index* from the server side (both directions)."""
        self.wait_connections(index + 1)
        with contextlib.suppress(OSError):
            self._sockets[index].shutdown(socket.SHUT_RDWR)


class TcpSourceServer(_TcpServer):
    """Send *payload* to every client on accept; then half-close, close, or keep open.

    ``after`` is ``"shutdown"`` (send FIN but keep reading until the client closes),
    ``"close"`` (close at once) or ``"keep"`` (keep the connection open and read).
    With ``go``, the payload waits until the test sets it (e.g. until the module is in
    passthrough: data that came earlier would be +IPD, not raw).
    """

    name = "tcp-source"

    def __init__(
        self,
        payload: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        after: str = "shutdown",
        go: threading.Event | None = None,
    ) -> None:
        if after not in ("shutdown", "close", "keep"):
            raise ValueError(f"after must be shutdown, close or keep, not {after!r}")
        super().__init__(host, port)
        self.payload = payload
        self.after = after
        self.go = go

    def _handle(self, index: int, conn: socket.socket) -> None:
        if self.go is not None and not self.go.wait(30):
            return
        conn.sendall(self.payload)
        if self.after == "close":
            return
        if self.after == "shutdown":
            conn.shutdown(socket.SHUT_WR)
        while True:
            data = conn.recv(RECV_SIZE)
            if not data:
                return
            self._count(len(data))


class UdpEchoServer(_Waitable, ThreadedServer):
    """Return every datagram to its sender; record ``(data, client)`` pairs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        _Waitable.__init__(self)
        ThreadedServer.__init__(self, "udp-echo")
        self.host = host
        self._sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        _big_buffers(self._sock)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self.bytes_received = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stop(self) -> None:
        self._stopping = True
        # A datagram to ourselves wakes recvfrom reliably (close() alone may not).
        with (
            contextlib.suppress(OSError),
            socket.socket(_family(self.host), socket.SOCK_DGRAM) as s,
        ):
            s.sendto(b"", self.address)
        if self._started:
            self._thread.join(timeout=5)
        self._sock.close()

    def wait_datagrams(self, count: int, timeout: float = 5.0) -> None:
        """Block until at least *count* datagrams were received."""
        self._wait(lambda: len(self.datagrams) >= count, timeout, f"{count} datagrams")

    def _serve(self) -> None:
        while True:
            try:
                data, client = self._sock.recvfrom(65535)
            except OSError:
                return
            if self._stopping:
                return
            with self._cond:
                self.datagrams.append((data, (client[0], client[1])))
                self.bytes_received += len(data)
                self._cond.notify_all()
            with contextlib.suppress(OSError):
                self._sock.sendto(data, client)

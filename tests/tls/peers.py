"""Real TLS peers on loopback for the TLS tests, and certificate fixtures' helpers.

``TlsServerPeer`` accepts one connection in a thread, does the server side of the
handshake with the context it is given, records what it saw (SNI, ALPN, client
certificate, PSK identity, or the error) and echoes one message.  The tests then
assert on both ends: the client's outcome and what the server recorded.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from w800at.certs import generate_ca, issue_certificate, key_to_pem
from w800at.runtime.tls import (
    TlsClientConfig,
    client_context,
    server_hostname,
    verify_peer_name,
)

TIMEOUT = 5.0


@dataclass
class ServerRecord:
    """What the server side observed for its one connection."""

    handshake_ok: bool = False
    error: BaseException | None = None
    sni: list[str | None] = field(default_factory=list)
    alpn: str | None = None
    cipher: str | None = None
    version: str | None = None
    client_cert_der: bytes | None = None
    received: bytes = b""
    #: the client's address (ip, port) as the server saw it
    peer: tuple[str, int] | None = None

    @property
    def client_cert(self) -> x509.Certificate | None:
        if self.client_cert_der is None:
            return None
        return x509.load_der_x509_certificate(self.client_cert_der)


class TlsServerPeer:
    """One-shot TLS server on ``host``:random port, run in a thread."""

    def __init__(self, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> None:
        self.ctx = ctx
        self.record = ServerRecord()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, 0), family=family)
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        ctx.sni_callback = self._on_sni
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _on_sni(self, _obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.record.sni.append(name)

    def _serve(self) -> None:
        try:
            conn, addr = self._listener.accept()
        except OSError as exc:
            self.record.error = exc
            return
        self.record.peer = (addr[0], addr[1])
        conn.settimeout(TIMEOUT)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                self.record.handshake_ok = True
                self.record.alpn = tls.selected_alpn_protocol()
                cipher = tls.cipher()
                self.record.cipher = cipher[0] if cipher else None
                self.record.version = tls.version()
                self.record.client_cert_der = tls.getpeercert(binary_form=True)
                data = tls.recv(1024)
                self.record.received = data
                if data:
                    tls.sendall(b"echo:" + data)
        except (OSError, ssl.SSLError) as exc:
            self.record.error = exc
        finally:
            conn.close()

    def __enter__(self) -> TlsServerPeer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.join(TIMEOUT * 2)
        self._listener.close()
        assert not self._thread.is_alive(), "TLS server peer thread did not finish"


@dataclass(frozen=True)
class ClientSession:
    """What the client side saw, captured before the socket closed."""

    alpn: str | None
    version: str | None
    cipher: str | None


def connect_client(
    cfg: TlsClientConfig,
    store: Path,
    port: int,
    *,
    remote_host: str = "127.0.0.1",
    address: str = "127.0.0.1",
    message: bytes = b"ping",
) -> tuple[bytes, ClientSession]:
    """Do what the runtime does for AT+CIPSTART="SSL": context, wrap, name check, talk.

    Returns the echo and what was negotiated.
    """
    ctx = client_context(cfg, store)
    raw = socket.create_connection((address, port), timeout=TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname=server_hostname(cfg, remote_host)) as tls:
        verify_peer_name(tls, cfg, remote_host)
        cipher = tls.cipher()
        session = ClientSession(
            alpn=tls.selected_alpn_protocol(),
            version=tls.version(),
            cipher=cipher[0] if cipher else None,
        )
        tls.sendall(message)
        reply = tls.recv(1024)
    return reply, session


def write_pem(folder: Path, name: str, cert: x509.Certificate, key: object | None = None) -> Path:
    """Write ``cert`` (and ``key`` beside it as ``<name>.key``) for import/serving."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (folder / f"{name}.key").write_bytes(key_to_pem(key))  # type: ignore[arg-type]
    return path


@dataclass(frozen=True)
class ForeignPki:
    """A CA unrelated to the store's dev CA, with a server and a client cert it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_foreign_pki(
    folder: Path, *, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> ForeignPki:
    ca_cert, ca_key = generate_ca("unrelated test CA")
    server_cert, server_key = issue_certificate(ca_cert, ca_key, "foreign.test", hosts=server_names)
    client_cert, client_key = issue_certificate(ca_cert, ca_key, "foreign client", client=True)
    return ForeignPki(
        ca=write_pem(folder, "ca", ca_cert),
        server_cert=write_pem(folder, "server", server_cert, server_key),
        server_key=folder / "server.key",
        client_cert=write_pem(folder, "client", client_cert, client_key),
        client_key=folder / "client.key",
    )


def plain_server_context(cert: Path, key: Path, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """A test peer's own server context (not the module's), optionally requiring client certs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx

"""The contract between the engine's links and the runtime's sockets.

Engine -> runtime: the `Action`s below; each carries everything the runtime needs to
perform it (the name service to resolve with, TLS settings, the address to listen on),
so the runtime reads no command state.  Runtime -> engine: results of awaited actions
(the objects below, or an exception instance as the value), and link events, each
with the current time:

- ``Engine.link_data(link_id, data, addr, now, wire=None)``  bytes (TCP/SSL) or one
  datagram (UDP) arrived; ``addr`` is the sender (the peer for TCP); on an SSL link
  ``data`` is plaintext and ``wire`` the TLS bytes it cost.
- ``Engine.link_closed(link_id, reason, now)``  the peer closed/reset, or the link
  failed.
- ``Engine.link_accepted(kind, remote_ip, remote_port, local_port, now) -> int | None``
  the server accepted a client: the link ID it takes, or None to turn it away.

Link kinds are the spec's type strings: "TCP", "UDP", "SSL", "TCPv6", "UDPv6", "SSLv6".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .actions import Action

#: AT+CIPSSLCCONF <auth_mode> values
AUTH_NONE = 0  # no certificate checks
AUTH_CLIENT_CERT = 1  # the module presents client certificate <pki_number>
AUTH_VERIFY_SERVER = 2  # the module verifies the server with CA <ca_number>
AUTH_MUTUAL = 3  # both


@dataclass(frozen=True)
class TlsSettings:
    """One link's SSL client settings (AT+CIPSSLCCONF / CCN / CSNI / CALPN / CPSK).

    ``common_name``, ``sni``, ``psk`` and ``hint`` use "" for "not set", matching how
    the AT query commands show unset strings.  Length and count limits are enforced by
    the command layer; this class only rejects values that no dialect allows.  The
    runtime builds SSL contexts from it (``w800at.runtime.tls``).
    """

    auth_mode: int = AUTH_NONE
    pki_number: int = 0
    ca_number: int = 0
    common_name: str = ""
    sni: str = ""
    alpn: tuple[str, ...] = ()
    psk: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        if self.auth_mode not in (AUTH_NONE, AUTH_CLIENT_CERT, AUTH_VERIFY_SERVER, AUTH_MUTUAL):
            raise ValueError(f"auth_mode must be 0..3, got {self.auth_mode!r}")
        if any(not p for p in self.alpn):
            raise ValueError("ALPN protocol names must not be empty")

    @property
    def presents_client_cert(self) -> bool:
        """Auth 1 and 3: the module sends certificate ``pki_number``."""
        return self.auth_mode in (AUTH_CLIENT_CERT, AUTH_MUTUAL)

    @property
    def verifies_server(self) -> bool:
        """Auth 2 and 3: the server chain and name are checked."""
        return self.auth_mode in (AUTH_VERIFY_SERVER, AUTH_MUTUAL)

    @property
    def uses_psk(self) -> bool:
        """PSK replaces certificates only when no certificate mode is selected."""
        return bool(self.psk) and self.auth_mode == AUTH_NONE


@dataclass(frozen=True)
class SockOpts:
    """AT+CIPTCPOPT values (and CIPSTART's keep_alive), applied to the real socket."""

    linger: int = -1  # -1 off; >= 0 SO_LINGER on with that many seconds
    nodelay: int = 0  # TCP_NODELAY
    sndtimeo: int = 0  # ms; 0 = no send timeout
    keepalive: int = 0  # s; 0 off, else KEEPIDLE=keepalive, KEEPINTVL=1, KEEPCNT=3


@dataclass(frozen=True)
class NameService:
    """How the module turns a name into an address right now: the AT+CIPDNS=1
    servers (``None``: AT+CIPDNS=0, the host's own resolver) and AT+CIPV6 (IPv6
    answers allowed).  Carried by every action that may resolve a name."""

    servers: tuple[str, ...] | None = None
    ipv6: bool = False


@dataclass(eq=False)
class Connect(Action):
    """Open a client link.  Result: `Connected` or an exception (answer ERROR)."""

    link_id: int
    kind: str
    host: str  # IP literal or a name (<= 64 bytes); the runtime resolves it per AT+CIPDNS
    port: int
    local_ip: str | None = None
    local_port: int | None = None  # UDP only
    opts: SockOpts = field(default_factory=SockOpts)
    tls: TlsSettings | None = None  # SSL kinds only
    names: NameService = field(default_factory=NameService)


@dataclass(frozen=True)
class Connected:
    remote_ip: str
    remote_port: int
    local_ip: str
    local_port: int


@dataclass(eq=False)
class Send(Action):
    """Write data on a link.  Result: the byte count accepted by the stack, or an exception
    (SEND FAIL).  ``addr`` is the AT+CIPSEND per-send UDP remote (host may be a name)."""

    link_id: int
    data: bytes
    addr: tuple[str, int] | None = None
    #: how to resolve ``addr``'s host when it is a name
    names: NameService | None = None

    defer_aware: ClassVar[bool] = True


@dataclass(eq=False)
class Close(Action):
    """Close a link (AT+CIPCLOSE, server shutdown, idle timeout).  Result: None."""

    link_id: int


@dataclass(eq=False)
class SetReading(Action):
    """Pause/resume reading the socket (passive-mode window full, host not keeping up)."""

    link_id: int
    paused: bool


@dataclass(eq=False)
class SetSockOpts(Action):
    """Apply AT+CIPTCPOPT options to an open link's socket."""

    link_id: int
    opts: SockOpts


@dataclass(eq=False)
class Listen(Action):
    """Start the module's server.  Result: the bound port (int) or an exception."""

    port: int
    kind: str  # "TCP", "TCPv6", "SSL", "SSLv6"
    ca_enable: bool = False
    #: the address to listen on (``[network] server_bind`` resolved by the engine)
    host: str = "127.0.0.1"
    #: more addresses to listen on, same port (the SoftAP's stand-in, ``[softap] host``)
    also: tuple[str, ...] = ()


@dataclass(eq=False)
class StopListening(Action):
    """Stop the server (existing client links are not touched).  Result: None."""

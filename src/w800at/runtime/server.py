"""The module's server socket: performs `Listen` and `StopListening`.

It listens where the `Listen` action says (the engine resolved ``[network]
server_bind``: loopback by default; see ``commands/server.py``).  Each accepted
connection (after the TLS handshake, for SSL servers: `TlsAcceptor` does it on the
plain TCP connection, within the network timeout) asks the engine for a link ID
(`Engine.link_accepted`); it is then adopted by the net feature (`NetFeature.adopt`)
and is an ordinary link, or turned away (aborted) when the engine says so
(AT+CIPSERVERMAXCONN reached, no free ID).  A client whose handshake fails or stalls
never reaches the engine (nor does one whose handshake a ``tls_fail`` fault fails).

SSL servers serve ``certs/server/cert.pem`` from the store; a fresh store gets a
self-signed identity on first use (``certs.ensure_server_identity``, made off the
event loop).  ``<CA enable>`` 1 requires a client certificate that chains to
``certs/server/ca.pem`` (``w800at certs init`` installs one); without that file
AT+CIPSERVER answers ERROR and the log says why.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TYPE_CHECKING, cast

from ..core.net_actions import Listen, StopListening
from ..log import get_logger
from .tls_layer import TlsAcceptor, TlsSession

if TYPE_CHECKING:
    from .runner import Runtime

log = get_logger("w800at.server")


class _Acceptor(asyncio.Protocol):
    """Lives only until ``connection_made``: gets an ID, then hands over to a link."""

    def __init__(self, feat: ServerFeature, kind: str) -> None:
        self.feat = feat
        self.kind = kind

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.feat.accepted(self.kind, cast(asyncio.Transport, transport))


class ServerFeature:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.server: asyncio.Server | None = None

    def listen(self, act: Listen) -> None:
        self.rt.spawn(self._listen(act), act)

    async def _listen(self, act: Listen) -> int:
        self.close()
        v6 = act.kind.endswith("v6")
        ctx = await self._tls(act) if act.kind.startswith("SSL") else None
        kind = act.kind
        timeout = self.rt.engine.options.net_timeout

        def acceptor() -> asyncio.Protocol:
            if ctx is None:
                return _Acceptor(self, kind)
            return TlsAcceptor(
                ctx, timeout, lambda t, s: self.accepted(kind, t, s), self._tls_doomed
            )

        hosts = [act.host, *(h for h in act.also if h != act.host)]
        # SSL too: plain TCP, TLS is the links' own layer (runtime/tls_layer.py)
        self.server = await self.rt.loop.create_server(
            acceptor,
            hosts if len(hosts) > 1 else act.host,
            act.port,
            family=socket.AF_INET6 if v6 else socket.AF_INET,
            reuse_address=True,
        )
        port = int(self.server.sockets[0].getsockname()[1])
        log.info("%s server listening on %s port %d", act.kind, ", ".join(hosts), port)
        return port

    async def _tls(self, act: Listen) -> ssl.SSLContext:
        from . import tls

        store_dir = self.rt.certs_dir
        try:
            # key generation and file reads: off the loop, other modules keep running
            return await asyncio.to_thread(
                tls.server_context, store_dir, require_client_cert=act.ca_enable
            )
        except Exception as exc:
            log.error("SSL server not started: %s", exc)
            raise

    def _tls_doomed(self, transport: asyncio.Transport) -> bool:
        """A client reached the SSL server: whether a ``tls_fail`` fault (the test
        bench) fails its handshake."""
        book = self.rt.link_faults
        if not book:
            return False
        peer = transport.get_extra_info("peername") or ("", 0)
        return book.on_tls_accept((str(peer[0]), int(peer[1])))

    def accepted(
        self, kind: str, transport: asyncio.Transport, session: TlsSession | None = None
    ) -> None:
        rt = self.rt
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        if self.server is None or rt.closing:
            transport.abort()
            return
        link_id = rt.engine.link_accepted(kind, str(peer[0]), int(peer[1]), int(local[1]), rt.now())
        if link_id is None:
            log.info("client %s:%s turned away (server full)", peer[0], peer[1])
            transport.abort()
        else:
            rt.net.adopt(link_id, kind, transport, session)
        rt.pump()

    def stop(self, act: StopListening) -> None:
        self.close()
        if act.token:
            self.rt.complete(act, None)

    def close(self) -> None:
        """Stop listening; accepted clients are links now and are not touched."""
        server, self.server = self.server, None
        if server is not None:
            server.close()

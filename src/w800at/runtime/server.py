"""The module's server socket: performs `Listen` and `StopListening`.

Each accepted connection (after the TLS handshake, for SSL servers) asks the engine's
link table for a link ID (``on_accepted``); it is then adopted by the net feature
(`net.adopt`) and is an ordinary link, or turned away (aborted) when the table says
so (AT+CIPSERVERMAXCONN reached, no free ID).

Where it listens (``ModuleOptions.server_bind``, config ``[network] server_bind``):

- ``"loopback"`` (default): 127.0.0.1 / ::1.  A real module exposes its server to
  the LAN, but an emulator started on a laptop should not open a port to the network
  unless asked; drivers under test and peers on this host reach it on loopback.
- ``"station"``: the station's address (AT+CIPSTA / the host's own).
- ``"all"``: every interface of the server's family (0.0.0.0 / ::).
- an IP literal: exactly that address.

SSL servers serve ``certs/server/cert.pem`` from the store; a fresh store gets a
self-signed identity on first use (``certs.ensure_server_identity``).  ``<CA enable>``
1 requires a client certificate that chains to ``certs/server/ca.pem`` (``w800at
certs init`` installs one); without that file AT+CIPSERVER answers ERROR and the log
says why.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import cast

from ..core.links import links_of
from ..core.net_actions import Listen, StopListening
from . import net
from .runner import Runtime

log = logging.getLogger("w800at.server")

_LOOPBACK = {False: "127.0.0.1", True: "::1"}
_ANY = {False: "0.0.0.0", True: "::"}


def install(rt: Runtime) -> None:
    feat = ServerFeature(rt)
    rt.on_action(Listen, feat.listen)
    rt.on_action(StopListening, feat.stop)
    rt.on_reset(feat.close)
    rt.on_close(feat.close)


def bind_host(rt: Runtime, v6: bool) -> str:
    """The address to listen on, per ``server_bind`` (see the module docstring)."""
    eng = rt.engine
    choice = eng.options.server_bind
    if choice == "loopback":
        return _LOOPBACK[v6]
    if choice == "all":
        return _ANY[v6]
    if choice == "station":
        from ..commands.wifi import addresses

        a = addresses(eng)
        ip = (a.ip6_gl or a.ip6_ll) if v6 else a.ip
        if not ip or ip in ("0.0.0.0", "::"):
            raise OSError("the station has no address to listen on yet")
        return ip
    return choice


class _Acceptor(asyncio.Protocol):
    """Lives only until ``connection_made``: gets an ID, then hands over to a link."""

    def __init__(self, feat: ServerFeature, kind: str) -> None:
        self.feat = feat
        self.kind = kind

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.feat.accepted(self.kind, transport)


class ServerFeature:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.server: asyncio.Server | None = None

    def listen(self, act: Listen) -> None:
        self.rt.spawn(self._listen(act), act)

    async def _listen(self, act: Listen) -> int:
        self.close()
        v6 = act.kind.endswith("v6")
        ctx = self._tls(act) if act.kind.startswith("SSL") else None
        host = bind_host(self.rt, v6)
        kind = act.kind
        self.server = await self.rt.loop.create_server(
            lambda: _Acceptor(self, kind),
            host,
            act.port,
            ssl=ctx,
            family=socket.AF_INET6 if v6 else socket.AF_INET,
            reuse_address=True,
            ssl_handshake_timeout=self.rt.engine.options.net_timeout if ctx else None,
        )
        port = int(self.server.sockets[0].getsockname()[1])
        log.info("%s server listening on %s port %d", act.kind, host, port)
        return port

    def _tls(self, act: Listen) -> ssl.SSLContext:
        from . import tls

        store_dir = Path(self.rt.engine.parts.get("store_dir") or ".")
        try:
            return tls.server_context(store_dir, require_client_cert=act.ca_enable)
        except Exception as exc:
            log.error("SSL server not started: %s", exc)
            raise

    def accepted(self, kind: str, base: asyncio.BaseTransport) -> None:
        rt = self.rt
        transport = cast(asyncio.Transport, base)  # stream servers give stream transports
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        if self.server is None or rt.closing:
            transport.abort()
            return
        rt.engine.now = rt.now()
        link_id = links_of(rt.engine).on_accepted(kind, str(peer[0]), int(peer[1]), int(local[1]))
        if link_id is None:
            log.info("client %s:%s turned away (server full)", peer[0], peer[1])
            transport.abort()
        else:
            net.adopt(rt, link_id, kind, transport)
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

"""The links' real sockets: performs `Connect`, `Send`, `Close`, `SetReading` and
`SetSockOpts` (see `w800at.core.net_actions`, the contract with the engine's links).

Runtime -> engine events go through `Engine.link_data` and `Engine.link_closed`
(with the current time), each followed by ``rt.pump()``.  A `Close` the engine asked
for, and a module reset, produce no events.

Back-pressure toward the host: when the channel's unsent output passes
`HIGH_WATER`, every link stops reading its socket (TCP then pushes back on the
remote sender; nothing is lost) until the output drains below `LOW_WATER`.  The
drain is polled every `DRAIN_POLL` s only while throttled, so the data path pays
one ``pending()`` call per received chunk.

Server-accepted connections (the server feature) become links with `NetFeature.adopt`,
called synchronously inside the acceptor's ``connection_made`` once the engine gave
the client an ID: it swaps the transport's protocol for a `StreamLink`, so from then
on data, peer close, Send/Close/SetReading/SetSockOpts work exactly as for client
links.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import TYPE_CHECKING, Any

from ..core.engine import Mode
from ..core.net_actions import (
    Close,
    Connect,
    Connected,
    NameService,
    Send,
    SetReading,
    SetSockOpts,
    TlsSettings,
)
from ..log import get_logger
from .net_links import DatagramLink, Link, LinkGone, StreamLink
from .net_sockopts import apply_tcp_opts, is_ip_literal, udp_socket
from .services import resolve_name
from .tls_layer import TlsSession, TlsStreamLink

if TYPE_CHECKING:
    from .runner import Runtime

log = get_logger("w800at.net")

#: channel backlog (bytes) above which links stop reading, and below which they resume
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
DRAIN_POLL = 0.002


class NetFeature:
    """The table of open links and the handlers for the link actions."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.links: dict[int, Link] = {}
        #: bumped on reset: a Connect finishing after it must not register its link
        self.generation = 0
        self.host_paused = False
        self._poll: asyncio.TimerHandle | None = None
        self.closed = False

    # --- events from links -> engine

    def link_data(
        self, link: Link, data: bytes, addr: tuple[str, int], wire: int | None = None
    ) -> None:
        if self.links.get(link.link_id) is not link:
            return
        rt = self.rt
        rt.engine.link_data(link.link_id, data, addr, rt.now(), wire)
        rt.pump()
        if not self.host_paused and rt.channel.pending() > HIGH_WATER:
            self._throttle()

    def link_lost(self, link: Link, reason: str) -> None:
        if self.links.get(link.link_id) is not link:
            return
        del self.links[link.link_id]
        self._tap_event(link, f"closed ({reason})")
        if self.rt.link_faults is not None:
            self.rt.link_faults.link_gone(link)
        rt = self.rt
        rt.engine.link_closed(link.link_id, reason, rt.now())
        rt.pump()

    def _tap_event(self, link: Link, text: str) -> None:
        if link.tap is not None:
            link.tap.event(link.link_id, text)

    # --- host back-pressure

    def _throttle(self) -> None:
        self.host_paused = True
        for link in self.links.values():
            link.host_paused = True
            link.apply_reading()
        self._poll = self.rt.loop.call_later(DRAIN_POLL, self._check_drain)

    def _check_drain(self) -> None:
        self._poll = None
        if self.closed:
            return
        if self.rt.channel.pending() > LOW_WATER:
            self._poll = self.rt.loop.call_later(DRAIN_POLL, self._check_drain)
            return
        self.host_paused = False
        for link in list(self.links.values()):
            link.host_paused = False
            link.apply_reading()

    # --- table

    def register(self, link: Link) -> None:
        old = self.links.get(link.link_id)
        if old is not None and old is not link:
            log.warning("link %d replaced while open", link.link_id)
            old.abort()
        self.links[link.link_id] = link
        link.tap = self.rt.link_tap
        if link.tap is not None:
            peer = link.peer if isinstance(link, StreamLink) else (link.remote or link.peer)
            link.tap.event(link.link_id, f"open {link.kind} {peer[0]}:{peer[1]}")
        link.host_paused = self.host_paused
        link.apply_reading()
        book = self.rt.link_faults
        if book:
            book.on_register(link)

    def adopt(
        self,
        link_id: int,
        kind: str,
        transport: asyncio.BaseTransport,
        session: TlsSession | None = None,
    ) -> StreamLink:
        """Make an accepted TCP/SSL connection link ``link_id`` (see the module
        docstring); an SSL client comes with its established ``session``."""
        if session is None:
            link = StreamLink(self, link_id, kind)
        else:
            link = TlsStreamLink(self, link_id, kind, session)
        transport.set_protocol(link)
        link.connection_made(transport)
        self.register(link)
        if isinstance(link, TlsStreamLink) and link.session.has_tail:
            link.tls_received(b"")  # data that came with the client's Finished
        return link

    def _done(self, act: Any, result: object) -> None:
        if act.token:
            self.rt.complete(act, result)
        elif isinstance(result, BaseException):
            log.debug("%s failed: %s", type(act).__name__, result)

    # --- Connect

    def connect(self, act: Connect) -> None:
        rt = self.rt
        task = rt.loop.create_task(self._open(act))
        rt.tasks.add(task)

        def done(t: asyncio.Task[Connected]) -> None:
            rt.tasks.discard(t)
            if t.cancelled() or rt.closing:
                return
            exc = t.exception()
            self._done(act, exc if exc is not None else t.result())
            link = self.links.get(act.link_id)
            if exc is None and link is not None and link.held:
                link.release()  # the engine has the link open now: data may flow

        task.add_done_callback(done)

    async def resolve(self, host: str, v6: bool, names: NameService) -> str:
        """An address for ``host``: as is for IP literals, else per the name service."""
        if is_ip_literal(host):
            return host
        network = 3 if v6 else 2  # AT+CIPDOMAIN's <ip network>: IPv6 only / IPv4 only
        return await resolve_name(names, host, network, self.rt.engine.options)

    async def _open(self, act: Connect) -> Connected:
        gen = self.generation
        base, v6 = act.kind.removesuffix("v6"), act.kind.endswith("v6")
        async with asyncio.timeout(self.rt.engine.options.net_timeout):
            ip = await self.resolve(act.host, v6, act.names)
            book = self.rt.link_faults
            # the test bench: a refuse raises here; a tls_fail fails the TLS handshake
            fail_tls = book.on_connect(act, ip) if book else False
            if base == "UDP":
                link, transport = await self._open_udp(act, ip)
            else:
                link, transport = await self._open_stream(act, ip, base == "SSL", fail_tls)
        if gen != self.generation or self.closed:
            link.abort()
            raise LinkGone("module was reset during connect")
        if isinstance(link, StreamLink):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                apply_tcp_opts(sock, act.opts)
        link.sndtimeo = act.opts.sndtimeo
        self.register(link)
        local = transport.get_extra_info("sockname")
        remote = link.peer if isinstance(link, StreamLink) else (ip, act.port)
        return Connected(remote[0], remote[1], str(local[0]), int(local[1]))

    async def _open_udp(self, act: Connect, ip: str) -> tuple[Link, Any]:
        link = DatagramLink(self, act.link_id, act.kind)
        link.asked = (act.host, act.port)
        link.held = True
        link.remote = (ip, act.port)
        link.peer = link.remote
        sock = udp_socket(ip, act.local_ip, act.local_port or 0, self.rt.engine.options.udp_bind)
        transport, _ = await self.rt.loop.create_datagram_endpoint(lambda: link, sock=sock)
        return link, transport

    async def _open_stream(
        self, act: Connect, ip: str, secure: bool, fail_tls: bool = False
    ) -> tuple[Link, Any]:
        if secure:
            link: StreamLink = await self._tls_link(act, fail_tls)
        else:
            link = StreamLink(self, act.link_id, act.kind)
        link.asked = (act.host, act.port)
        link.held = True
        local = (act.local_ip, 0) if act.local_ip else None
        # SSL too: a plain TCP transport, the link does TLS itself (runtime/tls_layer.py)
        transport, _ = await self.rt.loop.create_connection(
            lambda: link, ip, act.port, local_addr=local
        )
        if isinstance(link, TlsStreamLink):
            try:  # the handshake and the name check, within the connect's timeout
                await link.handshake
            except BaseException:
                link.abort()
                raise
        return link, transport

    async def _tls_link(self, act: Connect, fail: bool = False) -> TlsStreamLink:
        from . import tls as tlsmod

        cfg = act.tls or TlsSettings()
        # certificate files are read off the loop: other modules keep running
        ctx = await asyncio.to_thread(tlsmod.client_context, cfg, self.rt.certs_dir)
        host = act.host

        def check(obj: ssl.SSLObject) -> None:
            tlsmod.verify_peer_name(obj, cfg, host)

        session = TlsSession(
            ctx, server_side=False, server_hostname=tlsmod.server_hostname(cfg, host), check=check
        )
        if fail:
            session.fail_handshake()
        return TlsStreamLink(self, act.link_id, act.kind, session)

    # --- Send / Close / SetReading / SetSockOpts

    def send(self, act: Send) -> None:
        link = self.links.get(act.link_id)
        if link is None:
            self._done(act, LinkGone(f"link {act.link_id} is not open"))
            return
        addr = act.addr
        if addr is not None and isinstance(link, DatagramLink) and not is_ip_literal(addr[0]):
            self.rt.spawn(self._send_named(link, act, addr), act if act.token else None)
            return
        if isinstance(link, StreamLink) and link.can_send_later():
            # the answer is known: let the host have it before the kernel moves the bytes
            self._done(act, link.send_later(act.data, self.rt.after_output))
            return
        self.rt.run_deferred()  # keep the order with sends put off earlier in this pump
        try:
            r = link.send(act.data, addr if isinstance(link, DatagramLink) else None)
        except OSError as exc:
            self._done(act, exc)
            return
        if isinstance(r, int):
            self._done(act, r)
            return
        if self.rt.engine.mode is Mode.DATA:
            # passthrough / CIPSENDL: the host streams on while the remote is slow; hold
            # its input until the link's send buffer drains (like UART flow control)
            self.rt.hold_host(r)
            r.add_done_callback(self.rt.release_host)
        if act.token:
            self.rt.spawn(self._wait_sent(r, link.sndtimeo), act)

    async def _send_named(self, link: Link, act: Send, addr: tuple[str, int]) -> int:
        names = act.names or NameService(ipv6=link.kind.endswith("v6"))
        ip = await self.resolve(addr[0], link.kind.endswith("v6"), names)
        r = link.send(act.data, (ip, addr[1]))
        assert isinstance(r, int)
        return r

    @staticmethod
    async def _wait_sent(fut: asyncio.Future[int], sndtimeo: int) -> int:
        if sndtimeo <= 0:
            return await fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), sndtimeo / 1000)
        except TimeoutError:
            fut.cancel()  # withdrawn: the data is never sent
            raise TimeoutError(f"send not taken by the stack within {sndtimeo} ms") from None

    def close(self, act: Close) -> None:
        link = self.links.pop(act.link_id, None)
        if link is not None:
            link.close()
            self._tap_event(link, "closed (by the module)")
            if self.rt.link_faults is not None:
                self.rt.link_faults.link_gone(link)
        self._done(act, None)

    def set_reading(self, act: SetReading) -> None:
        link = self.links.get(act.link_id)
        if link is not None:
            link.engine_paused = act.paused
            link.apply_reading()
        self._done(act, None)

    def set_sockopts(self, act: SetSockOpts) -> None:
        link = self.links.get(act.link_id)
        if link is None:
            self._done(act, LinkGone(f"link {act.link_id} is not open"))
            return
        link.sndtimeo = act.opts.sndtimeo
        result: object = None
        if isinstance(link, StreamLink) and link.transport is not None:
            sock = link.transport.get_extra_info("socket")
            try:
                if sock is not None:
                    apply_tcp_opts(sock, act.opts)
            except OSError as exc:
                result = exc
        self._done(act, result)

    # --- reset and shutdown

    def drop_all(self) -> None:
        """Module reboot: every link vanishes at once, without events."""
        self.generation += 1
        links, self.links = self.links, {}
        for link in links.values():
            with contextlib.suppress(Exception):
                link.abort()
            self._tap_event(link, "closed (module reset)")
            if self.rt.link_faults is not None:
                self.rt.link_faults.link_gone(link)

    def shutdown(self) -> None:
        self.closed = True
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        links, self.links = self.links, {}
        for link in links.values():
            with contextlib.suppress(Exception):
                link.close()

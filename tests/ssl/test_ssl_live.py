"""AT+CIPSTART="SSL" with the AT+CIPSSLC* settings against real TLS servers on loopback
(a whole module: Engine + Runtime); certificates are made at test time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.live import LiveModule
from tests.tls.peers import ForeignPki, TlsServerPeer, make_foreign_pki, plain_server_context
from w800at.certs import DevPki, create_dev_pki
from w800at.runtime.tls import psk_supported

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    create_dev_pki(path)
    return path


@pytest.fixture
def dev(store: Path) -> DevPki:
    from w800at.certs import ca_path, client_pki_paths, server_identity_paths

    return DevPki(
        ca_cert=store / "certs" / "dev-ca" / "cert.pem",
        ca_key=store / "certs" / "dev-ca" / "key.pem",
        client=client_pki_paths(store, 0),
        ca=ca_path(store, 0),
        server=server_identity_paths(store),
    )


@pytest.fixture
def foreign(tmp_path: Path) -> ForeignPki:
    return make_foreign_pki(tmp_path / "foreign")


def dev_peer(
    dev: DevPki, *, client_ca: bool = False, alpn: list[str] | None = None
) -> TlsServerPeer:
    ctx = plain_server_context(
        dev.server.cert, dev.server.key, client_ca=dev.ca_cert if client_ca else None
    )
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return TlsServerPeer(ctx)


def live(store: Path, body: Callable[[LiveModule], Awaitable[None]]) -> None:
    async def main() -> None:
        async with LiveModule(store) as mod:
            await mod.join()
            await body(mod)

    asyncio.run(asyncio.wait_for(main(), 30))


async def talk(mod: LiveModule, port: int, host: str = "127.0.0.1") -> None:
    """CIPSTART succeeds, "ping" goes out, the peer's echo comes back, the peer closes."""
    line = b'AT+CIPSTART="SSL","%s",%d' % (host.encode(), port)
    await mod.cmd(line, b"CONNECT\r\n" + OK)
    mod.send(b"AT+CIPSEND=4\r\n")
    await mod.expect(b"AT+CIPSEND=4\r\n\r\nOK\r\n\r\n>")
    mod.send(b"ping")
    # The wire-format doc: SEND OK comes before the +IPD the send provoked.
    await mod.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n\r\n+IPD,9:echo:ping\r\n")
    await mod.expect(b"CLOSED\r\n")


async def refused(mod: LiveModule, port: int, host: str = "127.0.0.1") -> None:
    line = b'AT+CIPSTART="SSL","%s",%d' % (host.encode(), port)
    await mod.cmd(line, ERROR)
    await mod.quiet()


def test_auth0_any_server(store: Path, foreign: ForeignPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=0", OK)
        with TlsServerPeer(plain_server_context(foreign.server_cert, foreign.server_key)) as p:
            await talk(mod, p.port)
        assert p.record.handshake_ok and p.record.client_cert_der is None

    live(store, body)


def test_auth1_presents_client_certificate(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=1,0,0", OK)
        with dev_peer(dev, client_ca=True) as p:
            await talk(mod, p.port)
        cert = p.record.client_cert
        assert cert is not None
        from cryptography.x509.oid import NameOID

        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert [a.value for a in cn] == ["w800at client 0"]

    live(store, body)


def test_auth2_verifies_server(store: Path, dev: DevPki, foreign: ForeignPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=2,0,0", OK)
        with dev_peer(dev) as p:
            await talk(mod, p.port)
        with TlsServerPeer(plain_server_context(foreign.server_cert, foreign.server_key)) as p:
            await refused(mod, p.port)
        assert not p.record.handshake_ok

    live(store, body)


def test_auth3_mutual(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=3,0,0", OK)
        with dev_peer(dev, client_ca=True) as p:
            await talk(mod, p.port)
        assert p.record.client_cert is not None

    live(store, body)


def test_missing_slot_is_error(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=3,7,0", OK)  # no client 7 in the store
        # nothing listens: the certificate store fails first, no connection is made
        await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",9', ERROR)

    live(store, body)


def test_common_name(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPSSLCCONF=2,0,0", OK)
        await mod.cmd(b'AT+CIPSSLCCN="wrong.example"', OK)
        with dev_peer(dev) as p:
            await refused(mod, p.port)
        await mod.cmd(b'AT+CIPSSLCCN="w800at.local"', OK)
        with dev_peer(dev) as p:
            await talk(mod, p.port)

    live(store, body)


def test_sni_seen_by_server(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b'AT+CIPSSLCSNI="sni.example"', OK)
        with dev_peer(dev) as p:
            await talk(mod, p.port)
        assert p.record.sni == ["sni.example"]
        await mod.cmd(b'AT+CIPSSLCSNI=""', OK)
        with dev_peer(dev) as p:
            await talk(mod, p.port, host="localhost")
        assert p.record.sni == ["localhost"]

    live(store, body)


def test_alpn_negotiated(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b'AT+CIPSSLCALPN=2,"x-none","h2"', OK)
        with dev_peer(dev, alpn=["h2", "http/1.1"]) as p:
            await talk(mod, p.port)
        assert p.record.alpn == "h2"

    live(store, body)


def test_per_link_settings_in_multi_mode(store: Path, dev: DevPki) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b"AT+CIPMUX=1", OK)
        await mod.cmd(b'AT+CIPSSLCSNI=5,"all.example"', OK)
        await mod.cmd(b'AT+CIPSSLCSNI=3,"three.example"', OK)
        with dev_peer(dev) as p:
            await mod.cmd(b'AT+CIPSTART=3,"SSL","127.0.0.1",%d' % p.port, b"3,CONNECT\r\n" + OK)
            await mod.cmd(b"AT+CIPCLOSE=3", b"3,CLOSED\r\n" + OK)
        assert p.record.sni == ["three.example"]
        with dev_peer(dev) as p:
            await mod.cmd(b'AT+CIPSTART=1,"SSL","127.0.0.1",%d' % p.port, b"1,CONNECT\r\n" + OK)
            await mod.cmd(b"AT+CIPCLOSE=1", b"1,CLOSED\r\n" + OK)
        assert p.record.sni == ["all.example"]

    live(store, body)


@pytest.mark.skipif(psk_supported(), reason="this Python has TLS-PSK")
def test_psk_without_python_support_is_error(store: Path) -> None:
    async def body(mod: LiveModule) -> None:
        await mod.cmd(b'AT+CIPSSLCPSK="secret","dev1"', OK)
        await mod.cmd(b'AT+CIPSTART="SSL","127.0.0.1",9', ERROR)
        await mod.quiet()

    live(store, body)


@pytest.mark.skipif(not psk_supported(), reason="TLS-PSK needs Python 3.13 (run under venv313)")
def test_psk_handshake_through_cipstart(store: Path) -> None:
    from tests.tls.test_psk import IDENTITY, KEY, psk_server

    seen: list[str | None] = []

    async def body(mod: LiveModule) -> None:
        await mod.cmd(b'AT+CIPSSLCPSK="%s","%s"' % (KEY, IDENTITY.encode()), OK)
        with TlsServerPeer(psk_server(seen)) as p:
            await talk(mod, p.port)
        assert p.record.cipher is not None and "PSK" in p.record.cipher
        await mod.cmd(b'AT+CIPSSLCPSK="wrong-key","%s"' % IDENTITY.encode(), OK)
        with TlsServerPeer(psk_server(seen)) as p:
            await refused(mod, p.port)

    live(store, body)
    assert seen == [IDENTITY, IDENTITY]

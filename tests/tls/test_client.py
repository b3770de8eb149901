"""The SSL client contexts against real TLS servers on loopback."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from w800at.certs import CertStoreError, DevPki, ensure_server_identity, issue_certificate
from w800at.runtime.tls import (
    TlsClientConfig,
    TlsNameMismatch,
    client_context,
    server_context,
)

from .peers import (
    ForeignPki,
    TlsServerPeer,
    connect_client,
    plain_server_context,
    write_pem,
)


def dev_server(dev: DevPki, *, client_ca: Path | None = None) -> TlsServerPeer:
    return TlsServerPeer(plain_server_context(dev.server.cert, dev.server.key, client_ca=client_ca))


# ------------------------------------------------------------------ auth modes


def test_auth0_connects_to_self_signed_server(tmp_path: Path, store: Path) -> None:
    other = tmp_path / "other-module"
    ensure_server_identity(other)
    with TlsServerPeer(server_context(other, require_client_cert=False)) as peer:
        reply, _ = connect_client(TlsClientConfig(auth_mode=0), store, peer.port)
    assert reply == b"echo:ping"
    assert peer.record.handshake_ok
    assert peer.record.client_cert_der is None


def test_auth2_refuses_server_signed_by_another_ca(store: Path, foreign: ForeignPki) -> None:
    ctx = plain_server_context(foreign.server_cert, foreign.server_key)
    with TlsServerPeer(ctx) as peer, pytest.raises(ssl.SSLCertVerificationError) as info:
        connect_client(TlsClientConfig(auth_mode=2, ca_number=0), store, peer.port)
    assert "certificate verify failed" in str(info.value)
    assert not peer.record.handshake_ok


def test_auth2_refuses_self_signed_server(tmp_path: Path, store: Path) -> None:
    other = tmp_path / "other-module"
    ensure_server_identity(other)
    ctx = server_context(other, require_client_cert=False)
    with TlsServerPeer(ctx) as peer, pytest.raises(ssl.SSLCertVerificationError):
        connect_client(TlsClientConfig(auth_mode=2), store, peer.port)


def test_auth2_accepts_server_signed_by_configured_ca(store: Path, dev: DevPki) -> None:
    with dev_server(dev) as peer:
        reply, _ = connect_client(TlsClientConfig(auth_mode=2, ca_number=0), store, peer.port)
    assert reply == b"echo:ping"
    assert peer.record.handshake_ok


def test_auth2_uses_the_ca_number_asked_for(
    tmp_path: Path, store: Path, dev: DevPki, foreign: ForeignPki
) -> None:
    from w800at.certs import import_pem

    import_pem(store, "ca", 7, foreign.ca)
    # ca 7 is the foreign CA: the dev-signed server is now the stranger ...
    with dev_server(dev) as peer, pytest.raises(ssl.SSLCertVerificationError):
        connect_client(TlsClientConfig(auth_mode=2, ca_number=7), store, peer.port)
    # ... and the foreign-signed server is trusted.
    ctx = plain_server_context(foreign.server_cert, foreign.server_key)
    with TlsServerPeer(ctx) as peer:
        reply, _ = connect_client(TlsClientConfig(auth_mode=2, ca_number=7), store, peer.port)
    assert reply == b"echo:ping"


def test_auth1_presents_client_certificate(store: Path, dev: DevPki) -> None:
    with dev_server(dev, client_ca=dev.ca) as peer:
        reply, _ = connect_client(TlsClientConfig(auth_mode=1, pki_number=0), store, peer.port)
    assert reply == b"echo:ping"
    cert = peer.record.client_cert
    assert cert is not None
    assert "CN=w800at client 0" in cert.subject.rfc4514_string()


def _client_refused(cfg: TlsClientConfig, store: Path, peer: TlsServerPeer) -> None:
    """The client side of a refused handshake.

    Under TLS 1.3 the client finishes its handshake before the server checks the
    client certificate, so the refusal may surface on the first read instead
    (an alert -> SSLError, or the server's close -> EOF).
    """
    try:
        reply, _ = connect_client(cfg, store, peer.port)
    except (ssl.SSLError, ConnectionError):
        return
    assert reply == b"", f"server answered {reply!r} although it should have refused"


def test_auth0_without_client_cert_is_refused_by_requiring_server(store: Path, dev: DevPki) -> None:
    with dev_server(dev, client_ca=dev.ca) as peer:
        _client_refused(TlsClientConfig(auth_mode=0), store, peer)
    assert not peer.record.handshake_ok
    assert isinstance(peer.record.error, ssl.SSLError)
    assert "certificate" in str(peer.record.error).lower()


def test_auth2_without_client_cert_is_refused_by_requiring_server(store: Path, dev: DevPki) -> None:
    with dev_server(dev, client_ca=dev.ca) as peer:
        _client_refused(TlsClientConfig(auth_mode=2), store, peer)
    assert not peer.record.handshake_ok
    assert isinstance(peer.record.error, ssl.SSLError)


def test_auth3_presents_and_verifies(store: Path, dev: DevPki) -> None:
    with dev_server(dev, client_ca=dev.ca) as peer:
        reply, _ = connect_client(TlsClientConfig(auth_mode=3), store, peer.port)
    assert reply == b"echo:ping"
    assert peer.record.client_cert is not None


def test_auth3_still_refuses_foreign_server(store: Path, dev: DevPki, foreign: ForeignPki) -> None:
    ctx = plain_server_context(foreign.server_cert, foreign.server_key, client_ca=dev.ca)
    with TlsServerPeer(ctx) as peer, pytest.raises(ssl.SSLCertVerificationError):
        connect_client(TlsClientConfig(auth_mode=3), store, peer.port)


def test_foreign_server_refuses_our_client_cert(store: Path, foreign: ForeignPki) -> None:
    ctx = plain_server_context(foreign.server_cert, foreign.server_key, client_ca=foreign.ca)
    with TlsServerPeer(ctx) as peer:
        _client_refused(TlsClientConfig(auth_mode=1), store, peer)
    assert not peer.record.handshake_ok


def test_missing_slots_raise_cert_store_error(store: Path) -> None:
    with pytest.raises(CertStoreError, match="pki_number 4"):
        client_context(TlsClientConfig(auth_mode=1, pki_number=4), store)
    with pytest.raises(CertStoreError, match="ca_number 9"):
        client_context(TlsClientConfig(auth_mode=3, ca_number=9), store)
    # auth 0 needs nothing from the store, not even the store itself
    client_context(TlsClientConfig(auth_mode=0), store / "nowhere")


def test_no_system_cas_are_trusted(store: Path) -> None:
    ctx = client_context(TlsClientConfig(auth_mode=2), store)
    from cryptography import x509

    trusted = [x509.load_der_x509_certificate(d) for d in ctx.get_ca_certs(binary_form=True)]
    assert [c.subject.rfc4514_string() for c in trusted] == [
        "O=w800at emulator,CN=w800at development CA"
    ]


# ------------------------------------------------------------------ names


def test_common_name_mismatch_is_refused(store: Path, dev: DevPki) -> None:
    cfg = TlsClientConfig(auth_mode=2, common_name="not-the-server.example")
    with dev_server(dev) as peer, pytest.raises(TlsNameMismatch) as info:
        connect_client(cfg, store, peer.port)
    assert "not-the-server.example" in str(info.value)
    assert isinstance(info.value, ssl.SSLCertVerificationError)
    # the client hung up without sending a byte
    assert peer.record.received == b""


def test_common_name_match_is_accepted(store: Path, dev: DevPki) -> None:
    cfg = TlsClientConfig(auth_mode=2, common_name="w800at.local")
    with dev_server(dev) as peer:
        reply, _ = connect_client(cfg, store, peer.port)
    assert reply == b"echo:ping"


def test_common_name_mismatch_is_ignored_without_verification(store: Path, dev: DevPki) -> None:
    # CIPSSLCCN only matters for auth 2/3, as on the device.
    cfg = TlsClientConfig(auth_mode=0, common_name="not-the-server.example")
    with dev_server(dev) as peer:
        reply, _ = connect_client(cfg, store, peer.port)
    assert reply == b"echo:ping"


@pytest.fixture
def name_only_server(tmp_path: Path, store: Path) -> tuple[Path, Path]:
    """A dev-CA-signed server certificate for only.example: no IP, no localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    ca = x509.load_pem_x509_certificate((store / "certs/dev-ca/cert.pem").read_bytes())
    ca_key = load_pem_private_key((store / "certs/dev-ca/key.pem").read_bytes(), None)
    cert, key = issue_certificate(ca, ca_key, "only.example")  # type: ignore[arg-type]
    path = write_pem(tmp_path / "named", "server", cert, key)
    return path, tmp_path / "named" / "server.key"


def test_remote_host_is_checked_when_no_common_name(
    store: Path, name_only_server: tuple[Path, Path]
) -> None:
    ctx = plain_server_context(*name_only_server)
    with TlsServerPeer(ctx) as peer, pytest.raises(TlsNameMismatch, match=r"127\.0\.0\.1"):
        connect_client(TlsClientConfig(auth_mode=2), store, peer.port)


def test_common_name_overrides_remote_host(
    store: Path, name_only_server: tuple[Path, Path]
) -> None:
    ctx = plain_server_context(*name_only_server)
    cfg = TlsClientConfig(auth_mode=2, common_name="only.example")
    with TlsServerPeer(ctx) as peer:
        reply, _ = connect_client(cfg, store, peer.port)
    assert reply == b"echo:ping"


def test_remote_host_name_matches_dns_san(store: Path, dev: DevPki) -> None:
    with dev_server(dev) as peer:
        reply, _ = connect_client(
            TlsClientConfig(auth_mode=3), store, peer.port, remote_host="localhost"
        )
    assert reply == b"echo:ping"
    assert peer.record.sni == ["localhost"]


# ------------------------------------------------------------------ SNI and ALPN


def test_server_sees_configured_sni(store: Path, dev: DevPki) -> None:
    with dev_server(dev) as peer:
        connect_client(TlsClientConfig(sni="sni.example"), store, peer.port)
    assert peer.record.sni == ["sni.example"]


def test_no_sni_for_ip_literal(store: Path, dev: DevPki) -> None:
    with dev_server(dev) as peer:
        connect_client(TlsClientConfig(), store, peer.port, remote_host="127.0.0.1")
    assert peer.record.sni == [None]


def test_sni_and_checked_name_can_differ(store: Path, dev: DevPki) -> None:
    # SNI names a virtual host the certificate does not list; the check uses CIPSSLCCN.
    cfg = TlsClientConfig(auth_mode=2, sni="front.example", common_name="w800at.local")
    with dev_server(dev) as peer:
        reply, _ = connect_client(cfg, store, peer.port)
    assert reply == b"echo:ping"
    assert peer.record.sni == ["front.example"]


def test_sni_does_not_excuse_a_name_mismatch(store: Path, dev: DevPki) -> None:
    # SNI is the certificate's own name, but the checked name (remote host) is not in it.
    cfg = TlsClientConfig(auth_mode=2, sni="w800at.local")
    with dev_server(dev) as peer, pytest.raises(TlsNameMismatch):
        connect_client(cfg, store, peer.port, remote_host="elsewhere.example")


def test_negotiated_alpn_is_the_configured_one(store: Path, dev: DevPki) -> None:
    server_ctx = plain_server_context(dev.server.cert, dev.server.key)
    server_ctx.set_alpn_protocols(["h2", "mqtt"])
    cfg = TlsClientConfig(alpn=("mqtt", "http/1.1"))
    with TlsServerPeer(server_ctx) as peer:
        _, session = connect_client(cfg, store, peer.port)
    assert peer.record.alpn == "mqtt"
    assert session.alpn == "mqtt"


def test_no_alpn_offered_when_unset(store: Path, dev: DevPki) -> None:
    server_ctx = plain_server_context(dev.server.cert, dev.server.key)
    server_ctx.set_alpn_protocols(["h2"])
    with TlsServerPeer(server_ctx) as peer:
        _, session = connect_client(TlsClientConfig(), store, peer.port)
    assert peer.record.alpn is None
    assert session.alpn is None


def test_ipv6_loopback(store: Path, dev: DevPki) -> None:
    try:
        peer = TlsServerPeer(plain_server_context(dev.server.cert, dev.server.key), host="::1")
    except OSError as exc:  # pragma: no cover - depends on the host
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with peer:
        reply, _ = connect_client(
            TlsClientConfig(auth_mode=2), store, peer.port, remote_host="::1", address="::1"
        )
    assert reply == b"echo:ping"
    assert peer.record.sni == [None]

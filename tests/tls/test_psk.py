"""TLS-PSK (AT+CIPSSLCPSK=<"psk">,<"hint">): psk is the key bytes, hint the identity.

The handshake tests need Python 3.13's ssl PSK callbacks, on both ends; they are
skipped on older Pythons, where the test below checks that the module refuses
clearly instead.  CI runs this file under python3.13 too.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from w800at.runtime import tls as tls_module
from w800at.runtime.tls import TlsClientConfig, TlsUnsupported, client_context, server_context

from .peers import TlsServerPeer, connect_client

needs_psk = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="TLS-PSK needs Python 3.13's ssl PSK callbacks; CI runs this file under python3.13",
)

KEY = b"secret-key-0123"
IDENTITY = "w800-dev-1"


def psk_server(
    seen: list[str | None], key: bytes = KEY, identity: str = IDENTITY
) -> ssl.SSLContext:
    """A PSK-only TLS 1.2 server that knows one identity and its key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("PSK")

    def lookup(client_identity: str | None) -> bytes:
        seen.append(client_identity)
        return key if client_identity == identity else b""

    setter: Callable[..., None] = ctx.set_psk_server_callback  # type: ignore[attr-defined, unused-ignore]
    setter(lookup, identity_hint="w800at-test-hint")
    return ctx


@needs_psk
def test_psk_handshake_with_right_key() -> None:
    seen: list[str | None] = []
    cfg = TlsClientConfig(psk=KEY.decode(), hint=IDENTITY)
    with TlsServerPeer(psk_server(seen)) as peer:
        reply, session = connect_client(cfg, Path("/nonexistent-store"), peer.port)
    assert reply == b"echo:ping"
    assert seen == [IDENTITY]  # hint -> identity
    assert session.version == "TLSv1.2"
    assert session.cipher is not None and "PSK" in session.cipher
    assert peer.record.cipher == session.cipher


@needs_psk
@pytest.mark.parametrize(
    ("psk", "hint"),
    [("wrong-key", IDENTITY), (KEY.decode(), "someone-else")],
    ids=["wrong-key", "unknown-identity"],
)
def test_psk_handshake_fails_with_wrong_key_or_identity(psk: str, hint: str) -> None:
    seen: list[str | None] = []
    with TlsServerPeer(psk_server(seen)) as peer, pytest.raises(ssl.SSLError):
        connect_client(TlsClientConfig(psk=psk, hint=hint), Path("/nowhere"), peer.port)
    assert seen == [hint]
    assert not peer.record.handshake_ok
    assert isinstance(peer.record.error, ssl.SSLError)


@needs_psk
def test_psk_key_is_raw_string_bytes_not_hex() -> None:
    # "414243" as a string is the 6-byte key b"414243", not b"ABC".
    seen: list[str | None] = []
    with TlsServerPeer(psk_server(seen, key=b"ABC")) as peer, pytest.raises(ssl.SSLError):
        connect_client(TlsClientConfig(psk="414243", hint=IDENTITY), Path("/x"), peer.port)
    with TlsServerPeer(psk_server(seen, key=b"414243")) as peer:
        reply, _ = connect_client(
            TlsClientConfig(psk="414243", hint=IDENTITY), Path("/x"), peer.port
        )
    assert reply == b"echo:ping"


@needs_psk
def test_psk_client_does_not_fall_back_to_certificates(tmp_path: Path) -> None:
    # A server without PSK (certificate only, TLS 1.3 capable) must not get a
    # connection from a PSK link that verifies no certificate.
    ctx = server_context(tmp_path / "module", require_client_cert=False)
    with TlsServerPeer(ctx) as peer, pytest.raises(ssl.SSLError):
        connect_client(TlsClientConfig(psk="k", hint="id"), tmp_path, peer.port)
    assert not peer.record.handshake_ok


@needs_psk
def test_psk_context_settings() -> None:
    ctx = client_context(TlsClientConfig(psk="k", hint="id", alpn=("mqtt",)), Path("/x"))
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE
    assert all("PSK" in c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2")


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="this Python has the PSK callbacks")
def test_psk_unsupported_before_313() -> None:
    with pytest.raises(TlsUnsupported) as info:
        client_context(TlsClientConfig(psk="k", hint="id"), Path("/x"))
    message = str(info.value)
    assert "TLS-PSK needs Python 3.13+" in message
    assert f"this is Python {sys.version_info[0]}.{sys.version_info[1]}." in message


def test_psk_unsupported_message_when_callbacks_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs on every Python: pretend the callbacks are missing.
    monkeypatch.setattr(tls_module, "psk_supported", lambda: False)
    with pytest.raises(TlsUnsupported, match=r"TLS-PSK needs Python 3\.13\+ \(ssl PSK callbacks\)"):
        client_context(TlsClientConfig(psk="k", hint="id"), Path("/x"))


def test_psk_ignored_with_certificate_modes(store: Path) -> None:
    # auth 2 + PSK: certificates win (as in ESP-TLS), so no TlsUnsupported even on 3.11.
    ctx = client_context(TlsClientConfig(auth_mode=2, psk="k", hint="id"), store)
    assert ctx.verify_mode == ssl.CERT_REQUIRED

"""Name matching, SNI choice and config validation: no sockets needed."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from w800at.certs import generate_ca, issue_certificate, self_signed_certificate
from w800at.runtime.tls import (
    TlsClientConfig,
    certificate_matches_name,
    expected_peer_name,
    is_ip_literal,
    server_hostname,
)


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, object]:
    return generate_ca("names CA")


def leaf(ca: tuple[x509.Certificate, object], cn: str, *hosts: str) -> x509.Certificate:
    cert, _ = issue_certificate(ca[0], ca[1], cn, hosts=hosts)  # type: ignore[arg-type]
    return cert


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api.example.com", True),
        ("API.Example.COM.", True),  # case and a trailing dot do not matter
        ("x.example.com", True),  # via the wildcard
        ("a.b.example.com", False),  # a wildcard covers one label only
        ("example.com", False),  # ... and not the bare domain
        ("example.org", False),
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::1", True),
        ("[::1]", True),
        ("api", False),
    ],
)
def test_san_matching(ca: tuple[x509.Certificate, object], name: str, expected: bool) -> None:
    cert = leaf(ca, "api.example.com", "*.example.com", "127.0.0.1", "::1")
    assert certificate_matches_name(cert, name) is expected


def test_cn_ignored_when_san_present(ca: tuple[x509.Certificate, object]) -> None:
    # issue_certificate always lists the CN as a SAN; build one where it does not.
    cert = leaf(ca, "only-in-cn.example", "other.example")
    assert certificate_matches_name(cert, "only-in-cn.example")  # the CN is a SAN too
    ip_only = _cert_with(cn="cn.example", sans=[x509.IPAddress(ipaddress.ip_address("10.0.0.1"))])
    assert not certificate_matches_name(ip_only, "cn.example")
    assert certificate_matches_name(ip_only, "10.0.0.1")


def test_cn_used_without_san() -> None:
    cert = _cert_with(cn="legacy.example", sans=None)
    assert certificate_matches_name(cert, "legacy.example")
    assert not certificate_matches_name(cert, "other.example")
    assert certificate_matches_name(_cert_with(cn="192.0.2.7", sans=None), "192.0.2.7")


def test_partial_wildcards_are_literal() -> None:
    cert = _cert_with(cn="x", sans=[x509.DNSName("f*.example.com"), x509.DNSName("*.com")])
    assert not certificate_matches_name(cert, "foo.example.com")
    assert not certificate_matches_name(cert, "example.com")


def _cert_with(cn: str, sans: list[x509.GeneralName] | None) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes

    base, key = self_signed_certificate("unused")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(base.issuer)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(base.not_valid_before_utc)
        .not_valid_after(base.not_valid_after_utc)
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


@pytest.mark.parametrize(
    ("sni", "host", "expected"),
    [
        ("", "example.com", "example.com"),
        ("", "127.0.0.1", None),
        ("", "::1", None),
        ("", "[fe80::1%eth0]", None),
        ("", "", None),
        ("front.example", "127.0.0.1", "front.example"),
        ("front.example", "back.example", "front.example"),
    ],
)
def test_server_hostname(sni: str, host: str, expected: str | None) -> None:
    assert server_hostname(TlsClientConfig(sni=sni), host) == expected


def test_expected_peer_name() -> None:
    assert expected_peer_name(TlsClientConfig(auth_mode=0, common_name="a"), "h") is None
    assert expected_peer_name(TlsClientConfig(auth_mode=1, common_name="a"), "h") is None
    assert expected_peer_name(TlsClientConfig(auth_mode=2), "h") == "h"
    assert expected_peer_name(TlsClientConfig(auth_mode=3, common_name="a"), "h") == "a"


def test_is_ip_literal() -> None:
    assert is_ip_literal("10.1.2.3")
    assert is_ip_literal("2001:db8::1")
    assert not is_ip_literal("10.1.2.3.example")
    assert not is_ip_literal("localhost")


def test_config_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="auth_mode"):
        TlsClientConfig(auth_mode=4)
    with pytest.raises(ValueError, match="ALPN"):
        TlsClientConfig(alpn=("h2", ""))


def test_psk_only_without_certificate_modes() -> None:
    assert TlsClientConfig(psk="k", hint="id").uses_psk
    assert not TlsClientConfig(psk="", hint="id").uses_psk
    for mode in (1, 2, 3):
        assert not TlsClientConfig(auth_mode=mode, psk="k", hint="id").uses_psk

"""SSLContext builders for the module's SSL client and SSL server links.

The AT layer collects a link's TLS settings (``AT+CIPSSLCCONF``, ``CIPSSLCCN``,
``CIPSSLCSNI``, ``CIPSSLCALPN``, ``CIPSSLCPSK``) into a ``TlsClientConfig``; the
runtime turns it into an ``ssl.SSLContext`` here, and the certificate files come
from the store described in ``w800at.certs``.  Everything here is a function of
its arguments; nothing is cached, so a changed certificate is picked up by the
next connection, as on the device.

How a client link is secured (``auth_mode`` of ``AT+CIPSSLCCONF``):

==== ================================  =====================================
auth  what the module presents           what it checks
==== ================================  =====================================
0     nothing                            nothing (any server certificate)
1     client cert ``pki_number``         nothing
2     nothing                            chain to CA ``ca_number`` + name
3     client cert ``pki_number``         chain to CA ``ca_number`` + name
==== ================================  =====================================

Name checking (auth 2/3).  The name that must appear in the server certificate
is ``CIPSSLCCN`` if set, else the host given to ``AT+CIPSTART`` (a name, or an IP
literal matched against IP subjectAltNames) - this is what ESP-TLS does with
``common_name``/``hostname``.  The SNI (``CIPSSLCSNI``) is a separate setting and
may legitimately differ from that name, but Python's ``check_hostname`` uses the
single ``server_hostname`` argument for both SNI and the name check.  So contexts
here always have ``check_hostname = False`` (the chain is still verified during
the handshake), ``server_hostname()`` gives what to send as SNI, and the runtime
MUST call ``verify_peer_name()`` right after the handshake, before any
application data is passed up or sent - the links' TLS layer
(``w800at.runtime.tls_layer``) does it as the handshake completes.  A mismatch
raises ``TlsNameMismatch`` (an ``ssl.SSLCertVerificationError``), and the link
must be closed.  Matching follows
mbedTLS (the W800's TLS stack): if the certificate has a subjectAltName
extension only its entries count, otherwise the subject CN; a ``*.`` wildcard
matches exactly one leftmost label.

TLS-PSK (``AT+CIPSSLCPSK=<"psk">,<"hint">``).  Used when ``psk`` is non-empty
and ``auth_mode`` is 0 (with certificate modes the certificates win, as in
ESP-TLS, where a CA configuration takes precedence over ``psk_hint_key``).
The mapping follows ESP-TLS's ``psk_hint_key_t`` that ESP-AT fills from this
command (the documents' "PSK identity" label for ``<"psk">`` notwithstanding,
drivers pass the key there and the identity as ``hint``):

- ``psk``  -> the pre-shared key: the string's UTF-8 bytes, used as is (not
  hex-decoded).  ``AT+CIPSSLCPSK="secret","dev1"`` is the key ``b"secret"``; an
  ``openssl s_server -psk`` peer takes it in hex: ``-psk 736563726574``.
- ``hint`` -> the PSK identity the client sends (``-psk_identity dev1``).  The
  identity hint a server may send is ignored, as ESP-TLS does.

PSK links are limited to TLS 1.2 and the OpenSSL ``PSK`` cipher suites.  That
is deliberate: with TLS 1.3 a PSK is only offered, and a server that ignores it
may finish the handshake with a certificate the PSK context does not verify, so
a wrong key would "work"; TLS 1.2 PSK suites make the key the authentication.
The W800's mbedTLS 2.x speaks TLS 1.2 PSK only, too.  Python exposes the PSK
callbacks from 3.13 on; before that ``client_context`` raises ``TlsUnsupported``
so the runtime can log the reason and answer ERROR.
"""

from __future__ import annotations

import ipaddress
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from w800at.certs import (
    CertStoreError,
    ca_path,
    client_pki_paths,
    ensure_server_identity,
    server_ca_path,
    server_identity_paths,
)
from w800at.core.net_actions import (
    AUTH_CLIENT_CERT,
    AUTH_MUTUAL,
    AUTH_NONE,
    AUTH_VERIFY_SERVER,
    TlsSettings,
)
from w800at.runtime.net_sockopts import is_ip_literal

__all__ = [
    "AUTH_CLIENT_CERT",
    "AUTH_MUTUAL",
    "AUTH_NONE",
    "AUTH_VERIFY_SERVER",
    "PSK_ENCODING",
    "TlsClientConfig",
    "TlsError",
    "TlsNameMismatch",
    "TlsUnsupported",
    "certificate_matches_name",
    "client_context",
    "expected_peer_name",
    "is_ip_literal",
    "psk_supported",
    "server_context",
    "server_hostname",
    "verify_peer_name",
]


#: How the ``psk`` string becomes key bytes.
PSK_ENCODING = "utf-8"

# TLS 1.2 suites whose key exchange is authenticated by the pre-shared key.
_PSK_CIPHERS = "PSK"


class TlsError(Exception):
    """A TLS setup problem that is not a certificate store problem."""


class TlsUnsupported(TlsError):
    """The requested TLS feature cannot be provided by this Python/OpenSSL."""


class TlsNameMismatch(ssl.SSLCertVerificationError):
    """The verified server certificate is not for the expected name.

    A subclass of ``ssl.SSLCertVerificationError`` so code that already handles
    handshake verification failures handles this the same way.
    """


#: the runtime's name for the engine's per-link settings (one definition, in the core)
TlsClientConfig = TlsSettings


def psk_supported() -> bool:
    """True when this Python's ``ssl`` has the TLS-PSK callbacks (3.13+)."""
    return hasattr(ssl.SSLContext, "set_psk_client_callback")


def server_hostname(cfg: TlsClientConfig, remote_host: str) -> str | None:
    """What to pass as ``server_hostname`` when wrapping the link: the SNI to send.

    The configured SNI if any, else the host name from ``AT+CIPSTART``; None for
    an IP literal, which must not be sent as SNI (RFC 6066).  It has no part in
    the name check - see ``verify_peer_name``.
    """
    if cfg.sni:
        return cfg.sni
    if not remote_host or is_ip_literal(remote_host):
        return None
    return remote_host


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path, what: str) -> None:
    try:
        ctx.load_cert_chain(certfile=cert, keyfile=key)
    except (ssl.SSLError, OSError) as exc:
        raise CertStoreError(f"cannot load {what} from {cert} and {key}: {exc}") from exc


def _load_ca(ctx: ssl.SSLContext, cafile: Path, what: str) -> None:
    try:
        ctx.load_verify_locations(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise CertStoreError(f"cannot load {what} from {cafile}: {exc}") from exc
    # Any certificate in the CA slot is a trust anchor, as in mbedTLS's CA chain:
    # installing an intermediate (or a self-signed server certificate) as "the CA"
    # works on the device, so it works here.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN


def _psk_client_context(cfg: TlsClientConfig) -> ssl.SSLContext:
    if not psk_supported():
        version = ".".join(str(v) for v in sys.version_info[:3])
        raise TlsUnsupported(
            f"TLS-PSK needs Python 3.13+ (ssl PSK callbacks); this is Python {version}"
        )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the PSK authenticates the server
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(_PSK_CIPHERS)
    except ssl.SSLError as exc:
        raise TlsUnsupported(
            f"this OpenSSL ({ssl.OPENSSL_VERSION}) has no PSK cipher suites"
        ) from exc
    identity = cfg.hint
    key = cfg.psk.encode(PSK_ENCODING)

    def psk_callback(_server_hint: str | None) -> tuple[str | None, bytes]:
        return identity, key

    setter: Callable[[Callable[[str | None], tuple[str | None, bytes]]], None]
    setter = ctx.set_psk_client_callback  # type: ignore[attr-defined, unused-ignore]
    try:
        setter(psk_callback)
    except NotImplementedError as exc:  # OpenSSL built without PSK
        raise TlsUnsupported(f"TLS-PSK is not available in {ssl.OPENSSL_VERSION}") from exc
    return ctx


def _store(store_dir: Path | None) -> Path:
    if store_dir is None:
        raise CertStoreError("this module has no store directory for certificates (--store)")
    return store_dir


def client_context(cfg: TlsClientConfig, store_dir: Path | None) -> ssl.SSLContext:
    """The ``SSLContext`` for one SSL client link configured by ``cfg``.

    Certificates come from ``store_dir``'s certificate store; a missing or broken
    slot raises ``CertStoreError``; PSK without Python 3.13 raises
    ``TlsUnsupported``.  ``check_hostname`` is always off: wrap with
    ``server_hostname(cfg, host)`` and call ``verify_peer_name`` after the handshake.
    No system CAs are loaded: the device trusts only its CA slots.
    """
    if cfg.uses_psk:
        ctx = _psk_client_context(cfg)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if cfg.verifies_server:
            ctx.verify_mode = ssl.CERT_REQUIRED
            _load_ca(ctx, ca_path(_store(store_dir), cfg.ca_number), f"CA {cfg.ca_number}")
        else:
            ctx.verify_mode = ssl.CERT_NONE
        if cfg.presents_client_cert:
            pki = client_pki_paths(_store(store_dir), cfg.pki_number)
            _load_chain(ctx, pki.cert, pki.key, f"client certificate {cfg.pki_number}")
    if cfg.alpn:
        ctx.set_alpn_protocols(list(cfg.alpn))
    ctx.options |= ssl.OP_NO_RENEGOTIATION  # the links' TLS layer does not renegotiate
    return ctx


def expected_peer_name(cfg: TlsClientConfig, remote_host: str) -> str | None:
    """The name the server certificate must carry, or None when names are not checked."""
    if not cfg.verifies_server or cfg.uses_psk:
        return None
    return cfg.common_name or remote_host


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _dns_matches(pattern: str, name: str) -> bool:
    pattern, name = _normalise(pattern), _normalise(name)
    if not pattern or not name:
        return False
    if pattern == name:
        return True
    # Only a whole leftmost "*" label is a wildcard, and it matches one label.
    if not pattern.startswith("*."):
        return False
    p_labels, n_labels = pattern.split("."), name.split(".")
    return (
        len(p_labels) == len(n_labels)
        and len(p_labels) >= 3  # no "*.com"
        and bool(n_labels[0])
        and p_labels[1:] == n_labels[1:]
    )


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    bare = host.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None


def certificate_matches_name(cert: x509.Certificate, name: str) -> bool:
    """Whether ``cert`` is for ``name`` (a host name or an IP literal).

    With a subjectAltName extension only its DNS/IP entries count (RFC 6125, and
    what mbedTLS does); without one, the subject CN is compared.
    """
    ip = _ip(name)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        texts = [v if isinstance(v, str) else v.decode("utf-8", "replace") for v in cns]
        if ip is not None:
            return any(_ip(t) == ip for t in texts)
        return any(_dns_matches(t, name) for t in texts)
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    return any(_dns_matches(p, name) for p in san.get_values_for_type(x509.DNSName))


def _peer_names(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return ", ".join(names) or "no names"


def verify_peer_name(
    ssl_object: ssl.SSLObject | ssl.SSLSocket, cfg: TlsClientConfig, remote_host: str
) -> None:
    """Check the server certificate's name after the handshake; raise on mismatch.

    ``remote_host`` is the host exactly as given to ``AT+CIPSTART`` (the name, not
    the address it resolved to).  Does nothing for auth 0/1 and PSK links, which
    check nothing on the device either.  The chain itself was already verified by
    OpenSSL during the handshake; this adds the name check that ``check_hostname``
    cannot do when the SNI differs from the name to check.
    """
    expected = expected_peer_name(cfg, remote_host)
    if expected is None:
        return
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise TlsNameMismatch(f"server sent no certificate; expected one for {expected!r}")
    cert = x509.load_der_x509_certificate(der)
    if not certificate_matches_name(cert, expected):
        source = "CIPSSLCCN" if cfg.common_name else "the remote host"
        error = TlsNameMismatch(
            f"server certificate name mismatch: expected {expected!r} ({source}), "
            f"certificate is for {_peer_names(cert)}"
        )
        error.verify_message = "hostname mismatch"
        error.verify_code = 62  # X509_V_ERR_HOSTNAME_MISMATCH
        raise error


def server_context(
    store_dir: Path | None, *, require_client_cert: bool, create_identity: bool = True
) -> ssl.SSLContext:
    """The ``SSLContext`` for the module's SSL server (``AT+CIPSERVER=1,<port>,"SSL",<CA>``).

    Serves ``certs/server/cert.pem``; with ``create_identity`` (the default) a
    fresh store first gets a self-signed identity, so the SSL server works out of
    the box.  ``require_client_cert`` (``<CA enable>``=1) makes the handshake fail
    unless the client presents a certificate that chains to
    ``certs/server/ca.pem``; that file must exist (``CertStoreError`` otherwise).
    """
    store_dir = _store(store_dir)
    identity = (
        ensure_server_identity(store_dir) if create_identity else server_identity_paths(store_dir)
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(ctx, identity.cert, identity.key, "the server certificate")
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        _load_ca(ctx, server_ca_path(store_dir), "the server's client CA")
    else:
        ctx.verify_mode = ssl.CERT_NONE
    ctx.options |= ssl.OP_NO_RENEGOTIATION  # the links' TLS layer does not renegotiate
    return ctx

"""SSL client configuration per link: AT+CIPSSLCCONF, AT+CIPSSLCCN, AT+CIPSSLCSNI,
AT+CIPSSLCALPN, AT+CIPSSLCPSK.

Each command keeps one value per link ID (0 .. max_links-1).  In single-connection mode
(AT+CIPMUX=0) the set form has no link ID and configures link 0 (the spec: "in single
connection mode, this parameter value is 0"); in multi-connection mode the first
parameter is the link ID, and ID ``max_links`` (5) means every link.  Queries print
one line per link in both modes, as ESP-AT does.

Only AT+CIPSSLCCONF is saved under AT+SYSSTORE=1 (the spec says so for it alone); the
name, SNI, ALPN and PSK settings are volatile.  Certificate slots are not checked here
(the engine does no I/O): a missing ``pki``/``ca`` slot fails the SSL connection.

`tls_settings(engine, link_id)` is what the link table asks when it opens an SSL link.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..core import render
from ..core.engine import Engine
from ..core.errors import ErrCode
from ..core.feature import Feature
from ..core.net_actions import TlsSettings
from ..core.params import Args, Int, LinkId, Signature, Str
from ..core.registry import Command
from ..core.settings import SettingDef, int_range, text
from ..profiles import Profile


def _per_link(blank: Any) -> Callable[[Profile], list[Any]]:
    """A default: one copy of ``blank`` per link ID of the profile."""
    return lambda p: [copy.deepcopy(blank) for _ in range(p.max_links)]


#: AT+CIPSSLCCN / AT+CIPSSLCSNI: "The maximum length ... is 64 bytes."
NAME_MAX = 64
#: AT+CIPSSLCPSK: "<psk> ... maximum length: 32", "<hint> ... maximum length: 32"
PSK_MAX = 32
#: AT+CIPSSLCALPN: "<counts> ... Range: [0,5]"
ALPN_MAX = 5

# the value types (one entry per link; `_rows` pads or cuts a saved list to the dialect)
_AUTH: Any = int_range(0, 3)
_SLOT: Any = int_range(0)
_NAME: Any = text(NAME_MAX)
_PSK: Any = text(PSK_MAX)

#: [auth_mode, pki_number, ca_number] per link
SSL_CONF = SettingDef(
    "cipsslcconf", _per_link([0, 0, 0]), "sysstore", list[tuple[_AUTH, _SLOT, _SLOT]]
)
SSL_CN = SettingDef("cipsslccn", _per_link(""), "never", list[_NAME])
SSL_SNI = SettingDef("cipsslcsni", _per_link(""), "never", list[_NAME])
#: ALPN protocol names per link
SSL_ALPN = SettingDef("cipsslcalpn", _per_link([]), "never", list[list[str]])
#: [psk, hint] per link
SSL_PSK = SettingDef("cipsslcpsk", _per_link(["", ""]), "never", list[tuple[_PSK, _PSK]])


def _rows(m: Engine, setting: SettingDef, blank: Any) -> list[Any]:
    """The per-link list, padded/cut to this profile's link count (a saved value may
    come from another dialect)."""
    v = m.settings.get(setting)
    rows = list(v) if isinstance(v, list) else []
    n = m.profile.max_links
    rows = rows[:n]
    while len(rows) < n:
        rows.append(blank() if callable(blank) else blank)
    return rows


def multi(m: Engine) -> bool:
    """AT+CIPMUX=1?  (The link table owns CIPMUX.)"""
    return m.links.multi


#: "0 ~ max ... if the parameter value is set to max, it means all connections"; only in
#: multi-connection mode
_LINK = LinkId("link", all_ok=True)


def _targets(m: Engine, a: Args) -> range:
    if not multi(m):
        return range(0, 1)
    link = a.int("link")
    n = m.profile.max_links
    return range(0, n) if link == n else range(link, link + 1)


def _update(m: Engine, a: Args, setting: SettingDef, blank: Any, value: Any) -> None:
    rows = _rows(m, setting, blank)
    for i in _targets(m, a):
        rows[i] = value
    m.settings.set(setting, rows)


# --- AT+CIPSSLCCONF


_CONF_PARAMS: Signature = (
    _LINK,
    # "<auth_mode>: 0 .. 3"
    Int("auth", 0, 3),
    # "<pki_number>: The index of the certificate and private key" (0 with one)
    Int("pki", 0, optional=True, default=0),
    # "<ca_number>: The index of CA, if there is only one CA, should be 0."
    Int("ca", 0, optional=True, default=0),
)


def _conf_q(m: Engine) -> None:
    rows = _rows(m, SSL_CONF, lambda: [0, 0, 0])
    m.emit(b"".join(render.info("+CIPSSLCCONF", i, *r) for i, r in enumerate(rows)))


def _conf_s(m: Engine, a: Args) -> None:
    _update(m, a, SSL_CONF, lambda: [0, 0, 0], [a.int("auth"), a.int("pki"), a.int("ca")])


# --- AT+CIPSSLCCN / AT+CIPSSLCSNI


def _name_cmd(label: str, setting: SettingDef, summary: str) -> Command:
    params: Signature = (_LINK, Str("name", NAME_MAX))

    def query(m: Engine) -> None:
        rows = _rows(m, setting, "")
        m.emit(b"".join(render.info(label, i, render.q(r)) for i, r in enumerate(rows)))

    def set_(m: Engine, a: Args) -> None:
        _update(m, a, setting, "", a.str("name"))

    return Command(label, query=query, set=set_, params=params, summary=summary)


# --- AT+CIPSSLCALPN


_ALPN_PARAMS: Signature = (
    _LINK,
    Int("counts", 0, ALPN_MAX),
    *(Str(f"alpn{i}", optional=True) for i in range(ALPN_MAX)),
)


def _alpn_q(m: Engine) -> None:
    rows = _rows(m, SSL_ALPN, list)
    m.emit(
        b"".join(
            render.info("+CIPSSLCALPN", i, *(render.q(p) for p in r)) for i, r in enumerate(rows)
        )
    )


def _alpn_s(m: Engine, a: Args) -> None:
    count = a.int("counts")
    given = [a.given(f"alpn{i}") for i in range(ALPN_MAX)]
    if given != [i < count for i in range(ALPN_MAX)]:
        need = a.index("counts") + 1 + count
        raise a.count_error(need, f"<counts>={count} but other ALPN strings given")
    names = [a.str(f"alpn{i}") for i in range(count)]
    for i, n in enumerate(names):
        if not n:
            raise a.error(ErrCode.PARAM_INVALID, f"alpn{i}", "an ALPN protocol name is empty")
    _update(m, a, SSL_ALPN, list, names)


# --- AT+CIPSSLCPSK


_PSK_PARAMS: Signature = (_LINK, Str("psk", PSK_MAX), Str("hint", PSK_MAX))


def _psk_q(m: Engine) -> None:
    rows = _rows(m, SSL_PSK, lambda: ["", ""])
    m.emit(
        b"".join(
            render.info("+CIPSSLCPSK", i, render.q(r[0]), render.q(r[1]))
            for i, r in enumerate(rows)
        )
    )


def _psk_s(m: Engine, a: Args) -> None:
    _update(m, a, SSL_PSK, lambda: ["", ""], [a.str("psk"), a.str("hint")])


# --- what the links use


def tls_settings(m: Engine, link_id: int) -> TlsSettings:
    """The TLS configuration of link ``link_id`` (the single connection is link 0)."""
    i = link_id
    if not 0 <= i < m.profile.max_links:
        return TlsSettings()
    auth, pki, ca = _rows(m, SSL_CONF, lambda: [0, 0, 0])[i]
    psk, hint = _rows(m, SSL_PSK, lambda: ["", ""])[i]
    return TlsSettings(
        auth_mode=int(auth),
        pki_number=int(pki),
        ca_number=int(ca),
        common_name=str(_rows(m, SSL_CN, "")[i]),
        sni=str(_rows(m, SSL_SNI, "")[i]),
        alpn=tuple(str(p) for p in _rows(m, SSL_ALPN, list)[i]),
        psk=str(psk),
        hint=str(hint),
    )


FEATURE = Feature(
    "ssl",
    commands=(
        Command(
            "+CIPSSLCCONF",
            query=_conf_q,
            set=_conf_s,
            params=_CONF_PARAMS,
            summary="SSL client authentication mode and certificate slots per link",
        ),
        _name_cmd(
            "+CIPSSLCCN", SSL_CN, "SSL client: the name checked in the server certificate, per link"
        ),
        _name_cmd("+CIPSSLCSNI", SSL_SNI, "SSL client: the SNI sent in ClientHello, per link"),
        Command(
            "+CIPSSLCALPN",
            query=_alpn_q,
            set=_alpn_s,
            params=_ALPN_PARAMS,
            summary="SSL client ALPN protocols per link",
        ),
        Command(
            "+CIPSSLCPSK",
            query=_psk_q,
            set=_psk_s,
            params=_PSK_PARAMS,
            summary="SSL client pre-shared key and identity per link",
        ),
    ),
    settings=(SSL_CONF, SSL_CN, SSL_SNI, SSL_ALPN, SSL_PSK),
)

"""AT+CIPSSLCCONF / CCN / CSNI / CALPN / CPSK against the engine: byte-exact."""

from __future__ import annotations

import importlib

import pytest

from tests.harness import Harness
from w800at.commands.ssl import tls_settings as tls_settings_for
from w800at.core.net_actions import Connect, TlsSettings

for _name in ("connect", "send"):
    importlib.import_module(f"w800at.commands.{_name}")

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def cmd(h: Harness, line: bytes, answer: bytes) -> None:
    assert h.send(line) == line + answer


def rows(label: str, values: list[str]) -> bytes:
    return b"".join(b"%s:%d%s\r\n" % (label.encode(), i, v.encode()) for i, v in enumerate(values))


def mux(h: Harness) -> None:
    cmd(h, b"AT+CIPMUX=1\r\n", OK)


# --- defaults


@pytest.mark.parametrize(
    ("query", "line"),
    [
        ("+CIPSSLCCONF", ",0,0,0"),
        ("+CIPSSLCCN", ',""'),
        ("+CIPSSLCSNI", ',""'),
        ("+CIPSSLCALPN", ""),
        ("+CIPSSLCPSK", ',"",""'),
    ],
)
def test_default_queries_print_every_link(query: str, line: str) -> None:
    h = Harness()
    cmd(h, b"AT%s?\r\n" % query.encode(), rows(query, [line] * 5) + OK)
    mux(h)
    cmd(h, b"AT%s?\r\n" % query.encode(), rows(query, [line] * 5) + OK)
    h.check()


# --- AT+CIPSSLCCONF


def test_cconf_single_connection_sets_link_0() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSSLCCONF=3,1,2\r\n", OK)
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",3,1,2"] + [",0,0,0"] * 4) + OK)
    cmd(h, b"AT+CIPSSLCCONF=2\r\n", OK)  # pki and ca default to 0
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",2,0,0"] + [",0,0,0"] * 4) + OK)
    h.check()


def test_cconf_multi_per_link_and_all() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSSLCCONF=3,1,0,1\r\n", OK)
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",0,0,0"] * 3 + [",1,0,1", ",0,0,0"]) + OK)
    cmd(h, b"AT+CIPSSLCCONF=5,2,0,0\r\n", OK)  # ID max (5): every link
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",2,0,0"] * 5) + OK)
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b"AT+CIPSSLCCONF=4\r\n",
        b"AT+CIPSSLCCONF=-1\r\n",
        b"AT+CIPSSLCCONF=1,-1\r\n",
        b'AT+CIPSSLCCONF="1"\r\n',
        b"AT+CIPSSLCCONF=1,0,0,0\r\n",  # single mode: no link ID
        b"AT+CIPSSLCCONF=\r\n",
    ],
)
def test_cconf_errors_single(line: bytes) -> None:
    h = Harness()
    cmd(h, line, ERROR)
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",0,0,0"] * 5) + OK)
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b"AT+CIPSSLCCONF=6,1\r\n",
        b"AT+CIPSSLCCONF=0\r\n",  # multi mode: the link ID is required first
        b"AT+CIPSSLCCONF=0,4\r\n",
    ],
)
def test_cconf_errors_multi(line: bytes) -> None:
    h = Harness()
    mux(h)
    cmd(h, line, ERROR)
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",0,0,0"] * 5) + OK)
    h.check()


def test_cconf_saved_under_sysstore_1_only() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSSLCCONF=1,2,3\r\n", OK)
    assert h.engine.settings.saved["cipsslcconf"][0] == [1, 2, 3]
    cmd(h, b"AT+SYSSTORE=0\r\n", OK)
    cmd(h, b"AT+CIPSSLCCONF=2,0,0\r\n", OK)
    assert h.engine.settings.saved["cipsslcconf"][0] == [1, 2, 3]
    # boot from the saved area: the SYSSTORE=1 value is back
    h2 = Harness(saved=h.engine.settings.snapshot())
    cmd(h2, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",1,2,3"] + [",0,0,0"] * 4) + OK)
    h.check()


def test_saved_conf_from_a_shorter_table_is_padded() -> None:
    h = Harness(saved={"cipsslcconf": [[3, 0, 0]]})
    cmd(h, b"AT+CIPSSLCCONF?\r\n", rows("+CIPSSLCCONF", [",3,0,0"] + [",0,0,0"] * 4) + OK)
    h.check()


# --- AT+CIPSSLCCN / AT+CIPSSLCSNI


@pytest.mark.parametrize("label", ["+CIPSSLCCN", "+CIPSSLCSNI"])
def test_names(label: str) -> None:
    h = Harness()
    L = label.encode()
    cmd(h, b'AT%s="example.com"\r\n' % L, OK)
    cmd(h, b"AT%s?\r\n" % L, rows(label, [',"example.com"'] + [',""'] * 4) + OK)
    cmd(h, b'AT%s="%s"\r\n' % (L, b"a" * 64), OK)
    cmd(h, b'AT%s="%s"\r\n' % (L, b"a" * 65), ERROR)
    cmd(h, b"AT%s=1\r\n" % L, ERROR)
    mux(h)
    cmd(h, b'AT%s=2,"two"\r\n' % L, OK)
    cmd(h, b'AT%s="x"\r\n' % L, ERROR)
    cmd(h, b'AT%s=6,"x"\r\n' % L, ERROR)
    cmd(
        h, b"AT%s?\r\n" % L, rows(label, [',"%s"' % ("a" * 64), ',""', ',"two"', ',""', ',""']) + OK
    )
    cmd(h, b'AT%s=5,""\r\n' % L, OK)
    cmd(h, b"AT%s?\r\n" % L, rows(label, [',""'] * 5) + OK)
    assert ("cipsslccn" if label == "+CIPSSLCCN" else "cipsslcsni") not in h.engine.settings.saved
    h.check()


# --- AT+CIPSSLCALPN


def test_alpn_set_query_clear() -> None:
    h = Harness()
    cmd(h, b'AT+CIPSSLCALPN=2,"h2","http/1.1"\r\n', OK)
    cmd(h, b"AT+CIPSSLCALPN?\r\n", rows("+CIPSSLCALPN", [',"h2","http/1.1"'] + [""] * 4) + OK)
    cmd(h, b"AT+CIPSSLCALPN=0\r\n", OK)
    cmd(h, b"AT+CIPSSLCALPN?\r\n", rows("+CIPSSLCALPN", [""] * 5) + OK)
    cmd(h, b'AT+CIPSSLCALPN=5,"a","b","c","d","e"\r\n', OK)
    cmd(h, b"AT+CIPSSLCALPN?\r\n", rows("+CIPSSLCALPN", [',"a","b","c","d","e"'] + [""] * 4) + OK)
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b'AT+CIPSSLCALPN=2,"h2"\r\n',  # fewer names than counts
        b'AT+CIPSSLCALPN=1,"h2","x"\r\n',  # more
        b'AT+CIPSSLCALPN=0,"h2"\r\n',
        b'AT+CIPSSLCALPN=6,"a","b","c","d","e","f"\r\n',
        b'AT+CIPSSLCALPN=1,""\r\n',
        b"AT+CIPSSLCALPN=1,h2\r\n",
        b'AT+CIPSSLCALPN=2,,"h2"\r\n',
    ],
)
def test_alpn_errors(line: bytes) -> None:
    h = Harness()
    cmd(h, line, ERROR)
    cmd(h, b"AT+CIPSSLCALPN?\r\n", rows("+CIPSSLCALPN", [""] * 5) + OK)
    h.check()


def test_alpn_multi() -> None:
    h = Harness()
    mux(h)
    cmd(h, b'AT+CIPSSLCALPN=4,1,"mqtt"\r\n', OK)
    cmd(h, b'AT+CIPSSLCALPN=1,"mqtt"\r\n', ERROR)  # the link ID is missing
    cmd(h, b"AT+CIPSSLCALPN?\r\n", rows("+CIPSSLCALPN", [""] * 4 + [',"mqtt"']) + OK)
    h.check()


# --- AT+CIPSSLCPSK


def test_psk() -> None:
    h = Harness()
    cmd(h, b'AT+CIPSSLCPSK="secret","dev1"\r\n', OK)
    cmd(h, b"AT+CIPSSLCPSK?\r\n", rows("+CIPSSLCPSK", [',"secret","dev1"'] + [',"",""'] * 4) + OK)
    cmd(h, b'AT+CIPSSLCPSK="%s","%s"\r\n' % (b"k" * 32, b"i" * 32), OK)
    cmd(h, b'AT+CIPSSLCPSK="%s","i"\r\n' % (b"k" * 33), ERROR)
    cmd(h, b'AT+CIPSSLCPSK="k","%s"\r\n' % (b"i" * 33), ERROR)
    cmd(h, b'AT+CIPSSLCPSK="k"\r\n', ERROR)
    mux(h)
    cmd(h, b'AT+CIPSSLCPSK=5,"a","b"\r\n', OK)
    cmd(h, b"AT+CIPSSLCPSK?\r\n", rows("+CIPSSLCPSK", [',"a","b"'] * 5) + OK)
    h.check()


# --- what the links get


def test_tls_settings_reach_the_connect_action() -> None:
    h = Harness()
    h.join()
    mux(h)
    cmd(h, b"AT+CIPSSLCCONF=1,3,0,0\r\n", OK)
    cmd(h, b'AT+CIPSSLCCN=1,"srv.lab"\r\n', OK)
    cmd(h, b'AT+CIPSSLCSNI=1,"sni.lab"\r\n', OK)
    cmd(h, b'AT+CIPSSLCALPN=1,2,"h2","x"\r\n', OK)
    cmd(h, b'AT+CIPSSLCPSK=1,"k","id"\r\n', OK)
    want = TlsSettings(
        auth_mode=3,
        pki_number=0,
        ca_number=0,
        common_name="srv.lab",
        sni="sni.lab",
        alpn=("h2", "x"),
        psk="k",
        hint="id",
    )
    assert tls_settings_for(h.engine, 1) == want
    assert tls_settings_for(h.engine, 0) == TlsSettings()
    h.send(b'AT+CIPSTART=1,"SSL","127.0.0.1",443\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect) and act.tls == want
    h.complete(act, OSError("refused"))
    h.send(b'AT+CIPSTART=2,"TCP","127.0.0.1",443\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect) and act.tls is None
    h.check()

"""Passive receive on SSL links counts TLS bytes (issue 12, item 11), on the engine
alone: the runtime hands over each plaintext chunk with the wire bytes it cost
(`Engine.link_data(..., wire)`); ``+IPD,<len>`` and ``AT+CIPRECVLEN?`` show those
("In SSL connections, WinnerMicro-AT will return the length of the encrypted data, so
the returned length will be greater than the length of the real data"),
``AT+CIPRECVDATA`` returns the plaintext, and the 5760-byte window holds back the
sender by wire bytes.  Byte-exact, whole and one byte at a time, in both dialects."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from tests.links.helpers import PEER, finish_close, open_link
from w800at.core.net_actions import SetReading
from w800at.profiles import ESP_AT, W800, Profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
DIALECTS = [pytest.param(W800, id="w800"), pytest.param(ESP_AT, id="esp-at")]


def ssl_link(h: Harness, multi: bool) -> None:
    h.join()
    h.send(b"ATE0\r\nAT+CIPRECVMODE=1\r\n" + (b"AT+CIPMUX=1\r\n" if multi else b""))
    cmd = b'AT+CIPSTART=%s"SSL","127.0.0.1",8443\r\n' % (b"2," if multi else b"")
    open_link(h, cmd, local_port=40001)
    h.take()


def data_in(h: Harness, link_id: int, data: bytes, wire: int | None) -> bytes:
    h.engine.link_data(link_id, data, PEER, h.now, wire)
    return h.send(b"")


def unused(profile: Profile) -> str:
    return profile.recvlen_unused


@pytest.mark.parametrize("profile", DIALECTS)
def test_counts_are_tls_bytes_and_the_read_is_plaintext(profile: Profile) -> None:
    u = unused(profile)

    def scenario(h: Harness, bytewise: bool) -> bytes:
        ssl_link(h, multi=True)
        out = data_in(h, 2, b"x" * 100, 122)  # one TLS 1.3 record: 5 + 100 + 1 + 16
        out += data_in(h, 2, b"y" * 50, 72)  # no second notice until the host reads
        out += h.send(b"AT+CIPRECVLEN?\r\n", bytewise=bytewise)
        out += h.send(b"AT+CIPRECVDATA=2,194\r\n", bytewise=bytewise)
        out += h.send(b"AT+CIPRECVLEN?\r\n", bytewise=bytewise)
        return out

    assert both(scenario, profile=profile) == (
        b"\r\n+IPD,2,122\r\n"
        + f"+CIPRECVLEN:{u},{u},194,{u},{u}\r\n".encode()
        + OK
        + b"+CIPRECVDATA:150,"
        + b"x" * 100
        + b"y" * 50
        + OK
        + f"+CIPRECVLEN:{u},{u},0,{u},{u}\r\n".encode()
        + OK
    )


def test_a_partial_read_leaves_the_rest_its_share_rounded_up() -> None:
    """The count never drops below the plaintext still waiting."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        ssl_link(h, multi=False)
        out = data_in(h, 0, b"a" * 100, 129)  # a TLS 1.2 AES-GCM record: 100 + 29
        for n in (40, 59, 1):
            out += h.send(b"AT+CIPRECVDATA=%d\r\n" % n, bytewise=bytewise)
            out += h.send(b"AT+CIPRECVLEN?\r\n", bytewise=bytewise)
        return out

    # 129 * 60 / 100 = 77.4 -> 78; 129 * 1 / 100 = 1.29 -> 2; then 0
    assert both(scenario) == (
        b"\r\n+IPD,129\r\n"
        + b"+CIPRECVDATA:40,"
        + b"a" * 40
        + OK
        + b"+CIPRECVLEN:78,,,,\r\n"
        + OK
        + b"+CIPRECVDATA:59,"
        + b"a" * 59
        + OK
        + b"+CIPRECVLEN:2,,,,\r\n"
        + OK
        + b"+CIPRECVDATA:1,a"
        + OK
        + b"+CIPRECVLEN:0,,,,\r\n"
        + OK
    )


def test_the_window_holds_the_sender_back_by_wire_bytes() -> None:
    """5760 TLS bytes fill the window though the plaintext is less; a read that takes
    the window below it lets the sender go on."""
    h = Harness()
    ssl_link(h, multi=False)
    plain = b"p" * 5600
    assert data_in(h, 0, plain, 5760) == b"\r\n+IPD,5760\r\n"
    (pause,) = h.take(SetReading)
    assert isinstance(pause, SetReading) and pause.paused
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:5760,,,,\r\n" + OK
    assert h.send(b"AT+CIPRECVDATA=100\r\n") == b"+CIPRECVDATA:100," + b"p" * 100 + OK
    (resume,) = h.take(SetReading)
    assert isinstance(resume, SetReading) and not resume.paused
    # 5760 * 5500 / 5600 = 5657.1 -> 5658
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:5658,,,,\r\n" + OK
    h.check()


def test_a_read_past_the_window_takes_only_what_the_window_holds() -> None:
    """A TCP read can bring more than the window before the pause takes effect: the
    host sees 5760 wire bytes, and reads the plaintext of the records inside them."""
    h = Harness()
    ssl_link(h, multi=False)
    records = [bytes([65 + i]) * 1000 for i in range(8)]  # 8 records of 1022 wire bytes
    h.engine.link_data(0, b"".join(records), PEER, h.now, 8 * 1022)
    assert h.send(b"") == b"\r\n+IPD,5760\r\n"
    h.take()
    got = h.send(b"AT+CIPRECVDATA=100000\r\n")
    # one chunk of 8000 plaintext for 8176 wire: 5760 of them hold 8000*5760//8176
    n = 8000 * 5760 // 8176
    assert got == b"+CIPRECVDATA:%d," % n + b"".join(records)[:n] + OK + b"\r\n+IPD,2417\r\n"
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:2417,,,,\r\n" + OK
    rest = h.send(b"AT+CIPRECVDATA=100000\r\n")
    assert rest == b"+CIPRECVDATA:%d," % (8000 - n) + b"".join(records)[n:] + OK
    h.check()


def test_closed_waits_for_the_data_and_flush_on_active_mode() -> None:
    h = Harness()
    ssl_link(h, multi=False)
    assert data_in(h, 0, b"bye", 25) == b"\r\n+IPD,25\r\n"
    h.engine.link_closed(0, "closed", h.now)
    assert h.send(b"") == b""  # CLOSED is held back
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:25,,,,\r\n" + OK
    assert h.send(b"AT+CIPRECVDATA=3\r\n") == b"+CIPRECVDATA:3,bye" + OK + b"CLOSED\r\n"
    # active mode again: what waits goes out as +IPD frames of plaintext
    h2 = Harness()
    ssl_link(h2, multi=False)
    data_in(h2, 0, b"one", 25)
    data_in(h2, 0, b"two", 25)
    assert h2.send(b"AT+CIPRECVMODE=0\r\n") == b"\r\n+IPD,3:one\r\n\r\n+IPD,3:two\r\n" + OK
    assert data_in(h2, 0, b"three", 27) == b"\r\n+IPD,5:three\r\n"
    assert h2.send(b"AT+CIPRECVMODE=1\r\n") == OK
    assert data_in(h2, 0, b"four", 26) == b"\r\n+IPD,26\r\n"
    h.check()
    h2.check()


def test_a_tcp_link_still_counts_its_data() -> None:
    """Only SSL links count wire bytes (a TCP link's wire is its data)."""
    h = Harness()
    h.join()
    h.send(b"ATE0\r\nAT+CIPRECVMODE=1\r\n")
    open_link(h)
    assert data_in(h, 0, b"hello", None) == b"\r\n+IPD,5\r\n"
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:5,,,,\r\n" + OK
    assert h.send(b"AT+CIPCLOSE\r\n") == b""
    finish_close(h)
    h.check()

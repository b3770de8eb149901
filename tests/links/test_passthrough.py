"""Wi-Fi passthrough: AT+CIPMODE=1 + AT+CIPSEND, packetising, +++ with guard times,
reconnecting (AT+CIPRECONNINTV).  All timing on the harness's manual clock."""

from __future__ import annotations

from tests.harness import Harness, both
from tests.links.helpers import PEER, joined, open_link, table
from w800at.core.engine import Mode
from w800at.core.net_actions import Connect, Connected, Send
from w800at.profiles import ESP_AT

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROMPT = b"\r\nOK\r\n\r\n>"
GUARD = 0.030  # W800 +++ guard and packet interval


def enter(h: Harness) -> bytes:
    assert h.send(b"AT+CIPMODE=1\r\n") == OK
    open_link(h)
    return h.send(b"AT+CIPSEND\r\n")


def sent(h: Harness) -> list[bytes]:
    return [a.data for a in h.take(Send) if isinstance(a, Send)]


def test_enter_prompt_and_raw_both_ways() -> None:
    h = joined()
    assert enter(h) == PROMPT
    assert h.engine.mode is Mode.DATA
    assert h.send(b"AT\r\n") == b""  # data, not a command
    table(h).on_data(0, b"\r\n+IPD,1:x", PEER, h.now)
    assert h.send(b"") == b"\r\n+IPD,1:x"  # raw, no framing
    assert h.advance(GUARD) == b""
    assert sent(h) == [b"AT\r\n"]


def test_packet_512_goes_at_once_rest_after_interval() -> None:
    h = joined()
    enter(h)
    h.send(b"a" * 1100)
    assert sent(h) == [b"a" * 1024]  # two whole packets, one stream write
    h.advance(GUARD - 0.001)
    assert sent(h) == []
    h.advance(0.002)
    assert sent(h) == [b"a" * 76]


def test_interval_counts_from_the_last_byte() -> None:
    h = joined()
    enter(h)
    h.send(b"ab")
    h.advance(0.020)
    h.send(b"cd")
    h.advance(0.020)
    assert sent(h) == []
    h.advance(0.011)
    assert sent(h) == [b"abcd"]


def test_udp_passthrough_sends_one_datagram_per_packet() -> None:
    h = joined()
    h.send(b"AT+CIPMODE=1\r\n")
    open_link(h, b'AT+CIPSTART="UDP","127.0.0.1",8080\r\n')
    assert h.send(b"AT+CIPSEND\r\n") == PROMPT
    h.send(b"u" * 1030)
    assert sent(h) == [b"u" * 512, b"u" * 512]


def test_esp_at_packet_2920_and_20ms() -> None:
    h = joined(profile=ESP_AT)
    enter(h)
    h.send(b"e" * 3000)
    assert sent(h) == [b"e" * 2920]
    h.advance(0.021)
    assert sent(h) == [b"e" * 80]


def _escape(h: Harness, bytewise: bool) -> bytes:
    h.join()
    h.send(b"ATE0\r\n")
    out = enter(h)
    h.advance(0.1)
    out += h.send(b"+++", bytewise=bytewise)
    out += h.advance(GUARD + 0.001)
    out += h.send(b"AT\r\n", bytewise=bytewise)
    return out


def test_plus_with_silences_exits() -> None:
    out = both(_escape)
    assert out == PROMPT + OK  # no reply to +++; AT works again


def test_plus_exit_prints_quitt_with_sysmsg_1() -> None:
    h = joined()
    h.send(b"AT+SYSMSG=1\r\n")
    enter(h)
    h.advance(0.1)
    h.send(b"+++")
    assert h.advance(GUARD + 0.001) == b"+QUITT\r\n"
    assert h.engine.mode is Mode.COMMAND


def test_plus_spaced_within_guard_exits() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    for _ in range(3):
        h.send(b"+")
        h.advance(0.010)
    h.advance(GUARD)
    assert h.engine.mode is Mode.COMMAND
    assert sent(h) == []


def test_plus_right_after_data_is_data() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"x")
    h.advance(0.010)  # less than the guard before the first +
    h.send(b"+++")
    h.advance(0.1)
    assert h.engine.mode is Mode.DATA
    assert sent(h) == [b"x+++"]


def test_plus_followed_by_data_is_data() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"+++")
    h.advance(0.010)  # less than the guard after the third +
    h.send(b"y")
    h.advance(0.1)
    assert h.engine.mode is Mode.DATA
    assert sent(h) == [b"+++y"]


def test_plus_in_a_bigger_chunk_is_data() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"+++\r\n")
    h.advance(0.1)
    assert h.engine.mode is Mode.DATA
    assert sent(h) == [b"+++\r\n"]


def test_lone_plus_then_data_is_data() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"+")
    h.advance(0.010)
    h.send(b"z")
    h.advance(0.1)
    assert sent(h) == [b"+z"]
    h.send(b"++")
    h.advance(0.1)  # too long a pause after the second +: they are data
    assert sent(h) == [b"++"]
    assert h.engine.mode is Mode.DATA


def test_gap_between_plus_longer_than_guard_is_data() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"+")
    h.advance(0.040)
    h.send(b"++")
    h.advance(0.1)
    assert h.engine.mode is Mode.DATA
    assert b"".join(sent(h)) == b"+++"


def test_after_exit_link_stays_open_and_reenters() -> None:
    h = joined()
    enter(h)
    h.advance(0.1)
    h.send(b"data")
    h.advance(0.1)
    h.send(b"+++")
    h.advance(0.1)
    assert sent(h) == [b"data"]
    assert h.send(b"AT+CIPSTATE?\r\n") == b'+CIPSTATE:0,"TCP","127.0.0.1",8080,40000,0\r\n' + OK
    table(h).on_data(0, b"hi", PEER, h.now)
    assert h.send(b"") == b"\r\n+IPD,2:hi\r\n"  # command mode: framed again
    assert h.send(b"AT+CIPSEND\r\n") == PROMPT
    h.send(b"more")
    h.advance(0.1)
    assert sent(h) == [b"more"]


def test_plus_flushes_pending_data_before_leaving() -> None:
    h = joined()
    enter(h)
    h.send(b"tail")
    h.advance(0.010)
    assert sent(h) == []
    # the packet timer fires at 30 ms; +++ must wait the guard anyway
    h.advance(0.1)
    h.send(b"+++")
    h.advance(0.1)
    assert sent(h) == [b"tail"]


def test_passthrough_errors() -> None:
    h = joined()
    assert h.send(b"AT+CIPSEND\r\n") == ERROR  # CIPMODE=0
    h.send(b"AT+CIPMODE=1\r\n")
    assert h.send(b"AT+CIPMODE?\r\n") == b"+CIPMODE:1\r\n" + OK
    assert h.send(b"AT+CIPSEND\r\n") == ERROR  # no link
    open_link(h, b'AT+CIPSTART="UDP","127.0.0.1",8080,1002,1\r\n')
    assert h.send(b"AT+CIPSEND\r\n") == ERROR  # UDP passthrough needs <mode> 0
    assert h.send(b"AT+CIPSEND=5\r\n") == ERROR  # normal send is not for passthrough


def test_reconnintv_range() -> None:
    h = joined()
    assert h.send(b"AT+CIPRECONNINTV?\r\n") == b"+CIPRECONNINTV:1\r\n" + OK
    assert h.send(b"AT+CIPRECONNINTV=0\r\n") == ERROR
    assert h.send(b"AT+CIPRECONNINTV=36001\r\n") == ERROR
    assert h.send(b"AT+CIPRECONNINTV=36000\r\n") == OK
    assert h.send(b"AT+CIPRECONNINTV?\r\n") == b"+CIPRECONNINTV:36000\r\n" + OK


def test_lost_link_is_reconnected_in_passthrough() -> None:
    h = joined()
    h.send(b"AT+CIPRECONNINTV=5\r\n")
    enter(h)
    table(h).on_closed(0, "reset", h.now)
    assert h.send(b"") == b""  # no CLOSED in passthrough (AT+SYSMSG bit 2 off)
    h.send(b"lost")  # dropped: no link
    h.advance(0.49)
    assert h.take(Connect) == []
    h.advance(0.02)
    (c,) = h.take(Connect)
    assert isinstance(c, Connect) and c.host == "127.0.0.1" and c.port == 8080
    assert h.complete(c, ConnectionRefusedError()) == b""
    h.advance(0.51)
    (c,) = h.take(Connect)
    assert h.complete(c, Connected(*PEER, "127.0.0.1", 40001)) == b""
    h.send(b"back")
    h.advance(0.1)
    assert sent(h) == [b"back"]
    h.check()


def test_reconnect_announced_with_sysmsg_4() -> None:
    h = joined()
    h.send(b"AT+SYSMSG=4\r\n")
    enter(h)
    table(h).on_closed(0, "reset", h.now)
    assert h.send(b"") == b"CLOSED\r\n"
    h.advance(0.11)
    (c,) = h.take(Connect)
    assert h.complete(c, Connected(*PEER, "127.0.0.1", 40001)) == b"CONNECT\r\n"


def test_exit_while_link_down_reports_closed() -> None:
    h = joined()
    h.send(b"AT+CIPRECONNINTV=100\r\n")
    enter(h)
    table(h).on_closed(0, "reset", h.now)
    h.advance(0.1)
    h.send(b"+++")
    assert h.advance(0.1) == b"CLOSED\r\n"
    assert table(h).links == {}
    h.advance(20)
    assert h.take(Connect) == []
    h.check()


def test_wifi_loss_in_passthrough_reconnects_after_rejoin() -> None:
    h = joined()
    enter(h)
    h.engine.receive_data(b"", h.now)
    from w800at.commands.wifi import _drop_station

    _drop_station(h.engine)  # the AP went away (same path as AT+CWQAP)
    assert h.send(b"") == b"WIFI DISCONNECT\r\n"
    h.take()
    h.advance(1.0)
    assert h.take(Connect) == []  # no IP: nothing to reconnect with yet
    assert h.engine.mode is Mode.DATA

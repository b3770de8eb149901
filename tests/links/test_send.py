"""AT+CIPSEND / AT+CIPSENDEX / AT+CIPSENDL, engine side."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from tests.links.helpers import finish_send, joined, open_link, table
from w800at.core.net_actions import Send
from w800at.profiles import ESP_AT

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROMPT = b"\r\nOK\r\n\r\n>"
SEND_OK = b"\r\nSEND OK\r\n"


def _send_scenario(h: Harness, bytewise: bool) -> bytes:
    h.join()
    h.send(b"ATE0\r\n")
    open_link(h)
    out = h.send(b"AT+CIPSEND=5\r\n", bytewise=bytewise)
    out += h.send(b"hello", bytewise=bytewise)
    act, done = finish_send(h)
    assert act.data == b"hello" and act.link_id == 0 and act.addr is None
    return out + done


def test_cipsend_prompt_recv_send_ok() -> None:
    assert both(_send_scenario) == PROMPT + b"\r\nRecv 5 bytes\r\n" + SEND_OK


def test_send_fail() -> None:
    h = joined()
    open_link(h)
    h.send(b"AT+CIPSEND=3\r\n")
    assert h.send(b"abc") == b"\r\nRecv 3 bytes\r\n"
    _, out = finish_send(h, BrokenPipeError("gone"))
    assert out == b"\r\nSEND FAIL\r\n"


def test_payload_is_not_parsed_as_commands() -> None:
    h = joined()
    open_link(h)
    h.send(b"AT+CIPSEND=8\r\n")
    assert h.send(b"AT\r\nAT\r\n") == b"\r\nRecv 8 bytes\r\n"
    act, out = finish_send(h)
    assert act.data == b"AT\r\nAT\r\n" and out == SEND_OK


def test_surplus_bytes_get_busy() -> None:
    h = joined()
    open_link(h)
    h.send(b"AT+CIPSEND=5\r\n")
    assert h.send(b"hello!!\r\n") == b"\r\nRecv 5 bytes\r\n\r\nbusy p...\r\n"
    act, out = finish_send(h)
    assert act.data == b"hello" and out == SEND_OK


def test_send_length_limits() -> None:
    h = joined()
    open_link(h)
    assert h.send(b"AT+CIPSEND=5761\r\n") == ERROR
    assert h.send(b"AT+CIPSEND=0\r\n") == ERROR
    assert h.send(b"AT+CIPSEND=5760\r\n") == PROMPT
    assert h.send(b"x" * 5760) == b"\r\nRecv 5760 bytes\r\n"
    finish_send(h)
    e = joined(profile=ESP_AT)
    open_link(e)
    assert e.send(b"AT+CIPSEND=8193\r\n") == ERROR
    assert e.send(b"AT+CIPSEND=8192\r\n") == PROMPT


def test_send_without_link_is_error_without_prompt() -> None:
    h = joined()
    assert h.send(b"AT+CIPSEND=5\r\n") == ERROR
    assert h.send(b"AT\r\n") == OK  # back in command mode: nothing waits for data
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"TCP","127.0.0.1",8080\r\n')
    assert h.send(b"AT+CIPSEND=2,5\r\n") == ERROR
    assert h.send(b"AT+CIPSEND=5,5\r\n") == ERROR
    assert h.send(b"AT+CIPSEND=1,5\r\n") == PROMPT


def test_link_closed_during_payload_is_error() -> None:
    h = joined()
    open_link(h)
    h.send(b"AT+CIPSEND=4\r\n")
    table(h).on_closed(0, "reset")
    assert h.send(b"") == b"CLOSED\r\n"
    assert h.send(b"data") == b"\r\nRecv 4 bytes\r\n" + ERROR
    assert h.take(Send) == []


def test_udp_remote_per_send() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=2,"UDP","127.0.0.1",8080,1002\r\n')
    assert h.send(b'AT+CIPSEND=2,3,"127.0.0.2",9000\r\n') == PROMPT
    h.send(b"abc")
    act, out = finish_send(h)
    assert act.addr == ("127.0.0.2", 9000) and act.link_id == 2 and out == SEND_OK
    assert h.send(b'AT+CIPSEND=2,3,"127.0.0.2"\r\n') == ERROR  # port missing


def test_remote_per_send_is_for_udp_only() -> None:
    h = joined()
    open_link(h)
    assert h.send(b'AT+CIPSEND=3,"127.0.0.2",9000\r\n') == ERROR


def _sendex(h: Harness, bytewise: bool, payload: bytes, length: int = 10) -> bytes:
    h.join()
    h.send(b"ATE0\r\n")
    open_link(h)
    out = h.send(b"AT+CIPSENDEX=%d\r\n" % length)
    out += h.send(payload, bytewise=bytewise)
    act, done = finish_send(h)
    return out + b"|" + act.data + b"|" + done


def test_cipsendex_backslash_zero_ends_early() -> None:
    out = both(lambda h, bw: _sendex(h, bw, b"ab\\0"))
    assert out == PROMPT + b"\r\nRecv 2 bytes\r\n|ab|" + SEND_OK


def test_cipsendex_escaped_backslash_zero_is_literal() -> None:
    out = both(lambda h, bw: _sendex(h, bw, b"a\\\\0b", 4))
    assert out == PROMPT + b"\r\nRecv 4 bytes\r\n|a\\0b|" + SEND_OK


def test_cipsendex_backslash_before_other_bytes_is_dropped() -> None:
    out = both(lambda h, bw: _sendex(h, bw, b"\\x\\yz", 3))
    assert out == PROMPT + b"\r\nRecv 3 bytes\r\n|xyz|" + SEND_OK


def test_cipsendex_full_length_without_escape() -> None:
    out = both(lambda h, bw: _sendex(h, bw, b"0123456789"))
    assert out == PROMPT + b"\r\nRecv 10 bytes\r\n|0123456789|" + SEND_OK


def test_cipsendl_is_unknown_on_w800() -> None:
    h = joined()
    h.send(b"AT+SYSLOG=1\r\n")
    open_link(h)
    assert h.send(b"AT+CIPSENDL=5\r\n") == b"ERR CODE:0x01090000\r\n" + ERROR


def test_cipsendl_esp_at() -> None:
    h = joined(profile=ESP_AT)
    open_link(h)
    assert h.send(b"AT+CIPSENDL=6\r\n") == PROMPT
    assert h.send(b"abcd") == b""
    assert h.take(Send) == []  # under <transmit size>: waits 20 ms for more
    h.advance(0.02)
    (a1,) = h.take(Send)
    assert isinstance(a1, Send) and a1.data == b"abcd"
    assert h.complete(a1, 4) == b""  # under <report size> (1024): no report yet
    assert h.send(b"efAT") == b""  # the surplus is dropped, data mode has ended
    (a2,) = h.take(Send)
    assert isinstance(a2, Send) and a2.data == b"ef"
    # the last report always has everything sent, then the final result
    assert h.complete(a2, 2) == b"+CIPSENDL:6,6\r\n" + SEND_OK
    assert h.send(b"AT\r\n") == OK
    h.check()


def _sendl_cfg(h: Harness, bytewise: bool) -> bytes:
    h.join()
    h.send(b"ATE0\r\n")
    open_link(h)
    line = b"AT+CIPSENDLCFG?\r\nAT+CIPSENDLCFG=100,100\r\nAT+CIPSENDLCFG?\r\n"
    out = h.send(line, bytewise=bytewise)
    out += h.send(b"AT+CIPSENDL=250\r\n", bytewise=bytewise)
    out += h.send(bytes(range(250)), bytewise=bytewise)
    sends = h.take(Send)
    assert [len(a.data) for a in sends] == [100, 100, 50]  # type: ignore[attr-defined]
    for a in sends:
        out += h.complete(a, len(a.data))  # type: ignore[attr-defined]
    return out


def test_cipsendlcfg_sets_report_and_transmit_size() -> None:
    """Issue 12 item 2: AT+CIPSENDLCFG=<report size>[,<transmit size>]; AT+CIPSENDL then
    sends <transmit size> blocks and reports every <report size> bytes sent, the last
    report being everything sent."""
    assert both(_sendl_cfg, profile=ESP_AT) == (
        b"+CIPSENDLCFG:1024,2920\r\n"
        + OK
        + OK
        + b"+CIPSENDLCFG:100,100\r\n"
        + OK
        + PROMPT
        + b"+CIPSENDL:100,250\r\n"
        + b"+CIPSENDL:200,250\r\n"
        + b"+CIPSENDL:250,250\r\n"
        + SEND_OK
    )


def test_cipsendl_reports_each_report_size_passed() -> None:
    h = joined(profile=ESP_AT)
    open_link(h)
    assert h.send(b"AT+CIPSENDLCFG=1000\r\nAT+CIPSENDLCFG?\r\n") == (
        OK + b"+CIPSENDLCFG:1000,2920\r\n" + OK  # <transmit size> kept
    )
    assert h.send(b"AT+CIPSENDL=7000\r\n") == PROMPT
    h.send(b"x" * 6000)  # two 2920-byte blocks at once, 160 bytes wait
    a1, a2 = h.take(Send)
    assert h.complete(a1, 2920) == b"+CIPSENDL:2920,6000\r\n"  # passed 1000 and 2000
    assert h.complete(a2, 2920) == b"+CIPSENDL:5840,6000\r\n"
    h.advance(0.02)
    (a3,) = h.take(Send)
    assert isinstance(a3, Send) and len(a3.data) == 160
    assert h.complete(a3, 160) == b"+CIPSENDL:6000,6000\r\n"  # passed 6000
    h.send(b"y" * 1000)
    (a4,) = h.take(Send)
    assert h.complete(a4, BrokenPipeError("gone")) == (
        b"\r\nSEND FAIL\r\n"  # no new report: nothing more was sent
    )
    h.check()


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"AT+CIPSENDLCFG=99", 0x01070000),
        (b"AT+CIPSENDLCFG=1048577", 0x01070000),
        (b"AT+CIPSENDLCFG=1024,2921", 0x01070001),
        (b"AT+CIPSENDLCFG=1024,99", 0x01070001),
        (b"AT+CIPSENDLCFG=", 0x01060100),  # need 1, given 0
        (b"AT+CIPSENDLCFG=1024,2920,1", 0x01060203),  # at most 2, given 3
        (b'AT+CIPSENDLCFG="1024"', 0x01050000),
    ],
)
def test_cipsendlcfg_bad_parameters(line: bytes, code: int) -> None:
    h = joined(profile=ESP_AT)
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(line + b"\r\n") == b"ERR CODE:0x%08x\r\n" % code + ERROR
    assert h.send(b"AT+CIPSENDLCFG?\r\n") == b"+CIPSENDLCFG:1024,2920\r\n" + OK


def test_cipsendlcfg_is_unknown_on_w800() -> None:
    """The W800 spec: "AT+CIPSENDLCFG(Not supported)"."""
    h = joined()
    h.send(b"AT+SYSLOG=1\r\n")
    for line in (b"AT+CIPSENDLCFG?\r\n", b"AT+CIPSENDLCFG=100\r\n"):
        assert h.send(line) == b"ERR CODE:0x01090000\r\n" + ERROR


def test_cipsendl_cancelled_by_plus() -> None:
    h = joined(profile=ESP_AT)
    open_link(h)
    h.send(b"AT+CIPSENDL=100\r\n")
    h.advance(0.05)
    h.send(b"abc")
    h.advance(0.02)  # under <transmit size>: sent after 20 ms
    (a1,) = h.take(Send)
    h.complete(a1, 3)
    h.advance(0.05)
    h.send(b"+++")
    assert h.advance(0.05) == b"\r\nSEND CANCELLED\r\n"
    assert h.send(b"AT\r\n") == OK
    assert h.take(Send) == []


def test_udp_sends_go_to_the_sender_the_link_followed() -> None:
    """UDP <mode> 2: after a datagram from a new sender, plain AT+CIPSEND goes to it
    (the runtime is told the new remote; it only knows the one from AT+CIPSTART)."""
    h = joined()
    open_link(h, b'AT+CIPSTART="UDP","127.0.0.1",8080,1002,2\r\n', local_port=1002)
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+CIPSEND=2\r\nhi") == b"\r\nOK\r\n\r\n>\r\nRecv 2 bytes\r\n"
    send, _ = finish_send(h, 2)
    assert send.addr is None  # still the remote given to AT+CIPSTART
    table(h).on_data(0, b"x", ("127.0.0.9", 9999), h.now)
    h.send(b"")
    h.send(b"AT+CIPSEND=2\r\nhi")
    send, out = finish_send(h, 2)
    assert send.addr == ("127.0.0.9", 9999)
    assert out == b"\r\nSEND OK\r\n"
    h.check()

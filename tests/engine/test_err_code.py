"""ERR CODE's extension (issue 12, item 7): the low 16 bits say which parameter.

ESP-AT's ``components/at/include/esp_at_core.h``: ``ESP_AT_CMD_ERROR_PARA_TYPE``,
``_PARA_INVALID``, ``_PARA_LENGTH``, ``_PARA_PARSE_FAIL`` carry ``which_para`` (the
parameter's index, counted from 0 as ``esp_at_get_para_as_*(para_index)`` does);
``_PARA_NUM(need, given)`` carries ``need << 8 | given`` (esp-at issue #540:
``AT+CWLAPOPT=1,31,,255`` on a build that took two answered ``0x01060204``); a known
command used in a form it lacks is ``_CMD_OP_ERROR`` (0x0C), an unknown one
``_UNSUPPORT_CMD`` (0x09).  Every case runs whole and one byte at a time, in both
dialects.
"""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from w800at.profiles import ESP_AT, W800, Profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROFILES = [pytest.param(W800, id="w800"), pytest.param(ESP_AT, id="esp-at")]


def err(code: int) -> bytes:
    return b"ERR CODE:0x%08x\r\n" % code + ERROR


def answers(profile: Profile, setup: list[bytes], line: bytes) -> bytes:
    """What ``line`` gets after ``setup`` (echo off, AT+SYSLOG=1, joined)."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.join()
        assert h.send(b"ATE0\r\nAT+SYSLOG=1\r\n") == b"ATE0\r\n" + OK + OK
        for s in setup:
            h.send(s + b"\r\n")
        h.take()
        out = h.send(line + b"\r\n", bytewise=bytewise)
        return out + h.send(b"AT\r\n", bytewise=bytewise)  # and it keeps serving

    out = both(scenario, profile=profile)
    assert out.endswith(OK)
    return out[: -len(OK)]


MUX = [b"AT+CIPMUX=1"]

# (setup, line, ERR CODE)
CASES = [
    # the parameter's index, from 0
    pytest.param([], b"AT+UART_CUR=115200,9,1,0,0", 0x01070001, id="invalid-2nd"),
    pytest.param([], b"AT+UART_CUR=115200,8,1,0,9", 0x01070004, id="invalid-5th"),
    pytest.param([], b'AT+UART_CUR=115200,"8",1,0,0', 0x01050001, id="type-2nd"),
    pytest.param([], b'AT+CWJAP="lab",secret', 0x01050001, id="type-2nd-string"),
    pytest.param([], b'AT+CWJAP="lab","' + b"p" * 65 + b'"', 0x01040001, id="length-2nd"),
    pytest.param([], b'AT+CWJAP="lab","pw', 0x01080001, id="parse-2nd"),
    pytest.param([], b'AT+CWJAP="lab","pw"x', 0x01080001, id="parse-after-quote"),
    pytest.param([], b'AT+CWJAP="lab",p"w', 0x01080001, id="parse-stray-quote"),
    pytest.param([], b'AT+CIPSNTPCFG=1,8,"' + b"s" * 65 + b'"', 0x01040002, id="length-3rd"),
    # in multi mode the link ID is parameter 0, and every later one moves up
    pytest.param([], b'AT+CIPSTART="TCP","127.0.0.1",70000', 0x01070002, id="single-port"),
    pytest.param(MUX, b'AT+CIPSTART=0,"TCP","127.0.0.1",70000', 0x01070003, id="multi-port"),
    pytest.param(MUX, b'AT+CIPSTART=7,"TCP","127.0.0.1",80', 0x01070000, id="multi-link-id"),
    # the handler's own checks name their parameter too
    pytest.param([], b'AT+CIPSTART="TCP","127.0.0.1",0', 0x01070002, id="port-0"),
    pytest.param(MUX, b'AT+CIPSTART=0,"TCP","127.0.0.1",0', 0x01070003, id="port-0-multi"),
    pytest.param([], b'AT+CIPSTART="TCP","127.0.0.1",80,9000', 0x01070003, id="keepalive"),
    pytest.param(
        MUX, b'AT+CIPSTART=1,"TCP","127.0.0.1",80,,"' + b"1" * 65 + b'"', 0x01040005, id="local-ip"
    ),
    pytest.param([], b'AT+CIPSTART="UDP","127.0.0.1",80,,3', 0x01070004, id="udp-mode-range"),
    pytest.param([], b'AT+CIPSTART="UDP","127.0.0.1",80,,1', 0x01070004, id="udp-mode-no-lport"),
    pytest.param(MUX, b"AT+CIPSERVER=1,70000", 0x01070001, id="server-port"),
    pytest.param(MUX, b"AT+CIPSERVER=0,7", 0x01070001, id="server-close-flag"),
    pytest.param(MUX, b'AT+CIPSERVER=0,1,"TCP"', 0x01060203, id="server-close-count"),
    pytest.param([], b'AT+CIPSSLCALPN=2,"h2",""', 0x01070002, id="alpn-empty"),
    pytest.param(MUX, b'AT+CIPSSLCALPN=0,2,"h2",""', 0x01070003, id="alpn-empty-multi"),
    pytest.param([], b'AT+CIPSSLCALPN=1,"h2","x"', 0x01060203, id="alpn-count"),
    pytest.param(MUX, b'AT+CIPSSLCALPN=0,3,"h2"', 0x01060503, id="alpn-count-multi"),
    # need << 8 | given: too many (need: the most it takes), too few (the fewest)
    pytest.param([], b"AT+CWMODE=1,1,1", 0x01060203, id="count-too-many"),
    pytest.param([], b"AT+CWMODE=1,1,,", 0x01060204, id="count-empties-count"),
    pytest.param([], b"AT+CWDHCP=1", 0x01060201, id="count-too-few"),
    pytest.param([], b"AT+CWMODE=", 0x01060100, id="count-none"),
    pytest.param([], b"AT+UART_CUR=115200,8", 0x01060502, id="count-uart"),
    pytest.param([], b"AT+CIPSEND=1,2,3,4,5", 0x01060305, id="count-send-single"),
    pytest.param(MUX, b"AT+CIPSEND=1", 0x01060201, id="count-send-multi"),
    pytest.param(MUX, b"AT+CIPCLOSE", 0x01060100, id="count-close-needs-id"),
    # a known command in a form it does not have: operation type, not unsupported
    pytest.param([], b"AT+GMR?", 0x010C0000, id="op-query"),
    pytest.param([], b"AT+GMR=1", 0x010C0000, id="op-set"),
    pytest.param([], b"AT+CWSTATE", 0x010C0000, id="op-execute"),
    pytest.param([], b"AT+CIPRECVLEN=?", 0x010C0000, id="op-test"),
    pytest.param([], b"AT+NOSUCH?", 0x01090000, id="unknown"),
]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("setup", "line", "code"), CASES)
def test_err_code_extension(profile: Profile, setup: list[bytes], line: bytes, code: int) -> None:
    assert answers(profile, setup, line) == err(code)


def test_a_command_the_dialect_lacks_is_unsupported_in_every_form() -> None:
    """AT+CIPSENDL exists in esp-at only: in w800 it is unknown (0x09), whatever the form;
    in esp-at, a form it lacks is 0x0C."""
    for form in (b"", b"?", b"=?", b"=5"):
        assert answers(W800, [], b"AT+CIPSENDL" + form) == err(0x01090000)
    assert answers(ESP_AT, [], b"AT+CIPSENDL?") == err(0x010C0000)


def test_syslog_off_prints_no_code() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+UART_CUR=115200,9,1,0,0\r\n") == ERROR
    assert h.send(b"AT+GMR?\r\n") == ERROR
    h.check()

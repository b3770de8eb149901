"""The line discipline: terminators, echo, the grammar's error paths, busy p..."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from w800at.core.engine import LONE_CR_WAIT
from w800at.profiles import W800

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
BUSY = b"\r\nbusy p...\r\n"


def err(code: int) -> bytes:
    return b"ERR CODE:0x%08x\r\n" % code + ERROR


def test_boot_says_ready_and_input_before_it_is_dropped() -> None:
    h = Harness(boot=False)
    assert h.send(b"AT\r\n") == b""  # not powered
    h.engine.power_on(h.now)
    assert h.send(b"AT\r\n") == b""  # booting: nobody listens
    assert h.advance(W800.boot_time - 0.01) == b""
    assert h.advance(0.01) == b"\r\nready\r\n"
    assert h.send(b"AT\r\n") == b"AT\r\n" + OK
    h.check()


@pytest.mark.parametrize("bytewise", [False, True])
def test_echo_on_off(bytewise: bool) -> None:
    h = Harness()
    assert h.boot_output == b"\r\nready\r\n"
    assert h.send(b"AT\r\n", bytewise=bytewise) == b"AT\r\n" + OK
    assert h.send(b"ATE0\r\n", bytewise=bytewise) == b"ATE0\r\n" + OK
    assert h.send(b"AT\r\n", bytewise=bytewise) == OK
    assert h.send(b"ATE1\r\n", bytewise=bytewise) == OK
    assert h.send(b"AT\r\n", bytewise=bytewise) == b"AT\r\n" + OK
    h.check()


# (line, ERR CODE) -- echo on, AT+SYSLOG=1
ERROR_CASES = [
    pytest.param(b"AT+NOPE\r\n", 0x01090000, id="unknown"),
    pytest.param(b"AT+GMR=1\r\n", 0x010C0000, id="no-set-form"),
    pytest.param(b"AT+GMR?\r\n", 0x010C0000, id="no-query-form"),
    pytest.param(b"AT+CWSTATE\r\n", 0x010C0000, id="no-execute-form"),
    pytest.param(b"AT+CMD=?\r\n", 0x010C0000, id="no-test-form"),
    pytest.param(b"AT+CWMODE=4\r\n", 0x01070000, id="above-range"),
    pytest.param(b"AT+CWMODE=-1\r\n", 0x01070000, id="below-range"),
    pytest.param(b"AT+CWMODE=1,1,1\r\n", 0x01060203, id="extra-param"),
    pytest.param(b"AT+CWDHCP=1\r\n", 0x01060201, id="missing-param"),
    pytest.param(b"AT+CWMODE=\r\n", 0x01060100, id="empty-param"),
    pytest.param(b'AT+CWMODE="1"\r\n', 0x01050000, id="string-for-int"),
    pytest.param(b"AT+CWMODE=1x\r\n", 0x01050000, id="not-a-number"),
    pytest.param(b"AT+CWHOSTNAME=abc\r\n", 0x01050000, id="int-for-string"),
    pytest.param(b'AT+CWHOSTNAME="' + b"h" * 33 + b'"\r\n', 0x01040000, id="string-too-long"),
    pytest.param(b'AT+CWHOSTNAME="abc\r\n', 0x01080000, id="unterminated-quote"),
    pytest.param(b'AT+CWHOSTNAME="a"b\r\n', 0x01080000, id="text-after-quote"),
    pytest.param(b"AT+CWMODE1\r\n", 0x01090000, id="garbage-after-name"),
    pytest.param(b"at\r\n", 0x01030000, id="lower-case-at"),
    pytest.param(b"At+GMR\r\n", 0x01030000, id="mixed-case-at"),
    pytest.param(b"+GMR\r\n", 0x01030000, id="no-at"),
    pytest.param(b"AT\n", 0x01020000, id="lf-without-cr"),
    pytest.param(b"AT" + b"X" * 255 + b"\r\n", 0x01010000, id="257-bytes"),
    pytest.param(b"AT" + b"X" * 5000 + b"\r\n", 0x01010000, id="5002-bytes"),
]


@pytest.mark.parametrize(("line", "code"), ERROR_CASES)
def test_error_paths(line: bytes, code: int) -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        assert h.send(b"AT+SYSLOG=1\r\n") == b"AT+SYSLOG=1\r\n" + OK
        out = h.send(line, bytewise=bytewise)
        # the module keeps serving
        return out + h.send(b"AT\r\n", bytewise=bytewise)

    out = both(scenario)
    echo = line if len(line) <= 259 else line[:257] + b"\r\n"  # echo keeps 257 + CR LF
    assert out == echo + err(code) + b"AT\r\n" + OK


def test_errors_without_syslog_are_plain_error() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+SYSLOG?\r\n") == b"+SYSLOG:0\r\n" + OK
    for line in (b"AT+NOPE\r\n", b"at\r\n", b"AT\n", b"AT+CWMODE=9\r\n"):
        assert h.send(line) == ERROR
    assert h.send(b"AT+SYSLOG=1\r\n") == OK
    assert h.send(b"AT+SYSLOG?\r\n") == b"+SYSLOG:1\r\n" + OK
    assert h.send(b"AT+SYSLOG=2\r\n") == err(0x01070000)
    h.check()


def test_256_byte_line_is_accepted_257_is_not() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    h.send(b"AT+SYSLOG=1\r\n")
    ok256 = b'AT+CWHOSTNAME="' + b"h" * 32 + b'"'
    ok256 += b" " * 0  # a real command line shorter than the limit
    assert h.send(ok256 + b"\r\n") == OK
    assert h.send(b"AT" + b"X" * 254 + b"\r\n") == err(0x01090000)  # 256: parsed
    assert h.send(b"AT" + b"X" * 255 + b"\r\n") == err(0x01010000)  # 257: too long
    h.check()


def test_long_line_in_pieces_is_still_too_long() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    h.send(b"AT+SYSLOG=1\r\n")
    for _ in range(10):
        assert h.send(b"X" * 100) == b""
    assert h.send(b"\r") == b""
    assert h.send(b"\n") == err(0x01010000)
    assert h.send(b"AT\r\n") == OK
    h.check()


def test_lone_cr_is_not_a_terminator() -> None:
    h = Harness()
    assert h.send(b"AT\r") == b""
    assert h.advance(5) == b""
    assert h.send(b"\n") == b"AT\r\n" + OK
    # CR in the middle: "AT\rAT" is one line (not AT-command syntax)
    assert h.send(b"AT\rAT\r\n") == b"AT\rAT\r\n" + ERROR
    h.check()


def test_empty_lines_are_ignored() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    assert h.send(b"\r\n\r\n\n") == b""
    assert h.send(b"\r\r\n") == ERROR  # a CR is content: not an empty line
    h2 = Harness()
    assert h2.send(b"\r\n") == b"\r\n"  # echoed, nothing else
    h.check()


def test_several_lines_in_one_chunk() -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        return h.send(b"ATE0\r\nAT\r\nAT+NOPE\r\nAT+CWMODE?\r\n", bytewise=bytewise)

    assert both(scenario) == (b"ATE0\r\n" + OK + OK + ERROR + b"+CWMODE:1\r\n" + OK)


def test_busy_while_a_command_runs() -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\n")
        out = h.send(b'AT+CWJAP="lab","secret"\r\nAT\r\nAT+GMR\r\n\r\nAT+C', bytewise=bytewise)
        assert out == BUSY * 3, out  # an empty line is a line too
        return out + h.advance(1.0) + h.send(b"AT\r\n")

    out = both(scenario)
    assert out == (
        BUSY * 3
        + b"WIFI CONNECTED\r\nWIFI GOT IP\r\n"
        + OK
        + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"  # URCs after the join's OK
        + BUSY  # the partial line, answered once the command is over
        + OK
    )


def test_partial_line_when_the_command_ends_gets_one_busy() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+CWLAP\r\n") == b""
    assert h.send(b"AT+GM") == b""
    out = h.advance(1.0)
    assert out == OK + BUSY
    assert h.send(b"R\r\n") == ERROR  # the rest is a line of its own ("R")
    h.check()


def test_partial_line_while_busy_then_completed_is_one_busy() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    h.send(b"AT+CWLAP\r\n")
    assert h.send(b"AT+GM") == b""
    assert h.send(b"R\r\n") == BUSY
    assert h.advance(1.0) == OK  # nothing left over: no second busy
    h.check()


def test_lenient_eol_accepts_lone_cr_and_lone_lf() -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\n")
        return h.send(b"AT\rAT\nAT\r\nAT+CWMODE?\n\r\n\nAT\r\r", bytewise=bytewise)

    out = both(scenario, lenient_eol=True)
    assert out == OK * 3 + b"+CWMODE:1\r\n" + OK + OK


def test_lenient_eol_crlf_split_across_reads_is_one_terminator() -> None:
    h = Harness(lenient_eol=True)
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+CWLAP\r") == b""  # CR at the end of a read: wait for an LF
    assert h.send(b"\n") == b""  # the LF ends the same line, which starts its task
    assert h.advance(1.0) == OK
    assert h.send(b"AT\r") == b""
    assert h.send(b"\n") == OK
    h.check()


def test_lenient_eol_lone_cr_runs_after_a_short_wait() -> None:
    h = Harness(lenient_eol=True)
    h.send(b"ATE0\r\n")
    assert h.send(b"AT\r") == b""
    assert h.advance(LONE_CR_WAIT - 0.001) == b""
    assert h.advance(0.001) == OK
    # any other byte than LF ends the wait at once: the CR was the terminator
    assert h.send(b"AT\r") == b""
    assert h.send(b"AT\r") == OK  # the first AT's OK; the second AT waits
    assert h.advance(LONE_CR_WAIT) == OK
    h.check()


@pytest.mark.parametrize("eols", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf"])
def test_lenient_eol_echo_does_not_depend_on_how_bytes_arrive(eols: bytes) -> None:
    """With echo on, CR LF split across reads (as on a slow serial line) echoes both
    bytes before the answer, exactly as when they arrive together."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        lines = b"AT" + eols + b"AT+CWMODE?" + eols + b"ATE0" + eols
        return h.send(lines, bytewise=bytewise) + h.advance(LONE_CR_WAIT)

    out = both(scenario, lenient_eol=True)
    assert out == (
        b"AT" + eols + OK + b"AT+CWMODE?" + eols + b"+CWMODE:1\r\n" + OK + b"ATE0" + eols + OK
    )


def test_lenient_eol_still_checks_length_and_prefix() -> None:
    h = Harness(lenient_eol=True)
    h.send(b"ATE0\r\n")
    h.send(b"AT+SYSLOG=1\r\n")
    assert h.send(b"at\r") + h.advance(LONE_CR_WAIT) == err(0x01030000)
    assert h.send(b"AT" + b"X" * 255 + b"\n") == err(0x01010000)
    h.check()


def test_a_repeated_set_line_binds_against_the_signature_of_the_moment() -> None:
    """Bindings are remembered per line text (drivers repeat AT+CIPSEND=...), but never
    across a change of the command's parameters: AT+CIPSEND=4 is a length in single
    mode and a link ID (with the length missing) in multi mode."""
    h = Harness()
    h.join()
    assert h.send(b"ATE0\r\n") == b"ATE0\r\n" + OK
    assert h.send(b"AT+SYSLOG=1\r\n") == OK
    single = err(0x010A0000)  # bound: length 4; no link 0 open -> exec failed
    multi = err(0x01060201)  # link 4, length missing -> 2 parameters needed, 1 given
    for _ in range(2):
        assert h.send(b"AT+CIPSEND=4\r\n") == single
        assert h.send(b"AT+CIPSEND=4\r\n") == single
        assert h.send(b"AT+CIPMUX=1\r\n") == OK
        assert h.send(b"AT+CIPSEND=4\r\n") == multi
        assert h.send(b"AT+CIPSEND=4\r\n") == multi
        assert h.send(b"AT+CIPMUX=0\r\n") == OK
    # a line that does not bind is answered the same way every time
    for _ in range(3):
        assert h.send(b"AT+CIPSEND=0\r\n") == err(0x01070000)
    h.check()

"""Transcript rows from hand-written traces, compared exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transcript.helpers import (
    Event,
    bytewise,
    cells,
    random_cuts,
    rows_of,
    summary,
    trace_bytes,
    trace_line,
)
from tests.transcript.scenario import (
    EVENTS,
    F1,
    F2,
    F3,
    F4,
    F5,
    FLOOD,
    PT_UP,
    SEND_PAYLOAD,
)
from w800at.trace import escape_bytes, unescape
from w800at.transcript import (
    BadLine,
    Record,
    TraceFormatError,
    format_transcript,
    parse_trace,
    transcribe,
)


def test_scenario_transcript_exact() -> None:
    """Send + payload, +IPD flood, link lines, fault and rule notes, passthrough."""
    expected = f"""\
       time       delta  lane    kind      text
   0.000000   +0.000000  event   note      trace start
   0.000100   +0.000100  event   note      channel pty /dev/pts/7 -> ./w800.tty
   0.000200   +0.000100  event   note      attached
   0.300000   +0.299800  module  urc       ready
   0.400000   +0.100000  host    cmd       AT+CIPMUX=1
   0.400000   +0.000000  host    cmd       AT+CIPSTART=0,"TCP","127.0.0.1",34835
   0.400100   +0.000100  module  echo      AT+CIPMUX=1
   0.400100   +0.000000  module  result    OK
   0.400100   +0.000000  module  echo      AT+CIPSTART=0,"TCP","127.0.0.1",34835
   0.401000   +0.000900  L0      link      == open TCP 127.0.0.1:34835
   0.401100   +0.000100  module  urc       0,CONNECT
   0.401100   +0.000000  module  result    OK
   0.500000   +0.098900  host    cmd       AT+CIPSEND=0,12
   0.500000   +0.000000  host    data      {summary(SEND_PAYLOAD)}
   0.500100   +0.000100  module  echo      AT+CIPSEND=0,12
   0.500100   +0.000000  module  result    OK
   0.500100   +0.000000  module  prompt    >
   0.500200   +0.000100  module  info      Recv 12 bytes
   0.500300   +0.000100  L0      send      {summary(SEND_PAYLOAD)}
   0.500400   +0.000100  module  result    SEND OK
   0.600000   +0.099600  L0      recv      {summary(FLOOD)}
   0.600100   +0.000100  module  ipd       +IPD,0,100: {summary(F1)}
   0.600100   +0.000000  module  ipd       +IPD,0,7: {summary(F2)}
   0.600200   +0.000100  module  ipd       +IPD,0,2920: {summary(F3)}
   0.600300   +0.000100  module  ipd       +IPD,0,1: {summary(F4)}
   0.600300   +0.000000  module  ipd       +IPD,0,20: {summary(F5)}
   0.700000   +0.099700  L0      fault     !! link 0 reset_peer after=100
   0.700100   +0.000100  L0      link      == closed
   0.700200   +0.000100  module  urc       0,CLOSED
   0.800000   +0.099800  host    cmd       AT+CIPMUX=0
   0.800100   +0.000100  module  echo      AT+CIPMUX=0
   0.800100   +0.000000  module  result    OK
   0.810000   +0.009900  host    cmd       AT+CIPMODE=1
   0.810100   +0.000100  module  echo      AT+CIPMODE=1
   0.810100   +0.000000  module  result    OK
   0.820000   +0.009900  host    cmd       AT+CIPSTART="TCP","127.0.0.1",34836
   0.820100   +0.000100  module  echo      AT+CIPSTART="TCP","127.0.0.1",34836
   0.821000   +0.000900  L0      link      == open TCP 127.0.0.1:34836
   0.821100   +0.000100  module  urc       CONNECT
   0.821100   +0.000000  module  result    OK
   0.900000   +0.078900  host    cmd       AT+CIPSEND
   0.900100   +0.000100  module  echo      AT+CIPSEND
   0.900100   +0.000000  module  result    OK
   0.900100   +0.000000  module  prompt    >
   1.000000   +0.099900  host    pass      {summary(PT_UP)}
   1.030100   +0.030100  L0      send      {summary(PT_UP)}
   1.031000   +0.000900  L0      recv      {summary(PT_UP)}
   1.031100   +0.000100  module  pass      {summary(PT_UP)}
   1.200000   +0.168900  host    pass      {summary(b"+++x")}
   1.231100   +0.031100  L0      send      {summary(b"+++x")}
   1.232000   +0.000900  L0      recv      {summary(b"+++x")}
   1.232100   +0.000100  module  pass      {summary(b"+++x")}
   1.500000   +0.267900  host    escape    +++
   1.510000   +0.010000  L0      recv      {summary(b"late")}
   1.510100   +0.000100  module  pass      {summary(b"late")}
   1.700000   +0.189900  host    cmd       AT+CIPMODE=0
   1.700100   +0.000100  module  echo      AT+CIPMODE=0
   1.700100   +0.000000  module  result    OK
   1.800000   +0.099900  L0      recv      {summary(b"after")}
   1.800100   +0.000100  module  ipd       +IPD,5: {summary(b"after")}
   1.900000   +0.099900  event   rule      !! r1 fired: close after 1 frame
   2.000000   +0.100000  host    cmd       AT+CIPCLOSE
   2.000100   +0.000100  module  echo      AT+CIPCLOSE
   2.000200   +0.000100  L0      link      == closed
   2.000300   +0.000100  module  urc       CLOSED
   2.000300   +0.000000  module  result    OK
   2.100000   +0.099700  event   note      detached
   2.100100   +0.000100  event   note      closed
"""
    assert format_transcript(rows_of(EVENTS)) == expected


def test_payload_summary_shape() -> None:
    assert summary(b"hello") == '5 bytes "hello" sha256:2cf24dba5fb0'
    assert summary(F4) == '1 byte ">" sha256:62b67e1f685b'
    assert summary(F3).startswith(
        '2920 bytes "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\n'
    )


def test_marks() -> None:
    rows = rows_of(EVENTS)
    marked = [(r.lane, r.kind, r.mark) for r in rows if r.mark]
    assert marked == [
        ("L0", "link", "link"),
        ("L0", "fault", "fault"),
        ("L0", "link", "link"),
        ("L0", "link", "link"),
        ("event", "rule", "rule"),
        ("L0", "link", "link"),
    ]


@pytest.mark.parametrize("cut", ["bytewise", *(f"random-{seed}" for seed in range(6))])
def test_rows_do_not_depend_on_chunking(cut: str) -> None:
    recut = bytewise(EVENTS) if cut == "bytewise" else random_cuts(EVENTS, int(cut[7:]))
    assert len(recut) > len(EVENTS)
    assert rows_of(recut) == rows_of(EVENTS)


# --- sends -------------------------------------------------------------------------


def test_cipsendex_payload_ends_at_backslash_zero() -> None:
    events: list[Event] = [
        (0.0, ">>", b"AT+CIPSENDEX=0,10\r\n"),
        (0.001, "<<", b"AT+CIPSENDEX=0,10\r\n\r\nOK\r\n\r\n>"),
        (0.1, ">>", b"a\\\\b\\0AT\r\n"),  # wire: a \\ b \0 -> data "a\b", then a line
        (0.101, "<<", b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\nAT\r\n\r\nOK\r\n"),
    ]
    expected = [
        ("0.000000", "host", "cmd", "AT+CIPSENDEX=0,10"),
        ("0.001000", "module", "echo", "AT+CIPSENDEX=0,10"),
        ("0.001000", "module", "result", "OK"),
        ("0.001000", "module", "prompt", ">"),
        ("0.100000", "host", "data", summary(b"a\\\\b\\0")),
        ("0.100000", "host", "cmd", "AT"),
        ("0.101000", "module", "info", "Recv 3 bytes"),
        ("0.101000", "module", "result", "SEND OK"),
        ("0.101000", "module", "echo", "AT"),
        ("0.101000", "module", "result", "OK"),
    ]
    assert cells(rows_of(events)) == expected
    assert cells(rows_of(bytewise(events))) == expected


def test_error_of_an_earlier_pipelined_line_does_not_cancel_the_send() -> None:
    events: list[Event] = [
        (0.0, ">>", b"AT+NOPE\r\nAT+CIPSEND=3\r\nAT\r"),
        (0.001, "<<", b"AT+NOPE\r\n\r\nERROR\r\nAT+CIPSEND=3\r\n\r\nOK\r\n\r\n>"),
        (0.002, "<<", b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n"),
    ]
    assert cells(rows_of(events)) == [
        ("0.000000", "host", "cmd", "AT+NOPE"),
        ("0.000000", "host", "cmd", "AT+CIPSEND=3"),
        ("0.000000", "host", "data", summary(b"AT\r")),
        ("0.001000", "module", "echo", "AT+NOPE"),
        ("0.001000", "module", "result", "ERROR"),
        ("0.001000", "module", "echo", "AT+CIPSEND=3"),
        ("0.001000", "module", "result", "OK"),
        ("0.001000", "module", "prompt", ">"),
        ("0.002000", "module", "info", "Recv 3 bytes"),
        ("0.002000", "module", "result", "SEND OK"),
    ]


@pytest.mark.parametrize("echo", [True, False])
def test_refused_send_leaves_the_bytes_as_lines(echo: bool) -> None:
    def answer(line: bytes, result: bytes) -> bytes:
        return (line if echo else b"") + result

    events: list[Event] = [
        (0.0, ">>", b"ATE1\r\n" if echo else b"ATE0\r\n"),
        (0.001, "<<", (b"ATE1\r\n" if echo else b"ATE0\r\n") + b"\r\nOK\r\n"),
        (0.1, ">>", b"AT+CIPSEND=0,4\r\nAT\r\n"),  # no link: ERROR, and "AT" is a command
        (0.101, "<<", answer(b"AT+CIPSEND=0,4\r\n", b"\r\nERROR\r\n")),
        (0.102, "<<", answer(b"AT\r\n", b"\r\nOK\r\n")),
    ]
    got = [c for c in cells(rows_of(events)) if c[2] != "echo"]
    assert got == [
        ("0.000000", "host", "cmd", "ATE1" if echo else "ATE0"),
        ("0.001000", "module", "result", "OK"),
        ("0.100000", "host", "cmd", "AT+CIPSEND=0,4"),
        ("0.100000", "host", "cmd", "AT"),
        ("0.101000", "module", "result", "ERROR"),
        ("0.102000", "module", "result", "OK"),
    ]
    echoes = [c[3] for c in cells(rows_of(events)) if c[2] == "echo"]
    assert echoes == (["ATE1", "AT+CIPSEND=0,4", "AT"] if echo else ["ATE0"])


def test_busy_send_is_not_a_send() -> None:
    events: list[Event] = [
        (0.0, ">>", b'AT+CWJAP="lab","secret"\r\n'),
        (0.001, "<<", b'AT+CWJAP="lab","secret"\r\n'),
        (0.1, ">>", b"AT+CIPSEND=0,2\r\nhi"),
        (0.101, "<<", b"\r\nbusy p...\r\n"),
        (0.2, "<<", b"WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n\r\nbusy p...\r\n"),
    ]
    assert cells(rows_of(events)) == [
        ("0.000000", "host", "cmd", 'AT+CWJAP="lab","secret"'),
        ("0.001000", "module", "echo", 'AT+CWJAP="lab","secret"'),
        ("0.100000", "host", "cmd", "AT+CIPSEND=0,2"),
        ("0.100000", "host", "cmd", "hi [incomplete]"),
        ("0.101000", "module", "busy", "busy p..."),
        ("0.200000", "module", "urc", "WIFI CONNECTED"),
        ("0.200000", "module", "urc", "WIFI GOT IP"),
        ("0.200000", "module", "result", "OK"),
        ("0.200000", "module", "busy", "busy p..."),
    ]


def test_cipsendl_data_until_length() -> None:
    events: list[Event] = [
        (0.0, ">>", b"AT+CIPSENDL=0,6\r\n"),
        (0.001, "<<", b"AT+CIPSENDL=0,6\r\n\r\nOK\r\n\r\n>"),
        (0.1, ">>", b"abc"),
        (0.101, "<<", b"+CIPSENDL:3,3\r\n"),
        (0.2, ">>", b"defAT\r\n"),
        (0.201, "<<", b"+CIPSENDL:6,6\r\n\r\nSEND OK\r\nAT\r\n\r\nOK\r\n"),
    ]
    assert cells(rows_of(events))[3:] == [
        ("0.001000", "module", "prompt", ">"),
        ("0.100000", "host", "data", summary(b"abc")),
        ("0.101000", "module", "info", "+CIPSENDL:3,3"),
        ("0.200000", "host", "data", summary(b"def")),
        ("0.200000", "host", "cmd", "AT"),
        ("0.201000", "module", "info", "+CIPSENDL:6,6"),
        ("0.201000", "module", "result", "SEND OK"),
        ("0.201000", "module", "echo", "AT"),
        ("0.201000", "module", "result", "OK"),
    ]


# --- receiving ---------------------------------------------------------------------


def test_passive_receive_with_and_without_cipdinfo() -> None:
    events: list[Event] = [
        (0.0, "<<", b"\r\n+IPD,0,9\r\n"),  # passive notice: a URC, no data
        (0.1, ">>", b"AT+CIPRECVDATA=0,5\r\n"),
        (0.101, "<<", b'AT+CIPRECVDATA=0,5\r\n+CIPRECVDATA:5,"a",1\r\nOK\r\n'),
        (0.2, ">>", b"AT+CIPDINFO=1\r\n"),
        (0.201, "<<", b"AT+CIPDINFO=1\r\n\r\nOK\r\n"),
        (0.3, ">>", b"AT+CIPRECVDATA=0,9\r\n"),
        (0.301, "<<", b'AT+CIPRECVDATA=0,9\r\n+CIPRECVDATA:4,"127.0.0.1",5000,\r\nOK'),
        (0.302, "<<", b"\r\n\r\nOK\r\n"),
        (0.4, "<<", b'\r\n+IPD,0,3,"fe80::1",5000:a:b\r\n'),  # IPv6 colons in the header
    ]
    assert cells(rows_of(events)) == [
        ("0.000000", "module", "urc", "+IPD,0,9"),
        ("0.100000", "host", "cmd", "AT+CIPRECVDATA=0,5"),
        ("0.101000", "module", "echo", "AT+CIPRECVDATA=0,5"),
        ("0.101000", "module", "recvdata", "+CIPRECVDATA:5, " + summary(b'"a",1')),
        ("0.101000", "module", "result", "OK"),
        ("0.200000", "host", "cmd", "AT+CIPDINFO=1"),
        ("0.201000", "module", "echo", "AT+CIPDINFO=1"),
        ("0.201000", "module", "result", "OK"),
        ("0.300000", "host", "cmd", "AT+CIPRECVDATA=0,9"),
        ("0.301000", "module", "echo", "AT+CIPRECVDATA=0,9"),
        (
            "0.301000",
            "module",
            "recvdata",
            '+CIPRECVDATA:4,"127.0.0.1",5000, ' + summary(b"\r\nOK"),
        ),
        ("0.302000", "module", "result", "OK"),
        ("0.400000", "module", "ipd", f'+IPD,0,3,"fe80::1",5000: {summary(b"a:b")}'),
    ]


# --- the file ----------------------------------------------------------------------


def test_bad_lines_and_unknown_directions_are_rows() -> None:
    data = (
        trace_line(0.0, "--", "trace start")
        + "\n"
        + trace_line(0.1, ">>", b"AT\r\n")
        + "\n\x00\xffgarbage\n"  # not ASCII
        + trace_line(0.2, "<<", "\\q")  # not an escape
        + "\n"
        + trace_line(0.3, "<<", b"AT\r\n\r\nOK\r\n")
        + "\n"
        + trace_line(0.4, "Z9>", "what is this")  # a direction from the future
        + "\n"
        + trace_line(0.5, "--", "note with \x1b[31m colour")
        + "\n"
    ).encode("latin-1")
    bad4 = trace_line(0.2, "<<", "") + "\\\\q"  # shown escaped: one backslash is two
    assert cells(transcribe(parse_trace(data))) == [
        ("0.000000", "event", "note", "trace start"),
        ("0.100000", "host", "cmd", "AT"),
        ("0.100000", "trace", "bad", "line 3 is not a trace line: \\x00\\xffgarbage"),
        ("0.100000", "trace", "bad", "line 4 is not a trace line: " + bad4),
        ("0.300000", "module", "echo", "AT"),
        ("0.300000", "module", "result", "OK"),
        ("0.400000", "trace", "other", "Z9> what is this"),
        ("0.500000", "event", "note", "note with \\x1b[31m colour"),
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty file, not a w800at trace"),
        (b"\n\n  \n", "empty file, not a w800at trace"),
        (b"# w800at\n\nhello\n", "not a w800at trace: no line reads"),
        (bytes(range(256)) * 4, "not a w800at trace: no line reads"),
        (
            (trace_line(0.0, "--", "trace start") + "\nx\ny\n").encode(),
            "not a w800at trace: only 1 of 3 lines are in the trace format",
        ),
    ],
)
def test_not_a_trace(data: bytes, why: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        parse_trace(data)
    assert str(info.value).startswith(why)


def test_appended_runs_keep_counting_and_start_afresh() -> None:
    first = trace_bytes(
        [
            (0.0, "--", "trace start"),
            (0.1, ">>", b"AT+CIPSEND=0,5\r\n"),
            (0.101, "<<", b"AT+CIPSEND=0,5\r\n\r\nOK\r\n\r\n>"),
            (0.2, ">>", b"hel"),  # cut short: the module was stopped
        ]
    )
    # the second run starts 10 s later on the wall clock; its own clock restarts at 0
    second = (
        trace_bytes([(10.0, "--", "trace start"), (10.1, ">>", b"AT\r\n")])
        .replace(b"+10.000000", b"+0.000000")
        .replace(b"+10.100000", b"+0.100000")
    )
    rows = transcribe(parse_trace(first + second))
    assert cells(rows) == [
        ("0.000000", "event", "note", "trace start"),
        ("0.100000", "host", "cmd", "AT+CIPSEND=0,5"),
        ("0.101000", "module", "echo", "AT+CIPSEND=0,5"),
        ("0.101000", "module", "result", "OK"),
        ("0.101000", "module", "prompt", ">"),
        ("0.200000", "host", "data", summary(b"hel") + " [incomplete: 3 of 5]"),
        ("10.000000", "event", "note", "trace start"),
        ("10.100000", "host", "cmd", "AT"),  # a line again: the new module is not sending
    ]


def test_incomplete_rows_at_the_end() -> None:
    events: list[Event] = [
        (0.0, "<<", b"\r\nWIFI DISCONNECT\r\n\r\n+IPD,0,10:abc"),
        (0.1, ">>", b"AT+GM"),
    ]
    assert cells(rows_of(events)) == [
        ("0.000000", "module", "urc", "WIFI DISCONNECT"),
        ("0.000000", "module", "ipd", f"+IPD,0,10: {summary(b'abc')} [incomplete: 3 of 10]"),
        ("0.100000", "host", "cmd", "AT+GM [incomplete]"),
    ]
    assert cells(rows_of([(0.0, "<<", b'\r\n+CIPSTATUS:0,"TC')])) == [
        ("0.000000", "module", "info", '+CIPSTATUS:0,"TC [incomplete]'),
    ]


def test_long_lines_are_cut() -> None:
    line = b"AT+" + b"X" * 400
    rows = rows_of([(0.0, ">>", line + b"\r\n"), (0.1, "<<", line + b"\r\n\r\nERROR\r\n")])
    shown = "AT+" + "X" * 297 + "... (403 bytes)"
    assert cells(rows) == [
        ("0.000000", "host", "cmd", shown),
        ("0.100000", "module", "info", shown),  # too long to be recognised as the echo
        ("0.100000", "module", "result", "ERROR"),
    ]


def test_passthrough_rows_end_at_a_silence() -> None:
    events: list[Event] = [
        (0.0, ">>", b"AT+CIPSEND\r\n"),
        (0.001, "<<", b"AT+CIPSEND\r\n\r\nOK\r\n\r\n>"),
        (0.1, ">>", b"ab"),
        (0.105, ">>", b"cd"),  # 5 ms later: the same row
        (0.2, ">>", b"ef"),  # after a silence: a row of its own
        (0.3, "<<", b"12"),
        (0.31, "<<", b"34"),
        (0.5, "<<", b"56"),
        (0.6, ">>", b"+++"),  # and the trace ends: silence after it
    ]
    assert cells(rows_of(events))[4:] == [
        ("0.100000", "host", "pass", summary(b"abcd")),
        ("0.200000", "host", "pass", summary(b"ef")),
        ("0.300000", "module", "pass", summary(b"1234")),
        ("0.500000", "module", "pass", summary(b"56")),
        ("0.600000", "host", "escape", "+++"),
    ]


def test_plus_signs_that_are_not_an_escape() -> None:
    prompt: list[Event] = [
        (0.0, ">>", b"AT+CIPSEND\r\n"),
        (0.001, "<<", b"AT+CIPSEND\r\n\r\nOK\r\n\r\n>"),
    ]
    cases: list[tuple[list[Event], list[bytes]]] = [
        ([(0.1, ">>", b"x"), (0.105, ">>", b"+++")], [b"x+++"]),  # no silence before
        ([(0.1, ">>", b"++++")], [b"++++"]),  # four
        ([(0.1, ">>", b"++"), (0.15, ">>", b"+")], [b"++", b"+"]),  # too slow between
        ([(0.1, ">>", b"++")], [b"++"]),  # two, then silence
    ]
    for tail, rows in cases:
        got = cells(rows_of(prompt + tail))[4:]
        assert [c[2] for c in got] == ["pass"] * len(rows), tail
        assert [c[3] for c in got] == [summary(r) for r in rows], tail


def test_escaped_bytes_read_back_exactly() -> None:
    every = bytes(range(256)) * 3 + b"\\x41\\\\r"
    (record,) = parse_trace(trace_bytes([(0.0, "L3<", every)]))
    assert isinstance(record, Record) and record.data == every
    assert record.text == escape_bytes(every)
    upper = trace_line(0.0, "<<", "\\xFF\\xfe")
    (record,) = parse_trace((upper + "\n").encode())
    assert isinstance(record, Record) and record.data == b"\xff\xfe"


@pytest.mark.parametrize(
    "text",
    ["\\q", "\\x4", "\\xg0", "ab\\", "\\u0041", "\\N{BULLET}", "\\101", "\\t", "a\tb", "\x7f"],
)
def test_text_that_escape_bytes_never_writes_is_a_bad_line(text: str) -> None:
    data = (
        trace_line(0.0, "--", "trace start") + "\n" + trace_line(0.1, ">>", text) + "\n"
    ).encode()
    assert isinstance(parse_trace(data)[1], BadLine)


#: what `escape_bytes` writes, as a grammar (the reference for the fast decoder)
STRICT = re.compile(r"(?:[\x20-\x5b\x5d-\x7e]|\\[\\rn]|\\x[0-9a-fA-F]{2})*")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="\\xrn4Fg a\t", max_size=24))
def test_escape_reader_agrees_with_the_grammar(text: str) -> None:
    line = (trace_line(0.0, "<<", text) + "\n").encode()
    (item,) = parse_trace(line + trace_bytes([(0.1, "--", "x")]))[:1]
    if STRICT.fullmatch(text):
        assert isinstance(item, Record) and item.data == unescape(text)
    else:
        assert isinstance(item, BadLine)


def test_unanswered_sends_at_the_end_leave_every_byte_shown() -> None:
    events: list[Event] = [(0.0, ">>", b"AT+CIPSEND=0,3\r\nAT+CIPSEND=1,3\r\nabc")]
    assert cells(rows_of(events)) == [
        ("0.000000", "host", "cmd", "AT+CIPSEND=0,3"),
        ("0.000000", "host", "cmd", "AT+CIPSEND=1,3"),
        ("0.000000", "host", "cmd", "abc [incomplete]"),
    ]

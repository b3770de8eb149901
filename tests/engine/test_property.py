"""Arbitrary bytes never break the module (hypothesis).

For any input, fed line by line and in random chunkings:

- no internal error is recorded (``engine.bugs == []``) and no exception escapes;
- every complete line gets exactly one final result (``OK``/``ERROR``/``FAIL``/
  ``SEND ...``/``busy p...``), except empty lines while idle (ignored) and lines while
  the module boots (nobody listens); a partial line left when a command ends gets
  one ``busy p...`` (or, when idle, its own result once a terminator completes it);
- the output does not depend on how the input was chunked;
- afterwards ``AT`` still answers ``OK``.

Commands that wait on the runtime (network) get an ``OSError`` as their result.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Harness
from w800at.core.engine import Mode

OK = b"\r\nOK\r\n"
BUSY = b"\r\nbusy p...\r\n"
FINAL = re.compile(rb"\r\n(?:OK|ERROR|FAIL|SEND OK|SEND FAIL|SEND CANCELLED|busy p\.\.\.)\r\n")

FRAGMENTS = [
    b"AT",
    b"\r\n",
    b"\r",
    b"\n",
    b"ATE0",
    b"ATE1",
    b"AT+GMR",
    b"AT+CWMODE",
    b"=",
    b"?",
    b"=?",
    b",",
    b'"',
    b"\\",
    b"0",
    b"1",
    b"3",
    b"-1",
    b"99999999999",
    b"at",
    b"\x00",
    b"\xff",
    b"AT+CWJAP",
    b'"lab"',
    b'"secret"',
    b"AT+CWLAP",
    b"AT+CWQAP",
    b"AT+SYSLOG=1",
    b"AT+CMD?",
    b"AT+CWSTATE?",
    b"AT+CWHOSTNAME",
    b"AT+SYSSTORE=0",
    b"AT+CIFSR",
    b"AT+CWDHCP",
    b"AT+CIPSTA",
    b"AT+CIPSTAMAC",
    b"AT+CWAUTOCONN",
    b"AT+UART_CUR",
    b"115200,8,1,0,0",
    b"AT+SYSMSG",
    b"AT+CWLAPOPT",
    b"AT+CWSAP",
    b"AT+CIPAP",
    b"AT+CIPAPMAC",
    b"AT+CWLIF",
    b"AT+CIPDNS",
    b"AT+CIPSTATUS",
    b'"02:00:00:00:00:01"',
    b'"192.168.4.1"',
    b"AT" + b"X" * 300,
]

fragments = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)), max_size=60).map(
    b"".join
)
crlf_heavy = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"A", b"T", b"AT", b"E0", b"x"]), max_size=80
).map(b"".join)
inputs = st.one_of(st.binary(max_size=600), fragments, crlf_heavy)
chunkings: st.SearchStrategy[list[int]] = st.one_of(
    st.just([]), st.lists(st.integers(1, 40), min_size=1, max_size=20)
)


def settle(h: Harness) -> bytes:
    """Let running commands finish: fail every network action, advance the clock."""
    out = []
    for _ in range(60):
        for act in h.take():
            if act.token:
                out.append(h.complete(act, OSError("no network in this test")))
        if not h.engine.busy and h.engine.mode is not Mode.BOOTING and not h.pending:
            break
        out.append(h.advance(1.0))
    assert not h.engine.busy, "a command never finished"
    return b"".join(out)


def fresh() -> Harness:
    h = Harness()
    assert h.send(b"ATE0\r\n") == b"ATE0\r\n" + OK
    return h


def finals(data: bytes) -> int:
    return len(FINAL.findall(data))


def check_mode(h: Harness) -> None:
    # without a Wi-Fi join and an open link no payload or passthrough can start
    assert h.engine.mode in (Mode.COMMAND, Mode.BOOTING), h.engine.mode


def run_by_lines(data: bytes) -> tuple[bytes, int, int]:
    """Feed each complete line whole; returns (output, finals expected, finals seen)."""
    h = fresh()
    *complete, partial = data.split(b"\n")
    out: list[bytes] = []
    expected = seen = 0
    for body in complete:
        line = body + b"\n"
        check_mode(h)
        eng = h.engine
        booting, busy, echo = eng.mode is Mode.BOOTING, eng.busy, eng.echo
        seg = h.send(line)
        n = finals(seg)
        if booting:
            assert seg == b""
        elif busy:
            assert seg == BUSY
            expected += 1
        elif line in (b"\n", b"\r\n"):
            assert seg == (line if echo else b"")
        else:
            expected += 1
            # a command that runs on (a task) answers later; any other answers now
            assert n == (0 if h.engine.busy else 1), (line, seg)
        seen += n
        out.append(seg)
    if partial:
        check_mode(h)
        if h.engine.mode is Mode.COMMAND:
            expected += 1
        seg = h.send(partial)
        assert finals(seg) == 0
        out.append(seg)
    tail = settle(h) + h.send(b"\r\n") + settle(h)
    seen += finals(tail)
    out.append(tail)
    out.append(check_alive(h))
    return b"".join(out), expected, seen


def check_alive(h: Harness) -> bytes:
    echo = h.engine.echo
    got = h.send(b"AT\r\n")
    assert got == (b"AT\r\n" if echo else b"") + OK
    h.check()
    return got


def run_chunked(data: bytes, sizes: list[int]) -> bytes:
    h = fresh()
    out = []
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        i += 1
        out.append(h.send(data[pos : pos + size]))
        pos += size
    out.append(settle(h) + h.send(b"\r\n") + settle(h))
    out.append(check_alive(h))
    return b"".join(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=inputs, sizes=chunkings)
def test_arbitrary_bytes(data: bytes, sizes: list[int]) -> None:
    by_lines, expected, seen = run_by_lines(data)
    assert seen == expected
    assert run_chunked(data, sizes) == by_lines


def test_the_property_checker_counts_what_it_should() -> None:
    """The checker itself: a known input gives the known counts."""
    data = b"AT\r\n\r\nat\r\nAT+CWLAP\r\nAT\r\n\r\nAT+GM"
    out, expected, seen = run_by_lines(data)
    # AT, at, CWLAP (later), busy, busy(empty line), busy(partial)
    assert (expected, seen) == (6, 6)
    assert out == OK + b"\r\nERROR\r\n" + BUSY + BUSY + OK + BUSY + OK

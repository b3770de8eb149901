"""Property: for any bytes at any times, the rows do not depend on the chunking."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transcript.helpers import Event, bytewise, random_cuts, rows_of

#: pieces that drive every state of the transcriber, mixed at random
TOKENS = [
    b"AT\r\n",
    b"AT+CIPSEND=0,3\r\n",
    b'AT+CIPSEND=5,"1.2.3.4",80\r\n',
    b"AT+CIPSEND\r\n",
    b"AT+CIPSENDEX=0,4\r\n",
    b"AT+CIPSENDL=0,4\r\n",
    b"AT+CIPDINFO=1\r\n",
    b"ATE0\r\n",
    b"\r\nOK\r\n",
    b"\r\nERROR\r\n",
    b"\r\nOK\r\n\r\n>",
    b">",
    b"\r\nbusy p...\r\n",
    b"\r\nready\r\n",
    b"+++",
    b"+",
    b"\r\n+IPD,0,3:",
    b'\r\n+IPD,5,"a:b",80:',
    b"+IPD,0,9\r\n",
    b"+CIPRECVDATA:2,",
    b'"1.2.3.4",80,',
    b"abc",
    b"\\0",
    b"\\",
    b"\r",
    b"\n",
    b"\xff\x00",
    b"x" * 70,
    b'\r\n+IPD,1,2,"' + b"a" * 130 + b'",80:',  # a header too long to be one
]
NOTES = ["attached", "reset", "link 0 open TCP 127.0.0.1:1", "fault link 0 drop", "baud 9600"]

event = st.one_of(
    st.tuples(
        st.sampled_from([0.0, 0.0005, 0.005, 0.05]),
        st.sampled_from([">>", "<<", ">>", "<<", "L0<"]),
        st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5).map(b"".join),
    ),
    st.tuples(st.sampled_from([0.0, 0.05]), st.just("--"), st.sampled_from(NOTES)),
)


def timed(steps: list[tuple[float, str, bytes | str]]) -> list[Event]:
    t = 0.0
    out: list[Event] = []
    for gap, direction, what in steps:
        t = round(t + gap, 6)
        out.append((t, direction, what))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(event, min_size=1, max_size=30), st.integers(0, 1000))
def test_rows_do_not_depend_on_chunking(
    steps: list[tuple[float, str, bytes | str]], seed: int
) -> None:
    events = timed(steps)
    rows = rows_of(events)
    assert rows_of(bytewise(events)) == rows
    assert rows_of(random_cuts(events, seed)) == rows
    times = [r.t for r in rows]
    assert times == sorted(times)

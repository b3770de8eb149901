"""`TranscriptWriter`: the live sink that writes transcript rows as the bytes arrive."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from tests.channels.helpers import RecordingEvents
from tests.transcript.helpers import Event, rows_of
from tests.transcript.scenario import EVENTS
from w800at.channels.tcp import TcpChannel
from w800at.trace import MultiTracer, Tracer, TracingChannel, wrap_channel
from w800at.transcript import (
    TranscriptWriter,
    format_header,
    format_row,
    parse_trace,
    transcribe,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0  # any origin: the writer counts from its own start

    def __call__(self) -> float:
        return self.now


def feed(writer: TranscriptWriter, clock: Clock, event: Event) -> None:
    t, direction, what = event
    clock.now = 100.0 + t
    if isinstance(what, bytes):
        writer.record(direction, what)
    else:
        writer.note(what)


def body(text: str) -> list[str]:
    """The lines after the writer's ``# w800at transcript, started ...`` line."""
    lines = text.splitlines()
    assert lines[0].startswith("# w800at transcript, started 20")
    return lines[1:]


def test_live_rows_equal_trace_show_rows() -> None:
    clock = Clock()
    out = io.StringIO()
    writer = TranscriptWriter("<memory>", stream=out, clock=clock)  # notes "trace start"
    assert EVENTS[0] == (0.0, "--", "trace start")
    for event in EVENTS[1:]:
        feed(writer, clock, event)
    writer.close()
    expected = [format_header(), *map(format_row, rows_of(EVENTS))]
    assert body(out.getvalue()) == expected


def test_rows_are_written_as_soon_as_they_are_settled(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "live.txt"
    writer = TranscriptWriter(path, clock=clock)

    def written() -> list[str]:
        return body(path.read_text("ascii"))[1:]  # (line-buffered: no flush needed)

    assert written() == ["   0.000000   +0.000000  event   note      trace start"]
    feed(writer, clock, (0.1, ">>", b"AT+G"))
    assert len(written()) == 1  # half a line: nothing yet
    feed(writer, clock, (0.2, "<<", b"WIFI DISCONNECT\r\n"))
    assert len(written()) == 1  # complete, but the host's line started before it
    feed(writer, clock, (0.3, ">>", b"MR\r\n"))
    assert written()[1:] == [
        "   0.100000   +0.100000  host    cmd       AT+GMR",
        "   0.200000   +0.100000  module  urc       WIFI DISCONNECT",
    ]
    feed(writer, clock, (0.4, ">>", b"AT+CW"))
    feed(writer, clock, (0.5, "<<", b"WIFI CONNECTED\r\n"))
    feed(writer, clock, (1.6, "--", "baud 9600"))
    # more than 1 s after it, the URC does not wait for the host's line any more
    assert written()[3:] == ["   0.500000   +0.300000  module  urc       WIFI CONNECTED"]
    feed(writer, clock, (1.7, ">>", b"QAP\r\n"))  # the late line comes after it, delta < 0
    assert written()[4:] == [
        "   0.400000   -0.100000  host    cmd       AT+CWQAP",
        "   1.600000   +1.200000  event   note      baud 9600",
    ]
    feed(writer, clock, (1.8, ">>", b"AT+CIPSEND"))
    writer.close()
    assert written()[6:] == ["   1.800000   +0.200000  host    cmd       AT+CIPSEND [incomplete]"]
    writer.close()  # twice is harmless
    assert path.read_text("ascii").count("\n") == 9


def test_appends_a_run_after_a_run(tmp_path: Path) -> None:
    path = tmp_path / "live.txt"
    for _ in range(2):
        clock = Clock()
        writer = TranscriptWriter(path, clock=clock)
        feed(writer, clock, (0.5, "--", "closed"))
        writer.close()
    lines = path.read_text("ascii").splitlines()
    assert [line.startswith("# w800at transcript") for line in lines] == [
        True,
        False,
        False,
        False,
    ] * 2


def test_wired_into_a_traced_channel_next_to_the_trace_file(tmp_path: Path) -> None:
    """How ``serve --transcript FILE`` would wire it: one more sink for `wrap_channel`."""
    trace_path = tmp_path / "trace.log"
    live_path = tmp_path / "transcript.txt"

    async def session() -> None:
        sink = MultiTracer(Tracer(trace_path), TranscriptWriter(live_path))
        ev = RecordingEvents()
        ch = wrap_channel(TcpChannel("127.0.0.1", 0), sink)
        assert isinstance(ch, TracingChannel)
        await ch.start(ev)
        try:
            port = int(ch.description.rsplit(":", 1)[1])
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            w.write(b"AT\r")
            assert await ev.wait_bytes(3) == b"AT\r"
            w.write(b"\nAT+CIPSEND=0,3\r\n")
            assert await ev.wait_bytes(20) == b"AT\r\nAT+CIPSEND=0,3\r\n"
            ch.write(b"AT\r\n\r\nOK\r\nAT+CIPSEND=0,3\r\n\r\nOK\r\n\r\n>")
            assert await asyncio.wait_for(r.readexactly(35), 5)
            w.write(b"abc")
            assert await ev.wait_bytes(23) == b"AT\r\nAT+CIPSEND=0,3\r\nabc"
            ch.write(b"\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n")
            w.close()
            await ev.wait_for(lambda: ev.count("detached") == 1)
        finally:
            await ch.close()

    asyncio.run(session())
    live = [line.split(None, 4)[2:] for line in body(live_path.read_text("ascii"))[1:]]
    channel = [row for row in live if row[1] == "note" and row[2].startswith("channel ")]
    assert len(channel) == 1 and channel[0][2].startswith("channel tcp 127.0.0.1:")
    assert [row for row in live if row not in channel] == [
        ["event", "note", "trace start"],
        ["event", "note", "attached"],
        ["host", "cmd", "AT"],
        ["host", "cmd", "AT+CIPSEND=0,3"],
        ["module", "echo", "AT"],
        ["module", "result", "OK"],
        ["module", "echo", "AT+CIPSEND=0,3"],
        ["module", "result", "OK"],
        ["module", "prompt", ">"],
        ["host", "data", '3 bytes "abc" sha256:ba7816bf8f01'],
        ["module", "info", "Recv 3 bytes"],
        ["module", "result", "SEND OK"],
        ["event", "note", "detached"],
        ["event", "note", "closed"],
    ]
    # the trace file written next to it says the same, row for row
    shown = transcribe(parse_trace(trace_path.read_bytes()))
    assert [[r.lane, r.kind, r.text] for r in shown] == live


def test_a_transcriber_bug_stops_the_transcript_not_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    out = io.StringIO()
    writer = TranscriptWriter("<memory>", stream=out, clock=clock)

    def boom(*args: object) -> None:
        raise RuntimeError("boom")

    writer._tx.record = boom  # type: ignore[method-assign,union-attr]
    feed(writer, clock, (0.1, ">>", b"AT\r\n"))  # no exception reaches the channel
    feed(writer, clock, (0.2, "<<", b"AT\r\n"))
    writer.close()
    assert body(out.getvalue())[1:] == [
        "   0.000000   +0.000000  event   note      trace start",
        "# transcript stopped here: internal error RuntimeError('boom')",
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "transcript <memory> stopped: internal error"
    ]

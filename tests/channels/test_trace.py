"""Tracer line format, escaping, and the zero-cost wrapping helpers."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path

import pytest

from w800at.channels.tcp import TcpChannel
from w800at.trace import (
    LogTracer,
    MultiTracer,
    Tracer,
    TracingChannel,
    escape_bytes,
    make_sink,
    unescape,
    wrap_channel,
)

from .helpers import RecordingEvents

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) \+(\d+\.\d{6}) (>>|<<|--) (.*)$")


def test_escape_bytes_exact() -> None:
    assert escape_bytes(b"AT+GMR\r\n") == "AT+GMR\\r\\n"
    assert escape_bytes(b"a\\b") == "a\\\\b"
    assert escape_bytes(b"\x00\x03\x11\x13\x7f\xff\t ~") == "\\x00\\x03\\x11\\x13\\x7f\\xff\\x09 ~"
    every = bytes(range(256))
    assert unescape(escape_bytes(every)) == every
    assert escape_bytes(every).isascii()


def test_tracer_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    t = Tracer(str(path))
    t.record(">>", b"AT\r\n")
    t.record("<<", b"\r\nOK\r\n\x00\xff\\")
    t.note("reset")
    t.close()
    lines = path.read_text("ascii").splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m.group(3), m.group(4)) for m in parsed if m] == [
        ("--", "trace start"),
        (">>", "AT\\r\\n"),
        ("<<", "\\r\\nOK\\r\\n\\x00\\xff\\\\"),
        ("--", "reset"),
    ]
    offsets = [float(m.group(2)) for m in parsed if m]
    assert offsets == sorted(offsets)


def test_log_tracer_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    lt = LogTracer()
    with caplog.at_level(logging.INFO, logger="w800at.trace"):
        lt.record(">>", b"AT\r\n")
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="w800at.trace"):
        lt.record(">>", b"AT\r\n")
    assert [r.getMessage() for r in caplog.records] == [">> AT\\r\\n"]


def test_make_sink_and_wrap_off_is_identity(tmp_path: Path) -> None:
    ch = TcpChannel()
    assert make_sink(None, False) is None
    assert wrap_channel(ch, None) is ch  # tracing off: no wrapper at all
    assert isinstance(make_sink(str(tmp_path / "t"), False), Tracer)
    assert isinstance(make_sink(None, True), LogTracer)
    both = make_sink(str(tmp_path / "t2"), True)
    assert isinstance(both, MultiTracer)
    both.close()


def test_tracing_channel_records_both_directions_and_events() -> None:
    async def main() -> list[str]:
        out = io.StringIO()
        sink = Tracer("<memory>", stream=out)
        ev = RecordingEvents()
        ch = wrap_channel(TcpChannel("127.0.0.1", 0), sink)
        assert isinstance(ch, TracingChannel)
        await ch.start(ev)
        try:
            port = int(ch.description.rsplit(":", 1)[1])
            assert port != 0  # description follows the inner channel
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            w.write(b"AT\r\n")
            assert await ev.wait_bytes(4) == b"AT\r\n"
            ch.write(b"\r\nOK\r\n")
            assert await asyncio.wait_for(r.readexactly(6), 5) == b"\r\nOK\r\n"
            ch.set_baud(9600)
            w.close()
            await ev.wait_for(lambda: ev.count("detached") == 1)
        finally:
            await ch.close()
        matches = [LINE.match(line) for line in out.getvalue().splitlines()]
        return [m.group(3) + " " + m.group(4) for m in matches if m]

    lines = asyncio.run(main())
    assert lines[0] == "-- trace start"
    assert lines[1].startswith("-- channel tcp 127.0.0.1:")
    assert lines[2:] == [
        "-- attached",
        ">> AT\\r\\n",
        "<< \\r\\nOK\\r\\n",
        "-- baud 9600",
        "-- detached",
        "-- closed",
    ]


def test_traced_channel_as_the_app_uses_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The app's path: the runtime holds the wrapper and writes through it."""
    path = tmp_path / "trace.log"

    async def main() -> None:
        ev = RecordingEvents()
        inner = TcpChannel("127.0.0.1", 0)
        ch = wrap_channel(inner, make_sink(path, True))
        runtime_ref = ch  # what the runtime keeps and writes through
        await ch.start(ev)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", inner.port)
            await ev.wait_for(lambda: ev.count("attached") == 1)
            w.write(b"AT+Z\r\n")
            assert await ev.wait_bytes(6) == b"AT+Z\r\n"
            runtime_ref.write(b"\r\nOK\r\n\xff")
            assert await asyncio.wait_for(r.readexactly(7), 5) == b"\r\nOK\r\n\xff"
            w.close()
            await ev.wait_for(lambda: ev.count("detached") == 1)
        finally:
            await ch.close()

    with caplog.at_level(logging.INFO, logger="w800at.trace"):
        asyncio.run(main())
    matches = [LINE.match(line) for line in path.read_text("ascii").splitlines()]
    assert all(matches)
    got = [m.group(3) + " " + m.group(4) for m in matches if m]
    assert got[0] == "-- trace start"
    assert got[1].startswith("-- channel tcp 127.0.0.1:") and not got[1].endswith(":0")
    assert got[2:] == [
        "-- attached",
        ">> AT+Z\\r\\n",
        "<< \\r\\nOK\\r\\n\\xff",
        "-- detached",
        "-- closed",
    ]
    # -v: the same lines at INFO on the w800at.trace logger
    logged = [r.getMessage() for r in caplog.records if r.name == "w800at.trace"]
    assert logged[0].startswith("-- channel tcp 127.0.0.1:")
    assert logged[1:] == got[2:]

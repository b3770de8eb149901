"""``w800at trace show`` as a command: errors, text, ``--html``, and a real session."""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD, ServeProcess
from tests.e2e.test_serve_pty import JOIN_OK, LAB_CONFIG, OK, READY, Serve
from tests.servers.tcp_servers import TcpEchoServer
from tests.transcript.helpers import Event, summary, trace_bytes
from tests.transcript.scenario import EVENTS
from w800at.transcript import format_transcript, parse_trace, transcribe

ROW = re.compile(r"^ *(\d+\.\d{6})  +([+-]\d+\.\d{6})  (.{6})  (.{8})  (.*)$")


def show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE_CMD, "trace", "show", *args], capture_output=True, text=True, timeout=60
    )


def parse_rows(stdout: str) -> list[tuple[float, float, str, str, str]]:
    lines = stdout.splitlines()
    assert lines[0] == "       time       delta  lane    kind      text"
    out = []
    for line in lines[1:]:
        m = ROW.match(line)
        assert m is not None, line
        t, d, lane, kind, text = m.groups()
        out.append((float(t), float(d), lane.rstrip(), kind.rstrip(), text))
    return out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        (b"", "{path}: empty file, not a w800at trace"),
        (b"# notes\nnot a trace\n", "{path}: not a w800at trace: no line reads"),
        (bytes(range(256)) * 64, "{path}: not a w800at trace: no line reads"),
        ("\u00e9t\u00e9 \u2603\n".encode() * 5, "{path}: not a w800at trace: no line reads"),
    ],
)
def test_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "trace.log"
    if content is not None:
        path.write_bytes(content)
    res = show(str(path))
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("w800at trace show: " + message.format(path=path))
    assert "Traceback" not in res.stderr


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    res = show(str(tmp_path))
    assert res.returncode == 2
    assert res.stderr == f"w800at trace show: cannot read {tmp_path}: Is a directory\n"


def test_text_transcript_on_stdout(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_bytes(trace_bytes(EVENTS))
    res = show(str(path))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout == format_transcript(transcribe(parse_trace(path.read_bytes())))
    assert len(parse_rows(res.stdout)) == 68


def test_a_garbled_line_inside_a_good_trace_is_a_row(tmp_path: Path) -> None:
    events: list[Event] = [(0.0, "--", "trace start"), (0.1, ">>", b"AT\r\n")]
    data = trace_bytes(events) + b"\xde\xad\xbe\xef\n" + trace_bytes([(0.2, "<<", b"\r\nOK\r\n")])
    path = tmp_path / "trace.log"
    path.write_bytes(data)
    res = show(str(path))
    assert res.returncode == 0
    assert [r[2:] for r in parse_rows(res.stdout)] == [
        ("event", "note", "trace start"),
        ("host", "cmd", "AT"),
        ("trace", "bad", "?? line 3 is not a trace line: \\xde\\xad\\xbe\\xef"),
        ("module", "result", "OK"),
    ]


def test_html_output_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_bytes(trace_bytes(EVENTS))
    out = tmp_path / "page.html"
    res = show(str(path), "--html", str(out))
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    page = out.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>w800at transcript: trace.log</title>" in page
    bad = show(str(path), "--html", str(tmp_path / "missing-dir" / "page.html"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("w800at trace show: cannot write ")
    assert bad.stderr.count("\n") == 1


# --- a real module ------------------------------------------------------------------


def test_trace_of_a_real_session(serve: Serve, tmp_path: Path) -> None:
    """``serve --trace`` against a loopback echo server, then ``trace show`` on it."""
    trace = tmp_path / "session.trace"
    live = tmp_path / "session.transcript"
    with TcpEchoServer() as echo:
        srv: ServeProcess = serve(
            "pty", "--trace", str(trace), "--transcript", str(live), config=LAB_CONFIG
        )
        port = srv.connect()
        port.expect(READY)
        port.command(b"AT\r\n", b"AT\r\n" + OK)
        join = b'AT+CWJAP="lab","lab-secret"\r\n'
        port.command(join, join + JOIN_OK)
        port.command(b"AT+CIPMUX=1\r\n", b"AT+CIPMUX=1\r\n" + OK)
        start = f'AT+CIPSTART=0,"TCP","127.0.0.1",{echo.port}\r\n'.encode()
        port.command(start, start + b"0,CONNECT\r\n" + OK)
        port.command(b"AT+CIPSEND=0,5\r\n", b"AT+CIPSEND=0,5\r\n" + OK + b"\r\n>")
        port.command(b"hello", b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n\r\n+IPD,0,5:hello\r\n")
        port.command(b"AT+CIPCLOSE=0\r\n", b"AT+CIPCLOSE=0\r\n0,CLOSED\r\n" + OK)
        assert srv.stop() == 0
    where = re.search(r"module on (pty \S+ -> \S+)", srv.stderr_text())
    assert where is not None

    res = show(str(trace))
    assert res.returncode == 0, res.stderr
    rows = parse_rows(res.stdout)
    cmd = start.decode().removesuffix("\r\n")
    session = [
        ("event", "note", "trace start"),
        ("event", "note", f"channel {where.group(1)}"),
        ("event", "note", "attached"),
        ("module", "urc", "ready"),
        ("host", "cmd", "AT"),
        ("module", "echo", "AT"),
        ("module", "result", "OK"),
        ("host", "cmd", 'AT+CWJAP="lab","lab-secret"'),
        ("module", "echo", 'AT+CWJAP="lab","lab-secret"'),
        ("module", "urc", "WIFI CONNECTED"),
        ("module", "urc", "WIFI GOT IP"),
        ("module", "result", "OK"),
        ("module", "urc", "WIFI GOT IPv6 LL"),
        ("module", "urc", "WIFI GOT IPv6 GL"),
        ("host", "cmd", "AT+CIPMUX=1"),
        ("module", "echo", "AT+CIPMUX=1"),
        ("module", "result", "OK"),
        ("host", "cmd", cmd),
        ("module", "echo", cmd),
        ("L0", "link", f"== open TCP 127.0.0.1:{echo.port}"),
        ("module", "urc", "0,CONNECT"),
        ("module", "result", "OK"),
        ("host", "cmd", "AT+CIPSEND=0,5"),
        ("module", "echo", "AT+CIPSEND=0,5"),
        ("module", "result", "OK"),
        ("module", "prompt", ">"),
        ("host", "data", summary(b"hello")),
        ("module", "info", "Recv 5 bytes"),
        ("module", "result", "SEND OK"),
        ("L0", "send", summary(b"hello")),  # the answer is written before the socket send
        ("L0", "recv", summary(b"hello")),
        ("module", "ipd", "+IPD,0,5: " + summary(b"hello")),
        ("host", "cmd", "AT+CIPCLOSE=0"),
        ("L0", "link", "== closed (by the module)"),  # before the answer is written
        ("module", "echo", "AT+CIPCLOSE=0"),
        ("module", "urc", "0,CLOSED"),
        ("module", "result", "OK"),
    ]
    got = [r[2:] for r in rows]
    assert got[: len(session)] == session
    # the port closes, then the module stops ("detached" may come before "closed")
    assert got[len(session) :] in (
        [("event", "note", "detached"), ("event", "note", "closed")],
        [("event", "note", "closed")],
    )
    times = [r[0] for r in rows]
    assert times == sorted(times)
    assert rows[0][1] == 0.0
    for (t0, _, *_), (t1, d1, *_) in itertools.pairwise(rows):
        assert abs((t1 - t0) - d1) < 2.5e-6
    # the same file, line for line, read back with the library
    assert res.stdout == format_transcript(transcribe(parse_trace(trace.read_bytes())))
    # serve --transcript wrote the same rows live (its own clock: times differ a little)
    first, *rest = live.read_text().splitlines()
    assert first.startswith("# w800at transcript, started ")
    assert [r[2:] for r in parse_rows("\n".join(rest))] == got


def test_readme_example_is_what_the_tool_prints() -> None:
    """The README's example transcript is `trace show` of a real session's trace, kept
    in tests/transcript/data/readme-session.trace."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text("utf-8")
    chapter = readme.split("## Reading a trace", 1)[1]
    block = re.search(r"\n```\n(       time       delta  lane .*?\n)```\n", chapter, re.DOTALL)
    assert block is not None
    trace = Path(__file__).parent / "data" / "readme-session.trace"
    res = show(str(trace))
    assert res.returncode == 0
    assert block.group(1) == res.stdout
    # and its trace lines quoted above it are in that file
    quoted = re.search(r"\n```\n(2026-.*?\n)```\n", chapter, re.DOTALL)
    assert quoted is not None
    assert quoted.group(1) in trace.read_text("ascii")


def test_trace_of_a_real_passthrough_session(serve: Serve, tmp_path: Path) -> None:
    """Passthrough both ways and a real ``+++`` (30 ms guard on the w800 dialect)."""
    trace = tmp_path / "passthrough.trace"
    silence = 0.15
    with TcpEchoServer() as echo:
        srv: ServeProcess = serve("pty", "--trace", str(trace), config=LAB_CONFIG)
        port = srv.connect()
        port.expect(READY)
        port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
        port.command(b'AT+CWJAP="lab","lab-secret"\r\n', JOIN_OK)
        port.command(b"AT+CIPMODE=1\r\n", OK)
        start = f'AT+CIPSTART="TCP","127.0.0.1",{echo.port}\r\n'.encode()
        port.command(start, b"CONNECT\r\n" + OK)
        port.command(b"AT+CIPSEND\r\n", OK + b"\r\n>")
        time.sleep(silence)
        port.command(b"AT\r\nOK\r\n", b"AT\r\nOK\r\n")  # data that looks like lines
        time.sleep(silence)
        port.send(b"+++")
        time.sleep(silence)
        port.quiet()
        port.command(b"AT+CIPMODE=0\r\n", OK)
        port.command(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n" + OK)
        assert srv.stop() == 0

    res = show(str(trace))
    assert res.returncode == 0, res.stderr
    got = [r[2:] for r in parse_rows(res.stdout) if r[2] != "event"]
    data = summary(b"AT\r\nOK\r\n")
    assert got == [
        ("module", "urc", "ready"),
        ("host", "cmd", "ATE0"),
        ("module", "echo", "ATE0"),
        ("module", "result", "OK"),
        ("host", "cmd", 'AT+CWJAP="lab","lab-secret"'),
        ("module", "urc", "WIFI CONNECTED"),
        ("module", "urc", "WIFI GOT IP"),
        ("module", "result", "OK"),
        ("module", "urc", "WIFI GOT IPv6 LL"),
        ("module", "urc", "WIFI GOT IPv6 GL"),
        ("host", "cmd", "AT+CIPMODE=1"),
        ("module", "result", "OK"),
        ("host", "cmd", start.decode().removesuffix("\r\n")),
        ("L0", "link", f"== open TCP 127.0.0.1:{echo.port}"),
        ("module", "urc", "CONNECT"),
        ("module", "result", "OK"),
        ("host", "cmd", "AT+CIPSEND"),
        ("module", "result", "OK"),
        ("module", "prompt", ">"),
        ("host", "pass", data),
        ("L0", "send", data),
        ("L0", "recv", data),
        ("module", "pass", data),
        ("host", "escape", "+++"),
        ("host", "cmd", "AT+CIPMODE=0"),
        ("module", "result", "OK"),
        ("host", "cmd", "AT+CIPCLOSE"),
        ("L0", "link", "== closed (by the module)"),
        ("module", "urc", "CLOSED"),
        ("module", "result", "OK"),
    ]

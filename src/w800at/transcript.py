"""Readable transcripts of ``--trace`` files: one row per command, answer, URC, payload.

A trace (`w800at.trace`) has one line per chunk the AT port saw.  A chunk is whatever one
read or write carried: half a line, or ten lines and a binary ``+IPD`` frame.  This
module turns the two byte streams back into what the host and the module *said*:

- host (``>>``): command lines (ending CR LF); after the module's ``>`` prompt, the
  ``AT+CIPSEND=<n>`` / ``AT+CIPSENDEX`` / ``AT+CIPSENDL`` payload; in passthrough
  (``AT+CIPSEND`` with no ``=``), raw data until ``+++`` with silence around it;
- module (``<<``): echo, information lines, final results, ``busy p...``, URCs, the
  ``>`` prompt, ``+IPD`` frames and ``+CIPRECVDATA`` answers (their binary data is a
  payload, not lines), passthrough data;
- links (``L<id>>`` module -> peer, ``L<id><`` peer -> module): one row per chunk;
- notes (``--``): channel events; ``link <id> ...`` link events, ``fault ...`` and
  ``rule ...`` fired faults and scenario rules are marked.

Rows never depend on how the bytes were cut into chunks: the same bytes at the same
times give the same rows.  A row's time is the time of its first byte, in seconds since
the trace started (a file that several runs appended to keeps counting); rows come out
in time order.  Payloads are summarised (`PayloadInfo`): length, the first bytes
escaped, and the start of their SHA-256.

Pure: nothing here reads or writes files except `TranscriptWriter`, the live sink.
The HTML page is `w800at.transcript_html`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import heapq
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from .trace import EVENT, HOST_TO_MODULE, MODULE_TO_HOST, escape_bytes

log = logging.getLogger("w800at.transcript")

#: ``+++`` silence (seconds): the shorter of the dialects' guard times (esp-at 20 ms,
#: w800 30 ms).  Also the silence that ends one passthrough data row.
GUARD = 0.020
#: payload bytes shown in a row (escaped)
HEAD_BYTES = 16
#: payload bytes kept for the HTML page's expanded view (`PayloadInfo.preview`)
PREVIEW_BYTES = 256
#: hex digits of SHA-256 shown in a row
SHA_HEX = 12
#: a line longer than this is shown cut, with its length
LINE_SHOW = 300
#: host bytes held while a send command waits for ``>`` or ``ERROR``, at most
_HELD_MAX = 65536
#: a module line is checked for a +IPD / +CIPRECVDATA header while it is this short
_HEADER_MAX = 128

#: the live writer lets a row wait at most this long (seconds) for an earlier one
LIVE_HOLD = 1.0

LANE_HOST = "host"
LANE_MODULE = "module"
LANE_EVENT = "event"
LANE_TRACE = "trace"

#: text prefix of marked rows in the text transcript
MARKS = {"link": "== ", "fault": "!! ", "rule": "!! ", "bad": "?? "}


class TraceFormatError(ValueError):
    """The file is not a w800at trace."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One good trace line."""

    lineno: int
    wall: str
    #: seconds since the trace started (continuous over runs appended to one file)
    t: float
    direction: str
    #: the rest of the line as written (escaped bytes, or the note)
    text: str
    #: the bytes, for ``>>``, ``<<`` and link directions
    data: bytes | None


@dataclass(frozen=True)
class BadLine:
    """A line that is not in the trace format (shown as a row, never fatal)."""

    lineno: int
    raw: bytes
    #: the time of the good line before it (so it sorts in place)
    t: float


_LINE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) \+(\d+\.\d+) (\S+)(?: (.*))?", re.DOTALL
)
_LINK_DIR = re.compile(r"L(\d+)([<>])")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


def _is_bytes_direction(direction: str) -> bool:
    return (
        direction in (HOST_TO_MODULE, MODULE_TO_HOST) or _LINK_DIR.fullmatch(direction) is not None
    )


def _clean(text: str) -> str:
    """Printable ASCII as is, anything else ``\\xNN`` (a note never moves a terminal)."""
    if _PRINTABLE.fullmatch(text):
        return text
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c) & 0xFF:02x}" for c in text)


def parse_trace(data: bytes) -> list[Record | BadLine]:
    """The lines of a trace file.  Raises `TraceFormatError` if it is not a trace.

    A file is a trace when at least half of its non-empty lines are trace lines; the
    others become `BadLine` entries.  Times stay continuous when several runs were
    appended to the file (each starts with ``-- trace start`` and a new clock).
    """
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: list[Record | BadLine] = []
    good = total = 0
    base = 0.0
    last = 0.0
    origin: datetime.datetime | None = None
    for lineno, raw in enumerate(lines, 1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        total += 1
        parsed = _parse_line(raw)
        if parsed is None:
            out.append(BadLine(lineno, raw, last))
            continue
        good += 1
        wall, mono, direction, text, payload = parsed
        new_run = (direction == EVENT and text == "trace start" and good > 1) or mono + base < last
        if origin is None:
            origin = wall - datetime.timedelta(seconds=mono)
        elif new_run:
            by_wall = (wall - origin).total_seconds() - mono
            base = max(by_wall, last - mono)
        t = mono + base
        last = max(last, t)
        out.append(
            Record(lineno, wall.isoformat(timespec="milliseconds"), t, direction, text, payload)
        )
    if total == 0:
        raise TraceFormatError("empty file, not a w800at trace")
    if good == 0:
        raise TraceFormatError(
            "not a w800at trace: no line reads '<wall clock> +<seconds> <dir> <bytes or note>'"
        )
    if good * 2 < total:
        raise TraceFormatError(
            f"not a w800at trace: only {good} of {total} lines are in the trace format"
        )
    return out


def _unescape(text: str) -> bytes | None:
    """`w800at.trace.unescape` at C speed, or None if ``text`` (ASCII) is not what
    `escape_bytes` writes: printable ASCII with ``\\\\``, ``\\r``, ``\\n``, ``\\xNN``.

    Every backslash starts an escape, so in a run of backslashes they pair up from the
    left (``\\\\``); an odd one left at the end of the run starts ``\\r``, ``\\n`` or
    ``\\xNN``.  With those checked, the ``unicode_escape`` codec reads the text exactly
    as `unescape` does (and rejects a bad ``\\xNN``).
    """
    if not text.isprintable():
        return None
    rest = text.replace("\\\\", "|").replace("\\r", "|").replace("\\n", "|")
    if rest.count("\\") != rest.count("\\x"):
        return None
    try:
        return text.encode("ascii").decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:
        return None


def _parse_line(
    raw: bytes,
) -> tuple[datetime.datetime, float, str, str, bytes | None] | None:
    try:
        line = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    m = _LINE.fullmatch(line)
    if m is None:
        return None
    try:
        wall = datetime.datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    direction, text = m.group(3), m.group(4) or ""
    if _is_bytes_direction(direction):
        data = _unescape(text)
        if data is None:
            return None
        return wall, float(m.group(2)), direction, text, data
    return wall, float(m.group(2)), direction, _clean(text), None


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class PayloadInfo:
    """A payload as a transcript shows it."""

    length: int
    #: the first `HEAD_BYTES` bytes, escaped
    head: str
    #: the whole SHA-256, hex
    sha256: str
    #: the first `PREVIEW_BYTES` bytes, escaped
    preview: str

    def summary(self) -> str:
        """``5 bytes "hello" sha256:2cf24dba5fb0`` (``..."`` when cut)."""
        unit = "byte" if self.length == 1 else "bytes"
        more = "..." if self.length > HEAD_BYTES else ""
        return f'{self.length} {unit} "{self.head}"{more} sha256:{self.sha256[:SHA_HEX]}'


def payload_info(data: bytes) -> PayloadInfo:
    acc = _Acc(0.0)
    acc.add(data)
    return acc.info()


@dataclass(frozen=True)
class Row:
    """One transcript row."""

    #: seconds since the trace started (the row's first byte)
    t: float
    #: seconds since the row before (negative only in a live transcript, see LIVE_HOLD)
    delta: float
    #: ``host``, ``module``, ``L<id>`` (a link's peer), ``event``, ``trace``
    lane: str
    #: cmd, data, pass, escape (host); echo, info, result, busy, prompt, urc, ipd,
    #: recvdata, pass (module); send, recv, link, fault, rule (links); note, fault,
    #: rule (event); bad, other (trace)
    kind: str
    text: str
    #: "" or link, fault, rule, bad: shown marked
    mark: str = ""
    payload: PayloadInfo | None = None


class _Acc:
    """Payload bytes as they arrive: count, first bytes and SHA-256 (not all kept)."""

    __slots__ = ("_head", "_sha", "n", "t")

    def __init__(self, t: float) -> None:
        self.t = t
        self.n = 0
        self._head = bytearray()
        self._sha = hashlib.sha256()

    def add(self, data: bytes) -> None:
        if not data:
            return
        room = PREVIEW_BYTES - len(self._head)
        if room > 0:
            self._head += data[:room]
        self._sha.update(data)
        self.n += len(data)

    def info(self) -> PayloadInfo:
        head = bytes(self._head)
        return PayloadInfo(
            self.n, escape_bytes(head[:HEAD_BYTES]), self._sha.hexdigest(), escape_bytes(head)
        )


_LINE_KEEP = LINE_SHOW + 2


class _LineBuf:
    """A line as it arrives: its first bytes, its length and its last two bytes."""

    __slots__ = ("head", "n", "t", "tail")

    def __init__(self) -> None:
        self.head = bytearray()
        self.n = 0
        self.t = 0.0
        self.tail = b""

    def add(self, t: float, piece: bytes) -> None:
        if not self.n:
            self.t = t
        room = _LINE_KEEP - len(self.head)
        if room > 0:
            self.head += piece[:room]
        self.n += len(piece)
        self.tail = (self.tail + piece[-2:])[-2:]

    def take(self) -> tuple[float, bytes, int, bool]:
        """(time, bytes kept, length, ends in CR LF); the buffer is empty again."""
        out = (self.t, bytes(self.head), self.n, self.tail == b"\r\n")
        self.head.clear()
        self.n = 0
        self.tail = b""
        return out


def _line_text(head: bytes, n: int, crlf: bool, body: bytes) -> str:
    """``body`` escaped; a line longer than `LINE_SHOW` cut, with its length (without
    the CR LF)."""
    if n == len(head) and len(body) <= LINE_SHOW:
        return escape_bytes(body)
    return f"{escape_bytes(body[:LINE_SHOW])}... ({n - 2 if crlf else n} bytes)"


#: module lines that end a command
_RESULTS = frozenset((b"OK", b"ERROR", b"FAIL", b"SEND OK", b"SEND FAIL", b"SEND CANCELLED"))
#: module lines that come unasked
_URC = re.compile(
    rb"ready|WIFI [A-Za-z0-9 ]+|(?:\d+,)?(?:CONNECT|CLOSED|CONNECT FAIL)|\+IPD,[0-9,]+"
    rb"|\+LINK_CONN:.*|\+QUITT|\+STA_CONNECTED:.*|\+STA_DISCONNECTED:.*|\+DIST_STA_IP:.*"
    rb"|\+TIME_UPDATED",
    re.DOTALL,
)
_IPD_HEADER = re.compile(rb'\+IPD,(?:\d+,)?(\d+)(?:,"[^"\r\n]*",\d+)?:')
_RECV_HEADER = re.compile(rb"\+CIPRECVDATA:(\d+),")
_RECV_HEADER_DINFO = re.compile(rb'\+CIPRECVDATA:(\d+),"[^"\r\n]*",\d+,')
_SEND = re.compile(rb"AT\+CIPSEND(EX|L)?=(.*)", re.DOTALL)
_SETTINGS = {
    b"AT+CIPDINFO=0": ("dinfo", False),
    b"AT+CIPDINFO=1": ("dinfo", True),
    b"ATE0": ("echo", False),
    b"ATE1": ("echo", True),
}


def _fields(args: bytes) -> list[bytes]:
    """Comma-separated fields; commas inside quotes do not separate."""
    out: list[bytes] = []
    cur = bytearray()
    quoted = False
    for c in args:
        if c == 0x22:
            quoted = not quoted
        if c == 0x2C and not quoted:
            out.append(bytes(cur))
            cur.clear()
        else:
            cur.append(c)
    out.append(bytes(cur))
    return out


def _send_length(args: bytes) -> int | None:
    """The <length> of ``AT+CIPSEND=[<id>,]<length>[,"<ip>",<port>]``.

    A remote host is always quoted, so a second field that is a number is the length
    (``<id>,<length>``); otherwise the first field is."""
    fields = _fields(args)
    if len(fields) >= 2 and fields[1].isdigit():
        return int(fields[1])
    if fields[0].isdigit():
        return int(fields[0])
    return None


class _Draft:
    __slots__ = ("kind", "lane", "mark", "payload", "text")

    def __init__(
        self, lane: str, kind: str, text: str, mark: str, payload: PayloadInfo | None
    ) -> None:
        self.lane = lane
        self.kind = kind
        self.text = text
        self.mark = mark
        self.payload = payload


# stream modes
_LINE_MODE = "line"
_AWAIT = "await"  # host: a send command waits for ">" (or ERROR)
_PAYLOAD = "payload"  # host: AT+CIPSEND=<n> / AT+CIPSENDEX data
_PASS = "pass"  # host: passthrough data
_SENDL = "sendl"  # host: AT+CIPSENDL data
_FRAME = "frame"  # module: +IPD / +CIPRECVDATA data
_RAW = "raw"  # module: passthrough data


class _Run:
    """Data without framing (passthrough, AT+CIPSENDL): one row per run of bytes, which
    ends when another stream speaks or after `GUARD` of silence."""

    def __init__(self, tx: Transcriber, lane: str) -> None:
        self.tx = tx
        self.lane = lane
        self.acc: _Acc | None = None
        self.last = 0.0
        self.kind = "pass"

    def add(self, t: float, data: bytes, kind: str) -> None:
        if self.acc is not None and (t - self.last >= self.tx.guard or kind != self.kind):
            self.end()
        if self.acc is None:
            self.acc = _Acc(t)
            self.kind = kind
        self.acc.add(data)
        self.last = t

    def end(self) -> None:
        acc, self.acc = self.acc, None
        if acc is not None and acc.n:
            info = acc.info()
            self.tx.emit(acc.t, self.lane, self.kind, info.summary(), payload=info)


class _Host:
    """The host's byte stream."""

    def __init__(self, tx: Transcriber) -> None:
        self.tx = tx
        self.mode = _LINE_MODE
        self.line = _LineBuf()
        # a send command waiting for ">": (kind, length, escaped), and the bytes since
        self.awaiting: tuple[str, int, bool] = ("", 0, False)
        self.await_echoed = False
        self.held: list[tuple[float, bytes]] = []
        self.held_n = 0
        # AT+CIPSEND=<n> / AT+CIPSENDEX payload
        self.want = 0
        self.have = 0
        self.escaped = False
        self.esc_pending = False
        self.acc: _Acc | None = None
        # passthrough / AT+CIPSENDL data, and "+++"
        self.run = _Run(tx, LANE_HOST)
        self.last_t = 0.0
        self.budget = 0
        self.plus = 0
        self.plus_t0 = 0.0
        self.plus_last = 0.0

    # --- bytes

    def feed(self, t: float, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            mode = self.mode
            if mode == _LINE_MODE:
                pos = self._lines(t, data, pos)
            elif mode == _AWAIT:
                rest = data[pos:] if pos else data
                self.held.append((t, rest))
                self.held_n += len(rest)
                pos = n
                if self.held_n > _HELD_MAX:  # no answer is coming: these are lines
                    self.cancel()
            elif mode == _PAYLOAD:
                pos = self._payload(t, data, pos)
            else:
                pos = self._data(t, data, pos)

    def _lines(self, t: float, data: bytes, pos: int) -> int:
        lf = data.find(b"\n", pos)
        end = len(data) if lf < 0 else lf + 1
        self.line.add(t, data[pos:end])
        if lf >= 0:
            self._line_done(*self.line.take())
        return end

    def _line_done(
        self, t: float, head: bytes, n: int, crlf: bool, *, partial: bool = False
    ) -> None:
        tx = self.tx
        whole = n == len(head)
        # a line that ends in LF alone (no CR: ERROR on the real module) is shown as is
        body = (head[:-2] if crlf else head) if whole else head[:LINE_SHOW]
        text = "(empty line)" if not body and not partial else _line_text(head, n, crlf, body)
        if partial:
            text += " [incomplete]"
        tx.emit(t, LANE_HOST, "cmd", text)
        if partial or not crlf or not whole:
            return
        tx.echoes.append(head)
        m = _SEND.fullmatch(body)
        if m is not None:
            length = _send_length(m.group(2))
            if length is not None:
                suffix = m.group(1)
                self._await("sendl" if suffix == b"L" else "send", length, suffix == b"EX")
        elif body == b"AT+CIPSEND":
            self._await("pass", 0, False)
        else:
            tx.pending = _SETTINGS.get(body)

    def _await(self, kind: str, length: int, escaped: bool) -> None:
        self.mode = _AWAIT
        self.awaiting = (kind, length, escaped)
        self.await_echoed = False

    # --- after a send command: ">" or not

    def prompt(self, t: float) -> None:
        """The module printed ``>``: what the host sends now is data."""
        if self.mode != _AWAIT:
            return
        kind, length, escaped = self.awaiting
        if kind == "send":
            self.mode = _PAYLOAD
            self.want, self.have, self.escaped, self.esc_pending = length, 0, escaped, False
            self.acc = None
            if length == 0:
                self.acc = _Acc(t)
                self._payload_done()
        else:
            self.mode = _PASS if kind == "pass" else _SENDL
            self.budget = length
            self.last_t = t  # the prompt starts the silence before a "+++"
            if kind == "pass":
                self.tx.module.enter_raw()
        self._replay()

    def refused(self, busy: bool) -> None:
        """``ERROR`` or ``busy p...``: the send command's answer if it was echoed (or
        echo is off), or if busy (a line that is answered busy is not echoed)."""
        if self.mode == _AWAIT and (busy or self.await_echoed or not self.tx.echo):
            self.cancel()

    def cancel(self) -> None:
        """No ``>`` is coming: back to lines."""
        if self.mode == _AWAIT:
            self.mode = _LINE_MODE
            self._replay()

    def _replay(self) -> None:
        held, self.held, self.held_n = self.held, [], 0
        for t, data in held:
            self.feed(t, data)

    # --- AT+CIPSEND=<n> payload

    def _payload(self, t: float, data: bytes, pos: int) -> int:
        if self.acc is None:
            self.acc = _Acc(t)
        acc = self.acc
        n = len(data)
        if not self.escaped:
            take = min(self.want - self.have, n - pos)
            acc.add(data[pos : pos + take])
            self.have += take
            pos += take
        else:  # AT+CIPSENDEX, as the engine reads it: a backslash escapes, \\0 ends
            while pos < n and self.have < self.want:
                if self.esc_pending:
                    self.esc_pending = False
                    c = data[pos]
                    acc.add(data[pos : pos + 1])
                    pos += 1
                    if c == 0x30:
                        self._payload_done()
                        return pos
                    self.have += 1
                    continue
                j = data.find(b"\\", pos, pos + (self.want - self.have))
                if j < 0:
                    take = min(self.want - self.have, n - pos)
                    acc.add(data[pos : pos + take])
                    self.have += take
                    pos += take
                else:
                    acc.add(data[pos : j + 1])
                    self.have += j - pos
                    self.esc_pending = True
                    pos = j + 1
        if self.have >= self.want:
            self._payload_done()
        return pos

    def _payload_done(self, *, partial: bool = False) -> None:
        acc = self.acc
        assert acc is not None
        info = acc.info()
        text = info.summary()
        if partial:
            text += f" [incomplete: {self.have} of {self.want}]"
        self.tx.emit(acc.t, LANE_HOST, "data", text, payload=info)
        self.acc = None
        self.mode = _LINE_MODE

    # --- passthrough and AT+CIPSENDL data, and "+++"

    def _data(self, t: float, data: bytes, pos: int) -> int:
        """One chunk's bytes all have the same time, so only a chunk that is all ``+``
        (at most three) can be an escape: the rule is per byte, the work per chunk."""
        chunk = data[pos:] if pos else data
        n = len(chunk)
        all_plus = chunk.count(b"+") == n
        if self.plus:
            if all_plus and n <= 3 - self.plus and t - self.plus_last <= self.tx.guard:
                self.plus += n
                self.plus_last = self.last_t = t
                return len(data)
            self._release()
        elif all_plus and n <= 3 and t - self.last_t >= self.tx.guard:
            self.plus = n
            self.plus_t0 = self.plus_last = self.last_t = t
            return len(data)
        self.last_t = t
        if self.mode == _SENDL:
            take = min(n, max(self.budget, 0))
            self.run.add(t, chunk[:take], "data")
            self.budget -= take
            if self.budget <= 0:
                self.run.end()
                self.mode = _LINE_MODE
            return pos + take
        self.run.add(t, chunk, "pass")
        return len(data)

    def _release(self) -> None:
        """Held ``+`` were data after all."""
        held, self.plus = self.plus, 0
        self.run.add(self.plus_t0, b"+" * held, "pass" if self.mode == _PASS else "data")
        if self.mode == _SENDL:
            self.budget -= held

    def advance(self, now: float) -> None:
        """Time passed: held ``+`` become an escape (three, then silence) or data."""
        if self.plus and now - self.plus_last >= self.tx.guard:
            if self.plus < 3:
                self._release()
                return
            self.plus = 0
            self.run.end()
            self.tx.emit(self.plus_t0, LANE_HOST, "escape", "+++")
            if self.mode == _PASS:
                self.tx.module.leave_raw()
            self.mode = _LINE_MODE

    # --- the end (of the trace, or of this module's life)

    def pending_since(self) -> float | None:
        starts = []
        if self.line.n:
            starts.append(self.line.t)
        if self.held:
            starts.append(self.held[0][0])
        if self.acc is not None:
            starts.append(self.acc.t)
        if self.run.acc is not None:
            starts.append(self.run.acc.t)
        if self.plus:
            starts.append(self.plus_t0)
        return min(starts) if starts else None

    def flush(self) -> None:
        """Everything pending becomes rows (marked incomplete); back to lines."""
        while self.mode == _AWAIT:  # held bytes may hold another send command
            self.cancel()
        if self.plus:
            self._release()
        self.run.end()
        if self.mode == _PAYLOAD and self.acc is not None:
            self._payload_done(partial=True)
        self.mode = _LINE_MODE
        if self.line.n:
            self._line_done(*self.line.take(), partial=True)


class _Module:
    """The module's byte stream."""

    def __init__(self, tx: Transcriber) -> None:
        self.tx = tx
        self.mode = _LINE_MODE
        self.line = _LineBuf()
        self.frame: _Acc | None = None
        self.frame_want = 0
        self.frame_kind = ""
        self.frame_head = ""
        self.run = _Run(tx, LANE_MODULE)

    def enter_raw(self) -> None:
        self.mode = _RAW

    def leave_raw(self) -> None:
        self.run.end()
        self.mode = _LINE_MODE

    def feed(self, t: float, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            mode = self.mode
            if mode == _FRAME:
                frame = self.frame
                assert frame is not None
                take = min(self.frame_want - frame.n, n - pos)
                frame.add(data[pos : pos + take])
                pos += take
                if frame.n >= self.frame_want:
                    self._frame_done()
            elif mode == _RAW:
                self.run.add(t, data[pos:] if pos else data, "pass")
                return
            else:
                pos = self._lines(t, data, pos)

    def _lines(self, t: float, data: bytes, pos: int) -> int:
        line = self.line
        if not line.n and data[pos] == 0x3E:  # ">" at the start of a line: the prompt
            self.tx.emit(t, LANE_MODULE, "prompt", ">")
            self.tx.host.prompt(t)
            return pos + 1
        lf = data.find(b"\n", pos)
        end = len(data) if lf < 0 else lf + 1
        first = line.head[:1] if line.n else data[pos : pos + 1]
        if first == b"+" and line.n < _HEADER_MAX:
            # (a header is at most _HEADER_MAX bytes, however the line was cut)
            header = self._header((bytes(line.head) + data[pos:end])[:_HEADER_MAX])
            if header is not None:
                kind, length, size = header
                used = size - line.n
                line.add(t, data[pos : pos + used])
                t0, head, _, _ = line.take()
                self.mode = _FRAME
                self.frame = _Acc(t0)
                self.frame_want = length
                self.frame_kind = kind
                self.frame_head = escape_bytes(head)
                if length == 0:
                    self._frame_done()
                return pos + used
        line.add(t, data[pos:end])
        if lf >= 0:
            self._line_done(*line.take())
        return end

    def _header(self, cand: bytes) -> tuple[str, int, int] | None:
        if cand.startswith(b"+IPD,"):
            m = _IPD_HEADER.match(cand)
            if m is not None:
                return "ipd", int(m.group(1)), m.end()
        elif cand.startswith(b"+CIPRECVDATA:"):
            m = (_RECV_HEADER_DINFO if self.tx.dinfo else _RECV_HEADER).match(cand)
            if m is not None:
                return "recvdata", int(m.group(1)), m.end()
        return None

    def _frame_done(self, *, partial: bool = False) -> None:
        frame = self.frame
        assert frame is not None
        info = frame.info()
        text = f"{self.frame_head} {info.summary()}"
        if partial:
            text += f" [incomplete: {frame.n} of {self.frame_want}]"
        self.tx.emit(frame.t, LANE_MODULE, self.frame_kind, text, payload=info)
        self.frame = None
        self.mode = _LINE_MODE

    def _line_done(
        self, t: float, head: bytes, n: int, crlf: bool, *, partial: bool = False
    ) -> None:
        tx = self.tx
        whole = n == len(head)
        if crlf and whole:
            content = head[:-2]
        elif whole:
            content = head.removesuffix(b"\n")
        else:
            content = head[:LINE_SHOW]
        if not content.strip(b"\r"):
            return  # the blank lines around results
        text = _line_text(head, n, crlf, content)
        if partial:
            text += " [incomplete]"
        if not partial and whole and tx.is_echo(head):
            kind = "echo"
        elif content in _RESULTS:
            kind = "result"
            tx.result(content)
        elif content.startswith(b"busy "):
            kind = "busy"
            tx.host.refused(busy=True)
        elif _URC.fullmatch(content):
            kind = "urc"
            if content == b"ready":
                tx.ready()
        else:
            kind = "info"
        tx.emit(t, LANE_MODULE, kind, text)

    def pending_since(self) -> float | None:
        starts = []
        if self.line.n:
            starts.append(self.line.t)
        if self.frame is not None:
            starts.append(self.frame.t)
        if self.run.acc is not None:
            starts.append(self.run.acc.t)
        return min(starts) if starts else None

    def flush(self) -> None:
        self.run.end()
        if self.mode == _FRAME:
            self._frame_done(partial=True)
        self.mode = _LINE_MODE
        if self.line.n:
            self._line_done(*self.line.take(), partial=True)


_NOTE_LINK = re.compile(r"link (\d+) (.*)", re.DOTALL)
_NOTE_MARKED = re.compile(r"(fault|rule) (.*)", re.DOTALL)
_MENTIONS_LINK = re.compile(r"link (\d+)\b")


class Transcriber:
    """Trace records in, rows out; incremental (see `TranscriptWriter`).

    Feed records in trace order (`feed`, or `record` / `note` with a time), take the
    rows that are settled with `take_rows`, and call `finish` at the end: whatever is
    still pending (half a line, a payload cut short) becomes rows marked incomplete.
    """

    def __init__(self, *, guard: float = GUARD) -> None:
        self.guard = guard
        self.host = _Host(self)
        self.module = _Module(self)
        #: command lines sent and not echoed yet (raw, CR LF included)
        self.echoes: deque[bytes] = deque(maxlen=16)
        self.echo = True
        self.dinfo = False
        #: a setting the last command line changes once the module answers OK
        self.pending: tuple[str, bool] | None = None
        self._heap: list[tuple[float, int, _Draft]] = []
        self._seq = 0
        self._last: float | None = None
        self._source = ""
        self._now = 0.0

    # --- input

    def feed(self, item: Record | BadLine) -> None:
        if isinstance(item, BadLine):
            self.bad(item.t, item.lineno, item.raw)
        elif item.data is not None:
            self.record(item.t, item.direction, item.data)
        elif item.direction == EVENT:
            self.note(item.t, item.text)
        else:
            self.other(item.t, item.direction, item.text)

    def record(self, t: float, direction: str, data: bytes) -> None:
        """A chunk: ``>>``, ``<<``, ``L<id>>``, ``L<id><`` (others are shown as is)."""
        self._advance(t, direction)
        if direction == HOST_TO_MODULE:
            self.host.feed(t, data)
        elif direction == MODULE_TO_HOST:
            self.module.feed(t, data)
        else:
            link = _LINK_DIR.fullmatch(direction)
            if link is None:
                self.emit(t, LANE_TRACE, "other", f"{_clean(direction)} {escape_bytes(data)}")
                return
            info = payload_info(data)
            kind = "send" if link.group(2) == ">" else "recv"
            self.emit(t, f"L{int(link.group(1))}", kind, info.summary(), payload=info)

    def note(self, t: float, text: str) -> None:
        """A ``--`` line: channel events, link events, fired faults and rules."""
        self._advance(t, EVENT)
        text = _clean(text)
        if text in ("trace start", "reset"):  # a new module: what was pending ends here
            self.host.flush()
            self.module.flush()
            self._reboot()
        m = _NOTE_LINK.fullmatch(text)
        if m is not None:
            self.emit(t, f"L{int(m.group(1))}", "link", m.group(2), mark="link")
            return
        m = _NOTE_MARKED.fullmatch(text)
        if m is not None:
            kind, rest = m.group(1), m.group(2)
            on = _MENTIONS_LINK.match(rest)
            lane = f"L{int(on.group(1))}" if on else LANE_EVENT
            self.emit(t, lane, kind, rest, mark=kind)
            return
        self.emit(t, LANE_EVENT, "note", text)

    def other(self, t: float, direction: str, text: str) -> None:
        """A line with a direction this version does not know: shown as it is."""
        self._advance(t, direction)
        self.emit(t, LANE_TRACE, "other", f"{_clean(direction)} {_clean(text)}")

    def bad(self, t: float, lineno: int, raw: bytes) -> None:
        """A line of the file that is not a trace line."""
        shown = escape_bytes(raw[:80]) + ("..." if len(raw) > 80 else "")
        self.emit(t, LANE_TRACE, "bad", f"line {lineno} is not a trace line: {shown}", mark="bad")

    def _advance(self, t: float, direction: str) -> None:
        self._now = max(self._now, t)
        self.host.advance(t)
        source = direction if direction in (HOST_TO_MODULE, MODULE_TO_HOST) else ""
        if source != self._source:  # another stream speaks: a data run ends here
            if self._source == HOST_TO_MODULE:
                self.host.run.end()
            elif self._source == MODULE_TO_HOST:
                self.module.run.end()
            self._source = source

    # --- between the streams

    def is_echo(self, raw: bytes) -> bool:
        """``raw`` repeats a command line the host sent (older ones were not echoed)."""
        if raw not in self.echoes:
            return False
        while self.echoes.popleft() != raw:
            pass
        if not self.echoes:  # the newest line: a send command waiting for ">"?
            self.host.await_echoed = True
        return True

    def result(self, content: bytes) -> None:
        if content == b"OK":
            if self.pending is not None:
                name, value = self.pending
                if name == "dinfo":
                    self.dinfo = value
                else:
                    self.echo = value
        elif content == b"ERROR":
            self.host.refused(busy=False)
        self.pending = None

    def ready(self) -> None:
        """``ready``: the module (re)booted."""
        self.host.cancel()
        self._reboot()

    def _reboot(self) -> None:
        self.echo = True
        self.dinfo = False
        self.pending = None
        self.echoes.clear()

    # --- output

    def emit(
        self,
        t: float,
        lane: str,
        kind: str,
        text: str,
        *,
        mark: str = "",
        payload: PayloadInfo | None = None,
    ) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, _Draft(lane, kind, text, mark, payload)))

    def take_rows(self, *, hold: float | None = None) -> list[Row]:
        """The rows nothing pending can come before any more, in time order.

        With ``hold``, a row waits at most that long (in trace time) for a pending one
        that started earlier; that one then comes after it, with a negative delta.
        """
        starts = [
            s for s in (self.host.pending_since(), self.module.pending_since()) if s is not None
        ]
        limit = min(starts) if starts else None
        if hold is not None and limit is not None:
            limit = max(limit, self._now - hold)
        out: list[Row] = []
        heap = self._heap
        while heap and (limit is None or heap[0][0] < limit):
            t, _, d = heapq.heappop(heap)
            delta = 0.0 if self._last is None else t - self._last
            self._last = t
            out.append(Row(t, delta, d.lane, d.kind, d.text, d.mark, d.payload))
        return out

    def finish(self) -> list[Row]:
        """The end: pending bytes become rows; every row left comes out."""
        self.host.advance(float("inf"))
        self.host.flush()
        self.module.flush()
        return self.take_rows()


def transcribe(items: Iterable[Record | BadLine], *, guard: float = GUARD) -> list[Row]:
    """All the rows of a parsed trace."""
    tx = Transcriber(guard=guard)
    for item in items:
        tx.feed(item)
    return tx.finish()


# --------------------------------------------------------------------------- text


HEADER = ("time", "delta", "lane", "kind", "text")


def _fmt(time_s: str, delta: str, lane: str, kind: str, text: str) -> str:
    return f"{time_s:>11}  {delta:>10}  {lane:<6}  {kind:<8}  {text}".rstrip()


def format_header() -> str:
    """``       time       delta  lane    kind      text``"""
    return _fmt(*HEADER)


def format_row(row: Row) -> str:
    """``   1.234567   +0.000120  module  result    OK`` (columns as `format_header`)."""
    return _fmt(
        f"{row.t:.6f}",
        f"{row.delta:+.6f}",
        row.lane,
        row.kind,
        MARKS.get(row.mark, "") + row.text,
    )


def format_transcript(rows: Iterable[Row]) -> str:
    """The text transcript: a header line, then one line per row."""
    return "".join(line + "\n" for line in [format_header(), *map(format_row, rows)])


# --------------------------------------------------------------------------- live


class TranscriptWriter:
    """A trace sink (like `w800at.trace.Tracer`) that writes transcript rows as the
    bytes arrive: ``wrap_channel(channel, TranscriptWriter(path))``.

    Appends to ``path`` (line-buffered; each run starts with a ``#`` line and the column
    header).  A row is written once it is settled: when nothing that started earlier is
    still pending, or at most `LIVE_HOLD` seconds later (then a row that started earlier
    comes after it, with a negative delta).  A passthrough data row ends when another
    stream speaks or after `GUARD` of silence, so the last one is written with the next
    chunk or at `close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        stream: IO[str] | None = None,
        guard: float = GUARD,
        hold: float = LIVE_HOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._t0 = clock()
        self._hold = hold
        self._tx: Transcriber | None = Transcriber(guard=guard)
        self._owns = stream is None
        if stream is None:
            stream = open(path, "a", encoding="ascii", buffering=1)  # noqa: SIM115
        self._file: IO[str] = stream
        wall = datetime.datetime.now().isoformat(timespec="milliseconds")
        self._file.write(f"# w800at transcript, started {wall}\n{format_header()}\n")
        self.note("trace start")

    def _now(self) -> float:
        return self._clock() - self._t0

    def record(self, direction: str, data: bytes) -> None:
        if self._tx is not None:
            self._step(self._tx.record, direction, data)

    def note(self, text: str) -> None:
        if self._tx is not None:
            self._step(self._tx.note, text)

    def _step(self, method: Callable[..., None], *args: object) -> None:
        """Feed the transcriber; a bug in it stops the transcript, never the module."""
        assert self._tx is not None
        try:
            method(self._now(), *args)
            self._write(self._tx.take_rows(hold=self._hold))
        except Exception as exc:
            self._broken(exc)

    def _broken(self, exc: Exception) -> None:
        log.exception("transcript %s stopped: internal error", self.path, exc_info=exc)
        self._tx = None
        with contextlib.suppress(OSError, ValueError):
            self._file.write(f"# transcript stopped here: internal error {exc!r}\n")

    def _write(self, rows: list[Row]) -> None:
        if rows and not self._file.closed:
            self._file.write("".join(format_row(r) + "\n" for r in rows))

    def close(self) -> None:
        if self._file.closed:
            return
        tx, self._tx = self._tx, None  # what comes after close is not written
        if tx is not None:
            try:
                self._write(tx.finish())
            except Exception as exc:
                self._broken(exc)
        if self._owns:
            self._file.close()
        else:
            self._file.flush()

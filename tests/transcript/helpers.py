"""Hand-written traces for the transcript tests: events in, trace file bytes out."""

from __future__ import annotations

import datetime
import hashlib
import random

from w800at.trace import escape_bytes
from w800at.transcript import Row, parse_trace, transcribe

#: (seconds since the trace started, direction, bytes for >> << L<id>> L<id><, or a note)
Event = tuple[float, str, bytes | str]

WALL0 = datetime.datetime(2026, 12, 1, 10, 0, 0)


def trace_line(t: float, direction: str, what: bytes | str) -> str:
    wall = (WALL0 + datetime.timedelta(seconds=t)).isoformat(timespec="milliseconds")
    text = escape_bytes(what) if isinstance(what, bytes) else what
    return f"{wall} +{t:.6f} {direction} {text}"


def trace_bytes(events: list[Event]) -> bytes:
    """A trace file, exactly as `w800at.trace.Tracer` writes one."""
    return "".join(trace_line(*e) + "\n" for e in events).encode("ascii")


def rows_of(events: list[Event]) -> list[Row]:
    return transcribe(parse_trace(trace_bytes(events)))


def _port(direction: str, what: bytes | str) -> bool:
    """A chunk of the AT port (link chunks are rows of their own: never cut)."""
    return direction in (">>", "<<") and isinstance(what, bytes) and len(what) > 1


def bytewise(events: list[Event]) -> list[Event]:
    """Every AT-port chunk cut into one-byte chunks at the same time."""
    out: list[Event] = []
    for t, d, what in events:
        if _port(d, what):
            assert isinstance(what, bytes)
            out.extend((t, d, what[i : i + 1]) for i in range(len(what)))
        else:
            out.append((t, d, what))
    return out


def random_cuts(events: list[Event], seed: int) -> list[Event]:
    """Every AT-port chunk cut at random places (same times, same order)."""
    rng = random.Random(seed)
    out: list[Event] = []
    for t, d, what in events:
        if _port(d, what):
            assert isinstance(what, bytes)
            cuts = sorted(rng.sample(range(1, len(what)), min(len(what) - 1, rng.randint(1, 5))))
            for a, b in zip([0, *cuts], [*cuts, len(what)], strict=True):
                out.append((t, d, what[a:b]))
        else:
            out.append((t, d, what))
    return out


def summary(data: bytes) -> str:
    """How a payload row describes ``data`` (length, first 16 bytes, sha256 prefix)."""
    more = "..." if len(data) > 16 else ""
    unit = "byte" if len(data) == 1 else "bytes"
    sha = hashlib.sha256(data).hexdigest()[:12]
    return f'{len(data)} {unit} "{escape_bytes(data[:16])}"{more} sha256:{sha}'


def cells(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    """(time, lane, kind, text) per row."""
    return [(f"{r.t:.6f}", r.lane, r.kind, r.text) for r in rows]

"""The link faults' records and toxics: pure, the time a parameter (no I/O).

A `LinkFault` is one installed fault (what `w800at.runtime.link_faults` binds to
links); a `Toxic` is its effect on one direction of one link: timed chunks in, timed
chunks out, and possibly the end of the link.  A `Chain` runs a direction's toxics in
order.  Tests drive them with a manual clock; `LinkFaults` runs them on the loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: the types that act at connect time, not on the byte stream
CONNECT_TYPES = frozenset({"refuse", "tls_fail"})
#: the types that end the link (no meaning for UDP links)
ENDING_TYPES = frozenset({"timeout", "reset_peer", "close", "limit_data"})
STREAM_TYPES = frozenset({"latency", "bandwidth", "slicer"}) | ENDING_TYPES
TYPES = STREAM_TYPES | CONNECT_TYPES
STREAMS = ("upstream", "downstream")

RESET, CLOSE = "reset", "close"

#: (time, bytes, meta): meta is the datagram's address (UDP) or None
Item = tuple[float, bytes, Any]
End = tuple[float, str]


@dataclass(eq=False)
class LinkFault:
    """One installed fault (validated by the control layer's schema before this)."""

    id: int
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    #: exactly one target: a link ID, a remote (host, port), or the next link
    link: int | None = None
    remote: tuple[str, int] | None = None
    next: bool = False
    #: remote targets: links (connects) it applies to before it is removed; None: all
    count: int | None = None
    # parameters (Toxiproxy's units)
    latency: float = 0.0  # ms
    jitter: float = 0.0  # ms
    rate: float = 0.0  # KB/s
    average_size: int = 0  # bytes
    size_variation: int = 0  # bytes
    delay: float = 0.0  # µs
    timeout: float = 0.0  # ms
    after: int | None = None  # bytes (reset_peer)
    bytes: int = 0  # limit_data
    #: loop time at which it is removed by itself (None: never)
    expires: float | None = None
    # what happened so far
    links: int = 0  # links (or connects) it applied to
    skipped: int = 0  # links toxicity spared
    bytes_seen: int = 0  # bytes that went through it
    fired: int = 0  # times it ended a link or refused a connect
    #: the links it is on now (link ID -> the runtime's link object)
    bound: dict[int, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        if self.link is not None:
            return f"link {self.link}"
        if self.remote is not None:
            return f"remote {self.remote[0]}:{self.remote[1]}"
        return "next link"

    def describe(self) -> str:
        """``reset_peer after 1000 bytes (upstream)``: the type and what it does."""
        t = self.type
        if t == "latency":
            what = f"{self.latency:g} ms" + (f" +-{self.jitter:g} ms" if self.jitter else "")
        elif t == "bandwidth":
            what = f"{self.rate:g} KB/s"
        elif t == "slicer":
            what = f"{self.average_size}+-{self.size_variation} bytes every {self.delay:g} us"
        elif t == "timeout":
            what = "data stops" + (f", closes after {self.timeout:g} ms" if self.timeout else "")
        elif t == "reset_peer":
            what = (
                f"RST after {self.after} bytes"
                if self.after is not None
                else f"RST after {self.timeout:g} ms"
                if self.timeout
                else "RST now"
            )
        elif t == "close":
            what = f"FIN after {self.timeout:g} ms" if self.timeout else "FIN now"
        elif t == "limit_data":
            what = f"FIN after {self.bytes} bytes"
        elif t == "refuse":
            what = "connect refused"
        else:
            what = "TLS handshake fails"
        stream = f" ({self.stream})" if t in STREAM_TYPES else ""
        return f"{t} {what}{stream}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "area": "link",
            "type": self.type,
            "target": self.target,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "description": self.describe(),
            "links": self.links,
            "skipped": self.skipped,
            "bytes": self.bytes_seen,
            "fired": self.fired,
            "on_links": sorted(self.bound),
        }
        if self.count is not None:
            out["count"] = self.count
        return out


# --------------------------------------------------------------------------- toxics


class Toxic:
    """One fault's effect on one direction of one link: pure, the time a parameter.

    `apply` takes the chunks that reach it (in time order) and returns the chunks it
    lets through, with the times they leave, and possibly the end of the link."""

    def __init__(self, fault: LinkFault, rng: random.Random, datagrams: bool) -> None:
        self.fault = fault
        self.rng = rng
        self.datagrams = datagrams

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        return items, None


class _Latency(Toxic):
    def __init__(self, fault: LinkFault, rng: random.Random, datagrams: bool) -> None:
        super().__init__(fault, rng, datagrams)
        self.last = 0.0

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        f, out = self.fault, []
        for t, data, meta in items:
            ms = f.latency + (self.rng.uniform(-f.jitter, f.jitter) if f.jitter else 0.0)
            at = max(t + max(ms, 0.0) / 1000.0, self.last)  # order is kept
            self.last = at
            f.bytes_seen += len(data)
            out.append((at, data, meta))
        return out, None


#: a bandwidth toxic sends this much line time at once (seconds)
BANDWIDTH_SLICE = 0.01


class _Bandwidth(Toxic):
    def __init__(self, fault: LinkFault, rng: random.Random, datagrams: bool) -> None:
        super().__init__(fault, rng, datagrams)
        self.busy = 0.0

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        f, out = self.fault, []
        rate = f.rate * 1000.0  # bytes per second
        step = len if self.datagrams else (lambda d: max(1, int(rate * BANDWIDTH_SLICE)))
        for t, data, meta in items:
            at = max(t, self.busy)
            n = step(data)
            for i in range(0, len(data), n):
                piece = data[i : i + n]
                at += len(piece) / rate
                out.append((at, piece, meta))
            self.busy = at
            f.bytes_seen += len(data)
        return out, None


class _Slicer(Toxic):
    def __init__(self, fault: LinkFault, rng: random.Random, datagrams: bool) -> None:
        super().__init__(fault, rng, datagrams)
        self.last = 0.0

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        f, out = self.fault, []
        gap = f.delay / 1e6
        for t, data, meta in items:
            at = max(t, self.last)
            f.bytes_seen += len(data)
            if self.datagrams:  # a datagram is never cut
                at += gap
                out.append((at, data, meta))
            else:
                pos = 0
                while pos < len(data):
                    var = f.size_variation
                    size = f.average_size + (self.rng.randint(-var, var) if var else 0)
                    size = max(1, size)
                    at += gap
                    out.append((at, data[pos : pos + size], meta))
                    pos += size
            self.last = at
        return out, None


class _Drop(Toxic):
    """``timeout``: nothing passes (its close, if any, is a timer)."""

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        for _, data, _ in items:
            self.fault.bytes_seen += len(data)
        return [], None


class _EndAfter(Toxic):
    """``reset_peer`` with ``after`` bytes, ``limit_data``: the first bytes pass, then
    the link ends (RST or FIN) right after the last of them."""

    def __init__(self, fault: LinkFault, rng: random.Random, datagrams: bool, how: str) -> None:
        super().__init__(fault, rng, datagrams)
        self.how = how
        self.limit = fault.after if fault.type == "reset_peer" else fault.bytes
        self.seen = 0

    def apply(self, items: list[Item]) -> tuple[list[Item], End | None]:
        out: list[Item] = []
        for t, data, meta in items:
            room = (self.limit or 0) - self.seen
            if len(data) < room:
                self.seen += len(data)
                self.fault.bytes_seen += len(data)
                out.append((t, data, meta))
                continue
            if room > 0:
                out.append((t, data[:room], meta))
            self.seen += max(room, 0)
            self.fault.bytes_seen += max(room, 0)
            return out, (t, self.how)
        return out, None


def make_toxic(fault: LinkFault, rng: random.Random, datagrams: bool) -> Toxic:
    t = fault.type
    if t == "latency":
        return _Latency(fault, rng, datagrams)
    if t == "bandwidth":
        return _Bandwidth(fault, rng, datagrams)
    if t == "slicer":
        return _Slicer(fault, rng, datagrams)
    if t == "timeout":
        return _Drop(fault, rng, datagrams)
    if t == "reset_peer" and fault.after:
        return _EndAfter(fault, rng, datagrams, RESET)
    if t == "limit_data" and fault.bytes:
        return _EndAfter(fault, rng, datagrams, CLOSE)
    return Toxic(fault, rng, datagrams)  # time-based ends: the timer does the work


def end_timer(fault: LinkFault) -> tuple[float, str] | None:
    """(seconds after the fault meets a link, how) for the faults that end a link by
    time; None for the others."""
    t = fault.type
    if t == "reset_peer" and not fault.after:
        return fault.timeout / 1000.0, RESET
    if t == "close":
        return fault.timeout / 1000.0, CLOSE
    if t == "timeout" and fault.timeout:
        return fault.timeout / 1000.0, CLOSE
    if t == "limit_data" and not fault.bytes:
        return 0.0, CLOSE
    return None


class Chain:
    """One direction of one link: its toxics in order, pure.  `feed` returns what
    leaves and when, and the end of the link if a toxic ended it."""

    def __init__(self) -> None:
        self.toxics: list[Toxic] = []

    def feed(self, at: float, data: bytes, meta: Any) -> tuple[list[Item], End | None]:
        items: list[Item] = [(at, data, meta)]
        end: End | None = None
        for toxic in self.toxics:
            items, ended = toxic.apply(items)
            if ended is not None and end is None:
                end = ended
            if end is not None and items:  # what passed before the end still travels
                end = (max(end[0], items[-1][0]), end[1])
        return items, end

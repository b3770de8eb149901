"""The event stream: what happened on the module, as it happens (QMP's events).

Every event has a sequence number (``seq``), a time (``t``: seconds since the module
started), a ``kind`` and a ``text``, and some fields of its own:

==============  =========================================================================
``command``     the host sent a command line (``text``: the line, escaped as in traces)
``data``        the host sent payload or passthrough data (``n`` bytes)
``result``      a final result: ``OK``, ``ERROR``, ``SEND OK``, ``SEND FAIL``, ``FAIL``,
                ``busy p...``
``urc``         a line nobody asked for: ``ready``, ``WIFI ...``, ``0,CONNECT``,
                ``0,CLOSED``, ``+IPD,0,5`` (``n``: the data bytes of a frame) ...
``info``        an information line of an answer (``+CIPSTATE:...``); ``echo``,
                ``prompt`` (``>``) likewise
``link_open``   a link opened (``link``, ``type``, ``remote``)
``link_close``  a link closed (``link``, ``reason``)
``bytes``       a link carried a chunk (``link``, ``stream``: up or down, ``n``, ``total``)
``fault``       a fault or world event took effect (``area``: wifi, dns, sntp, station,
                link, uart, power)
``rule``        a scenario rule fired (``rule``: its name)
``overflow``    a subscriber fell behind and lost ``lost`` events
==============  =========================================================================

`EventBus` keeps the recent events (`HISTORY`) for `EventBus.wait_for`, which works
like pytest-embedded's ``dut.expect``: it looks at the events after a cursor (the last
event it matched, moved to "now" by every control operation), so an event that came
before the call is still found, and an old one is not found twice.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

#: events kept for `EventBus.wait_for` and ``since``
HISTORY = 4096
#: events a slow subscriber may fall behind before it loses some
QUEUE = 10000

KINDS = (
    "command",
    "data",
    "result",
    "urc",
    "info",
    "echo",
    "prompt",
    "link_open",
    "link_close",
    "bytes",
    "fault",
    "rule",
    "overflow",
)

Event = dict[str, Any]
Pattern = str | re.Pattern[str] | Mapping[str, Any] | Callable[[Event], bool] | None


def matcher(pattern: Pattern) -> Callable[[Event], bool]:
    """A regex (searched in the text), a dict of fields that must be equal, or a
    predicate."""
    if pattern is None:
        return lambda ev: True
    if isinstance(pattern, str | re.Pattern):
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        return lambda ev: rx.search(str(ev.get("text", ""))) is not None
    if isinstance(pattern, Mapping):
        want = dict(pattern)
        return lambda ev: all(ev.get(k) == v for k, v in want.items())
    return pattern


class _Subscriber:
    def __init__(self, kinds: frozenset[str] | None) -> None:
        self.kinds = kinds
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.lost = 0


class EventBus:
    """One module's events: publish, history, subscribers, `wait_for`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._t0 = clock()
        self.seq = 0
        self.history: deque[Event] = deque(maxlen=HISTORY)
        self.cursor = 0
        self._subs: set[_Subscriber] = set()
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []

    def publish(self, kind: str, text: str = "", **fields: Any) -> Event:
        self.seq += 1
        ev: Event = {"seq": self.seq, "t": round(self._clock() - self._t0, 6), "kind": kind}
        ev["text"] = text
        ev.update(fields)
        self.history.append(ev)
        for sub in list(self._subs):
            if sub.kinds is None or kind in sub.kinds:
                if sub.queue.qsize() >= QUEUE:
                    sub.lost += 1
                else:
                    if sub.lost:
                        sub.queue.put_nowait(
                            {"seq": self.seq, "kind": "overflow", "lost": sub.lost}
                        )
                        sub.lost = 0
                    sub.queue.put_nowait(ev)
        if self._waiters:
            still = []
            for pred, fut in self._waiters:
                if fut.done():
                    continue
                if pred(ev):
                    fut.set_result(ev)
                else:
                    still.append((pred, fut))
            self._waiters = still
        return ev

    def restart_clock(self) -> None:
        """``t`` counts from now (the module starts)."""
        self._t0 = self._clock()

    def mark(self) -> int:
        """Move the cursor to now: `wait_for` looks only at later events."""
        self.cursor = self.seq
        return self.seq

    def since(self, seq: int) -> list[Event]:
        return [ev for ev in self.history if ev["seq"] > seq]

    async def wait_for(
        self,
        kind: str | None,
        pattern: Pattern = None,
        timeout: float | None = 5.0,
        since: int | None = None,
    ) -> Event:
        """The first event of ``kind`` (None: any) matching ``pattern`` after the
        cursor (or after ``since``); moves the cursor to it.  TimeoutError if none
        comes within ``timeout`` seconds."""
        match = matcher(pattern)

        def pred(ev: Event) -> bool:
            return (kind is None or ev["kind"] == kind) and match(ev)

        start = self.cursor if since is None else since
        for ev in self.history:
            if ev["seq"] > start and pred(ev):
                self.cursor = ev["seq"]
                return ev
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            ev = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            what = f"{kind or 'any'} event" + (f" matching {pattern!r}" if pattern else "")
            raise TimeoutError(f"no {what} within {timeout:g} s") from None
        finally:
            self._waiters = [(p, f) for p, f in self._waiters if f is not fut]
        self.cursor = ev["seq"]
        return ev

    async def subscribe(
        self, kinds: frozenset[str] | None = None, since: int | None = None
    ) -> AsyncIterator[Event]:
        """Every event from now on (and those after ``since`` still kept), in order."""
        sub = _Subscriber(kinds)
        self._subs.add(sub)
        try:
            if since is not None:
                for ev in self.since(since):
                    if kinds is None or ev["kind"] in kinds:
                        yield ev
            while True:
                yield await sub.queue.get()
        finally:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

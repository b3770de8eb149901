"""The host port's faults and the event stream's view of it: `ControlChannel`.

Wraps the module's channel like `w800at.trace.TracingChannel` (outermost: the runtime
writes to it first and hears from it last), only for a module built with the test
bench on (``Module(control=True)``; ``serve`` and ``fleet`` without ``--control`` or
``--scenario`` never wrap).  While no fault is active a chunk costs one attribute check
each way, plus the event stream's reading of it (`PortWatch`).

The trace, inside this wrapper, records the wire: what the host really sent and what
it really received (corrupted, late, or not at all).  Faults (streams: ``upstream`` is
host -> module, ``downstream`` module -> host):

- ``corrupt`` / ``drop`` / ``duplicate``: each byte, with chance ``rate``, gets one bit
  flipped / is lost / comes twice (the module's seeded random generator decides);
- ``delay``: every byte the module writes reaches the host ``seconds`` later (order
  kept; several delays add up);
- ``hang``: for ``seconds`` the module neither answers nor reads: the host's bytes wait
  in the UART's receive buffer (`Profile.uart_rx_buffer` bytes; beyond it they are
  lost, as on the module), its own output waits; then both go on where they were;
- ``dead``: nothing in, nothing out, until a power reset or cycle;
- injected bytes (`inject`): on the line at once, to the host or to the module.

Time comes from a scheduler (the event loop; tests give a manual clock).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..channels.base import Channel, ChannelEvents, ChannelWrapper, EventsWrapper
from .watch import PortWatch

Report = Callable[[str, dict[str, Any]], None]


class Scheduler(Protocol):
    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Any: ...


@dataclass(eq=False)
class UartFault:
    """One installed host-port fault."""

    id: int
    type: str
    stream: str = "downstream"
    rate: float = 0.0
    seconds: float = 0.0
    expires: float | None = None
    hits: int = 0  # bytes it changed (or held, or dropped)
    _timer: Any = field(default=None, repr=False)

    def describe(self) -> str:
        if self.type in ("corrupt", "drop", "duplicate"):
            return f"{self.type} rate {self.rate:g} ({self.stream})"
        if self.type in ("delay", "hang"):
            return f"{self.type} {self.seconds:g} s"
        return self.type

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": "uart",
            "type": self.type,
            "stream": self.stream,
            "description": self.describe(),
            "bytes": self.hits,
        }


def _touches(fault: UartFault, stream: str) -> bool:
    return fault.stream in (stream, "both")


class _Events(EventsWrapper):
    """The inner channel's events, seen by the wrapper before the runtime."""

    def __init__(self, owner: ControlChannel, inner: ChannelEvents) -> None:
        super().__init__(inner)
        self._owner = owner

    def attached(self) -> None:
        self.inner.attached()
        if self._owner.on_attached is not None:
            self._owner.on_attached()

    def data(self, data: bytes) -> None:
        owner = self._owner
        if owner.watch is not None:
            owner.watch.host(data)
        if owner.faulty_in:
            owner._in(data)
        else:
            self.inner.data(data)

    def reset(self) -> None:
        self._owner.power_lost()
        self.inner.reset()


class ControlChannel(ChannelWrapper):
    """Wraps a channel: the host port's faults, and the event stream's reading of it."""

    def __init__(
        self,
        inner: Channel,
        *,
        rx_buffer: int,
        rng: random.Random,
        report: Report,
        watch: PortWatch | None = None,
        scheduler: Scheduler | None = None,
        on_attached: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(inner)
        self.on_attached = on_attached
        self.rx_buffer = rx_buffer
        self.rng = rng
        self.report = report
        self.watch = watch
        self.events: _Events | None = None
        self._sched = scheduler
        self.faults: dict[int, UartFault] = {}
        #: something to do on the way in / out (else: one attribute check per chunk)
        self.faulty_in = False
        self.faulty_out = False
        self.dead = False
        self.hang_until: float | None = None
        self._hang_timer: Any = None
        self.delay = 0.0
        #: output waiting for its time: (due, bytes)
        self._out_q: deque[tuple[float, bytes]] = deque()
        self._out_n = 0
        self._out_timer: Any = None
        self._out_last = 0.0
        #: input held while hung (the UART's receive buffer)
        self._in_held = bytearray()
        self.lost_in = 0
        self.dropped_out = 0

    # --- Channel

    @property
    def sched(self) -> Scheduler:
        if self._sched is None:
            self._sched = asyncio.get_running_loop()
        return self._sched

    async def start(self, events: ChannelEvents) -> None:
        self.events = _Events(self, events)
        await self.inner.start(self.events)

    def write(self, data: bytes) -> None:
        if self.faulty_out:
            self._out(data)
            return
        if self.watch is not None:
            self.watch.module(data)
        self.inner.write(data)

    def pending(self) -> int:
        return self.inner.pending() + self._out_n

    async def close(self) -> None:
        for t in (self._out_timer, self._hang_timer):
            if t is not None:
                t.cancel()
        for f in self.faults.values():
            if f._timer is not None:
                f._timer.cancel()
        await self.inner.close()

    # --- faults on and off

    def add(self, fault: UartFault) -> None:
        """Install a fault (``hang`` starts now; ``dead`` until power comes back)."""
        now = self.sched.time()
        if fault.type == "hang":
            self.hang_until = max(self.hang_until or now, now + fault.seconds)
            fault.expires = self.hang_until
            if self._hang_timer is not None:
                self._hang_timer.cancel()
            self._hang_timer = self.sched.call_at(self.hang_until, self._hang_over)
        if fault.type == "dead":
            self.dead = True
        self.faults[fault.id] = fault
        if fault.expires is not None and fault.type != "hang":
            fault._timer = self.sched.call_at(fault.expires, self.remove, fault.id)
        self._recompute()

    def remove(self, fault_id: int) -> UartFault | None:
        fault = self.faults.pop(fault_id, None)
        if fault is None:
            return None
        if fault._timer is not None:
            fault._timer.cancel()
        if fault.type == "hang" and not any(f.type == "hang" for f in self.faults.values()):
            self._hang_over()
        if fault.type == "dead" and not any(f.type == "dead" for f in self.faults.values()):
            self.dead = False
        self._recompute()
        return fault

    def clear(self) -> list[UartFault]:
        return [f for f in (self.remove(i) for i in list(self.faults)) if f is not None]

    def power_lost(self) -> None:
        """The module lost power (reset, power cycle): a hang or a dead port ends, and
        what waited in its UART buffers is gone."""
        for f in [f for f in self.faults.values() if f.type in ("hang", "dead")]:
            self.faults.pop(f.id, None)
        self.dead = False
        self.hang_until = None
        if self._hang_timer is not None:
            self._hang_timer.cancel()
            self._hang_timer = None
        self._in_held.clear()
        self._out_q.clear()
        self._out_n = 0
        if self._out_timer is not None:
            self._out_timer.cancel()
            self._out_timer = None
        if self.watch is not None:
            self.watch.reset()
        self._recompute()

    def _recompute(self) -> None:
        self.delay = sum(f.seconds for f in self.faults.values() if f.type == "delay")
        rates_in = any(_touches(f, "upstream") for f in self._rates())
        rates_out = any(_touches(f, "downstream") for f in self._rates())
        hung = self.hang_until is not None
        self.faulty_in = self.dead or hung or rates_in
        self.faulty_out = self.dead or hung or rates_out or self.delay > 0 or bool(self._out_q)

    def _rates(self) -> list[UartFault]:
        return [f for f in self.faults.values() if f.type in ("corrupt", "drop", "duplicate")]

    # --- bytes in (host -> module)

    def _in(self, data: bytes) -> None:
        if self.dead:
            self._lose("dead", len(data), "upstream")
            return
        if self.hang_until is not None:
            room = self.rx_buffer - len(self._in_held)
            take = data[: max(room, 0)]
            self._in_held += take
            if len(take) < len(data):
                n = len(data) - len(take)
                self.lost_in += n
                self._note(
                    f"fault uart hang: receive buffer full, {n} host bytes lost",
                    {"area": "uart", "type": "hang", "lost": n},
                )
            return
        data = self._mangle(data, "upstream")
        if data and self.events is not None:
            self.events.inner.data(data)

    def inject_up(self, data: bytes) -> None:
        """Bytes for the module as if the host sent them (faults apply)."""
        if self.events is None:
            return
        if self.faulty_in:
            self._in(data)
        else:
            self.events.inner.data(data)

    # --- bytes out (module -> host)

    def _out(self, data: bytes) -> None:
        if self.dead:
            self._lose("dead", len(data), "downstream")
            return
        data = self._mangle(data, "downstream")
        if not data:
            return
        now = self.sched.time()
        due = max(now + self.delay, self._out_last)
        if self.hang_until is not None:
            due = max(due, self.hang_until)
        if due <= now and not self._out_q:
            self._emit(data)
            return
        self._out_last = due
        self._out_q.append((due, data))
        self._out_n += len(data)
        self._arm_out()

    def inject_down(self, data: bytes) -> None:
        """Bytes for the host, on the line now (no other fault touches them)."""
        self._emit(data)

    def _emit(self, data: bytes) -> None:
        if self.watch is not None:
            self.watch.module(data)
        self.inner.write(data)

    def _arm_out(self) -> None:
        if self._out_timer is not None:
            self._out_timer.cancel()
            self._out_timer = None
        if self._out_q:
            self._out_timer = self.sched.call_at(self._out_q[0][0], self._release_out)

    def _release_out(self) -> None:
        self._out_timer = None
        now = self.sched.time()
        out = []
        while self._out_q and self._out_q[0][0] <= now:
            _, data = self._out_q.popleft()
            self._out_n -= len(data)
            out.append(data)
        if out:
            self._emit(b"".join(out))
        self._arm_out()
        if not self._out_q:
            self._recompute()

    # --- hang

    def _hang_over(self) -> None:
        if self._hang_timer is not None:
            self._hang_timer.cancel()
            self._hang_timer = None
        if self.hang_until is None:
            return
        self.hang_until = None
        for f in [f for f in self.faults.values() if f.type == "hang"]:
            self.faults.pop(f.id, None)
        self._recompute()
        self._release_out()  # what the module said while hung, first
        held, self._in_held = bytes(self._in_held), bytearray()
        self._note(
            f"fault uart hang over: {len(held)} held host bytes go in",
            {"area": "uart", "type": "hang", "held": len(held)},
        )
        if held:
            self._in(held)

    # --- per-byte faults

    def _mangle(self, data: bytes, stream: str) -> bytes:
        for fault in self._rates():
            if not data:
                break
            if _touches(fault, stream):
                data = self._apply_rate(fault, data, stream)
        return data

    def _apply_rate(self, fault: UartFault, data: bytes, stream: str) -> bytes:
        rng, rate, n = self.rng, fault.rate, len(data)
        out = bytearray()
        pos = hits = 0
        i = _skip(rng, rate)
        while i < n:
            out += data[pos:i]
            b = data[i]
            if fault.type == "corrupt":
                out.append(b ^ (1 << rng.randrange(8)))
            elif fault.type == "duplicate":
                out += bytes((b, b))
            hits += 1
            pos = i + 1
            i = pos + _skip(rng, rate)
        if not hits:
            return data
        out += data[pos:]
        fault.hits += hits
        self._note(
            f"fault uart {fault.type}: {hits} of {n} bytes ({stream}, fault {fault.id})",
            {"area": "uart", "type": fault.type, "stream": stream, "bytes": hits, "of": n},
        )
        return bytes(out)

    def _lose(self, why: str, n: int, stream: str) -> None:
        if stream == "upstream":
            self.lost_in += n
        else:
            self.dropped_out += n
        for f in self.faults.values():
            if f.type == why:
                f.hits += n

    def _note(self, text: str, fields: dict[str, Any]) -> None:
        self.report(text, fields)


def _skip(rng: random.Random, rate: float) -> int:
    """Bytes untouched before the next one a per-byte fault hits (geometric)."""
    if rate >= 1.0:
        return 0
    u = rng.random()
    return int(math.log(1.0 - u) / math.log(1.0 - rate))

"""DATA-mode sinks: Wi-Fi passthrough (AT+CIPMODE=1 + AT+CIPSEND) and AT+CIPSENDL
(the engine's `DataSink`s, used by ``commands/send.py``).

Both watch for ``+++`` with guard times (`Escape`).  Speed: payload bytes are never
looked at one by one.  Only a chunk of at most 3 bytes that arrives after a guard
silence (or continues a held ``+`` run) is compared with ``+``; every other chunk is
data as it stands.  Timing comes from the engine's ``now`` (host bytes) and its timers.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core import render
from ..core.actions import Sleep
from ..core.engine import Engine
from ..core.links import SYSMSG_PT_CONNECT, SYSMSG_QUITT, Link, LinkState
from ..core.net_actions import Connected, Send
from ..core.registry import Final, Task
from ..core.settings import RECONNINTV, SYSMSG
from .services import name_service

PLUS = 0x2B


class Escape:
    """``+++`` detection: silence >= guard before the first ``+``, at most guard between
    them, and silence >= guard after the third.  Otherwise the ``+`` are data."""

    def __init__(
        self,
        m: Engine,
        key: object,
        on_data: Callable[[bytes], None],
        on_escape: Callable[[], None],
    ) -> None:
        self.m = m
        self.key = key
        self.guard = m.profile.escape_guard
        self.on_data = on_data
        self.on_escape = on_escape
        self.last = m.now  # the prompt counts as the start of the silence
        self.held = 0  # '+' held back, waiting to see if they are an escape

    def feed(self, data: bytes, now: float) -> None:
        n = len(data)
        if self.held:
            if n <= 3 - self.held and now - self.last <= self.guard and data.count(PLUS) == n:
                self.held += n
                self.last = now
                self._arm()
                return
            self._release()
        elif n <= 3 and now - self.last >= self.guard and data.count(PLUS) == n:
            self.held = n
            self.last = now
            self._arm()
            return
        self.last = now
        self.on_data(data)

    def _arm(self) -> None:
        self.m.set_timer(self.key, self.last + self.guard, self._fire)

    def _release(self) -> None:
        held, self.held = self.held, 0
        self.m.cancel_timer(self.key)
        self.on_data(b"+" * held)

    def _fire(self) -> None:
        if self.held == 3:
            self.held = 0
            self.on_escape()
        elif self.held:
            self._release()

    def cancel(self) -> None:
        self.m.cancel_timer(self.key)
        self.held = 0


class PassthroughSink:
    """Host bytes go to link 0 in packets; link bytes come back raw (LinkTable.on_data).

    Packets: whenever ``passthrough_packet`` bytes are buffered they leave at once (TCP
    and SSL: all whole packets in one `Send`, the stream does not keep boundaries; UDP:
    one datagram per packet); the rest leaves after ``passthrough_interval`` of silence.
    Host bytes that arrive while the link is down (reconnecting) are dropped.
    """

    PACKET_KEY = ("passthrough", "packet")

    def __init__(self, m: Engine) -> None:
        self.m = m
        self.table = m.links
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0
        self.escape = Escape(m, ("passthrough", "+++"), self._data, self._exit)
        self.reconnecting = False

    def start(self) -> None:
        self.table.passthrough = self
        self.m.enter_data_mode(self)

    def feed(self, data: bytes, now: float) -> None:
        self.escape.feed(data, now)

    def _data(self, data: bytes) -> None:
        link = self.table.get(0)
        if link is None or link.state is not LinkState.OPEN:
            self.dropped += len(data)
            return
        self.parts.append(data)
        self.size += len(data)
        packet = self.m.profile.passthrough_packet
        if self.size >= packet:
            self._send(link, self.size - self.size % packet)
        if self.size:
            self.m.set_timer(
                self.PACKET_KEY, self.m.now + self.m.profile.passthrough_interval, self._flush
            )
        else:
            self.m.cancel_timer(self.PACKET_KEY)

    def _send(self, link: Link, count: int) -> None:
        data = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        rest = data[count:]
        self.parts = [rest] if rest else []
        self.size = len(rest)
        if link.udp:
            packet = self.m.profile.passthrough_packet
            for i in range(0, count, packet):
                self.m.act(Send(0, data[i : min(i + packet, count)]))
        else:
            self.m.act(Send(0, data[:count] if rest else data))
        self.table.touch(link)

    def _flush(self) -> None:
        link = self.table.get(0)
        if self.size and link is not None and link.state is LinkState.OPEN:
            self._send(link, self.size)
        self.parts, self.size = [], 0

    def _exit(self) -> None:
        """``+++``: send what is buffered, back to command mode; the link stays open."""
        self.m.cancel_timer(self.PACKET_KEY)
        self._flush()
        self.table.passthrough = None
        self.m.leave_data_mode()
        if self.m.settings.int(SYSMSG) & SYSMSG_QUITT:
            self.m.emit(render.QUITT)
        link = self.table.get(0)
        if link is not None and link.state is LinkState.CONNECTING and not self.reconnecting:
            # lost while in data mode and not mid-connect: the host learns it now
            self.table.release(link)
            self.m.emit(render.closed(self.table.wire_id(0)))

    # --- AT+CIPRECONNINTV: a lost link is re-established in the background

    def link_lost(self, link: Link) -> None:
        self.m.cancel_timer(self.PACKET_KEY)
        self.parts, self.size = [], 0
        self.m.spawn(self._reconnect(link), "passthrough reconnect")

    def _reconnect(self, link: Link) -> Task:
        table = self.table
        while table.passthrough is self and table.get(0) is link:
            yield Sleep(self.m.settings.int(RECONNINTV) * 0.1)
            if table.passthrough is not self or table.get(0) is not link:
                break
            if not self.m.station.has_ip:
                continue
            self.reconnecting = True
            res = yield table.connect_action(link, name_service(self.m))
            self.reconnecting = False
            if table.get(0) is not link:
                break
            if isinstance(res, Connected):
                in_data = table.passthrough is self
                announce = not in_data or bool(self.m.settings.int(SYSMSG) & SYSMSG_PT_CONNECT)
                table.opened(link, res, announce=announce)
                return None
            if table.passthrough is not self:  # the host left meanwhile
                table.release(link)
                self.m.emit(render.closed(table.wire_id(0)))
        return None


class SendLSink:
    """AT+CIPSENDL (ESP-AT): host bytes are sent while they arrive; ``+++`` cancels.

    AT+CIPSENDLCFG's ``<transmit size>``: once that many bytes are buffered they leave
    at once, in blocks of that size, one `Send` each; fewer wait for the dialect's
    passthrough interval (ESP-AT: 20 ms, AT+TRANSINTVL's default) or the end of the
    data.  Each result comes back to a small background task.  ``<report size>``: a
    ``+CIPSENDL:<had sent len>,<port recv len>`` line each time the bytes sent pass a
    multiple of it ("set <report size> to 100, <had sent len> report sequence ... will
    be (100, 200, 300, 400, ...)"), and a last one with the total once everything is
    sent ("The final <had sent len> report is always equal to the data length that had
    been sent out"); the final result follows it (or ``SEND CANCELLED`` after ``+++``,
    and what was not sent yet is dropped).
    """

    FLUSH_KEY = ("cipsendl", "flush")

    def __init__(
        self,
        m: Engine,
        link: Link,
        length: int,
        addr: tuple[str, int] | None,
        report_size: int,
        transmit_size: int,
    ) -> None:
        self.m = m
        self.link = link
        self.length = length
        self.addr = addr
        self.report_size = report_size
        self.transmit_size = transmit_size
        self.received = 0
        self.sent = 0
        #: <had sent len> of the last progress line
        self.reported = 0
        self.parts: list[bytes] = []
        self.size = 0
        self.failed = False
        self.in_flight = 0
        self.done = False
        self.cancelled = False
        self.escape = Escape(m, ("cipsendl", "+++"), self._data, self._cancel)

    def start(self) -> None:
        self.m.enter_data_mode(self)

    def feed(self, data: bytes, now: float) -> None:
        if self.done:
            return
        self.escape.feed(data, now)

    def _data(self, data: bytes) -> None:
        take = self.length - self.received
        if len(data) > take:
            data = data[:take]  # surplus after <length> is dropped (data mode ends)
        self.received += len(data)
        if data:
            self.parts.append(data)
            self.size += len(data)
            self._transmit(whole=False)
            if self.size:
                deadline = self.m.now + self.m.profile.passthrough_interval
                self.m.set_timer(self.FLUSH_KEY, deadline, self._flush)
            else:
                self.m.cancel_timer(self.FLUSH_KEY)
        if self.received >= self.length:
            self._leave()

    def _transmit(self, *, whole: bool) -> None:
        """Send the buffered bytes in <transmit size> blocks (``whole``: the rest too)."""
        step = self.transmit_size
        if not self.size or (not whole and self.size < step):
            return
        data = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        count = len(data) if whole else len(data) - len(data) % step
        rest = data[count:]
        self.parts = [rest] if rest else []
        self.size = len(rest)
        for i in range(0, count, step):
            self.in_flight += 1
            self.m.spawn(self._send(data[i : min(i + step, count)]), "cipsendl send")

    def _flush(self) -> None:
        if not self.cancelled:
            self._transmit(whole=True)

    def _send(self, data: bytes) -> Task:
        names = name_service(self.m) if self.addr is not None else None
        res = yield Send(self.link.id, data, self.addr, names)
        self.in_flight -= 1
        if isinstance(res, BaseException):
            self.failed = True
        else:
            self.sent += len(data)
            self.m.links.touch(self.link)
        if not self.cancelled and self.sent // self.report_size > self.reported // self.report_size:
            self._report()
        self._maybe_final()
        return None

    def _report(self) -> None:
        self.reported = self.sent
        self.m.emit(render.sendl_progress(self.sent, self.received))

    def _cancel(self) -> None:
        self.cancelled = True
        self.parts, self.size = [], 0  # not sent yet: never sent
        self._leave()

    def _leave(self) -> None:
        if self.done:
            return
        self.done = True
        self.escape.cancel()
        self.m.cancel_timer(self.FLUSH_KEY)
        self._flush()
        self.m.leave_data_mode()
        self._maybe_final()

    def _maybe_final(self) -> None:
        if not self.done or self.in_flight:
            return
        if self.cancelled:
            self.m.emit(render.SEND_CANCELLED)
        else:
            if self.sent != self.reported:
                self._report()
            self.m.emit(
                render.SEND_FAIL if self.failed or self.sent < self.length else render.SEND_OK
            )
        self.in_flight = -1  # the final result is printed once


def enter_passthrough(m: Engine) -> Final:
    """AT+CIPSEND (execute) in AT+CIPMODE=1: ``OK`` ``>`` then DATA mode."""
    m.emit(render.PROMPT)
    PassthroughSink(m).start()
    return Final.NONE

"""What the host and the module say on the AT port, as events.

The host port's bytes are read exactly as ``w800at trace show`` reads them (the
`w800at.transcript.Transcriber`: command lines, payloads after ``>``, ``+IPD`` frames,
passthrough, echo), so the event stream and the transcript never disagree about what
a line was.  The links' side comes from a `LinkTap` (`LinkWatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..trace import HOST_TO_MODULE, MODULE_TO_HOST
from ..transcript import Row, Transcriber

if TYPE_CHECKING:
    from ..runtime.net_links import LinkTap
    from .control import Control
    from .events import EventBus

#: transcript rows -> event kinds (lane, kind)
_KINDS = {
    ("host", "cmd"): "command",
    ("host", "data"): "data",
    ("host", "pass"): "data",
    ("host", "escape"): "command",
    ("module", "result"): "result",
    ("module", "busy"): "result",
    ("module", "urc"): "urc",
    ("module", "ipd"): "urc",
    ("module", "info"): "info",
    ("module", "recvdata"): "info",
    ("module", "echo"): "echo",
    ("module", "prompt"): "prompt",
    ("module", "pass"): "data",
}


class PortWatch:
    """Feeds the AT port's bytes to a transcriber and publishes its rows."""

    def __init__(self, bus: EventBus, clock: Callable[[], float], guard: float) -> None:
        self.bus = bus
        self._clock = clock
        self._t0 = clock()
        self.tx = Transcriber(guard=guard)
        #: called with each URC line (scenario rules)
        self.on_urc: Callable[[str], None] | None = None

    def host(self, data: bytes) -> None:
        self.tx.record(self._clock() - self._t0, HOST_TO_MODULE, data)
        self._publish()

    def module(self, data: bytes) -> None:
        self.tx.record(self._clock() - self._t0, MODULE_TO_HOST, data)
        self._publish()

    def reset(self) -> None:
        """The module rebooted: what was pending on the port ends here."""
        self.tx.note(self._clock() - self._t0, "reset")
        self._publish()

    def _publish(self) -> None:
        for row in self.tx.take_rows(hold=-1e-9):
            self._row(row)

    def _row(self, row: Row) -> None:
        kind = _KINDS.get((row.lane, row.kind))
        if kind is None:
            return
        text = row.text
        fields: dict[str, object] = {"source": row.lane}
        if row.payload is not None:
            fields["n"] = row.payload.length
            if row.kind in ("ipd", "recvdata"):
                text = text.split(" ", 1)[0].removesuffix(":")  # the header, not the data
            else:
                text = ""
        self.bus.publish(kind, text, **fields)
        if kind == "urc" and self.on_urc is not None:
            self.on_urc(text)


class LinkWatch:
    """The control's `LinkTap`: links opening, closing and carrying bytes, as events
    (and scenario triggers); another tap (the trace) is called first."""

    def __init__(self, control: Control, inner: LinkTap | None) -> None:
        self.control = control
        self.inner = inner
        self.totals: dict[tuple[int, str], int] = {}

    def up(self, link_id: int, data: bytes) -> None:
        if self.inner is not None:
            self.inner.up(link_id, data)
        self._bytes(link_id, "up", len(data))

    def down(self, link_id: int, data: bytes) -> None:
        if self.inner is not None:
            self.inner.down(link_id, data)
        self._bytes(link_id, "down", len(data))

    def _bytes(self, link_id: int, stream: str, n: int) -> None:
        key = (link_id, stream)
        total = self.totals.get(key, 0) + n
        self.totals[key] = total
        self.control.bus.publish("bytes", "", link=link_id, stream=stream, n=n, total=total)
        sc = self.control.scenario_runner
        if sc is not None:
            sc.link_bytes(link_id)

    def event(self, link_id: int, text: str) -> None:
        if self.inner is not None:
            self.inner.event(link_id, text)
        c = self.control
        if text.startswith("open"):
            _, kind, remote = [*text.split(" ", 2), "", ""][:3]
            self.totals[(link_id, "up")] = self.totals[(link_id, "down")] = 0
            c.bus.publish(
                "link_open", f"link {link_id} {text}", link=link_id, type=kind, remote=remote
            )
            if c.scenario_runner is not None:
                c.scenario_runner.link_event("open", link_id)
        else:
            reason = text.removeprefix("closed ").strip("()")
            c.bus.publish("link_close", f"link {link_id} {text}", link=link_id, reason=reason)
            if c.scenario_runner is not None:
                c.scenario_runner.link_event("close", link_id)

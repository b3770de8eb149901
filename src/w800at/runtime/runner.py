"""The asyncio side: runs one `Engine`, pumps bytes between it and a channel, performs
its actions, and re-arms its single timer (the aioquic pattern).

The runtime only pumps.  It hands the engine host bytes, action results and link
events, each with the current time, and performs the engine's actions by their type
with its parts: `NetFeature` (links), `ServerFeature` (AT+CIPSERVER), `ServiceFeature`
(DNS, ping, SNTP).  It imports nothing from ``commands/``: an action carries what it
needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..channels.base import Channel, apply_uart
from ..core.actions import Action, ResetNetwork, SaveSettings, SetUart
from ..core.engine import Engine, Mode
from ..core.net_actions import (
    Close,
    Connect,
    Listen,
    Send,
    SetReading,
    SetSockOpts,
    StopListening,
)
from ..core.service_actions import Ping, Resolve, SntpSync
from ..log import get_logger
from ..store import Store
from .net import NetFeature
from .net_links import LinkTap
from .server import ServerFeature
from .services import ServiceFeature

if TYPE_CHECKING:
    from .link_faults import FaultBook

log = get_logger("w800at.runtime")


class Saver:
    """Writes settings snapshots to the store off the event loop, in order.

    A save runs in a worker thread (the fsync of one module never holds up another
    module's bytes); while one runs, only the newest snapshot waits, since it
    supersedes the ones before it.  `flush` waits until the last one is on disk.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._running: asyncio.Task[None] | None = None
        self._next: dict[str, Any] | None = None

    def save(self, snapshot: dict[str, Any]) -> None:
        self._next = snapshot
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._next is not None:
                snap, self._next = self._next, None
                try:
                    await asyncio.to_thread(self.store.save, snap)
                except OSError as exc:
                    log.error("cannot save settings: %s", exc)
        finally:
            self._running = None

    async def flush(self) -> None:
        while self._running is not None:
            await asyncio.shield(self._running)


class Runtime:
    """Glue between an engine, a channel and the host's network."""

    def __init__(self, engine: Engine, channel: Channel, store: Store | None = None) -> None:
        self.engine = engine
        self.channel = channel
        self.store = store
        #: where the TLS certificates live (the store's directory), if anywhere
        self.certs_dir: Path | None = store.directory if store is not None else None
        self.saver = Saver(store) if store is not None else None
        self.loop = asyncio.get_running_loop()
        self.powered = False
        #: loop time of the first power-on
        self.powered_at: float | None = None
        self.closing = False
        self.stopped = asyncio.Event()
        #: set by the module for channels whose detach ends the session (stdio EOF)
        self.stop_on_detach: asyncio.Event | None = None
        #: a pipe cannot wait for "ready" like a driver does: hold its early input
        self.hold_until_ready = bool(getattr(channel, "stop_on_detach", False))
        self._held: list[bytes] = []
        #: reasons to stop reading the host (flow control); paused while any is set
        self._host_holds: set[object] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._deferred: list[Callable[[], None]] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        #: every link's bytes and events go here too when set (a trace)
        self.link_tap: LinkTap | None = None
        #: the test bench's link faults (None until the first is installed)
        self.link_faults: FaultBook | None = None
        self.net = NetFeature(self)
        self.server = ServerFeature(self)
        self.services = ServiceFeature(self)

    def now(self) -> float:
        return self.loop.time()

    def hold_host(self, reason: object) -> None:
        """Flow control toward the host: stop reading its port until every reason is
        released (its writes then wait in the OS buffer, as behind a dropped RTS)."""
        if not self._host_holds:
            self.channel.pause_reading()
        self._host_holds.add(reason)

    def release_host(self, reason: object) -> None:
        if reason in self._host_holds:
            self._host_holds.discard(reason)
            if not self._host_holds:
                self.channel.resume_reading()

    def after_output(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current pump has written its output to the host.

        For work whose outcome the engine already knows.  A send that a link's
        buffer is sure to take answers ``SEND OK`` at once; handing the bytes to the
        kernel after that write lets the host read its answer while the socket send
        runs, instead of after it.  Deferred work still runs in the same loop
        callback, and before any later action that is not `Action.defer_aware`.
        """
        self._deferred.append(fn)
        if not self._pumping:
            self.run_deferred()

    def run_deferred(self) -> None:
        """Do the work `after_output` put off, in order (now, whatever the output)."""
        while self._deferred:
            work, self._deferred = self._deferred, []
            for fn in work:
                try:
                    fn()
                except Exception:
                    log.exception("deferred work failed")

    def complete(self, action: Action, result: object) -> None:
        """Report the result of an action a task waits on."""
        self.engine.complete(action.token, result, self.now())
        self.pump()

    def spawn(self, coro: Any, action: Action | None = None) -> None:
        """Run a coroutine; its return value (or exception) completes ``action``."""
        task = self.loop.create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if t.cancelled() or self.closing:
                return
            exc = t.exception()
            if action is not None and action.token:
                self.complete(action, exc if exc is not None else t.result())
            elif exc is not None:
                log.error("background operation failed: %r", exc)

        task.add_done_callback(done)

    # --- ChannelEvents

    def attached(self) -> None:
        log.info("host attached")
        if not self.powered:
            self.powered = True
            self.powered_at = self.now()
            self.engine.power_on(self.now())
        self.pump()

    def detached(self) -> None:
        log.info("host detached")
        if self.stop_on_detach is not None:
            self.spawn(self._stop_when_idle(self.stop_on_detach))

    async def _stop_when_idle(self, stop: asyncio.Event) -> None:
        """End of input: let running commands finish and output drain, then stop."""
        while self._held or self.engine.busy or self.engine.mode in (Mode.OFF, Mode.BOOTING):
            await asyncio.sleep(0.01)
        stop.set()

    def data(self, data: bytes) -> None:
        if self.hold_until_ready and (self._held or self.engine.mode in (Mode.OFF, Mode.BOOTING)):
            self._held.append(data)
            return
        self.engine.receive_data(data, self.now())
        self.pump()

    def reset(self) -> None:
        log.info("reset (EN pin)")
        self.engine.reset()
        self.pump()

    # --- the pump

    def pump(self) -> None:
        """Write output, perform actions, until the engine has nothing more; re-arm."""
        if self._pumping:
            return
        self._pumping = True
        # Output is gathered and written once (e.g. "Recv n bytes" and "SEND OK" of a
        # send the stack took at once): one wake-up for the host instead of two.
        pending: list[bytes] = []
        try:
            eng = self.engine
            while True:
                out = eng.take_output()
                if out:
                    pending.append(out)
                actions = eng.take_actions()
                if not actions:
                    break
                for act in actions:
                    if act.flush_output_first and pending:
                        self.channel.write(b"".join(pending))
                        pending.clear()
                    if self._deferred and not act.defer_aware:
                        self.run_deferred()
                    self._perform(act)
        finally:
            self._pumping = False
            if pending:
                self.channel.write(pending[0] if len(pending) == 1 else b"".join(pending))
            self.run_deferred()
        self._rearm()

    def _perform(self, act: Action) -> None:
        handler = _HANDLERS.get(type(act))
        if handler is None:
            log.error("no runtime handler for %s", type(act).__name__)
            if act.token:
                self.engine.complete(act.token, NotImplementedError(type(act).__name__), self.now())
            return
        try:
            handler(self, act)
        except Exception as exc:
            log.exception("action %s failed", type(act).__name__)
            if act.token:
                self.engine.complete(act.token, exc, self.now())

    def _rearm(self) -> None:
        when = self.engine.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.engine.handle_timer(self.now())
        self.pump()
        if self._held and self.engine.mode not in (Mode.OFF, Mode.BOOTING):
            held, self._held = self._held, []
            for chunk in held:
                self.data(chunk)

    # --- foundation actions

    def _save(self, act: SaveSettings) -> None:
        if self.saver is not None:
            self.saver.save(act.snapshot)

    def _set_uart(self, act: SetUart) -> None:
        apply_uart(self.channel, act.baud, act.databits, act.stopbits, act.parity, act.flow)

    def _reset_network(self) -> None:
        """The module reboots: every link and the server vanish."""
        self.net.drop_all()
        self.server.close()

    # --- shutdown

    async def close(self) -> None:
        """Ctrl-C: links closed, channel released, settings on disk, nothing left behind."""
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
        self.net.drop_all()
        self.server.close()
        self.net.shutdown()
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.saver is not None:
            await self.saver.flush()
        await self.channel.close()
        self.stopped.set()


#: who performs each action (one table for every runtime)
_HANDLERS: dict[type[Action], Callable[[Runtime, Any], None]] = {
    SaveSettings: Runtime._save,
    SetUart: Runtime._set_uart,
    ResetNetwork: lambda rt, a: rt._reset_network(),
    Connect: lambda rt, a: rt.net.connect(a),
    Send: lambda rt, a: rt.net.send(a),
    Close: lambda rt, a: rt.net.close(a),
    SetReading: lambda rt, a: rt.net.set_reading(a),
    SetSockOpts: lambda rt, a: rt.net.set_sockopts(a),
    Listen: lambda rt, a: rt.server.listen(a),
    StopListening: lambda rt, a: rt.server.stop(a),
    Resolve: lambda rt, a: rt.services.resolve(a),
    Ping: lambda rt, a: rt.services.ping(a),
    SntpSync: lambda rt, a: rt.services.sntp(a),
}

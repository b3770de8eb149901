"""The AT engine: bytes and the current time in, bytes and actions out.

No I/O happens here (in the manner of h11 and aioquic).  The runtime feeds host bytes
with `receive_data(data, now)`, performs the `Action`s it takes from
`take_actions()`, reports their results with `complete(token, result, now)`, writes
`take_output()` to the host, and calls `handle_timer(now)` at `get_timer()`.

Modes
-----
OFF       not powered yet: input is dropped.
BOOTING   after power-on or AT+RST until ``ready``: input is dropped.
COMMAND   lines are assembled and run; while a foreground task waits (on a timer or
          the runtime) every complete line is answered ``busy p...`` and dropped.
PAYLOAD   a task showed ``>`` and is collecting its data (AT+CIPSEND...).
DATA      a data-mode sink (passthrough, AT+CIPSENDL) takes every byte.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from ..log import get_logger
from ..profiles import Profile
from . import render
from .actions import Action, Payload, ResetNetwork, SaveSettings, Sleep, Wait
from .errors import CommandError, ErrCode
from .feature import FeatureSet, Hook
from .links import Addr, LinkTable
from .options import ModuleOptions
from .params import Args, LinkScope, Signature, bind, parse_tokens
from .registry import Final, Task
from .settings import SYSLOG, Settings
from .state import ServerState, ServiceState, Station
from .world import World, WorldError, WorldEvent

log = get_logger("w800at.engine")

#: longest command line, terminator excluded (wire-format doc: "At most 256 bytes")
MAX_LINE = 256
#: what we keep of an over-long line (it is answered ERROR anyway)
_LINE_KEEP = MAX_LINE + 2
#: distinct set-command texts whose binding is remembered (see `Engine._bind`)
_BIND_MEMO = 64
#: lenient EOL: how long a CR that ended a read waits for an LF before it ends the line
#: alone (a byte at 1200 baud takes 8.3 ms; a host typing CR-only lines never notices)
LONE_CR_WAIT = 0.02
_EOL_KEY = ("eol", "lone CR")


@functools.cache
def _link_scopes(max_links: int) -> tuple[LinkScope, LinkScope]:
    """Single- and multi-connection `LinkScope` (shared by every engine of a dialect)."""
    return (LinkScope(max_links, False), LinkScope(max_links, True))


class Mode(Enum):
    OFF = "off"
    BOOTING = "booting"
    COMMAND = "command"
    PAYLOAD = "payload"
    DATA = "data"


class LineObserver(Protocol):
    """Sees every complete command line before the engine acts on it (the test
    bench's scenario rules); may change the engine (a fault, a reboot)."""

    def line(self, raw: bytes) -> None: ...


class DataSink(Protocol):
    """Takes the host's bytes in DATA mode (passthrough, AT+CIPSENDL)."""

    def feed(self, data: bytes, now: float) -> None: ...


class _Running:
    """A task (generator) and what it waits for."""

    __slots__ = ("foreground", "gen", "label")

    def __init__(self, gen: Task, foreground: bool, label: str) -> None:
        self.gen = gen
        self.foreground = foreground
        self.label = label


_FINAL_BYTES: dict[Final, bytes] = {
    Final.OK: render.OK,
    Final.ERROR: render.ERROR,
    Final.FAIL: render.FAIL,
    Final.SEND_OK: render.SEND_OK,
    Final.SEND_FAIL: render.SEND_FAIL,
    Final.SEND_CANCELLED: render.SEND_CANCELLED,
    Final.NONE: b"",
}


class Engine:
    """One emulated module.  See the module docstring for the contract."""

    def __init__(
        self,
        profile: Profile,
        features: FeatureSet,
        *,
        saved: dict[str, Any] | None = None,
        options: ModuleOptions | None = None,
        now: float = 0.0,
        lenient_eol: bool = False,
    ) -> None:
        self.profile = profile
        self.features = features
        self.options = options or ModuleOptions()
        self.settings = Settings(
            profile, saved or {}, features.settings, features.defaults(profile)
        )
        self.station = Station()
        self.lenient_eol = lenient_eol
        self.now = now
        self.mode = Mode.OFF
        self.echo = True
        #: internal errors (bugs): each is also answered ERROR; tests assert it stays empty
        self.bugs: list[str] = []
        self._out: list[bytes] = []
        self._actions: list[Action] = []
        self._timers: dict[object, tuple[float, Callable[[], None]]] = {}
        self._line = bytearray()
        self._line_over = False
        self._line_tail = b""
        self._cr_held = False
        self._busy_partial = False
        self._foreground: _Running | None = None
        self._waiting: dict[int, _Running] = {}
        self._next_token = 1
        self._payload: _PayloadReader | None = None
        self._data_sink: DataSink | None = None
        self._bound: dict[str, tuple[Signature, LinkScope, Args]] = {}
        self._scopes = _link_scopes(profile.max_links)
        #: the link IDs, their buffers and the server's clients (commands and the
        #: runtime's link events use it; new at every reboot)
        self.links = LinkTable(self)
        #: the running AT+CIPSERVER, or None
        self.server: ServerState | None = None
        #: the network services' state (the SNTP clock)
        self.services = ServiceState(clock_at=now)
        #: the world around the module (the test bench changes it: `apply_world`)
        self.world = World(any_ssid=not self.options.access_points)
        #: sees every command line first (None: nobody; one attribute check per line)
        self.observer: LineObserver | None = None
        #: answer ``busy p...`` to this many more command lines (the test bench)
        self.forced_busy = 0
        #: counts boots: an observer that rebooted the module ends the line it saw
        self.boots = 0

    # ------------------------------------------------------------------ runtime API

    def power_on(self, now: float) -> None:
        """Power is applied (first host attach): boot, then ``ready``."""
        self.now = now
        self._boot()

    def power_off(self, now: float) -> None:
        """Power is removed: links and server vanish, the module hears nothing until
        `power_on` (unsaved settings are lost then, as after any boot)."""
        self.now = now
        self._run_hooks(self.features.on_reset, "reset")
        self.links = LinkTable(self)
        self.server = None
        self.act(ResetNetwork())
        self._halt()
        self.mode = Mode.OFF

    def apply_world(self, event: WorldEvent, now: float) -> None:
        """A world event (`w800at.core.world`): every feature's ``on_world`` in
        order.  Raises `WorldError` when it cannot apply (nothing is changed then)."""
        self.now = now
        handled = False
        for hook in self.features.on_world:
            handled = hook(self, event) or handled
        if not handled:
            raise WorldError(f"no feature handles {type(event).__name__}")

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the host, in any chunking: the result never depends on it."""
        self.now = now
        pos, n = 0, len(data)
        while pos < n:
            mode = self.mode
            if mode is Mode.COMMAND:
                pos = self._feed_lines(data, pos)
            elif mode is Mode.PAYLOAD:
                assert self._payload is not None
                pos = self._payload.feed(self, data, pos)
            elif mode is Mode.DATA:
                assert self._data_sink is not None
                self._data_sink.feed(data[pos:] if pos else data, now)
                pos = n
            else:  # OFF, BOOTING: nobody is listening
                pos = n

    def take_output(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def take_actions(self) -> list[Action]:
        acts = self._actions
        self._actions = []
        return acts

    def get_timer(self) -> float | None:
        if not self._timers:
            return None
        return min(t[0] for t in self._timers.values())

    def handle_timer(self, now: float) -> None:
        self.now = now
        while True:
            due = [(d, k) for k, (d, _) in self._timers.items() if d <= now]
            if not due:
                return
            due.sort(key=lambda x: x[0])
            _, key = due[0]
            _, fire = self._timers.pop(key)
            self._guard(fire, f"timer {key!r}")

    def complete(self, token: int, result: object, now: float) -> None:
        """The runtime finished the action a task waits on."""
        self.now = now
        task = self._waiting.pop(token, None)
        if task is None:
            log.debug("result for unknown token %d dropped", token)
            return
        self._step(task, result)

    # --- link events (the runtime's sockets report here, each with the time)

    def link_data(
        self, link_id: int, data: bytes, addr: Addr, now: float, wire: int | None = None
    ) -> None:
        """Bytes (TCP/SSL) or one datagram (UDP) arrived on a link from ``addr``.

        ``wire``: on an SSL link, the TLS bytes that ``data`` (the plaintext) cost on the
        wire; passive mode counts those (`LinkTable.visible`)."""
        self.now = now
        self.links.on_data(link_id, data, addr, None, wire)

    def link_closed(self, link_id: int, reason: str, now: float) -> None:
        """The peer closed or reset the link, or it failed."""
        self.now = now
        self.links.on_closed(link_id, reason)

    def link_accepted(
        self, kind: str, remote_ip: str, remote_port: int, local_port: int, now: float
    ) -> int | None:
        """The server accepted a client: its link ID, or None to turn it away."""
        self.now = now
        return self.links.on_accepted(kind, remote_ip, remote_port, local_port)

    # ------------------------------------------------------------ for command code

    def emit(self, data: bytes) -> None:
        """Queue bytes for the host (whole lines or whole frames only)."""
        self._out.append(data)

    def act(self, action: Action) -> None:
        """Ask the runtime for something without waiting for it."""
        self._actions.append(action)

    def set_timer(self, key: object, deadline: float, fire: Callable[[], None]) -> None:
        self._timers[key] = (deadline, fire)

    def cancel_timer(self, key: object) -> None:
        self._timers.pop(key, None)

    def has_timer(self, key: object) -> bool:
        return key in self._timers

    def spawn(self, gen: Task, label: str) -> None:
        """Run a background task: it may wait, but never makes the module busy."""
        self._step(_Running(gen, False, label), None)

    def enter_data_mode(self, sink: DataSink) -> None:
        self._data_sink = sink
        self.mode = Mode.DATA

    def leave_data_mode(self) -> None:
        self._data_sink = None
        if self.mode is Mode.DATA:
            self.mode = Mode.COMMAND

    @property
    def busy(self) -> bool:
        return self._foreground is not None

    def reset(self) -> None:
        """Reboot: links dropped, volatile settings back to their defaults, ``ready``."""
        self._run_hooks(self.features.on_reset, "reset")
        self.links = LinkTable(self)  # links vanish silently: the runtime drops sockets
        self.server = None
        self.act(ResetNetwork())
        self._boot()

    def wifi_down(self) -> None:
        """The station lost its network: every feature's ``on_wifi_down``, in order."""
        self._run_hooks(self.features.on_wifi_down, "wifi-down")

    def save_if_dirty(self) -> None:
        if self.settings.dirty:
            self.act(SaveSettings(self.settings.snapshot()))

    # ------------------------------------------------------------------ internals

    def _boot(self) -> None:
        self._halt()
        self.boots += 1
        self.mode = Mode.BOOTING
        self.set_timer("boot", self.now + self.profile.boot_time, self._ready)

    def _halt(self) -> None:
        """Everything running stops: lines, payloads, tasks, timers; settings and
        station as after power-up."""
        self._line.clear()
        self._line_over = False
        self._cr_held = False
        self._busy_partial = False
        self._payload = None
        self._data_sink = None
        self._foreground = None
        self._waiting.clear()
        self._timers.clear()
        self.echo = True
        self.settings.boot()
        self.station = Station()

    def _ready(self) -> None:
        self.mode = Mode.COMMAND
        self.emit(render.READY)
        self._run_hooks(self.features.on_boot, "boot")

    def _run_hooks(self, hooks: tuple[Hook, ...], what: str) -> None:
        for hook in hooks:
            try:
                hook(self)
            except Exception as exc:  # a bug: keep serving, but make it visible
                self._bug(f"{what} handler {getattr(hook, '__qualname__', hook)}", exc)

    def _guard(self, fn: Callable[[], None], what: str) -> None:
        try:
            fn()
        except Exception as exc:  # a bug: keep serving, but make it visible
            self._bug(what, exc)

    def _bug(self, what: str, exc: BaseException) -> None:
        log.exception("internal error in %s", what, exc_info=exc)
        self.bugs.append(f"{what}: {exc!r}")

    # --- command lines

    def _feed_lines(self, data: bytes, pos: int) -> int:
        if self._cr_held:  # lenient: the last chunk ended in CR; an LF now belongs to it
            self._cr_held = False
            self.cancel_timer(_EOL_KEY)
            if data[pos] == 10:
                self._keep(data, pos, pos + 1)
                pos += 1
            self._end_line()
            return pos
        i = _find_eol_lenient(data, pos) if self.lenient_eol else data.find(b"\n", pos)
        if i < 0:
            self._keep(data, pos, len(data))
            return len(data)
        end = i + 1
        if self.lenient_eol and data[i] == 13:
            if end < len(data) and data[end] == 10:
                end += 1
            elif end == len(data):
                # Is it CR LF split across reads (a serial line does that), or a lone CR?
                # Wait for the next byte, briefly, so that the echo and the moment the
                # line runs do not depend on how the bytes were cut.
                self._keep(data, pos, end)
                self._cr_held = True
                self.set_timer(_EOL_KEY, self.now + LONE_CR_WAIT, self._lone_cr)
                return end
        if not self._line and end - pos <= _LINE_KEEP:  # the whole line is in this read
            self._line_ready(data[pos:end], False)
            return end
        self._keep(data, pos, end)
        self._end_line()
        return end

    def _lone_cr(self) -> None:
        self._cr_held = False
        self._end_line()

    def _end_line(self) -> None:
        """The line in ``_line`` (terminator included) is complete: run it, or busy."""
        raw = bytes(self._line)
        over = self._line_over
        if over:  # keep a byte more than allowed (so it is too long) and the terminator
            tail = self._line_tail
            raw = raw[: MAX_LINE + 1] + (tail if tail == b"\r\n" else tail[-1:])
        self._line.clear()
        self._line_over = False
        self._line_ready(raw, over)

    def _line_ready(self, raw: bytes, over: bool) -> None:
        """A complete line (terminator included): run it, or ``busy p...`` if busy."""
        observer = self.observer
        if observer is not None:
            boots = self.boots
            observer.line(raw)
            if self.boots != boots or self.mode is not Mode.COMMAND:
                return  # the observer rebooted the module: this line is gone
        if self._foreground is not None:
            self.emit(render.BUSY)
        elif self.forced_busy:
            self.forced_busy -= 1  # the test bench: answered as if a command were running
            self.emit(render.BUSY)
        else:
            self._run_line(raw, over)

    def _keep(self, data: bytes, start: int, end: int) -> None:
        room = _LINE_KEEP - len(self._line)
        if end - start > room:
            if not self._line_over:  # the terminator may already be in _line
                self._line_over = True
                self._line_tail = bytes(self._line[-2:])
            self._line += data[start : start + max(room, 0)]
            # the last two bytes of an over-long line: its terminator, for echo/ERROR
            self._line_tail = (self._line_tail + data[max(start, end - 2) : end])[-2:]
        else:
            self._line += data[start:end]

    def _run_line(self, raw: bytes, over: bool) -> None:
        if self.echo:
            self.emit(raw)
        if raw.endswith(b"\r\n"):
            body = raw[:-2]
        elif self.lenient_eol:
            body = raw.rstrip(b"\r\n")
        else:
            if raw.rstrip(b"\r\n"):
                self._error(CommandError(ErrCode.NO_TERMINATOR, "line ends in LF without CR"))
            return
        if not body:
            return  # an empty line is ignored
        if over or len(body) > MAX_LINE:
            self._error(CommandError(ErrCode.COMMON, f"line longer than {MAX_LINE} bytes"))
            return
        if not body.startswith(b"AT"):
            self._error(CommandError(ErrCode.NO_AT, "line does not start with AT"))
            return
        text = body[2:].decode("latin-1")
        try:
            outcome = self._dispatch(text)
        except CommandError as exc:
            self._error(exc)
            return
        except Exception as exc:
            self._bug(f"command {body!r}", exc)
            self._error(CommandError(ErrCode.COMMON, "internal error"))
            return
        if outcome is None or isinstance(outcome, Final):
            self._finish(outcome)
        else:
            task = _Running(outcome, True, text)
            self._foreground = task
            self._step(task, None)

    def _dispatch(self, text: str) -> Final | Task | None:
        cut = len(text)
        for sep in ("=", "?"):
            j = text.find(sep)
            if 0 <= j < cut:
                cut = j
        name, rest = text[:cut], text[cut:]
        cmd = self.features.commands.get(name)
        if cmd is None or name in self.profile.unsupported:
            raise CommandError(ErrCode.UNSUPPORTED, f"unknown command AT{name}")
        # a known command in a form it does not have: "operation type" (esp_at_core.h's
        # ESP_AT_SUB_CMD_OP_ERROR), not "unsupported command"
        if rest == "":
            handler = cmd.execute
            if handler is None:
                raise CommandError(ErrCode.OPERATION, f"AT{name} has no execute form")
            self._need_ip(cmd.needs_ip)
            return handler(self)
        if rest == "?":
            if cmd.query is None:
                raise CommandError(ErrCode.OPERATION, f"AT{name} has no query form")
            return cmd.query(self)
        if rest == "=?":
            if cmd.test is not None:
                return cmd.test(self)
            if cmd.set is None:
                raise CommandError(ErrCode.OPERATION, f"AT{name} has no test form")
            return None
        if rest.startswith("="):
            if cmd.set is None:
                raise CommandError(ErrCode.OPERATION, f"AT{name} has no set form")
            args = self._bind(name, rest, cmd.signature(self))
            self._need_ip(cmd.needs_ip)
            return cmd.set(self, args)
        raise CommandError(ErrCode.PARAM_PARSE, f"cannot parse AT{text}")

    def _bind(self, name: str, rest: str, sig: Signature) -> Args:
        """`bind` the text after ``=``, remembering the result for the same text and
        signature: a driver repeats the same few lines (``AT+CIPSEND=0,5760``) all day.
        Binding is a pure function of the two and `Args` is read-only, so a hit is
        exactly what binding again would give."""
        key = name + rest
        scope = self._scopes[self.links.multi]
        hit = self._bound.get(key)
        if hit is not None and hit[0] is sig and hit[1] is scope:
            return hit[2]
        args = bind(sig, parse_tokens(rest[1:]), scope)
        if len(self._bound) >= _BIND_MEMO:
            self._bound.clear()
        self._bound[key] = (sig, scope, args)
        return args

    def _need_ip(self, needs_ip: bool) -> None:
        if needs_ip and not self.station.has_ip:
            raise CommandError(ErrCode.EXEC_FAILED, "no ip")

    def _error(self, exc: CommandError) -> None:
        log.info("ERROR %s: %s", exc.code.name, exc.why or exc.code.name)
        if self.settings.int(SYSLOG):
            self.emit(render.err_code(exc.wire))
        self.emit(render.ERROR)

    def _finish(self, final: Final | None) -> None:
        self.save_if_dirty()
        self.emit(render.OK if final is None else _FINAL_BYTES[final])

    # --- tasks

    def _step(self, task: _Running, value: object) -> None:
        try:
            wait = task.gen.send(value)
        except StopIteration as stop:
            self._task_done(task)
            if task.foreground:
                self._finish(stop.value)
            self._answer_leftover()
            return
        except CommandError as exc:
            self._task_done(task)
            if task.foreground:
                self.save_if_dirty()
                self._error(exc)
            else:
                log.info("background task %s failed: %s", task.label, exc.why)
            self._answer_leftover()
            return
        except Exception as exc:
            self._task_done(task)
            self._bug(f"task {task.label!r}", exc)
            if task.foreground:
                self._error(CommandError(ErrCode.COMMON, "internal error"))
            self._answer_leftover()
            return
        self._wait(task, wait)

    def _wait(self, task: _Running, wait: Wait) -> None:
        if isinstance(wait, Sleep):
            key = ("sleep", id(task))
            self.set_timer(key, self.now + wait.seconds, lambda: self._step(task, None))
        elif isinstance(wait, Payload):
            if not task.foreground:
                raise RuntimeError("a background task cannot read a payload")
            self._payload = _PayloadReader(task, wait)
            self.mode = Mode.PAYLOAD
            self.emit(render.PROMPT)
            if wait.length == 0:
                self._payload.finish(self)
        else:
            wait.token = self._next_token
            self._next_token += 1
            self._waiting[wait.token] = task
            self._actions.append(wait)

    def _task_done(self, task: _Running) -> None:
        if task is self._foreground:
            self._foreground = None
            if self.mode is Mode.PAYLOAD:
                self.mode = Mode.COMMAND
                self._payload = None
            if self._line and not self._cr_held:  # arrived while busy, no terminator yet
                self._line.clear()
                self._line_over = False
                self._busy_partial = True  # answered after the command's final result

    def _answer_leftover(self) -> None:
        if self._busy_partial:
            self._busy_partial = False
            self.emit(render.BUSY)

    def _payload_done(self, task: _Running, data: bytes) -> None:
        self._payload = None
        self.mode = Mode.COMMAND
        self._step(task, data)


class _PayloadReader:
    """Collects the data after ``>``; no per-byte Python work on plain payloads."""

    __slots__ = ("_escape_pending", "_have", "_parts", "_task", "_want", "escaped")

    def __init__(self, task: _Running, wait: Payload) -> None:
        self._task = task
        self._want = wait.length
        self._have = 0
        self._parts: list[bytes] = []
        self.escaped = wait.escaped
        self._escape_pending = False

    def feed(self, engine: Engine, data: bytes, pos: int) -> int:
        if self.escaped:
            return self._feed_escaped(engine, data, pos)
        take = min(self._want - self._have, len(data) - pos)
        self._parts.append(data[pos : pos + take] if (pos or take != len(data)) else data)
        self._have += take
        if self._have >= self._want:
            self.finish(engine)
        return pos + take

    def _feed_escaped(self, engine: Engine, data: bytes, pos: int) -> int:
        n = len(data)
        while pos < n and self._have < self._want:
            if self._escape_pending:
                self._escape_pending = False
                c = data[pos]
                pos += 1
                if c == 0x30:  # "\0": the data ends here
                    self.finish(engine)
                    return pos
                self._append(data[pos - 1 : pos])
                continue
            j = data.find(b"\\", pos, pos + (self._want - self._have))
            if j < 0:
                take = min(self._want - self._have, n - pos)
                self._append(data[pos : pos + take])
                pos += take
            else:
                self._append(data[pos:j])
                self._escape_pending = True
                pos = j + 1
        if self._have >= self._want:
            self.finish(engine)
        return pos

    def _append(self, piece: bytes) -> None:
        if piece:
            self._parts.append(piece)
            self._have += len(piece)

    def finish(self, engine: Engine) -> None:
        data = b"".join(self._parts)
        self._parts = []
        engine._payload_done(self._task, data)


def _find_eol_lenient(data: bytes, pos: int) -> int:
    """First CR or LF at or after ``pos`` (the leniency option: either ends a line)."""
    i = data.find(b"\r", pos)
    j = data.find(b"\n", pos)
    if i < 0:
        return j
    if j < 0:
        return i
    return min(i, j)

"""Modules for tests, and a host that talks to them: what the pytest plugin is made of.

`w800at.pytest_plugin` turns these into fixtures; they work without pytest too::

    from w800at.testing import ModuleFactory

    with ModuleFactory("/tmp/bench") as make:
        dut = make(profile="esp-at")              # a running module on a PTY
        host = dut.host()                          # pyserial on dut.port
        host.expect_exact(b"ready")
        assert host.cmd("AT+GMR").ok
        print(dut.transcript)                      # what went over the wire, as rows

- `ModuleFactory` starts modules (`RunningModule`) and fleets of them on one event loop
  in a background thread, each with its own PTY / TCP port / memory channel, store
  directory and trace file under one work directory, and stops them all at `close`;
- `RunningModule` is one of them: ``.port`` (the PTY path), ``.tcp`` ((host, port)),
  ``.module`` (the `w800at.Module`), ``.transcript`` (the readable transcript so far),
  ``.host()``, ``.run(coro)`` (a coroutine on the module's loop);
- `Host` speaks like pytest-embedded's ``dut``: ``write``, ``expect`` (a regex),
  ``expect_exact`` (literal bytes), and ``cmd`` (one command line, its whole answer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import select
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .channels.memory import MemoryChannel
from .channels.pacing import Pacing, pacing_from_options
from .channels.pty import PtyChannel
from .channels.tcp import TcpChannel
from .config import Config, config_from_data, load_config
from .fleet import Fleet
from .module import Module
from .profiles import Profile, get_profile
from .store import Store
from .trace import escape_bytes
from .transcript import Row, format_header, format_row, parse_trace, transcribe
from .uart import UartFrame

if TYPE_CHECKING:
    from .channels.base import Channel
    from .control import Control

T = TypeVar("T")

TRANSPORTS = ("pty", "tcp", "memory")
#: where TCP ports listen: loopback only
LOOPBACK = "127.0.0.1"
#: seconds `Host.expect` and `Host.cmd` wait by default
DEFAULT_TIMEOUT = 5.0
#: lines that end a command's answer (`Host.cmd`)
FINAL_RESULTS = ("OK", "ERROR", "FAIL", "SEND OK", "SEND FAIL", "SEND CANCELLED", "busy p...")
_FINAL = re.compile(
    rb"^(" + b"|".join(re.escape(r.encode()) for r in FINAL_RESULTS) + rb")\r\n", re.M
)
#: seconds a memory host waits at a time before it checks that the module still runs
MEMORY_POLL = 0.1
#: bytes of unmatched output an expect error shows (the most recent ones)
SHOW_BYTES = 2048
#: regex metacharacters: a pattern with none of them means the same literally
_META = re.compile(rb"[.^$*+?{}\[\]\\|()]")

#: what `Host.expect` takes: a regular expression, as text, bytes or compiled
PatternArg = str | bytes | re.Pattern[bytes] | re.Pattern[str]


# --------------------------------------------------------------------------- errors


class ExpectTimeout(TimeoutError):
    """`Host.expect` / `Host.cmd` saw no match in time; the message shows what arrived."""


class PortClosed(EOFError):
    """The module's port closed (the module stopped) before the expected bytes came."""


# --------------------------------------------------------------------------- the loop


class LoopThread:
    """An asyncio event loop in a daemon thread: every module of a factory runs on it
    (as the modules of `w800at fleet` share one loop)."""

    def __init__(self, name: str = "w800at-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop; its result comes in the returned future."""

        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop)

    def run(self, coro: Awaitable[T], timeout: float | None = 10.0) -> T:
        """Run ``coro`` on the loop and return its result (TimeoutError after
        ``timeout`` seconds; the coroutine is cancelled then)."""
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no result from the module's loop in {timeout} s") from None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 10.0) -> T:
        """Run ``fn(*args)`` on the loop's thread and return its result."""

        async def wrap() -> T:
            return fn(*args)

        return self.run(wrap(), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what still runs, stop the loop, join the thread."""
        if not self._thread.is_alive():
            return

        async def wind_down() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            self.run(wind_down(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()


# --------------------------------------------------------------------------- the host


class _Line(Protocol):
    """The host's end of the port: bytes out, bytes in."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes:
        """What arrives within ``timeout`` (b"" if nothing); `PortClosed` when gone."""
        ...

    def close(self) -> None: ...


class _SerialLine:
    """pyserial: the PTY by its path, a TCP port as ``socket://HOST:PORT``."""

    def __init__(self, url: str) -> None:
        import serial

        self._serial_exception: type[Exception] = serial.SerialException
        # timeout 0: read() takes what is there; select() does the waiting
        self._ser = serial.serial_for_url(url, baudrate=115200, timeout=0)

    def send(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._ser.flush()
        except (self._serial_exception, OSError) as exc:
            raise PortClosed(f"cannot write to the port: {exc}") from None

    def recv(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self._ser.fileno()], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            data: bytes = self._ser.read(65536)
        except (self._serial_exception, OSError, ValueError) as exc:
            raise PortClosed(f"the port closed: {exc}") from None
        return data

    def close(self) -> None:
        self._ser.close()


class _MemoryLine:
    """The host end of a `MemoryChannel`, from the test's thread: every call goes to
    the module's loop (the channel is not thread-safe)."""

    def __init__(self, module: Module, loop: LoopThread) -> None:
        self._module = module
        self._loop = loop

    def send(self, data: bytes) -> None:
        if not self._module.started:
            raise PortClosed("the module stopped")
        self._loop.call(self._module.call, self._module.host.write, data)

    def recv(self, timeout: float) -> bytes:
        module = self._module

        async def read(wait: float) -> bytes:
            try:
                return await module.host.read(timeout=wait)
            except TimeoutError:
                return b""

        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            # in slices, so that a module that stops meanwhile is noticed soon
            wait = min(max(deadline - time.monotonic(), 0.0), MEMORY_POLL)
            data = self._loop.run(read(wait), timeout=wait + 10.0)
            if data:
                return data
            if not module.started:
                raise PortClosed("the module stopped")
            if time.monotonic() >= deadline:
                return b""

    def close(self) -> None:
        """Nothing to release: the channel belongs to the module."""


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _compile(pattern: PatternArg) -> re.Pattern[bytes]:
    if isinstance(pattern, re.Pattern):
        if isinstance(pattern.pattern, bytes):
            return re.compile(pattern.pattern, pattern.flags)
        return re.compile(pattern.pattern.encode("utf-8"), pattern.flags & ~re.UNICODE)
    raw = _as_bytes(pattern)
    try:
        return re.compile(raw)
    except re.error as exc:
        raise ValueError(
            f"expect({pattern!r}): not a regular expression ({exc}); expect() takes a "
            "regex, as pytest-embedded's does: use expect_exact() for literal bytes "
            "such as b'+IPD'"
        ) from None


def show_bytes(data: bytes, limit: int = SHOW_BYTES, indent: str = "    | ") -> str:
    """``data`` as escaped text, one output line per line of it (the trace's escapes:
    ``\\r``, ``\\n``, ``\\xNN``); only the last ``limit`` bytes."""
    head = ""
    if len(data) > limit:
        head = f"{indent}[{len(data) - limit} earlier bytes not shown]\n"
        data = data[-limit:]
    lines = data.splitlines(keepends=True)
    return head + "".join(f"{indent}{escape_bytes(line)}\n" for line in lines)


@dataclass(frozen=True)
class Reply:
    """A command's answer (`Host.cmd`)."""

    #: the command line, as sent (without CR LF)
    command: str
    #: every byte from the command's echo through the final result line
    raw: bytes
    #: what the module said: the lines between the echo and the final result (blank
    #: lines left out; URCs that came meanwhile are here too)
    lines: tuple[str, ...]
    #: the final result line: ``OK``, ``ERROR``, ``FAIL``, ``SEND OK``, ``busy p...``
    result: str

    @property
    def ok(self) -> bool:
        return self.result == "OK"

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "backslashreplace")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Reply({self.command!r} -> {self.result}, lines={list(self.lines)!r})"

    def __contains__(self, item: str | bytes) -> bool:
        return _as_bytes(item) in self.raw


class Host:
    """The host's side of one module's AT port, in pytest-embedded's ``dut`` style.

    Everything the module sends lands in a buffer; ``expect`` searches it, and a match
    consumes the buffer through its end (what came before it is ``before``).  The bytes
    go over the real port: pyserial on the PTY, ``socket://`` for TCP, the memory
    channel's host end.
    """

    def __init__(self, line: _Line, *, where: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._line = line
        #: what the port is, for messages (``w800 on pty /dev/pts/3 -> ...``)
        self.where = where
        #: default seconds for `expect` and `cmd`
        self.timeout = timeout
        self._buf = bytearray()
        self._log = bytearray()
        self._closed_why: str | None = None
        self.closed = False
        #: the bytes the last match consumed before the match itself
        self.before = b""

    # -- bytes out

    def write(self, data: bytes | str) -> None:
        """Send ``data`` as is (a str is UTF-8; no line end is added)."""
        self._line.send(_as_bytes(data))

    # -- bytes in

    @property
    def buffer(self) -> bytes:
        """Received and not consumed by a match yet."""
        return bytes(self._buf)

    @property
    def received(self) -> bytes:
        """Everything received since the port was opened."""
        return bytes(self._log)

    def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False if nothing did (or the port closed)."""
        if self._closed_why is not None:
            return False
        try:
            data = self._line.recv(timeout)
        except PortClosed as exc:
            self._closed_why = str(exc)
            return False
        self._buf += data
        self._log += data
        return bool(data)

    def read(self, timeout: float = 0.0) -> bytes:
        """Everything not consumed yet plus what arrives within ``timeout`` seconds (the
        whole window is waited: ``host.read(0.2) == b""`` checks that all is quiet)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if not self._fill(max(left, 0.0)) and left <= 0:
                break
            if self._closed_why is not None:
                break
        out = bytes(self._buf)
        self._buf.clear()
        self.before = b""
        return out

    def expect(
        self, pattern: PatternArg | Sequence[PatternArg], timeout: float | None = None
    ) -> re.Match[bytes]:
        """Wait for ``pattern``, a regular expression (str, bytes or compiled, as in
        pytest-embedded: ``b"+IPD"`` is not a valid one, use `expect_exact` for literal
        bytes), or a list of them (the earliest match wins).  Returns the match; the
        buffer is consumed through it.  `ExpectTimeout` shows what arrived instead."""
        __tracebackhide__ = True  # a failure points at the test's line
        items = (
            list(pattern)
            if isinstance(pattern, Sequence) and not isinstance(pattern, str | bytes)
            else [pattern]
        )
        return self._expect([_compile(p) for p in items], items, timeout, exact=False)

    def expect_exact(
        self, literal: str | bytes | Sequence[str | bytes], timeout: float | None = None
    ) -> re.Match[bytes]:
        """Wait for these exact bytes (or the earliest of several); as `expect`."""
        __tracebackhide__ = True  # a failure points at the test's line
        items: list[str | bytes] = [literal] if isinstance(literal, str | bytes) else list(literal)
        return self._expect(
            [re.compile(re.escape(_as_bytes(i))) for i in items], items, timeout, exact=True
        )

    def _expect(
        self,
        regexes: list[re.Pattern[bytes]],
        shown: Sequence[object],
        timeout: float | None,
        *,
        exact: bool,
    ) -> re.Match[bytes]:
        __tracebackhide__ = True  # a failure points at the test's line
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            snapshot = bytes(self._buf)
            found = [m for r in regexes if (m := r.search(snapshot)) is not None]
            if found:
                m = min(found, key=lambda m: m.start())
                self.before = snapshot[: m.start()]
                del self._buf[: m.end()]
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self._closed_why is not None:
                raise self._failure(
                    " or ".join(repr(s) for s in shown),
                    wait,
                    regex_items=() if exact else shown,
                )
            self._fill(left)

    def cmd(self, line: str | bytes, timeout: float | None = None) -> Reply:
        """Send one command line (CR LF added) and wait for its final result (``OK``,
        ``ERROR``, ``FAIL``, ``SEND OK``, ``SEND FAIL``, ``busy p...``); returns the
        `Reply`.  Bytes that were waiting before the command are not part of the reply
        (they are ``before``).  After ``AT+CIPSEND=...``'s ``OK`` the ``>`` prompt stays
        in the buffer for the next ``expect``."""
        __tracebackhide__ = True  # a failure points at the test's line
        raw = _as_bytes(line)
        text = raw.decode("utf-8", "backslashreplace").removesuffix("\r\n")
        data = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
        self._fill(0.0)  # what is already there came before the command
        start = len(self._buf)
        self.write(data)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            m = _FINAL.search(bytes(self._buf), start)
            if m is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0 or self._closed_why is not None:
                raise self._failure(
                    f"a final result ({', '.join(FINAL_RESULTS)}) for {text!r}",
                    wait,
                    skip=start,
                )
            self._fill(left)
        snapshot = bytes(self._buf)
        self.before = snapshot[:start]
        answer = snapshot[start : m.end()]
        del self._buf[: m.end()]
        body = snapshot[start : m.start()].split(b"\r\n")
        lines = [ln.decode("utf-8", "backslashreplace") for ln in body if ln]
        if lines and lines[0] == text:  # the echo (ATE1, the default)
            lines = lines[1:]
        return Reply(command=text, raw=answer, lines=tuple(lines), result=m.group(1).decode())

    def _failure(
        self,
        wanted: str,
        wait: float,
        *,
        skip: int = 0,
        regex_items: Sequence[object] = (),
    ) -> Exception:
        pending = bytes(self._buf[skip:])
        if self._closed_why is not None:
            head = f"{self.where}: no {wanted}: {self._closed_why}"
        else:
            head = f"{self.where}: no {wanted} within {wait:g} s"
        if pending:
            body = f"arrived and not matched ({len(pending)} bytes):\n{show_bytes(pending)}"
        else:
            body = (
                f"nothing arrived since the last match ({len(self._log)} bytes received "
                "since the port was opened)\n"
            )
        hint = ""
        for item in regex_items:
            if isinstance(item, str | bytes):
                literal = _as_bytes(item)
                if _META.search(literal) and literal in pending:
                    hint = (
                        f"note: {item!r} arrived literally, but expect() reads it as a "
                        "regular expression (as pytest-embedded's does): use "
                        "expect_exact() or re.escape()\n"
                    )
                    break
        text = f"{head}\n{body}{hint}".rstrip("\n")
        if self._closed_why is not None:
            return PortClosed(text)
        return ExpectTimeout(text)

    # -- life

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Host {self.where}{' (closed)' if self.closed else ''}>"


# --------------------------------------------------------------------------- modules


class RunningModule:
    """One module of a test, running on the factory's loop (the ``w800at`` fixture).

    The PTY, trace file and store live under the factory's work directory; the module
    stops when the factory closes (at the end of the test), or at `stop`.
    """

    def __init__(
        self,
        module: Module,
        loop: LoopThread,
        *,
        transport: str,
        trace_path: Path,
        store_dir: Path | None,
        host_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        #: the `w800at.Module` (engine, runtime, channel, profile...)
        self.module = module
        self.loop = loop
        #: ``"pty"``, ``"tcp"`` or ``"memory"``
        self.transport = transport
        #: the raw trace of the AT port and the links (``w800at trace show`` reads it)
        self.trace_path = trace_path
        #: where its settings and certificates are saved (reuse it to restart on them)
        self.store_dir = store_dir
        self.host_timeout = host_timeout
        self._host: Host | None = None

    @property
    def name(self) -> str:
        return self.module.name

    # -- where a driver connects

    @property
    def port(self) -> str:
        """The PTY's path, for a driver to open like a serial port (transport "pty")."""
        chan = self.module.channel
        if not isinstance(chan, PtyChannel):
            raise AttributeError(
                f"module {self.name} is on {self.transport}, not a PTY: it has no .port "
                "(use .tcp for transport='tcp', .host() for any)"
            )
        return chan.link_path

    @property
    def tcp(self) -> tuple[str, int]:
        """``(host, port)`` of the AT port on TCP (transport "tcp"), on loopback."""
        chan = self.module.channel
        if not isinstance(chan, TcpChannel):
            raise AttributeError(
                f"module {self.name} is on {self.transport}, not TCP: ask for transport='tcp' "
                "(@pytest.mark.w800at(transport='tcp') or w800at_factory(transport='tcp'))"
            )
        return chan.host, chan.port

    @property
    def url(self) -> str:
        """The port as a pyserial URL: the PTY's path or ``socket://HOST:PORT``."""
        if self.transport == "tcp":
            host, port = self.tcp
            return f"socket://{host}:{port}"
        return self.port

    @property
    def control(self) -> Control:
        """The module's control API (``module.control``, the test bench: Wi-Fi drops,
        faults, scenarios, events); its coroutines run on the module's loop with `run`
        (wait for the result) or `submit` (a future at once)."""
        if not self.module.has_control:
            raise AttributeError(
                f"module {self.name} has no control API: it was built with control=False"
            )
        return self.module.control

    # -- what went over the wire

    def transcript_rows(self) -> list[Row]:
        """The rows of `transcript` (`w800at.transcript.Row`)."""
        try:
            data = self.trace_path.read_bytes()
        except FileNotFoundError:
            return []
        data = data[: data.rfind(b"\n") + 1]  # the module may be writing a line right now
        if not data.strip():
            return []
        return transcribe(parse_trace(data))

    @property
    def transcript(self) -> str:
        """The readable transcript so far (``w800at trace show``'s text), header included."""
        return format_transcript_text(self.transcript_rows())

    # -- the host

    def host(self, timeout: float | None = None) -> Host:
        """The host's side of the AT port (opened on first call; the same `Host` until
        it is closed).  ``timeout``: its default for expect and cmd."""
        if self._host is None or self._host.closed:
            line: _Line
            if self.transport == "memory":
                line = _MemoryLine(self.module, self.loop)
            else:
                line = _SerialLine(self.url)
            where = f"{self.name} on {self.module.description}"
            self._host = Host(line, where=where, timeout=self.host_timeout)
        if timeout is not None:
            self._host.timeout = timeout
        return self._host

    # -- the module's loop

    def run(self, coro: Awaitable[T], timeout: float | None = 10.0) -> T:
        """Run a coroutine on the module's loop (``w800at.run(control.wifi_drop())``)."""
        return self.loop.run(coro, timeout)

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        """Start a coroutine on the module's loop and return at once (its future)."""
        return self.loop.submit(coro)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 10.0) -> T:
        """Run ``fn(*args)`` on the module's loop, in its context (its log name)."""
        module = self.module

        async def in_context() -> T:
            return module.call(fn, *args)

        return self.loop.run(in_context(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the host and stop the module now (the PTY and the port go away)."""
        if self._host is not None:
            self._host.close()
        if self.loop.alive:
            self.loop.run(self.module.stop(), timeout)

    def __repr__(self) -> str:
        return (
            f"<RunningModule {self.name} {self.module.profile.name} on {self.module.description}>"
        )


def format_transcript_text(rows: list[Row]) -> str:
    return "".join(line + "\n" for line in [format_header(), *map(format_row, rows)])


class RunningFleet(Sequence[RunningModule]):
    """The modules of ``w800at_fleet(n)``: a sequence of `RunningModule` on one loop."""

    def __init__(self, fleet: Fleet, members: list[RunningModule]) -> None:
        self.fleet = fleet
        self._members = members

    def __len__(self) -> int:
        return len(self._members)

    def __getitem__(self, index: int) -> RunningModule:  # type: ignore[override]
        return self._members[index]

    def __iter__(self) -> Iterator[RunningModule]:
        return iter(self._members)

    def __repr__(self) -> str:
        return f"<RunningFleet of {len(self)}>"


# --------------------------------------------------------------------------- factory


@dataclass(frozen=True)
class _Setup:
    profile: Profile
    config: Config | None
    pacing: Pacing | None
    lenient_eol: bool | None


class ModuleFactory:
    """Starts modules for one test and stops them all at `close`.

    ``workdir``: where PTYs (``NAME.tty``), traces (``NAME.trace``) and stores
    (``store/NAME``) go; ``base_dir``: what relative ``config``/``scenario`` paths are
    relative to (the test file's directory in the plugin).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        base_dir: str | os.PathLike[str] | None = None,
        host_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.workdir = Path(workdir)
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.host_timeout = host_timeout
        #: every module started, in order
        self.modules: list[RunningModule] = []
        self._fleets: list[Fleet] = []
        self._loop: LoopThread | None = None
        self._closed = False

    @property
    def loop(self) -> LoopThread:
        if self._closed:
            raise RuntimeError("the module factory is closed")
        if self._loop is None:
            self._loop = LoopThread()
        return self._loop

    def _path(self, value: str | os.PathLike[str]) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    def _setup(
        self,
        profile: Profile | str | None,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None,
        baud: int,
        pacing: str | Pacing | None,
        flow_control: str,
        lenient_eol: bool | None,
    ) -> _Setup:
        cfg: Config | None
        if config is None or isinstance(config, Config):
            cfg = config
        elif isinstance(config, Mapping):
            cfg = config_from_data(dict(config), "config")
        elif isinstance(config, str | os.PathLike):
            cfg = load_config(self._path(config))
        else:
            raise TypeError(
                "config must be a w800at Config, a dict of the TOML tables or a file path, "
                f"not {type(config).__name__}"
            )
        if isinstance(profile, str):
            prof = get_profile(profile)
        elif profile is not None:
            prof = profile
        else:
            prof = get_profile(cfg.profile if cfg is not None and cfg.profile else "w800")
        if pacing is None or isinstance(pacing, Pacing):
            pace = pacing
        else:
            frame = UartFrame(*prof.uart_default)
            pace = pacing_from_options(pacing, baud, flow_control, prof.uart_rx_buffer, frame)
        return _Setup(prof, cfg, pace, lenient_eol)

    def _check_transport(self, transport: str) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")

    def _check_name(self, name: str) -> None:
        if any(m.name == name and m.module.started for m in self.modules):
            raise ValueError(f"a running module of this test is already named {name!r}")

    def _channel(self, transport: str, name: str) -> Channel:
        if transport == "pty":
            return PtyChannel(str(self.workdir / f"{name}.tty"))
        if transport == "tcp":
            return TcpChannel(LOOPBACK, 0)
        return MemoryChannel()

    def __call__(
        self,
        *,
        profile: Profile | str | None = None,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        scenario: str | os.PathLike[str] | None = None,
        transport: str = "pty",
        name: str | None = None,
        baud: int = 115200,
        pacing: str | Pacing | None = "off",
        flow_control: str = "none",
        lenient_eol: bool | None = None,
        store: str | os.PathLike[str] | None = None,
    ) -> RunningModule:
        """Start one module and return it running.

        - ``profile``: ``"w800"`` (default: the config's, else w800) or ``"esp-at"``;
        - ``config``: a TOML file's path (relative: to the test file), its tables as a
          dict (``{"access_point": [{"ssid": "lab", "password": "lab-secret"}]}``) or a
          loaded `Config`;
        - ``scenario``: a scenario file for the module's test bench (relative: to the
          test file), loaded as it starts (``.control``; see "Scenarios" in the README);
        - ``transport``: ``"pty"`` (``.port``), ``"tcp"`` (``.tcp``, on loopback) or
          ``"memory"`` (no OS resource: ``.host()`` only);
        - ``baud``, ``pacing`` (``"off"``, ``"output"``, ``"both"`` or a `Pacing`),
          ``flow_control`` (``"none"``, ``"rtscts"``): as ``serve``'s options;
        - ``name``: default ``w800``, then ``w800-2``, ``w800-3``...;
        - ``store``: the store directory (default: a fresh one per module; pass a
          stopped module's ``store_dir`` to restart on its saved settings).
        """
        self._check_transport(transport)
        setup = self._setup(profile, config, baud, pacing, flow_control, lenient_eol)
        if name is None:
            name = "w800" if not self.modules else f"w800-{len(self.modules) + 1}"
        self._check_name(name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        store_dir = self._path(store) if store is not None else self.workdir / "store" / name
        trace_path = self.workdir / f"{name}.trace"
        module = Module(
            self._channel(transport, name),
            profile=setup.profile,
            config=setup.config,
            store=Store(store_dir),
            name=name,
            lenient_eol=setup.lenient_eol,
            trace=trace_path,
            pacing=setup.pacing,
            scenario=self._path(scenario) if scenario is not None else None,
        )
        running = RunningModule(
            module,
            self.loop,
            transport=transport,
            trace_path=trace_path,
            store_dir=store_dir,
            host_timeout=self.host_timeout,
        )
        self.modules.append(running)  # its trace is in the report even if it fails to start
        self.loop.run(module.start())
        return running

    def fleet(
        self,
        count: int,
        *,
        profile: Profile | str | None = None,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        scenario: str | os.PathLike[str] | None = None,
        transport: str = "pty",
        baud: int = 115200,
        pacing: str | Pacing | None = "off",
        flow_control: str = "none",
        lenient_eol: bool | None = None,
    ) -> RunningFleet:
        """Start ``count`` modules at once (a `w800at.fleet.Fleet`, on the factory's
        loop), each with its own port, store, trace and test bench (``.control``),
        named ``w800-0000``, ``w800-0001``... (a test's second fleet:
        ``fleet2-0000``...); the options are the factory's, the same for all of them
        (a ``scenario`` runs in each)."""
        self._check_transport(transport)
        setup = self._setup(profile, config, baud, pacing, flow_control, lenient_eol)
        rules = None
        if scenario is not None:
            from .control.scenario import read_scenario

            rules = read_scenario(self._path(scenario))
        prefix = f"fleet{len(self._fleets) + 1}-" if self._fleets else "w800-"
        self.workdir.mkdir(parents=True, exist_ok=True)
        fleet = Fleet(
            count,
            lambda i, name: self._channel(transport, name),
            profile=setup.profile,
            config=setup.config,
            store_root=self.workdir / "store",
            trace_dir=self.workdir,
            lenient_eol=setup.lenient_eol,
            pacing=setup.pacing,
            prefix=prefix,
            control=True,
            scenario=rules,
        )
        for name in fleet.names:
            self._check_name(name)
        members = [
            RunningModule(
                m,
                self.loop,
                transport=transport,
                trace_path=self.workdir / f"{m.name}.trace",
                store_dir=self.workdir / "store" / m.name,
                host_timeout=self.host_timeout,
            )
            for m in fleet
        ]
        self._fleets.append(fleet)
        self.modules.extend(members)
        self.loop.run(fleet.start(), timeout=60.0 + count * 0.05)
        return RunningFleet(fleet, members)

    def close(self) -> None:
        """Close every host, stop every module, then the loop.  A module that does not
        stop cleanly raises here (after the others were stopped)."""
        if self._closed:
            return
        errors: list[BaseException] = []
        for m in self.modules:
            if m._host is not None:
                try:
                    m._host.close()
                except Exception as exc:
                    errors.append(exc)
        loop = self._loop
        if loop is not None:

            async def stop_all() -> list[BaseException | None]:
                return await asyncio.gather(
                    *(m.module.stop() for m in self.modules), return_exceptions=True
                )

            try:
                results = loop.run(stop_all(), timeout=30.0)
                errors += [r for r in results if r is not None]
            except Exception as exc:
                errors.append(exc)
            finally:
                loop.close()
        self._closed = True
        if errors:
            raise RuntimeError(f"w800at: a module did not stop cleanly: {errors[0]!r}") from (
                errors[0]
            )

    def __enter__(self) -> ModuleFactory:
        return self

    def __exit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "DEFAULT_TIMEOUT",
    "FINAL_RESULTS",
    "TRANSPORTS",
    "ExpectTimeout",
    "Host",
    "LoopThread",
    "ModuleFactory",
    "PortClosed",
    "Reply",
    "RunningFleet",
    "RunningModule",
    "show_bytes",
]

"""One emulated module as a library object: engine, runtime, features and channel.

`Module` is the one place they are put together; ``w800at serve``, ``w800at fleet``,
the tests and the benchmarks all build modules with it::

    import asyncio
    from w800at import MemoryChannel, Module

    async def main() -> None:
        chan = MemoryChannel()                  # or TcpChannel, PtyChannel, ...
        async with Module(chan, profile="esp-at", name="dut") as module:
            host = chan.host
            await host.expect(b"\\r\\nready\\r\\n")
            host.write(b"AT+GMR\\r\\n")
            print(await host.read_until(b"OK\\r\\n"))

    asyncio.run(main())

Without an event loop of your own, `Module.running` runs the module on a loop in a
background thread (a context manager).

Every log record of the module's work carries its name (`w800at.log`): the module
starts its parts in an asyncio context of its own where the name is set, and every
callback and task they create inherits it.

``module.control`` is the test bench (`w800at.control.Control`): world events, link and
host-port faults, scenarios and the event stream; ``Module(scenario=...)`` loads a
scenario that starts with the module.  ``Module(control=False)`` leaves the bench out
entirely (no wrapper on the port, nothing on the data path): ``w800at serve`` and
``w800at fleet`` do that unless ``--control`` or ``--scenario`` is given.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .channels.base import Channel
from .channels.memory import MemoryChannel, MemoryHost
from .channels.pacing import Pacing, wrap_pacing
from .commands import FEATURES
from .config import Config, host_addresses
from .core.engine import Engine
from .core.feature import FeatureSet
from .core.options import ModuleOptions
from .log import current_module, get_logger
from .profiles import W800, Profile, get_profile
from .runtime.resolver import system_dns_servers
from .runtime.runner import Runtime
from .store import Store
from .trace import LogTracer, TraceLinkTap, Tracer, TraceSink, combine, wrap_channel
from .transcript import TranscriptWriter

if TYPE_CHECKING:
    from .control import Control
    from .control.scenario import Scenario

log = get_logger("w800at.module")

T = TypeVar("T")


def default_options() -> ModuleOptions:
    """What a module uses without a configuration: the host's own addresses and DNS
    servers, every other option at its default."""
    return ModuleOptions(addresses=host_addresses(), system_dns=tuple(system_dns_servers()))


class Module:
    """One emulated W800/ESP-AT module on a channel.

    - ``channel``: where the AT port lives (default: a new `MemoryChannel`, whose
      host end is ``module.host``);
    - ``profile``: a `Profile` or its name (``"w800"``, ``"esp-at"``); default: the
      config's, else w800;
    - ``config``: a loaded configuration file (`w800at.config.load_config`);
    - ``options``: `ModuleOptions` (wins over ``config.options``); default: the
      host's own addresses and DNS servers;
    - ``store``: a `Store` or a directory for saved settings and certificates; None:
      nothing is saved and SSL certificate slots are unavailable;
    - ``name``: carried by every log record of this module;
    - ``lenient_eol``: accept a lone CR or LF as a line end (default: the config's);
    - ``trace``: a file (or a `TraceSink`) that records every byte both ways, on the
      AT port and on every link; ``transcript``: a file that gets the readable
      transcript of the same, live (``w800at trace show``'s rows); ``verbose``: log
      every byte too;
    - ``pacing``: keep a real UART's pace (`w800at.channels.pacing.Pacing`: the
      baud rate, output only or both ways, RTS/CTS); None: as fast as the port goes;
    - ``features``: the command set (default: all of them);
    - ``control``: the test bench (``module.control``); False leaves it out;
    - ``scenario``: a scenario for the test bench, loaded now (a bad one raises
      ``ScenarioError``, a ``ValueError``) and started with the module: a file (a
      `pathlib.Path` or any ``os.PathLike``), TOML text, its tables as a dict, or a
      parsed one (`w800at.control.scenario.read_scenario`).
    """

    def __init__(
        self,
        channel: Channel | None = None,
        *,
        profile: Profile | str | None = None,
        config: Config | None = None,
        options: ModuleOptions | None = None,
        store: Store | str | Path | None = None,
        name: str = "w800",
        lenient_eol: bool | None = None,
        trace: TraceSink | str | Path | None = None,
        transcript: str | Path | None = None,
        verbose: bool = False,
        pacing: Pacing | None = None,
        features: FeatureSet = FEATURES,
        control: bool = True,
        scenario: Scenario | str | dict[str, Any] | os.PathLike[str] | None = None,
    ) -> None:
        self.channel: Channel = channel if channel is not None else MemoryChannel()
        if isinstance(profile, str):
            profile = get_profile(profile)
        if profile is None:
            profile = get_profile(config.profile) if config and config.profile else W800
        self.profile = profile
        self.config = config
        if options is None:
            options = config.options if config is not None else default_options()
        if options.system_dns is None:
            options = dataclasses.replace(options, system_dns=tuple(system_dns_servers()))
        self.options = options
        self.store = store if isinstance(store, Store) or store is None else Store(Path(store))
        self.name = name
        if lenient_eol is None:
            lenient_eol = config.lenient_eol if config is not None else False
        self.lenient_eol = lenient_eol
        self._trace = trace
        self._transcript = transcript
        self._verbose = verbose
        self.pacing = pacing
        self.features = features
        self._control: Control | None = None
        if control:  # imported only for a module that has the bench: none, no cost
            from .control import Control

            self._control = Control(self)
        #: the asyncio context the module runs in (its name set); see `call`
        self.context: contextvars.Context | None = None
        self._engine: Engine | None = None
        self._runtime: Runtime | None = None
        self._stop_requested: asyncio.Event | None = None
        if scenario is not None:
            if self._control is None:
                raise ValueError(f"module {name}: a scenario needs the test bench (control=True)")
            from .control.scenario import read_scenario

            self._control.load_scenario_now(read_scenario(scenario))

    # --- parts

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(f"module {self.name} is not started")
        return self._engine

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError(f"module {self.name} is not started")
        return self._runtime

    @property
    def control(self) -> Control:
        """The test bench: world events, faults, scenarios, the event stream."""
        if self._control is None:
            raise RuntimeError(f"module {self.name} was built with control=False")
        return self._control

    @property
    def has_control(self) -> bool:
        return self._control is not None

    @property
    def host(self) -> MemoryHost:
        """The host's end of a `MemoryChannel` (only for modules on one)."""
        chan = self.channel
        if not isinstance(chan, MemoryChannel):
            raise TypeError(f"module {self.name} is on {chan.description}, not in memory")
        return chan.host

    @property
    def description(self) -> str:
        return self.channel.description

    @property
    def started(self) -> bool:
        return self._runtime is not None and not self._runtime.closing

    # --- lifecycle

    async def start(self, *, saved: dict[str, Any] | None = None) -> Module:
        """Build the engine and runtime and open the port; returns once it listens.

        The module powers up when a host first attaches (at once on a
        `MemoryChannel`), and says ``ready`` after the dialect's boot time.
        ``saved``: the store's settings, already loaded by the caller (a `Fleet`
        reads a whole batch of stores in one trip to a worker thread)."""
        if self._runtime is not None:
            raise RuntimeError(f"module {self.name} already started")
        loop = asyncio.get_running_loop()
        await loop.create_task(self._start(saved))
        return self

    async def _start(self, saved: dict[str, Any] | None) -> None:
        current_module.set(self.name)  # this task's context only: see w800at.log
        self.context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        if saved is None:  # the disk is read off the loop: other modules keep running
            saved = await asyncio.to_thread(self.load_store) if self.store is not None else {}
        engine = Engine(
            self.profile,
            self.features,
            saved=saved,
            options=self.options,
            now=loop.time(),
            lenient_eol=self.lenient_eol,
        )
        sink = self._sink()
        # the trace (outside) records what the module wrote and read, at the line's pace
        channel = wrap_channel(wrap_pacing(self.channel, self.pacing, sink), sink)
        if self._control is not None:  # outermost: the trace inside it records the wire
            channel = self._control.wrap(channel)
        rt = Runtime(engine, channel, self.store)
        if sink is not None:
            rt.link_tap = TraceLinkTap(sink)
        if self._control is not None:
            self._control.bind(engine, rt, sink)
        self._stop_requested = asyncio.Event()
        if getattr(channel, "stop_on_detach", False):
            rt.stop_on_detach = self._stop_requested
        self._engine, self._runtime = engine, rt
        try:
            await channel.start(rt)
        except BaseException:
            self._engine = self._runtime = None
            await rt.close()
            raise
        log.info("%s module on %s", self.profile.name, self.channel.description)

    def load_store(self) -> dict[str, Any]:
        """The saved settings, each checked against its feature's declaration (a bad
        value is reported once and starts from its default; see `w800at.store`).
        Reads the disk: call it off the event loop."""
        return self.store.load(self.features.settings) if self.store is not None else {}

    def _sink(self) -> TraceSink | None:
        """Where the bytes are recorded: the trace, the transcript, the log (or None)."""
        trace = self._trace
        sinks: list[TraceSink] = []
        if isinstance(trace, str | Path):
            sinks.append(Tracer(trace))
        elif trace is not None:
            sinks.append(trace)
        if self._transcript is not None:
            sinks.append(TranscriptWriter(self._transcript, guard=self.profile.escape_guard))
        if self._verbose:
            sinks.append(LogTracer(level=logging.INFO))
        return combine(sinks)

    async def stop(self) -> None:
        """Close every link, the server, the port and the trace; saved settings are
        on disk when this returns.  Idempotent."""
        rt = self._runtime
        if rt is None or rt.closing:
            return
        ctx = self.context.copy() if self.context is not None else None
        await asyncio.get_running_loop().create_task(rt.close(), context=ctx)

    async def wait(self) -> None:
        """Until the module asks to stop (end of input on ``--stdio``)."""
        assert self._stop_requested is not None, "start() first"
        await self._stop_requested.wait()

    async def __aenter__(self) -> Module:
        return await self.start()

    async def __aexit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the module's context (its log records carry its name)."""
        if self.context is None or current_module.get() == self.name:
            return fn(*args)
        return self.context.copy().run(fn, *args)

    # --- without an event loop of one's own

    @contextmanager
    def running(self, timeout: float = 10.0) -> Iterator[ModuleThread]:
        """Run the module on an event loop in a background thread::

        with Module(TcpChannel("127.0.0.1", 0)).running() as m:
            port = m.module.channel.port      # a host connects here
            m.call(lambda: m.module.engine.mode)
        """
        thread = ModuleThread(self)
        thread.start(timeout)
        try:
            yield thread
        finally:
            thread.stop(timeout)


class ModuleThread:
    """A `Module` on an event loop of its own in a daemon thread (`Module.running`)."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name=f"w800at-{module.name}", daemon=True
        )

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self.run(self.module.start(), timeout)

    def run(self, coro: Awaitable[T], timeout: float | None = 10.0) -> T:
        """Run a coroutine on the module's loop and return its result."""

        async def wrap() -> T:
            return await coro

        fut = asyncio.run_coroutine_threadsafe(wrap(), self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError("the module's loop did not answer in time") from None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 10.0) -> T:
        """Run ``fn(*args)`` on the module's loop (in its context) and return its result."""

        async def wrap() -> T:
            return self.module.call(fn, *args)

        return self.run(wrap(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self.module.stop(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()


__all__ = ["Module", "ModuleThread", "default_options"]

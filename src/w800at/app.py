"""Assemble one running module: engine + runtime + channel, until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import commands
from .channels.base import Channel
from .config import Config
from .core.engine import Engine
from .profiles import Profile
from .runtime import Runtime, install_features
from .store import Store

if TYPE_CHECKING:
    from .channels.pacing import Pacing

log = logging.getLogger("w800at")


async def run_module(
    channel: Channel,
    profile: Profile,
    config: Config,
    store: Store,
    *,
    lenient_eol: bool = False,
    trace: Path | None = None,
    verbose: bool = False,
    stop: asyncio.Event | None = None,
    pacing: Pacing | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM, or stdin EOF on --stdio)."""
    commands.load_all()
    loop = asyncio.get_running_loop()
    engine = Engine(
        profile,
        saved=store.load(),
        options=config.options,
        now=loop.time(),
        lenient_eol=lenient_eol or config.lenient_eol,
    )
    engine.parts["store_dir"] = store.directory
    sink = None
    if trace is not None or verbose:
        from .trace import make_sink, wrap_channel

        sink = make_sink(trace, verbose)
    if pacing is not None:  # the trace (outside) sees what the module wrote and read
        from .channels.pacing import wrap_pacing

        channel = wrap_pacing(channel, pacing, sink)
    if sink is not None:
        channel = wrap_channel(channel, sink)
    rt = Runtime(engine, channel, store)
    install_features(rt)
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (RuntimeError, ValueError):  # not the main thread (tests)
            break
    if getattr(channel, "stop_on_detach", False):
        rt.stop_on_detach = stop
    await channel.start(rt)
    print(f"w800at: {profile.name} module on {channel.description}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (RuntimeError, ValueError):
                break
        await rt.close()

"""Many modules in one process: `Fleet` (and ``w800at fleet`` on top of it).

Every module is an ordinary `Module` with its own channel, store subdirectory and name
(``w800-0000``, ``w800-0001``, ...); they share one event loop, one feature set and
one set of options.  An idle module costs a few kilobytes (see ``bench/fleet.py``).

    async with Fleet(200, lambda i, name: MemoryChannel()) as fleet:
        host = fleet[7].host
        ...

`Fleet.start` starts the modules in batches; if one cannot start (its port is taken,
no PTY is left), every module already started is stopped again and `FleetError`
says which one and why.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .channels.base import Channel
from .channels.pacing import Pacing
from .commands import FEATURES
from .config import Config
from .core.feature import FeatureSet
from .core.options import ModuleOptions
from .log import get_logger
from .module import Module, default_options
from .profiles import Profile
from .runtime.resolver import system_dns_servers
from .store import Store

if TYPE_CHECKING:
    from .control.scenario import Scenario

log = get_logger("w800at.fleet")

#: modules started concurrently (their stores are read in one worker-thread trip)
START_BATCH = 1024


class FleetError(Exception):
    """A fleet could not start; the message is one line for the user."""


def module_names(count: int, first: int = 0, prefix: str = "w800-") -> list[str]:
    """``w800-0000`` ... (at least four digits, more when the fleet needs them)."""
    width = max(4, len(str(first + count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(first, first + count)]


def _load_stores(modules: list[Module]) -> list[dict[str, Any]]:
    return [m.load_store() for m in modules]


class Fleet:
    """``count`` modules, module ``i`` on ``channel_for(i, name)``.

    ``first`` offsets the indexes (a worker process of ``w800at fleet --workers``
    runs a slice); ``store_root``: module ``name`` keeps its settings and
    certificates in ``store_root/name`` (None: nothing saved); ``trace_dir``: module
    ``name`` records its bytes in ``trace_dir/name.trace``; ``control``: every module
    gets its test bench (``fleet[i].control``; off by default: nothing on the data path);
    ``scenario``: every module runs it (as `Module`'s; it needs ``control``).
    """

    def __init__(
        self,
        count: int,
        channel_for: Callable[[int, str], Channel],
        *,
        first: int = 0,
        profile: Profile | str | None = None,
        config: Config | None = None,
        options: ModuleOptions | None = None,
        store_root: Path | None = None,
        trace_dir: Path | None = None,
        lenient_eol: bool | None = None,
        pacing: Pacing | None = None,
        prefix: str = "w800-",
        features: FeatureSet = FEATURES,
        control: bool = False,
        scenario: Scenario | None = None,
    ) -> None:
        if count < 1:
            raise FleetError("a fleet needs at least one module (--count 1 or more)")
        if options is None:
            options = config.options if config is not None else default_options()
        if options.system_dns is None:  # read once for all (else each module would)
            options = dataclasses.replace(options, system_dns=tuple(system_dns_servers()))
        self.first = first
        self.names = module_names(count, first, prefix)
        self.modules: list[Module] = []
        for i, name in enumerate(self.names, start=first):
            self.modules.append(
                Module(
                    channel_for(i, name),
                    profile=profile,
                    config=config,
                    options=options,
                    store=Store(store_root / name) if store_root is not None else None,
                    name=name,
                    lenient_eol=lenient_eol,
                    trace=trace_dir / f"{name}.trace" if trace_dir is not None else None,
                    pacing=pacing,
                    features=features,
                    control=control,
                    scenario=scenario,
                )
            )

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __getitem__(self, index: int) -> Module:
        """Module ``index`` (counted from ``first``, as in its name)."""
        return self.modules[index - self.first]

    async def start(self) -> Fleet:
        """Start every module (listening); on the first failure stop them all again."""
        mods = self.modules
        for at in range(0, len(mods), START_BATCH):
            batch = mods[at : at + START_BATCH]
            saved = await asyncio.to_thread(_load_stores, batch)
            # gather runs each start in a task of its own, as Module.start would
            results = await asyncio.gather(
                *(m._start(s) for m, s in zip(batch, saved, strict=True)),
                return_exceptions=True,
            )
            failed = [
                (m, r) for m, r in zip(batch, results, strict=True) if isinstance(r, BaseException)
            ]
            if failed:
                await self.stop()
                module, exc = failed[0]
                raise FleetError(
                    f"module {module.name} ({module.description}) did not start: {exc}"
                ) from exc
        log.info("%d modules started", len(mods))
        return self

    async def stop(self) -> None:
        """Stop every started module: links, servers, ports, traces closed."""
        await asyncio.gather(*(m.stop() for m in self.modules), return_exceptions=True)

    async def __aenter__(self) -> Fleet:
        return await self.start()

    async def __aexit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

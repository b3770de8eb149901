"""Fakes for driving `w800at.runtime.net` directly: an engine that records the link
events it is given and a Runtime that records action results (on a `MemoryChannel`).

The runtime handlers are exercised with real sockets on loopback; only the engine's
link-event methods are replaced (``RecordingEngine`` -> ``RecordingLinks``), so the
tests can assert on exactly which events the runtime delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.live import Conditions
from w800at import FEATURES, MemoryChannel
from w800at.core.actions import Action
from w800at.core.engine import Engine
from w800at.profiles import W800
from w800at.runtime.runner import Runtime

DEADLINE = 5.0


class RecordingLinks:
    """Records every link event the runtime gives the engine."""

    def __init__(self) -> None:
        self.data: dict[int, bytearray] = {}
        self.datagrams: list[tuple[int, bytes, tuple[str, int]]] = []
        self.closed: list[tuple[int, str]] = []
        self.addrs: list[tuple[str, int]] = []
        #: SSL links: the wire (TLS) bytes their data cost, in all
        self.wire: dict[int, int] = {}
        self.changed: Callable[[], None] = lambda: None

    def on_data(self, link_id: int, data: bytes, addr: tuple[str, int]) -> None:
        assert isinstance(data, bytes) and data
        self.data.setdefault(link_id, bytearray()).extend(data)
        self.datagrams.append((link_id, data, addr))
        self.addrs.append(addr)
        self.changed()

    def on_closed(self, link_id: int, reason: str) -> None:
        self.closed.append((link_id, reason))
        self.changed()


class RecordingEngine(Engine):
    """An engine whose link events go to ``recorder`` instead of its link table."""

    def __init__(self, recorder: RecordingLinks) -> None:
        super().__init__(W800, FEATURES, now=0.0)
        self.recorder = recorder

    def link_data(
        self,
        link_id: int,
        data: bytes,
        addr: tuple[str, int],
        now: float,
        wire: int | None = None,
    ) -> None:
        self.now = now
        if wire is not None:
            self.recorder.wire[link_id] = self.recorder.wire.get(link_id, 0) + wire
        self.recorder.on_data(link_id, data, addr)

    def link_closed(self, link_id: int, reason: str, now: float) -> None:
        self.now = now
        self.recorder.on_closed(link_id, reason)


class RecordingRuntime(Runtime):
    """Runtime whose action results are recorded instead of fed to engine tasks."""

    def __init__(self, store_dir: Path | None = None) -> None:
        self.links = RecordingLinks()
        super().__init__(RecordingEngine(self.links), MemoryChannel(), None)
        self.certs_dir = store_dir
        self.results: dict[int, object] = {}
        self._next = 1000
        self.conditions = Conditions()
        self.links.changed = self.conditions.check

    @property
    def mem(self) -> MemoryChannel:
        assert isinstance(self.channel, MemoryChannel)
        return self.channel

    def complete(self, action: Action, result: object) -> None:
        self.results[action.token] = result
        self.conditions.check()

    async def until(self, pred: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Wait (bounded) until ``pred()`` holds; checked after every event/result."""
        await self.conditions.wait(
            pred, timeout, lambda: f"results={self.results} closed={self.links.closed}"
        )

    def do(self, action: Action) -> int:
        """Perform ``action`` as the pump would, with a token; returns the token."""
        self._next += 1
        action.token = self._next
        self._perform(action)
        return action.token

    async def result(self, action: Action, timeout: float = DEADLINE) -> object:
        token = self.do(action)
        await self.until(lambda: token in self.results, timeout)
        return self.results.pop(token)

    async def ok(self, action: Action, timeout: float = DEADLINE) -> Any:
        r = await self.result(action, timeout)
        if isinstance(r, BaseException):
            raise AssertionError(f"{type(action).__name__} failed: {r!r}")
        return r


def run(main: Callable[[RecordingRuntime], Any], store_dir: Path | None = None) -> None:
    """Run ``await main(rt)`` on a fresh loop with a fresh runtime, then shut it down."""

    async def wrapper() -> None:
        rt = RecordingRuntime(store_dir)
        try:
            await main(rt)
        finally:
            await rt.close()

    asyncio.run(wrapper())

"""Shared fakes for channel tests: a recording ChannelEvents and bounded waits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from tests.live import Conditions

DEADLINE = 5.0


class RecordingEvents:
    """Records every event a channel reports; lets a test await a condition."""

    def __init__(self) -> None:
        self.log: list[str] = []  # "attached", "detached", "reset", "data"
        self.received = bytearray()
        self.conditions = Conditions()

    def count(self, name: str) -> int:
        return self.log.count(name)

    def attached(self) -> None:
        self._add("attached")

    def detached(self) -> None:
        self._add("detached")

    def reset(self) -> None:
        self._add("reset")

    def data(self, data: bytes) -> None:
        assert isinstance(data, bytes) and data, "data() must carry non-empty bytes"
        self.received += data
        self._add("data")

    def _add(self, name: str) -> None:
        self.log.append(name)
        self.conditions.check()

    async def wait_for(self, pred: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Wait until ``pred()`` holds (checked now and after each event)."""
        await self.conditions.wait(
            pred, timeout, lambda: f"events={self.log} received={bytes(self.received)!r}"
        )

    async def wait_bytes(self, n: int, timeout: float = DEADLINE) -> bytes:
        await self.wait_for(lambda: len(self.received) >= n, timeout)
        return bytes(self.received)


async def until(pred: Callable[[], bool], timeout: float = DEADLINE, step: float = 0.005) -> None:
    """Poll a condition that no event reports (e.g. OS state), with a deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


ALL_BYTES_PROBE = b"AT\r\n\x00\x03\x11\x13\x7f\xff\x1a\x1c\x04\x08+++\r"


def read_fd_exact(fd: int, n: int, timeout: float = DEADLINE) -> bytes:
    """Blocking read of exactly ``n`` bytes from a raw fd, bounded by ``timeout``."""
    import select
    import time

    out = bytearray()
    end = time.monotonic() + timeout
    while len(out) < n:
        left = end - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, n - len(out))
            if not chunk:
                break
            out += chunk
    return bytes(out)

"""``add_reader`` for one file descriptor, with a pause that outlives attach/detach.

A channel *wants* to read while a host is attached; the runtime may *pause* reading
(flow control: the module cannot take more data yet, so the host's writes should wait
in the OS buffer, like a UART whose RTS line is dropped).  The fd is watched only
when both say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FdReader:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, on_readable: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._on_readable = on_readable
        self._wanted = False
        self._paused = False
        self._watching = False

    @property
    def watching(self) -> bool:
        """Whether the fd is read now (wanted and not paused)."""
        return self._watching

    def start(self) -> None:
        self._wanted = True
        self._sync()

    def stop(self) -> None:
        self._wanted = False
        self._sync()

    def pause(self) -> None:
        self._paused = True
        self._sync()

    def resume(self) -> None:
        self._paused = False
        self._sync()

    def _sync(self) -> None:
        watch = self._wanted and not self._paused
        if watch == self._watching:
            return
        self._watching = watch
        if watch:
            self._loop.add_reader(self._fd, self._on_readable)
        else:
            self._loop.remove_reader(self._fd)

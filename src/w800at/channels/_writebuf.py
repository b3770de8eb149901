"""A non-blocking write queue for a raw file descriptor on an asyncio loop.

PTY, serial and stdio channels all write to an fd that may be slower than the
module: try ``os.write`` at once (the common case costs one syscall and no
copies), keep the remainder, and let the loop tell us when the fd drains.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable

#: errors meaning "the other side is gone" rather than "try later"
GONE_ERRNOS = frozenset({errno.EIO, errno.EPIPE, errno.ENXIO, errno.EBADF, errno.ECONNRESET})


class FdWriter:
    """Buffered non-blocking writer for one fd.

    ``on_gone`` is called (once per failure) when the fd reports that the peer
    vanished; the buffer is dropped then, since nobody can receive it.
    ``on_drained`` (optional) is called each time the buffer becomes empty.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        on_gone: Callable[[OSError], None],
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._on_gone = on_gone
        self._on_drained = on_drained
        self._buf = bytearray()
        self._writer_on = False

    def pending(self) -> int:
        return len(self._buf)

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._buf:
            self._buf += data
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except InterruptedError:
            n = 0
        except OSError as exc:
            if exc.errno in GONE_ERRNOS:
                self._on_gone(exc)
                return
            raise
        if n < len(data):
            self._buf += memoryview(data)[n:]
            self._start_writer()

    def clear(self) -> None:
        """Forget queued bytes (the host went away)."""
        self._buf.clear()
        self._stop_writer()

    def _start_writer(self) -> None:
        if not self._writer_on:
            self._loop.add_writer(self._fd, self._drain)
            self._writer_on = True

    def _stop_writer(self) -> None:
        if self._writer_on:
            self._loop.remove_writer(self._fd)
            self._writer_on = False

    def _drain(self) -> None:
        try:
            n = os.write(self._fd, self._buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.clear()
            if exc.errno in GONE_ERRNOS:
                self._on_gone(exc)
                return
            raise
        del self._buf[:n]
        if not self._buf:
            self._stop_writer()
            if self._on_drained is not None:
                self._on_drained()

"""The AT port on the process's own stdin/stdout (pipes, ``socat EXEC:``, tests).

Non-blocking I/O on fds 0/1 is delicate: ``O_NONBLOCK`` lives on the *open
file description*, which a terminal or pipe usually shares with the parent
shell; flipping it would break the shell after we exit.  So:

* stdin is never made non-blocking.  We read only when the loop says it is
  readable, and a read then returns what is available without blocking.  A
  regular file (``< script.txt``) cannot be polled; it is read in chunks from
  loop callbacks instead (it never blocks).
* stdout is reopened through ``/proc/self/fd/1``, which gives a private file
  description for a pipe, FIFO or tty, and only that one is non-blocking.  If
  reopening is impossible (a socket), stdout stays blocking.

EOF on stdin means the host is gone: ``detached()`` (the runtime shuts down).
stdout stays writable after that, unlike other channels: ``printf 'AT\r\n' |
w800at --stdio`` sends EOF right behind the command and must still see ``OK``;
``close()`` flushes what is queued (bounded by ``CLOSE_FLUSH_TIMEOUT``).
stdin's terminal settings are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat

from ..log import get_logger
from ._fdreader import FdReader
from ._writebuf import FdWriter
from .base import Channel, ChannelEvents

log = get_logger("w800at.channel")

READ_CHUNK = 65536
CLOSE_FLUSH_TIMEOUT = 2.0


def _reopen_nonblocking(fd: int) -> int | None:
    """A private non-blocking write fd for the same pipe/tty, or None."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None  # a file never blocks: write to it directly
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None


class StdioChannel(Channel):
    """stdin -> module, module -> stdout."""

    #: read by the app: end of input ends the session (there is no next host)
    stop_on_detach = True

    def __init__(self, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
        # Raw fds, not sys.stdin/sys.stdout: those may be replaced or wrapped,
        # and the AT port must bypass Python's text layers anyway.
        self._in = stdin_fd
        self._out_orig = stdout_fd
        self._out = self._out_orig
        self._own_out = False
        self.description = "stdio"
        self._events: ChannelEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: FdWriter | None = None
        self._reader: FdReader | None = None  # a pipe or terminal on stdin
        self._file_reader: asyncio.Handle | None = None  # a regular file on stdin
        self._file_mode = False
        self._paused = False
        self._attached = False  # stdin still open
        self._out_ok = False  # stdout still writable
        self._drained = asyncio.Event()

    async def start(self, events: ChannelEvents) -> None:
        self._events = events
        self._loop = asyncio.get_running_loop()
        private = _reopen_nonblocking(self._out_orig)
        if private is not None:
            self._out, self._own_out = private, True
        self._writer = FdWriter(self._loop, self._out, self._on_out_gone, self._drained.set)
        self._attached = self._out_ok = True
        events.attached()
        if stat.S_ISREG(os.fstat(self._in).st_mode):
            self._file_mode = True
            self._file_reader = self._loop.call_soon(self._read_file_chunk)
        else:
            self._reader = FdReader(self._loop, self._in, self._on_readable)
            self._reader.start()

    async def close(self) -> None:
        self._stop_reading()
        self._attached = False
        if self._writer is not None:
            if self._out_ok and self._writer.pending():
                self._drained.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), CLOSE_FLUSH_TIMEOUT)
            self._writer.clear()
        self._out_ok = False
        if self._own_out:
            with contextlib.suppress(OSError):
                os.close(self._out)
            self._own_out = False

    # -- Channel API -----------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self._out_ok or self._writer is None:
            log.debug("stdio: stdout gone, dropped %d bytes", len(data))
            return
        self._writer.write(data)

    def pending(self) -> int:
        return self._writer.pending() if self._writer is not None else 0

    def set_baud(self, baud: int) -> None:
        """stdio has no line rate: nothing to change."""

    def pause_reading(self) -> None:
        self._paused = True
        if self._reader is not None:
            self._reader.pause()
        if self._file_reader is not None:
            self._file_reader.cancel()
            self._file_reader = None

    def resume_reading(self) -> None:
        self._paused = False
        if self._reader is not None:
            self._reader.resume()
        if self._file_mode and self._file_reader is None and self._loop is not None:
            self._file_reader = self._loop.call_soon(self._read_file_chunk)

    # -- internals ---------------------------------------------------------

    def _stop_reading(self) -> None:
        self._file_mode = False
        if self._reader is not None:
            self._reader.stop()
        if self._file_reader is not None:
            self._file_reader.cancel()
            self._file_reader = None

    def _on_readable(self) -> None:
        try:
            data = os.read(self._in, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.info("stdio: stdin error (%s); detached", exc)
            data = b""
        self._deliver(data)

    def _read_file_chunk(self) -> None:
        self._file_reader = None
        data = os.read(self._in, READ_CHUNK)
        self._deliver(data)
        if data and self._file_mode and not self._paused and self._loop is not None:
            self._file_reader = self._loop.call_soon(self._read_file_chunk)

    def _deliver(self, data: bytes) -> None:
        assert self._events is not None
        if data:
            self._events.data(data)
            return
        self._stop_reading()
        self._gone("end of input")

    def _on_out_gone(self, exc: OSError) -> None:
        self._out_ok = False
        if self._writer is not None:
            self._writer.clear()
        self._stop_reading()
        self._gone(f"stdout closed ({exc})")

    def _gone(self, why: str) -> None:
        if not self._attached:
            return
        assert self._events is not None
        self._attached = False
        log.info("stdio: %s; detached", why)
        self._events.detached()

"""The AT port on a pseudo-terminal, reachable through a stable symlink.

A host program opens ``link_path`` (e.g. ``./w800.tty``) like a USB-serial
adapter.  Two details make this behave like a real port:

* The slave is put in raw mode.  With the default line discipline the kernel
  would echo the module's output back into it, turn ``\\n`` into ``\\r\\n`` and
  swallow ``^C``/``^S``: the AT engine must see exactly the bytes sent.
* We do not keep the slave open ourselves.  Then a host closing the port makes
  the master read ``EIO``, which is how we learn it left (``detached``).  While
  nobody has the slave open the master is permanently "readable" (hang-up), so
  the reader is removed and a cheap 20 ms timer probes the master instead: a
  non-blocking read gives ``EIO`` while detached and ``EAGAIN`` (or data) once
  a host has opened the slave again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import termios
import tty

from ..log import get_logger
from ._fdreader import FdReader
from ._writebuf import FdWriter
from .base import Channel, ChannelEvents

log = get_logger("w800at.channel")

READ_CHUNK = 65536
#: a "full" read of a PTY master: Linux's N_TTY buffer (4 KiB) less one, what a read
#: usually returns while the host writes more (it can return more: the kernel may
#: refill the buffer during the read)
N_TTY_CHUNK = 4095
#: full reads taken in one loop callback before yielding to the other callbacks
READ_ON_MAX = 16
POLL_INTERVAL = 0.02


class PtyChannel(Channel):
    """A PTY whose slave is published as a symlink at ``link_path``."""

    def __init__(self, link_path: str, *, idle_poll_max: float = POLL_INTERVAL) -> None:
        self.link_path = link_path
        self.idle_poll_max = max(idle_poll_max, POLL_INTERVAL)
        self._poll_interval = POLL_INTERVAL
        self.slave_name: str | None = None
        self.description = f"pty -> {link_path}"
        self._master: int | None = None
        self._events: ChannelEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: FdWriter | None = None
        self._reader: FdReader | None = None
        self._attached = False
        self._poll_handle: asyncio.TimerHandle | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------

    async def start(self, events: ChannelEvents) -> None:
        self._check_link_path()
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            self.slave_name = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        try:
            self._publish_link(self.slave_name)
        except OSError:
            os.close(master)
            raise
        self._master = master
        self._events = events
        self._loop = asyncio.get_running_loop()
        self._writer = FdWriter(self._loop, master, self._on_write_gone)
        self._reader = FdReader(self._loop, master, self._on_readable)
        self.description = f"pty {self.slave_name} -> {self.link_path}"
        self._schedule_poll(0.0)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        if self._master is not None and self._loop is not None:
            if self._reader is not None:
                self._reader.stop()
            if self._writer is not None:
                self._writer.clear()
        self._attached = False
        self._remove_link()
        if self._master is not None:
            os.close(self._master)
            self._master = None

    # -- Channel API -----------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self._attached or self._writer is None:
            log.debug("pty: no host attached, dropped %d bytes", len(data))
            return
        self._writer.write(data)

    def pending(self) -> int:
        return self._writer.pending() if self._writer is not None else 0

    def set_baud(self, baud: int) -> None:
        """A PTY has no line rate: nothing to change."""

    def pause_reading(self) -> None:
        if self._reader is not None:
            self._reader.pause()

    def resume_reading(self) -> None:
        if self._reader is not None:
            self._reader.resume()

    # -- symlink ----------------------------------------------------------

    def _check_link_path(self) -> None:
        """Refuse to clobber anything that is not a symlink (it may be user data)."""
        try:
            st = os.lstat(self.link_path)
        except FileNotFoundError:
            return
        if not stat.S_ISLNK(st.st_mode):
            raise FileExistsError(
                f"{self.link_path} exists and is not a symlink; refusing to replace it"
            )

    def _publish_link(self, target: str) -> None:
        # Create beside the final name, then rename over it: atomic replacement
        # of a stale link left by a crashed run.
        self._check_link_path()
        tmp = f"{self.link_path}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, self.link_path)

    def _remove_link(self) -> None:
        # Only remove the link if it is still ours (another run may own it now).
        try:
            if os.readlink(self.link_path) == self.slave_name:
                os.unlink(self.link_path)
        except OSError:
            pass

    # -- attach / detach ------------------------------------------------------

    def _schedule_poll(self, delay: float) -> None:
        assert self._loop is not None
        self._poll_handle = self._loop.call_later(delay, self._poll)

    def _poll(self) -> None:
        """Probe the master while detached: EIO = still nobody, else attach."""
        self._poll_handle = None
        if self._closed or self._master is None:
            return
        try:
            data = os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._schedule_poll(self._poll_interval)
                self._poll_interval = min(self._poll_interval * 2, self.idle_poll_max)
                return
            raise
        self._attach()
        if data:
            assert self._events is not None
            self._events.data(data)

    def _attach(self) -> None:
        assert self._loop is not None and self._master is not None
        assert self._events is not None
        self._attached = True
        assert self._reader is not None
        self._reader.start()
        log.info("pty: host opened %s", self.link_path)
        self._events.attached()

    def _detach(self) -> None:
        if not self._attached:
            return
        assert self._loop is not None and self._master is not None
        assert self._events is not None
        self._attached = False
        if self._reader is not None:
            self._reader.stop()
        if self._writer is not None:
            self._writer.clear()
        self._flush_stale_output()
        log.info("pty: host closed %s", self.link_path)
        self._events.detached()
        if not self._closed:
            self._poll_interval = POLL_INTERVAL
            self._schedule_poll(POLL_INTERVAL)

    def _flush_stale_output(self) -> None:
        """Drop module output the departed host never read.

        Otherwise it would greet the next host (pyserial flushes on open, but a
        plain ``open()`` or ``cat`` does not).  ``tcflush`` on the master does
        not reliably reach data already queued for the slave, so open the
        slave for an instant and flush its input queue.  No poll runs between
        this open and close, so it cannot be mistaken for a host attaching.
        """
        if self.slave_name is None:
            return
        try:
            fd = os.open(self.slave_name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            log.debug("pty: could not open slave to flush stale output: %s", exc)
            return
        try:
            termios.tcflush(fd, termios.TCIFLUSH)
        except termios.error as exc:
            log.debug("pty: flush failed: %s", exc)
        finally:
            os.close(fd)

    def _on_readable(self) -> None:
        # The line discipline hands over a few KiB at a time.  A full read means the
        # host is mid-write and the kernel moves the rest over while we process this
        # part: read on in the same callback instead of another loop round (bounded,
        # so a host streaming without pause cannot starve the links).
        for _ in range(READ_ON_MAX):
            data = self._read()
            if data is None:
                return
            assert self._events is not None
            self._events.data(data)
            if len(data) < N_TTY_CHUNK or self._reader is None or not self._reader.watching:
                return

    def _read(self) -> bytes | None:
        """One non-blocking read of the master; None if nothing (or the host left)."""
        assert self._master is not None
        try:
            data = os.read(self._master, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._detach()
                return None
            raise
        if not data:  # not expected from a PTY master, but do not spin on it
            self._detach()
            return None
        return data

    def _on_write_gone(self, exc: OSError) -> None:
        log.debug("pty: write failed (%s); treating as detached", exc)
        self._detach()

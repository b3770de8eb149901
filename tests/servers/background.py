"""The lifecycle the loopback test servers share.

`ThreadedServer`: one daemon thread, started once, usable as a context manager; each
server says how it stops.  `BackgroundServer` adds the usual way to stop a
``select`` loop: a flag plus a wake-up byte on a socket pair.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self


class ThreadedServer:
    def __init__(self, name: str) -> None:
        self._stopping = False
        self._started = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BackgroundServer(ThreadedServer):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._wake_r, self._wake_w = socket.socketpair()

    def _sockets(self) -> list[socket.socket | None]:
        """The server's own sockets, closed on `stop` after the thread has ended."""
        return []

    def stop(self) -> None:
        self._stopping = True
        self._wake_w.send(b"x")
        if self._started:
            self._thread.join(timeout=5)
        for sock in (*self._sockets(), self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

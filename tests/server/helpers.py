"""Shared bits of the server tests: a harness in multi-connection mode with the link
commands loaded, and the server started (the runtime's `Listen` answered)."""

from __future__ import annotations

import importlib

from tests.harness import Harness
from w800at.core.links import LinkTable
from w800at.core.net_actions import Listen

# The link commands (AT+CIPMUX, CIPCLOSE, CIPSTATE ...) are engineer A's; importing is
# idempotent once they are part of w800at.commands._MODULES.
for _name in ("connect", "send"):
    importlib.import_module(f"w800at.commands.{_name}")


def mux(h: Harness) -> None:
    assert h.send(b"AT+CIPMUX=1\r\n") == b"AT+CIPMUX=1\r\n\r\nOK\r\n"


def started(h: Harness, line: bytes = b"AT+CIPSERVER=1,333\r\n", port: int = 333) -> Listen:
    """Send ``line`` (a server start) and answer its Listen with ``port``."""
    assert h.send(line) == line
    (act,) = h.take(Listen)
    assert isinstance(act, Listen)
    assert h.complete(act, port) == b"\r\nOK\r\n"
    return act


def table(h: Harness) -> LinkTable:
    return h.engine.links


def accept(h: Harness, rport: int = 50000, kind: str = "TCP") -> tuple[int | None, bytes]:
    """A client arrives (what runtime/server.py does): the ID and what the host saw."""
    link_id = h.engine.link_accepted(kind, "127.0.0.1", rport, 333, h.now)
    return link_id, h._collect()

"""Shared steps for the link tests: a joined module with echo off, and a runtime
stand-in that answers `Connect` / `Send` / `Close` the way the socket layer would."""

from __future__ import annotations

from typing import Any

from tests.harness import Harness
from w800at.core.links import LinkTable
from w800at.core.net_actions import Close, Connect, Connected, Send

PEER = ("127.0.0.1", 8080)


def joined(**kw: Any) -> Harness:
    """Powered, joined (has an IP), echo off: outputs are just the replies."""
    h = Harness(**kw)
    h.join()
    assert h.send(b"ATE0\r\n") == b"ATE0\r\n\r\nOK\r\n"
    return h


def table(h: Harness) -> LinkTable:
    return h.engine.links


def open_link(
    h: Harness,
    cmd: bytes = b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n',
    remote: tuple[str, int] = PEER,
    local_port: int = 40000,
) -> bytes:
    """Run a CIPSTART-like command and let the runtime connect it."""
    out = h.send(cmd)
    acts = h.take(Connect)
    assert len(acts) == 1, (out, h.pending)
    return out + h.complete(acts[0], Connected(remote[0], remote[1], "127.0.0.1", local_port))


def finish_send(h: Harness, result: object = None) -> tuple[Send, bytes]:
    acts = h.take(Send)
    assert len(acts) == 1, h.pending
    act = acts[0]
    assert isinstance(act, Send)
    return act, h.complete(act, len(act.data) if result is None else result)


def finish_close(h: Harness) -> bytes:
    acts = h.take(Close)
    assert len(acts) == 1, h.pending
    return h.complete(acts[0], None)

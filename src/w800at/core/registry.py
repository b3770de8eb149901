"""One declarative row per command, with the four vendor handlers.

A row names the command (``"+CIPMUX"``, ``"E0"``, ``""`` for bare ``AT``), the
handlers it supports — test (``=?``), query (``?``), set (``=...``), execute (bare) —
and the parameter grammar of its set form.  Handlers return an `Outcome`:

- ``None``: the command succeeded, answer ``OK``;
- a `Final`: answer that final result instead;
- a generator: the command runs as a task that yields `Wait` objects
  (`Sleep`, `Payload`, or an `Action` for the runtime) and returns a `Final` or None.

Raising `CommandError` answers ``ERROR``.  Nothing here touches I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from .actions import Wait
from .params import Args, Signature

if TYPE_CHECKING:
    from .engine import Engine


class Final(Enum):
    OK = "OK"
    ERROR = "ERROR"
    FAIL = "FAIL"
    SEND_OK = "SEND OK"
    SEND_FAIL = "SEND FAIL"
    SEND_CANCELLED = "SEND CANCELLED"
    #: the handler wrote its own closing bytes (e.g. entering passthrough after ``>``)
    NONE = ""


Task = Generator[Wait, object, Final | None]
Outcome = Final | None | Task
Handler = Callable[["Engine"], Outcome]
SetHandler = Callable[["Engine", Args], Outcome]
ParamSpec = Signature | Callable[["Engine"], Signature]


@dataclass(frozen=True)
class Command:
    name: str
    test: Handler | None = None
    query: Handler | None = None
    set: SetHandler | None = None
    execute: Handler | None = None
    params: ParamSpec | None = None
    #: set/execute need the station to have an IP (TCP/IP commands before a join: ERROR)
    needs_ip: bool = False
    #: allowed while a passthrough link is in data mode? (never for now: data is data)
    summary: str = ""

    def signature(self, engine: Engine) -> Signature:
        p = self.params
        if p is None:
            return ()
        return p if isinstance(p, tuple) else p(engine)

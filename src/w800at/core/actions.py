"""What the engine asks of the outside world, and what a task may wait for.

Commands never touch sockets, files or clocks.  They `yield` one of these from a
generator handler (the engine is busy until the result comes back through
`Engine.complete`), or fire one with `Engine.act` without waiting.  The runtime
performs each `Action` by its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(eq=False)
class Action:
    """Base of every request to the runtime.  ``token`` is set when a task waits on it."""

    token: int = field(default=0, init=False)
    #: the runtime writes the output queued so far before performing this action
    flush_output_first: ClassVar[bool] = False
    #: the runtime's handler keeps its own order with work deferred until the output
    #: is written (`Runtime.after_output`); for every other action that work is done
    #: first, so side effects keep the order the engine asked for them in
    defer_aware: ClassVar[bool] = False


@dataclass(eq=False)
class Sleep:
    """Wait (busy) for this many seconds of engine time."""

    seconds: float


@dataclass(eq=False)
class Payload:
    """Show the ``>`` prompt and collect ``length`` bytes of data from the host.

    With ``escaped`` (AT+CIPSENDEX) ``\\0`` ends the data early, ``\\\\0`` is a literal
    ``\\0`` and a backslash before any other byte is dropped.  The task receives the
    data as ``bytes``.
    """

    length: int
    escaped: bool = False


Wait = Action | Sleep | Payload


# --- actions of the foundation --------------------------------------------------


@dataclass(eq=False)
class SaveSettings(Action):
    """Write the persistent settings (the NVS area) atomically."""

    snapshot: dict[str, Any]


@dataclass(eq=False)
class SetUart(Action):
    """Apply new serial parameters after the OK has been written."""

    flush_output_first: ClassVar[bool] = True

    baud: int
    databits: int
    stopbits: int
    parity: int
    flow: int


@dataclass(eq=False)
class ResetNetwork(Action):
    """The module reboots (AT+RST, AT+RESTORE, EN pin): drop every link and server."""

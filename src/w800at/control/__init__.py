"""The driver test bench: one control model per module, three doors.

`Control` (``module.control``) is the model: world events, link faults, host-port
faults, scenarios and the event stream, as ``async`` methods with validated arguments.
`w800at.control.http` serves the same operations as an HTTP/JSON API (aiohttp, on a
Unix socket or loopback TCP) and ``w800at ctl`` calls that API from the shell.
"""

from __future__ import annotations

from .control import Control
from .events import Event, EventBus
from .ops import OPS, ControlError, Op
from .scenario import Scenario, ScenarioError, parse_scenario

__all__ = [
    "OPS",
    "Control",
    "ControlError",
    "Event",
    "EventBus",
    "Op",
    "Scenario",
    "ScenarioError",
    "parse_scenario",
]

"""Logging with the module's name on every record.

Many modules can run in one process (a fleet), so each log record says which one it
is about: ``record.module_name`` (``""`` outside any module).  The name lives in a
context variable that `w800at.Module` sets in the asyncio context it starts its
engine, runtime and channel in; every callback and task the module's work creates
later inherits that context, so records logged from them carry the name with no
per-call cost.  The package's loggers come from `get_logger`, which attaches the
filter that copies the name onto each record; `ModuleNameFilter` on a handler does
the same for records from other libraries (asyncio's own, for example), so a format
string may use ``%(module_name)s``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

#: the name of the module whose work is running (set by `w800at.Module`)
current_module: ContextVar[str] = ContextVar("w800at_module", default="")


class ModuleNameFilter(logging.Filter):
    """Gives every record it sees a ``module_name`` attribute (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "module_name"):
            record.module_name = current_module.get()
        return True


_FILTER = ModuleNameFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records carry the module's name."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger

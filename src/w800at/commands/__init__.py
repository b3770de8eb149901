"""Every AT command, one declarative row each, grouped by the spec's sections.

Importing this package registers them all in `w800at.core.registry.COMMANDS`.
"""

from __future__ import annotations

import importlib

_MODULES = ("basic", "wifi", "services", "server", "ssl", "connect", "send", "receive")


def load_all() -> None:
    """Import every command module (idempotent)."""
    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}")


load_all()

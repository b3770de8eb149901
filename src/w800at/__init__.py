"""w800at: an emulator of the W800 TCP/IP AT command set with real host networking."""

from __future__ import annotations

__version__ = "0.1.0"

from .core.engine import Engine, Mode
from .core.errors import CommandError, ErrCode
from .core.options import ModuleOptions
from .profiles import ESP_AT, PROFILES, W800, Profile, get_profile

__all__ = [
    "ESP_AT",
    "PROFILES",
    "W800",
    "CommandError",
    "Engine",
    "ErrCode",
    "Mode",
    "ModuleOptions",
    "Profile",
    "__version__",
    "get_profile",
]

"""w800at: an emulator of the W800 TCP/IP AT command set with real host networking."""

from __future__ import annotations

__version__ = "0.1.0"

from .channels.memory import MemoryChannel, MemoryHost
from .commands import FEATURES
from .config import Config, ConfigError, load_config
from .core.engine import Engine, Mode
from .core.errors import CommandError, ErrCode
from .core.feature import Feature, FeatureSet
from .core.options import ModuleOptions
from .module import Module, ModuleThread
from .profiles import ESP_AT, PROFILES, W800, Profile, get_profile
from .store import Store

__all__ = [
    "ESP_AT",
    "FEATURES",
    "PROFILES",
    "W800",
    "CommandError",
    "Config",
    "ConfigError",
    "Engine",
    "ErrCode",
    "Feature",
    "FeatureSet",
    "MemoryChannel",
    "MemoryHost",
    "Mode",
    "Module",
    "ModuleOptions",
    "ModuleThread",
    "Profile",
    "Store",
    "__version__",
    "get_profile",
    "load_config",
]

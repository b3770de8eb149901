"""w800at: an emulator of the W800 TCP/IP AT command set with real host networking.

The names below are imported on first use (PEP 562): ``import w800at`` alone is cheap,
which matters because pytest loads the plugin (``w800at.pytest_plugin``) in every run
of every project installed next to w800at, whether it uses the fixtures or not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .channels.memory import MemoryChannel, MemoryHost
    from .commands import FEATURES
    from .config import Config, ConfigError, load_config
    from .core.engine import Engine, Mode
    from .core.errors import CommandError, ErrCode
    from .core.feature import Feature, FeatureSet
    from .core.options import ModuleOptions
    from .fleet import Fleet
    from .module import Module, ModuleThread
    from .profiles import ESP_AT, PROFILES, W800, Profile, get_profile
    from .store import Store

#: public name -> the submodule that defines it
_WHERE = {
    "MemoryChannel": ".channels.memory",
    "MemoryHost": ".channels.memory",
    "FEATURES": ".commands",
    "Config": ".config",
    "ConfigError": ".config",
    "load_config": ".config",
    "Engine": ".core.engine",
    "Mode": ".core.engine",
    "CommandError": ".core.errors",
    "ErrCode": ".core.errors",
    "Feature": ".core.feature",
    "FeatureSet": ".core.feature",
    "ModuleOptions": ".core.options",
    "Fleet": ".fleet",
    "Module": ".module",
    "ModuleThread": ".module",
    "ESP_AT": ".profiles",
    "PROFILES": ".profiles",
    "W800": ".profiles",
    "Profile": ".profiles",
    "get_profile": ".profiles",
    "Store": ".store",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # the next look-up is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


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
    "Fleet",
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

"""Features: how command modules plug into an engine.

Each command module declares its feature once: the commands it adds, the settings it
owns, and what it does when the module boots (after ``ready``), reboots, or loses
its Wi-Fi network.  An engine is built from a `FeatureSet`; nothing is registered in
a global table at import time, so two engines (or a test) can use different sets,
and handlers run in the order the features are listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..profiles import Profile
from .registry import Command
from .settings import CORE_SETTINGS, SettingDef, default_values

if TYPE_CHECKING:
    from .engine import Engine
    from .world import WorldEvent

Hook = Callable[["Engine"], None]
WorldHook = Callable[["Engine", "WorldEvent"], bool]


@dataclass(frozen=True)
class Feature:
    name: str
    commands: tuple[Command, ...] = ()
    settings: tuple[SettingDef, ...] = ()
    #: after ``ready`` (power-on, AT+RST, AT+RESTORE, EN pin)
    on_boot: Hook | None = None
    #: the module reboots, before it boots again (its links are already dropped)
    on_reset: Hook | None = None
    #: the station lost its network (AT+CWQAP, the AP vanished, AT+CWMODE=0/2)
    on_wifi_down: Hook | None = None
    #: a world event (`w800at.core.world`): returns True if this feature handled it
    on_world: WorldHook | None = None


class FeatureSet:
    """An ordered set of features, checked once and shared by every engine built
    from it (a fleet of modules shares one)."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self.features = tuple(features)
        commands: dict[str, Command] = {}
        settings: dict[str, SettingDef] = {s.name: s for s in CORE_SETTINGS}
        for f in self.features:
            for cmd in f.commands:
                if cmd.name in commands:
                    raise ValueError(f"command AT{cmd.name} declared twice ({f.name})")
                commands[cmd.name] = cmd
            for s in f.settings:
                old = settings.get(s.name)
                if old is not None and old != s:
                    raise ValueError(f"setting {s.name!r} declared twice differently ({f.name})")
                settings[s.name] = s
        self.commands: Mapping[str, Command] = MappingProxyType(commands)
        self.settings: Mapping[str, SettingDef] = MappingProxyType(settings)
        self.on_boot = tuple(f.on_boot for f in self.features if f.on_boot is not None)
        self.on_reset = tuple(f.on_reset for f in self.features if f.on_reset is not None)
        self.on_wifi_down = tuple(
            f.on_wifi_down for f in self.features if f.on_wifi_down is not None
        )
        self.on_world = tuple(f.on_world for f in self.features if f.on_world is not None)
        self._defaults: dict[str, Mapping[str, Any]] = {}

    def defaults(self, profile: Profile) -> Mapping[str, Any]:
        """The settings' defaults in ``profile``, computed once and shared by every
        engine built from this set (read only: settings are replaced, never mutated)."""
        got = self._defaults.get(profile.name)
        if got is None:
            got = self._defaults[profile.name] = MappingProxyType(
                default_values(self.settings, profile)
            )
        return got

    def plus(self, *more: Feature) -> FeatureSet:
        """This set with more features after it (tests add a command this way)."""
        return FeatureSet((*self.features, *more))

    def __repr__(self) -> str:
        return f"FeatureSet({', '.join(f.name for f in self.features)})"

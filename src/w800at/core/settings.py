"""Module settings and the NVS rules of AT+SYSSTORE.

Each command module declares the settings it owns with `declare()`; a setting is

- ``"sysstore"``: saved when it changes while AT+SYSSTORE=1 (the spec's "When
  AT+SYSSTORE=1 ... saved in the NVS area"), lost on restart otherwise;
- ``"always"``: always saved (``*_DEF`` commands, AT+CWAUTOCONN, AT+SYSSTORE itself);
- ``"never"``: volatile, back to its default at every boot.

`Settings` holds the current values and the saved snapshot.  Values are JSON types.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..profiles import Profile

Persist = Literal["sysstore", "always", "never"]
Default = Any | Callable[[Profile], Any]


@dataclass(frozen=True)
class SettingDef:
    name: str
    default: Default
    persist: Persist

    def default_for(self, profile: Profile) -> Any:
        d = self.default
        return copy.deepcopy(d(profile) if callable(d) else d)


SETTINGS: dict[str, SettingDef] = {}


def declare(name: str, default: Default, persist: Persist = "sysstore") -> builtins.str:
    """Declare a setting once (at import of the command module that owns it)."""
    existing = SETTINGS.get(name)
    if existing is not None and existing != SettingDef(name, default, persist):
        raise ValueError(f"setting {name!r} declared twice differently")
    SETTINGS[name] = SettingDef(name, default, persist)
    return name


SYSSTORE = declare("sysstore", 1, "always")


class Settings:
    """Current values plus the saved (NVS) snapshot they were booted from."""

    def __init__(self, profile: Profile, saved: dict[str, Any]) -> None:
        self.profile = profile
        self.saved: dict[str, Any] = {
            k: copy.deepcopy(v)
            for k, v in saved.items()
            if k in SETTINGS and SETTINGS[k].persist != "never"
        }
        self.values: dict[str, Any] = {}
        self.dirty = False
        self.boot()

    def boot(self) -> None:
        """Values as after power-up: defaults overlaid with what was saved."""
        self.values = {n: d.default_for(self.profile) for n, d in SETTINGS.items()}
        self.values.update(copy.deepcopy(self.saved))

    def restore(self) -> None:
        """AT+RESTORE: forget everything saved."""
        self.saved = {}
        self.dirty = True
        self.boot()

    def get(self, name: builtins.str) -> Any:
        return self.values[name]

    def int(self, name: builtins.str) -> builtins.int:
        v = self.values[name]
        assert isinstance(v, int), name
        return v

    def str(self, name: builtins.str) -> builtins.str:
        v = self.values[name]
        assert isinstance(v, str), name
        return v

    def set(self, name: builtins.str, value: Any, *, save: bool | None = None) -> None:
        """Change a setting; it reaches NVS by its persist rule (or ``save`` if given)."""
        self.values[name] = value
        rule = SETTINGS[name].persist
        if save is None:
            save = rule == "always" or (rule == "sysstore" and self.values[SYSSTORE] == 1)
        if save:
            self.saved[name] = copy.deepcopy(value)
            self.dirty = True

    def snapshot(self) -> dict[builtins.str, Any]:
        self.dirty = False
        return copy.deepcopy(self.saved)

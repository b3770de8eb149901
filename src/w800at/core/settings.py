"""Module settings and the NVS rules of AT+SYSSTORE.

A setting is declared once, as a `SettingDef`, by the feature that owns it (its
command module lists it in its `Feature`); the engine's feature set decides which
settings exist.  ``persist`` is:

- ``"sysstore"``: saved when it changes while AT+SYSSTORE=1 (the spec's "When
  AT+SYSSTORE=1 ... saved in the NVS area"), lost on restart otherwise;
- ``"always"``: always saved (``*_DEF`` commands, AT+CWAUTOCONN, AT+SYSSTORE itself);
- ``"never"``: volatile, back to its default at every boot.

`Settings` holds the current values and the saved snapshot.  Values are JSON types,
and they are never changed in place: `Settings.set` replaces a value (commands build a
new list or dict).  That lets every engine of a dialect share one copy of the
defaults (`default_values`), which keeps an idle module small.
The settings the core itself reads (the link table's modes, SYSLOG, SYSSTORE, the
server links' idle timeout) are declared here, in `CORE_SETTINGS`; every engine has
them.

Each `SettingDef` also declares the ``type`` of its value, next to its default: an
annotation a pydantic ``TypeAdapter`` takes (``int`` with its range, ``str`` with its
length, ``list[...]``, a ``TypedDict``, ``X | None``), written with `annotated_types`
constraints so the core imports no pydantic.  The store checks a saved file against
them when it is loaded (`w800at.store.validate_saved`), so a value of the wrong type
never reaches a command.  Build them with `int_range`, `text`, `ipv4_text`, `mac_text`.
"""

from __future__ import annotations

import builtins
import copy
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Interval, MaxLen, Predicate

from ..profiles import Profile

Persist = Literal["sysstore", "always", "never"]
Default = Any | Callable[[Profile], Any]


@dataclass(frozen=True)
class SettingDef:
    """One setting: its key in the store, its default (a value, or a function of the
    dialect), its persistence rule, and the type its value has (see the module
    docstring; ``Any`` checks nothing, and the test suite refuses it)."""

    name: str
    default: Default
    persist: Persist = "sysstore"
    type: Any = Any

    def default_for(self, profile: Profile) -> Any:
        d = self.default
        return copy.deepcopy(d(profile) if callable(d) else d)


# --- value types (data for the store's validator) -------------------------------------


def int_range(lo: int, hi: int | None = None) -> Any:
    """An integer in ``[lo, hi]`` (no upper bound without ``hi``)."""
    return Annotated[int, Ge(lo)] if hi is None else Annotated[int, Interval(ge=lo, le=hi)]


def text(max_len: int) -> Any:
    """A string of at most ``max_len`` characters (bytes: settings text is latin-1)."""
    return Annotated[str, MaxLen(max_len)]


def _is_ipv4(v: str) -> bool:
    try:
        return ipaddress.ip_address(v).version == 4
    except ValueError:
        return False


def _is_ip(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def _is_mac(v: str) -> bool:
    return _MAC.fullmatch(v) is not None


#: an IPv4 address as text; any IP address as text; a MAC ``xx:xx:xx:xx:xx:xx``
ipv4_text: Any = Annotated[str, Predicate(_is_ipv4)]
ip_text: Any = Annotated[str, Predicate(_is_ip)]
mac_text: Any = Annotated[str, Predicate(_is_mac)]
FLAG = int_range(0, 1)


# --- the settings the core reads ------------------------------------------------------

SYSSTORE = SettingDef("sysstore", 1, "always", FLAG)
#: AT+SYSLOG: print ``ERR CODE`` lines before ``ERROR``
SYSLOG = SettingDef("syslog", 0, "never", FLAG)
#: AT+SYSMSG bits (wire-format doc); saved under AT+SYSSTORE=1 (ESP-AT v3.2 lists
#: AT+SYSMSG among AT+SYSSTORE's commands: docs/en/AT_Command_Set/Basic_AT_Commands.rst)
SYSMSG = SettingDef("sysmsg", 0, type=int_range(0, 7))
CIPMUX = SettingDef("cipmux", 0, "never", FLAG)
CIPMODE = SettingDef("cipmode", 0, "never", FLAG)  # spec: "Configuration changes are not saved"
CIPDINFO = SettingDef("cipdinfo", 0, "never", FLAG)
RECVMODE = SettingDef("ciprecvmode", 0, "never", FLAG)
#: x100 ms, "[1,36000]"; spec: saved under AT+SYSSTORE=1
RECONNINTV = SettingDef("cipreconnintv", 1, type=int_range(1, 36000))
#: AT+CIPSERVERMAXCONN "<num> ... range: [1,5]" (5 = the link count); not saved
MAXCONN = SettingDef("cipservermaxconn", lambda p: p.max_links, "never", int_range(1, 5))
#: AT+CIPSTO "<time> ... value range:[0,7200]"; ESP-AT's default is 180 s; not saved
CIPSTO = SettingDef("cipsto", 180, "never", int_range(0, 7200))

CORE_SETTINGS: tuple[SettingDef, ...] = (
    SYSSTORE,
    SYSLOG,
    SYSMSG,
    CIPMUX,
    CIPMODE,
    CIPDINFO,
    RECVMODE,
    RECONNINTV,
    MAXCONN,
    CIPSTO,
)


def default_values(defs: Mapping[str, SettingDef], profile: Profile) -> dict[str, Any]:
    """Every setting's default for ``profile`` (compute once; share, never mutate)."""
    return {n: d.default_for(profile) for n, d in defs.items()}


class Settings:
    """Current values plus the saved (NVS) snapshot they were booted from.

    ``defaults`` (from `default_values`) is shared with other engines: read only."""

    def __init__(
        self,
        profile: Profile,
        saved: dict[str, Any],
        defs: Mapping[str, SettingDef],
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.profile = profile
        self.defs = defs
        self._defaults = defaults if defaults is not None else default_values(defs, profile)
        self.saved: dict[str, Any] = {
            k: copy.deepcopy(v)
            for k, v in saved.items()
            if k in defs and defs[k].persist != "never"
        }
        self.values: dict[str, Any] = {}
        self.dirty = False
        self.boot()

    def boot(self) -> None:
        """Values as after power-up: defaults overlaid with what was saved."""
        self.values = dict(self._defaults)
        self.values.update(copy.deepcopy(self.saved))

    def restore(self) -> None:
        """AT+RESTORE: forget everything saved."""
        self.saved = {}
        self.dirty = True
        self.boot()

    def get(self, s: SettingDef) -> Any:
        return self.values[s.name]

    def int(self, s: SettingDef) -> builtins.int:
        v = self.values[s.name]
        assert isinstance(v, int), s.name
        return v

    def str(self, s: SettingDef) -> builtins.str:
        v = self.values[s.name]
        assert isinstance(v, str), s.name
        return v

    def set(self, s: SettingDef, value: Any, *, save: bool | None = None) -> None:
        """Change a setting; it reaches NVS by its persist rule (or ``save`` if given)."""
        name = s.name
        self.values[name] = value
        if save is None:
            rule = s.persist
            save = rule == "always" or (rule == "sysstore" and self.values[SYSSTORE.name] == 1)
        if save:
            self.saved[name] = copy.deepcopy(value)
            self.dirty = True

    def snapshot(self) -> dict[builtins.str, Any]:
        self.dirty = False
        return copy.deepcopy(self.saved)

r"""Persistent settings: the module's NVS area, as one JSON file in the store directory.

Writes are atomic: the new content goes to a temporary file in the same directory,
is flushed and fsync'ed, then renamed over the old one (and the directory fsync'ed),
so a crash mid-write leaves either the old or the new settings, never a mix.

Reads are checked.  A file that is not JSON, or not a JSON object, is set aside as
``settings.corrupt`` and the module starts from its defaults.  Given the settings'
declarations (`Store.load` with the feature set's `SettingDef`\ s), every key is also
checked against the type its `SettingDef` declares (strict: ``"1"`` is not an integer,
``true`` is not 1; ranges and lengths count): a key whose value does not fit, or that
no feature declares, is reported on one log line (the key, the file, what is wrong;
never the value, which may be a password) and left out, so that setting starts from
its default; the other keys are kept.  The file is then set aside as
``settings.corrupt`` and the kept keys are written back, so the next start is clean.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import TypeAdapter, ValidationError

from .core.settings import SettingDef
from .log import get_logger

log = get_logger("w800at.store")

SETTINGS_FILE = "settings.json"


def default_store_dir() -> Path:
    return Path(platformdirs.user_data_dir("w800at", appauthor=False))


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    ``mkstemp`` creates the temporary file with mode 0600, so key material is never
    readable by others even for an instant; the final ``mode`` is applied before the
    rename, and the directory is fsync'ed after it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    """One ``TypeAdapter`` per declared type, built once per process (settings types
    are hashable: ``Annotated`` with `annotated_types` constraints, classes, unions)."""
    return TypeAdapter(tp)


def _problem(exc: ValidationError) -> str:
    """What is wrong, in one line, without the value (it may be a password)."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(x) for x in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def validate_saved(
    data: Mapping[str, Any], defs: Mapping[str, SettingDef]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check every key of a loaded settings file against its `SettingDef`'s type.

    Returns the keys that fit (their values as loaded) and ``(key, what is wrong)`` for
    the others: unknown keys and values of the wrong type, range or length.  The check
    is strict and runs in JSON mode (a JSON array is a valid tuple)."""
    good: dict[str, Any] = {}
    bad: list[tuple[str, str]] = []
    for key, value in data.items():
        d = defs.get(key)
        if d is None:
            bad.append((key, "unknown key"))
            continue
        try:
            _adapter(d.type).validate_json(json.dumps(value), strict=True)
        except ValidationError as exc:
            bad.append((key, _problem(exc)))
            continue
        good[key] = value
    return good, bad


class Store:
    """The settings saved under AT+SYSSTORE=1 (and the always-saved ones)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SETTINGS_FILE

    def load(self, defs: Mapping[str, SettingDef] | None = None) -> dict[str, Any]:
        """The saved settings; with ``defs`` (a feature set's settings), only the keys
        that fit their declarations (see the module docstring)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            bad = self.path.with_suffix(".corrupt")
            log.error(
                "settings file %s unreadable (%s); starting from defaults, kept as %s",
                self.path,
                exc,
                bad,
            )
            os.replace(self.path, bad)
            return {}
        if defs is None or not data:
            return data
        good, problems = validate_saved(data, defs)
        if problems:
            self._set_aside(good, problems)
        return good

    def _set_aside(self, good: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        """Report each bad key once, keep the file as ``.corrupt``, write the good keys."""
        kept = self.path.with_suffix(".corrupt")
        for key, why in problems:
            log.error(
                "settings file %s: key %r: %s; it starts from its default (file kept as %s)",
                self.path,
                key,
                why,
                kept.name,
            )
        try:
            os.replace(self.path, kept)
            self.save(good)
        except OSError as exc:  # a read-only store: the module still starts
            log.error("settings file %s could not be set aside: %s", self.path, exc)

    def save(self, snapshot: dict[str, Any]) -> None:
        data = json.dumps(snapshot, indent=2, sort_keys=True).encode() + b"\n"
        atomic_write(self.path, data)
        log.debug("settings saved to %s", self.path)

"""Persistent settings: the module's NVS area, as one JSON file in the store directory.

Writes are atomic: the new content goes to a temporary file in the same directory,
is flushed and fsync'ed, then renamed over the old one (and the directory fsync'ed),
so a crash mid-write leaves either the old or the new settings, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

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


class Store:
    """The settings saved under AT+SYSSTORE=1 (and the always-saved ones)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SETTINGS_FILE

    def load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return data
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

    def save(self, snapshot: dict[str, Any]) -> None:
        data = json.dumps(snapshot, indent=2, sort_keys=True).encode() + b"\n"
        atomic_write(self.path, data)
        log.debug("settings saved to %s", self.path)

"""The settings store: JSON in the store directory, written atomically."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w800at.store import SETTINGS_FILE, Store, atomic_write


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    assert Store(tmp_path / "nope").load() == {}


def test_roundtrip_and_format(tmp_path: Path) -> None:
    st = Store(tmp_path / "s")
    st.save({"cwmode": 3, "hostname": "h\u00e9", "uart_def": [9600, 8, 1, 0, 0]})
    assert st.load() == {"cwmode": 3, "hostname": "h\u00e9", "uart_def": [9600, 8, 1, 0, 0]}
    raw = (tmp_path / "s" / SETTINGS_FILE).read_bytes()
    assert raw.endswith(b"}\n") and raw.startswith(b"{\n")
    assert oct((tmp_path / "s" / SETTINGS_FILE).stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(tmp_path / "s")) == [SETTINGS_FILE]  # no temp file left


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_corrupt_file_is_set_aside(tmp_path: Path, content: bytes) -> None:
    st = Store(tmp_path)
    st.path.write_bytes(content)
    assert st.load() == {}
    assert not st.path.exists()
    assert (tmp_path / "settings.corrupt").read_bytes() == content
    st.save({"a": 1})
    assert st.load() == {"a": 1}


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_failed_write_keeps_the_old_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    st = Store(tmp_path)
    st.save({"old": True})

    def boom(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    if fail_at == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    elif fail_at == "replace":
        monkeypatch.setattr(os, "replace", boom)
    else:
        real_fdopen = os.fdopen

        class Broken:
            def __init__(self, f: object) -> None:
                self.f = f

            def __enter__(self) -> Broken:
                return self

            def __exit__(self, *a: object) -> None:
                self.f.close()  # type: ignore[attr-defined]

            def write(self, data: bytes) -> None:
                self.f.write(data[: len(data) // 2])  # type: ignore[attr-defined]
                boom()

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: Broken(real_fdopen(fd, mode)))
    with pytest.raises(OSError):
        st.save({"new": True})
    monkeypatch.undo()
    assert st.load() == {"old": True}
    assert sorted(os.listdir(tmp_path)) == [SETTINGS_FILE]


def test_crash_mid_write_never_corrupts(tmp_path: Path) -> None:
    """A process killed (SIGKILL) after writing the temp file, before the rename."""
    st = Store(tmp_path)
    st.save({"generation": 1})
    code = f"""
import os, signal
from pathlib import Path
from w800at import store
def die(*a):
    os.kill(os.getpid(), signal.SIGKILL)
store.os.replace = die
store.Store(Path({str(tmp_path)!r})).save({{"generation": 2, "big": "x" * 100000}})
"""
    proc = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert proc.returncode == -9
    assert json.loads(st.path.read_text()) == {"generation": 1}
    assert st.load() == {"generation": 1}
    leftovers = [n for n in os.listdir(tmp_path) if n != SETTINGS_FILE]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # ignored by load()
    st.save({"generation": 3})
    assert st.load() == {"generation": 3}


def test_atomic_write_creates_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.bin"
    atomic_write(target, b"data", mode=0o600)
    assert target.read_bytes() == b"data"
    assert target.stat().st_mode & 0o777 == 0o600

"""``import w800at`` is cheap: pytest imports the plugin in every run of every project
installed next to w800at, so the package's names are imported on first use."""

from __future__ import annotations

import subprocess
import sys

import w800at

LOADED = "import sys, {0}; print(sorted(m for m in sys.modules if m.startswith('w800at')))"


def loaded_after(module: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", LOADED.format(module)], capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_importing_the_package_or_the_plugin_loads_nothing_else() -> None:
    assert loaded_after("w800at") == "['w800at']"
    assert loaded_after("w800at.pytest_plugin") == "['w800at', 'w800at.pytest_plugin']"


def test_every_public_name_is_there_on_first_use() -> None:
    for name in w800at.__all__:
        assert getattr(w800at, name) is not None
    assert w800at.Module.__module__ == "w800at.module"
    assert set(w800at.__all__) <= set(dir(w800at))

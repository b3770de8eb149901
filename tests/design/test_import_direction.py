"""The import direction of the layers (architecture: "the runtime only pumps").

- ``core/`` and ``commands/`` do no I/O: neither they nor anything they import from
  the package imports asyncio, socket, ssl, select or time;
- ``core/`` does not import ``commands/`` (commands plug into the core, not back);
- ``runtime/`` imports nothing from ``commands/``: an action carries what it needs.

Checked statically on the source (every ``import`` statement, also inside functions),
following imports within the package, so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import w800at

PKG = Path(w800at.__file__).resolve().parent
FORBIDDEN_IO = {"asyncio", "socket", "ssl", "select", "time"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> Iterator[str]:
    """Every module ``path`` (module ``name``) imports, as absolute dotted names."""
    tree = ast.parse(path.read_text(), str(path))
    here = (name or _module_name(path)).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            for alias in node.names:  # "from . import x" may import submodule x
                yield f"{mod}.{alias.name}"


def _file_of(name: str) -> Path | None:
    if name != "w800at" and not name.startswith("w800at."):
        return None
    rel = Path(*name.split(".")[1:])
    for cand in (PKG / rel.with_suffix(".py"), PKG / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _closure(start: Path) -> dict[Path, set[str]]:
    """Package files reachable from ``start`` by imports, with their direct imports."""
    seen: dict[Path, set[str]] = {}
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        names = set(_imports(path))
        seen[path] = names
        for name in names:
            f = _file_of(name)
            if f is not None and f not in seen:
                todo.append(f)
    return seen


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).glob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _files("core") + _files("commands"), ids=lambda p: p.stem)
def test_core_and_commands_do_no_io(path: Path) -> None:
    bad = {
        f"{f.relative_to(PKG)} imports {n}"
        for f, names in _closure(path).items()
        for n in names
        if _top(n) in FORBIDDEN_IO
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize("path", _files("core"), ids=lambda p: p.stem)
def test_core_imports_no_commands(path: Path) -> None:
    bad = {
        f"{f.relative_to(PKG)} imports {n}"
        for f, names in _closure(path).items()
        for n in names
        if n.startswith("w800at.commands")
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize("path", _files("runtime"), ids=lambda p: p.stem)
def test_runtime_imports_nothing_from_commands(path: Path) -> None:
    bad = {
        f"{f.relative_to(PKG)} imports {n}"
        for f, names in _closure(path).items()
        for n in names
        if n.startswith("w800at.commands")
    }
    assert not bad, sorted(bad)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checks can fail: imports inside functions and relative ones are resolved."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from . import render\n"
        "def f():\n"
        "    import socket\n"
        "    from time import monotonic\n"
        "    from ..commands import wifi\n"
    )
    names = set(_imports(probe, "w800at.core.probe"))
    assert {_top(n) for n in names} & FORBIDDEN_IO == {"socket", "time"}
    assert {"w800at.core.render", "w800at.commands", "w800at.commands.wifi"} <= names
    assert _file_of("w800at.commands.wifi") == PKG / "commands" / "wifi.py"

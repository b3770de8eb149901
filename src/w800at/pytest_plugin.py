"""The pytest plugin: emulated modules as fixtures (installed with w800at, ``pytest11``).

::

    def test_at(w800at):                       # a running module on a PTY
        host = w800at.host()                   # pyserial on w800at.port
        host.expect_exact(b"ready")
        assert host.cmd("AT").ok

- ``w800at``: one running module for the test (`w800at.testing.RunningModule`):
  ``.port`` (the PTY path), ``.tcp`` ((host, port) with transport "tcp"), ``.url``,
  ``.control``, ``.transcript``, ``.module``, ``.host()``, ``.run(coro)``;
  configured by ``@pytest.mark.w800at(profile=..., config=..., transport=..., ...)``;
- ``w800at_factory(**options)``: more modules in one test (the same options);
- ``w800at_fleet(n, **options)``: ``n`` modules at once (a `w800at.fleet.Fleet`);
- a failed test's report gets each module's readable transcript (``report.sections``,
  printed with the failure); ini ``w800at_transcript_rows`` caps its length.

Every module of a test lives under ``tmp_path/"w800at"`` (its PTY, store and trace),
so parallel runs (pytest-xdist) never share a path; TCP ports are picked by the OS on
loopback.  All stop at the end of the test.

This module is imported by every pytest run where w800at is installed, so it imports
nothing of w800at until a fixture is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import ModuleFactory, RunningFleet, RunningModule

#: the factory of the test (the report hook finds the modules there)
_FACTORY = pytest.StashKey["ModuleFactory"]()
#: default of ini ``w800at_transcript_rows``
TRANSCRIPT_ROWS = 400
#: with more modules than this, a failure shows only those that saw traffic
QUIET_MODULES_SHOWN = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "w800at_transcript_rows",
        "w800at: rows of a module's transcript shown when a test fails (the last ones; "
        f"0: all; default {TRANSCRIPT_ROWS})",
        default=str(TRANSCRIPT_ROWS),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "w800at(profile=, config=, scenario=, transport=, name=, baud=, pacing=, "
        "flow_control=, lenient_eol=, store=): options of the module the w800at fixture "
        "starts (as w800at_factory's)",
    )


@pytest.fixture
def w800at_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModuleFactory]:
    """Starts modules for this test: ``w800at_factory(profile="esp-at", transport="tcp")``
    returns a running `w800at.testing.RunningModule`; all stop at the end of the test."""
    from .testing import ModuleFactory

    factory = ModuleFactory(tmp_path / "w800at", base_dir=request.path.parent)
    request.node.stash[_FACTORY] = factory
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def w800at_fleet(w800at_factory: ModuleFactory) -> Callable[..., RunningFleet]:
    """``w800at_fleet(n, **options)``: ``n`` modules started at once, a sequence of
    `w800at.testing.RunningModule`."""
    return w800at_factory.fleet


@pytest.fixture
def w800at(request: pytest.FixtureRequest, w800at_factory: ModuleFactory) -> RunningModule:
    """A running module for this test, configured by ``@pytest.mark.w800at(...)``."""
    return w800at_factory(**marker_options(request.node))


def marker_options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    """The ``w800at`` markers' options, the closest marker winning per option (a
    module's ``pytestmark`` and a test's own marker combine)."""
    from .testing import ModuleFactory

    known = [p for p in inspect.signature(ModuleFactory.__call__).parameters if p != "self"]
    options: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers("w800at"))):
        if mark.args:
            pytest.fail(
                f"@pytest.mark.w800at takes options by name only (got {mark.args!r}); "
                f"known: {', '.join(known)}",
                pytrace=False,
            )
        unknown = sorted(set(mark.kwargs) - set(known))
        if unknown:
            pytest.fail(
                f"@pytest.mark.w800at: unknown option {unknown[0]!r} (known: {', '.join(known)})",
                pytrace=False,
            )
        options.update(mark.kwargs)
    return options


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    factory = item.stash.get(_FACTORY, None)
    if report.failed and factory is not None and factory.modules:
        rows = int(item.config.getini("w800at_transcript_rows") or 0)
        for title, text in transcript_sections(factory.modules, rows):
            report.sections.append((title, text))
    return report


def transcript_sections(modules: list[RunningModule], max_rows: int) -> list[tuple[str, str]]:
    """One report section per module: its transcript (the last ``max_rows`` rows).

    With many modules (a fleet), only those the host spoke to get a section; the others
    are named in one line."""
    from .testing import format_transcript_text

    sections: list[tuple[str, str]] = []
    quiet: list[str] = []
    for m in modules:
        try:
            rows = m.transcript_rows()
        except Exception as exc:  # a broken trace must not hide the test's own failure
            sections.append((f"w800at transcript: {m.name}", f"(unreadable: {exc!r})"))
            continue
        spoken_to = any(r.lane == "host" for r in rows)
        if not spoken_to and len(modules) > QUIET_MODULES_SHOWN:
            quiet.append(m.name)
            continue
        head = f"trace: {m.trace_path}\n"
        if max_rows > 0 and len(rows) > max_rows:
            left_out = len(rows) - max_rows
            head += f"[{left_out} earlier rows not shown: `w800at trace show` the trace for all]\n"
            rows = rows[-max_rows:]
        sections.append((f"w800at transcript: {m.name}", head + format_transcript_text(rows)))
    if quiet:
        sections.append(
            (
                "w800at transcript",
                f"the host said nothing to {len(quiet)} modules: {', '.join(quiet)}\n",
            )
        )
    return sections

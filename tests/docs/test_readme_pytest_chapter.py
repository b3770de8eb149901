"""The README's "Testing with pytest" chapter: its test files pass as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# Imported before pytester's in-process runs: they snapshot sys.modules and drop what an
# inner run imported first, and a second import of asyncio would not catch the
# CancelledError of the first one's C tasks (which outlive the snapshot).
import w800at.testing  # noqa: F401
from tests.docs.test_readme_examples import chapter_blocks

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TESTS = [b for b in chapter_blocks("Testing with pytest") if "def test_" in b]


def test_the_chapter_has_its_three_test_files() -> None:
    assert len(TESTS) == 3


@pytest.mark.parametrize("index", range(len(TESTS)))
def test_the_chapter_s_tests_pass(pytester: pytest.Pytester, index: int) -> None:
    pytester.syspathinsert()
    pytester.makepyfile(atdriver=(EXAMPLES / "atdriver.py").read_text())
    pytester.makepyfile(**{f"test_readme_{index}": TESTS[index]})
    result = pytester.runpytest(f"test_readme_{index}.py", "--strict-markers")
    result.assert_outcomes(passed=len(re.findall(r"^def test_", TESTS[index], re.M)))

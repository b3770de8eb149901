"""The README's Python examples run as written (its "Many modules" chapter)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def chapter_blocks(title: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


BLOCKS = chapter_blocks("Many modules")


def test_the_chapter_has_its_three_examples() -> None:
    assert len(BLOCKS) == 3


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (
            0,
            "AT+GMR\r\nAT version:3.4.0.0(w800at - ESP32 - Nov 24 2026 00:00:00)\r\n"
            "SDK version:v5.0.6\r\ncompile time(w800at):Nov 24 2026 00:00:00\r\n"
            "Bin version:v3.4.0.0(WROOM-32)\r\n\r\nOK\r\n\n"
            'AT+CWJAP="lab","password"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n\n'
            "station: GOT_IP\n",
        ),
        (1, "b'\\r\\nready\\r\\n' b'AT\\r\\n\\r\\nOK\\r\\n'\n"),
        (2, "w800-0042 b'AT\\r\\n\\r\\nOK\\r\\n'\n"),
    ],
)
def test_example_runs_and_prints(index: int, expected: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[index])
    r = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == expected  # bytes as printed: CR LF kept

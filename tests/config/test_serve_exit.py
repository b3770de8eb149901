"""`w800at serve --config bad.toml`: exit status 2, the one error line on stderr, nothing
else (no traceback, no port opened)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD


def serve(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE_CMD, "serve", "--config", config, "--pty", "x.tty", "--store", "store"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            b"[network]\ntimeout = -1\n",
            "bad.toml: [network] timeout: must be more than 0 and at most 3600 seconds (got -1)",
        ),
        (
            b'[station]\nip = "999.1.1.1"\n',
            "bad.toml: [station] ip: must be an IPv4 address such as 192.168.1.50 (got "
            '"999.1.1.1")',
        ),
        (
            b"profile = 'w800'\n# na\xefve\n",
            "bad.toml: line 2, column 5: not UTF-8 text (byte 0xef); a TOML file must be UTF-8",
        ),
        (
            b"[network\n",
            "bad.toml: line 1, column 9: invalid TOML: Expected ']' at the end of a table "
            "declaration",
        ),
    ],
)
def test_bad_file_exits_2_with_one_line(tmp_path: Path, content: bytes, line: str) -> None:
    (tmp_path / "bad.toml").write_bytes(content)
    r = serve(tmp_path, "bad.toml")
    assert (r.returncode, r.stderr, r.stdout) == (2, f"w800at: {line}\n", "")
    assert not (tmp_path / "x.tty").exists()
    assert not (tmp_path / "store").exists()


def test_missing_file_exits_2(tmp_path: Path) -> None:
    r = serve(tmp_path, "bad.toml")
    assert (r.returncode, r.stderr, r.stdout) == (2, "w800at: bad.toml: no such file\n", "")


def test_directory_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").mkdir()
    r = serve(tmp_path, "bad.toml")
    assert (r.returncode, r.stderr, r.stdout) == (
        2,
        "w800at: bad.toml: is a directory, not a file\n",
        "",
    )

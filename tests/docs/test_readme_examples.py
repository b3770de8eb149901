"""The README's examples run as written (its "Many modules" and "Testing your driver"
chapters)."""

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


BENCH = chapter_blocks("Testing your driver")


def test_the_test_bench_python_example_runs_and_prints(tmp_path: Path) -> None:
    assert len(BENCH) == 1
    script = tmp_path / "example.py"
    script.write_text(BENCH[0])
    r = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == (
        "b'\\r\\nRecv 10 bytes\\r\\n\\r\\nSEND OK\\r\\n0,CLOSED\\r\\n'\n"
        "b'\\r\\nbusy p...\\r\\n'\n"
        "command AT+CIPSTATUS\n"
        "b'WIFI DISCONNECT\\r\\n'\n"
        "disconnected\n"
    )


def _shell_lines(prefix: str) -> list[str]:
    text = README.read_text()
    start = text.index("## Testing your driver\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], re.S)
    return [ln for b in blocks for ln in b.splitlines() if ln.startswith(prefix)]


def test_every_ctl_line_of_the_chapter_is_a_verb_the_api_has() -> None:
    import shlex

    from w800at.control.ctl import build

    lines = _shell_lines("w800at ctl ")
    assert len(lines) >= 10
    for line in lines:
        words = shlex.split(line.split("#")[0])
        assert words[2:4] == ["--control", "./w800.ctl"], line
        _method, path, _, _ = build(words[4:])
        assert path.startswith("/"), line


def test_every_curl_line_of_the_chapter_names_a_route() -> None:
    import shlex

    from w800at.control.http import make_app

    app = make_app(lambda i: None, [0], single=True)  # type: ignore[arg-type, return-value]
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}

    def known(method: str, path: str) -> bool:
        parts = path.split("?")[0].strip("/").split("/")
        for m, canon in routes:
            c = canon.strip("/").split("/")
            if (
                m == method
                and len(c) == len(parts)
                and all(x == y or x.startswith("{") for x, y in zip(c, parts, strict=True))
            ):
                return True
        return False

    lines = _shell_lines("curl ")
    assert len(lines) >= 7
    for line in lines:
        words = shlex.split(line)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        url = next(w for w in words if w.startswith("http://module"))
        assert known(method, url.removeprefix("http://module")), line

"""StdioChannel in a real child process: an echo "module" on stdin/stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

CHILD = r"""
import asyncio, fcntl, os, sys
from w800at.channels.stdio import StdioChannel

class Echo:
    def __init__(self, ch, done):
        self.ch, self.done = ch, done
    def attached(self):
        sys.stderr.write("attached\n")
    def data(self, data):
        self.ch.write(data)
    def detached(self):
        sys.stderr.write("detached\n")
        self.done.set()
    def reset(self):
        sys.stderr.write("reset\n")

async def main():
    done = asyncio.Event()
    ch = StdioChannel()
    await ch.start(Echo(ch, done))
    await done.wait()
    await ch.close()
    flags = fcntl.fcntl(1, fcntl.F_GETFL)
    sys.stderr.write(f"stdout_nonblock={bool(flags & os.O_NONBLOCK)}\n")

asyncio.run(main())
"""

EVERY_BYTE = bytes(range(256))


def run_child(
    input: bytes | None = None, stdin: BinaryIO | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", CHILD],
        input=input,
        stdin=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_stdio_pipe_echo_and_eof_detach() -> None:
    payload = EVERY_BYTE * 4096  # 1 MiB: more than a pipe holds, so writes queue
    proc = run_child(input=payload)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == payload
    assert proc.stderr.decode().splitlines() == [
        "attached",
        "detached",
        "stdout_nonblock=False",  # our non-blocking fd was private
    ]


def test_stdio_regular_file_stdin(tmp_path: Path) -> None:
    script = tmp_path / "input.bin"
    script.write_bytes(b"AT\r\nAT+GMR\r\n" + EVERY_BYTE)
    with script.open("rb") as f:
        proc = run_child(stdin=f)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == script.read_bytes()
    assert proc.stderr.decode().splitlines()[:2] == ["attached", "detached"]

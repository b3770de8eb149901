"""Suite-wide fixtures: ``serve`` runs the real ``w800at serve`` in a subprocess.

Usage (any test under ``tests/``)::

    def test_something(serve):
        srv = serve("pty")                      # or "tcp", "rfc2217"
        port = srv.connect()                    # pyserial on the PTY / socket:// / rfc2217://
        port.expect(b"\\r\\nready\\r\\n")         # the module powers up on first attach
        port.send(b"AT\\r\\n")
        port.expect(b"AT\\r\\n\\r\\nOK\\r\\n")        # byte exact: reads len(expected) bytes
        port.quiet()                            # and nothing more arrives (0.2 s)

``serve(kind="pty", *extra_args, store=None, config=None, profile=None)``:

- ``kind``: ``"pty"`` (symlink in tmp_path), ``"tcp"`` or ``"rfc2217"`` (127.0.0.1,
  port 0: the chosen port is read from the startup line);
- ``store``: the ``--store`` directory (default ``tmp_path/"store"``); pass the same one
  to a second ``serve(...)`` to test persistence across a restart;
- ``config``: TOML text written to a file and passed as ``--config``;
- ``extra_args``: more CLI options (``"--lenient-eol"``, ``"--profile", "esp-at"``...).

It waits for the startup line on stderr (``w800at: <profile> module on <where>``) and
returns a `ServeProcess` (``.kind``, ``.path`` for a PTY, ``.port`` for TCP kinds,
``.store``, ``.stderr_text()``, ``.connect()``, ``.stop()``).  ``srv.stop()`` sends
SIGINT and returns the exit code; a test can call it itself (e.g. to restart on the
same store).  At teardown every server still running is stopped the same way and
the fixture asserts a clean exit: code 0 and, for a PTY, the symlink removed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

STARTUP_TIMEOUT = 10.0
READ_TIMEOUT = 5.0
_STARTUP = re.compile(r"^w800at: (\S+) module on (.*)$")
#: the installed console script, run by this interpreter (no PATH lookup)
SERVE_CMD = [sys.executable, "-c", "import sys; from w800at.cli import main; sys.exit(main())"]


class Port:
    """A pyserial connection to the module with byte-exact helpers."""

    def __init__(self, ser: serial.SerialBase) -> None:
        self.ser = ser

    def send(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def read_exact(self, n: int, timeout: float = READ_TIMEOUT) -> bytes:
        out = bytearray()
        end = time.monotonic() + timeout
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.ser.timeout = min(left, 0.5)
            out += self.ser.read(n - len(out))
        return bytes(out)

    def expect(self, expected: bytes, timeout: float = READ_TIMEOUT) -> None:
        """Exactly ``expected`` arrives next (whole-bytes comparison)."""
        got = self.read_exact(len(expected), timeout)
        assert got == expected

    def quiet(self, window: float = 0.2) -> None:
        """Nothing more arrives within ``window`` seconds."""
        self.ser.timeout = window
        extra = self.ser.read(65536)
        assert extra == b""

    def drain(self, window: float = 0.2) -> bytes:
        self.ser.timeout = window
        return bytes(self.ser.read(65536))

    def command(self, line: bytes, expected: bytes) -> None:
        """Send one command line and expect exactly ``expected`` (echo included)."""
        self.send(line)
        self.expect(expected)

    def close(self) -> None:
        self.ser.close()


class ServeProcess:
    """One running ``w800at serve``."""

    def __init__(
        self, proc: subprocess.Popen[bytes], kind: str, store: Path, path: str | None
    ) -> None:
        self.proc = proc
        self.kind = kind
        self.store = store
        self.path = path
        self.port: int | None = None
        self.profile = ""
        self._stderr: list[str] = []
        self._started = threading.Event()
        self._ports: list[Port] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            self._stderr.append(text)
            m = _STARTUP.match(text)
            if m and not self._started.is_set():
                self.profile = m.group(1)
                where = m.group(2)
                if self.kind != "pty":
                    self.port = int(where.rsplit(":", 1)[1])
                self._started.set()
        self._started.set()  # EOF: let the waiter see the failure

    def wait_started(self) -> None:
        self._started.wait(STARTUP_TIMEOUT)
        if not self.profile:  # no startup line: timed out, or exited first
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"w800at serve did not start: {self.stderr_text()}")

    def stderr_text(self) -> str:
        return "\n".join(self._stderr)

    @property
    def url(self) -> str:
        if self.kind == "pty":
            assert self.path is not None
            return self.path
        scheme = "socket" if self.kind == "tcp" else "rfc2217"
        return f"{scheme}://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 1.0) -> Port:
        """Open the AT port with pyserial (closed again at teardown)."""
        ser = serial.serial_for_url(self.url, baudrate=115200, timeout=timeout)
        port = Port(ser)
        self._ports.append(port)
        return port

    def close_ports(self) -> None:
        for p in self._ports:
            p.close()
        self._ports.clear()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, like Ctrl-C; returns the exit code."""
        self.close_ports()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"w800at serve ignored SIGINT: {self.stderr_text()}") from None
        self._reader.join(5)
        return self.proc.returncode


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``w800at serve`` subprocesses; see the module docstring."""
    started: list[ServeProcess] = []
    counter = [0]

    def start(
        kind: str = "pty",
        *extra: str,
        store: Path | None = None,
        config: str | None = None,
        profile: str | None = None,
    ) -> ServeProcess:
        counter[0] += 1
        store = store or tmp_path / "store"
        args = [*SERVE_CMD, "serve", "--store", str(store)]
        path: str | None = None
        if kind == "pty":
            path = str(tmp_path / f"w800-{counter[0]}.tty")
            args += ["--pty", path]
        elif kind in ("tcp", "rfc2217"):
            args += [f"--{kind}", "127.0.0.1:0"]
        else:
            raise ValueError(f"unsupported kind {kind!r}")
        if config is not None:
            cfg = tmp_path / f"config-{counter[0]}.toml"
            cfg.write_text(config)
            args += ["--config", str(cfg)]
        if profile is not None:
            args += ["--profile", profile]
        args += list(extra)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        srv = ServeProcess(proc, kind, store, path)
        started.append(srv)
        srv.wait_started()
        return srv

    yield start
    failures = []
    for srv in started:
        rc = srv.stop()
        if rc != 0:
            failures.append(f"exit code {rc}: {srv.stderr_text()}")
        if srv.path is not None and os.path.lexists(srv.path):
            failures.append(f"symlink {srv.path} left behind")
    assert not failures, failures

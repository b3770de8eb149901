"""``w800at fleet`` end to end, as a subprocess: start-up lines, every port answers,
links work, Ctrl-C leaves no listening port and no process; bad input is one error
line and exit 2 with nothing left behind."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD
from tests.servers.tcp_servers import TcpEchoServer

OK = b"\r\nOK\r\n"


def _outside_ephemeral(count: int) -> tuple[int, int]:
    """Where to look for a base port: below the kernel's ephemeral range (whose ports
    any test's outgoing connection may take between our check and the fleet's bind)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low - count > 10000:
        return 10000, low - count
    return 1024, 60000 - count  # an unusual range: take what there is


def free_range(count: int) -> int:
    """A base port such that base..base+count-1 are all free on loopback right now,
    outside the ephemeral range."""
    rng = random.Random()
    start, stop = _outside_ephemeral(count)
    for _ in range(50):
        base = rng.randrange(start, stop)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def listening(base: int, count: int) -> list[int]:
    """Ports of base..base+count-1 on which something accepts connections."""
    out = []
    for p in range(base, base + count):
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", p)) == 0:
                out.append(p)
    return out


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmd:
            pids.append(int(d.name))
    return pids


class FleetProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*SERVE_CMD, "fleet", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []

    def wait_ready(self, timeout: float = 60) -> list[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            if line == "ready":
                return self.lines
            self.lines.append(line)
            assert time.monotonic() < deadline, "fleet not ready in time"
        err = self.proc.stderr.read().decode() if self.proc.stderr else ""
        raise AssertionError(f"fleet exited before ready: {self.lines} {err}")

    def interrupt(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)


async def _at(port: int) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(r.readexactly(9), 10) == b"\r\nready\r\n"
        w.write(b"AT\r\n")
        assert await asyncio.wait_for(r.readexactly(10), 10) == b"AT\r\n" + OK
    finally:
        w.close()


async def _link(port: int, echo_port: int, tag: bytes) -> None:
    """On a module that is up (it said ``ready`` to an earlier host): join, echo."""
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def expect(data: bytes) -> None:
        got = await asyncio.wait_for(r.readexactly(len(data)), 10)
        assert got == data, (got, data)

    try:
        w.write(b"ATE0\r\n")
        await expect(b"ATE0\r\n" + OK)
        # without IPv6: its URCs follow the join's OK and depend on the host
        w.write(b"AT+CIPV6=0\r\n")
        await expect(OK)
        w.write(b'AT+CWJAP="lab","secret"\r\n')
        await expect(b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
        w.write(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % echo_port)
        await expect(b"CONNECT\r\n" + OK)
        w.write(b"AT+CIPSEND=%d\r\n" % len(tag))
        await expect(b"\r\nOK\r\n\r\n>")
        w.write(tag)
        await expect(b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(tag))
        await expect(b"\r\n+IPD,%d:" % len(tag) + tag + b"\r\n")
    finally:
        w.close()


def test_fleet_of_300_on_tcp_ports_with_two_workers(tmp_path: Path) -> None:
    n = 300
    base = free_range(n)
    store = tmp_path / "fleet-store"
    fleet = FleetProcess(
        "--count", str(n), "--tcp", f"127.0.0.1:{base}", "--store", str(store), "--workers", "2"
    )
    try:
        lines = fleet.wait_ready()
        assert len(lines) == 1, lines
        assert lines[0].startswith(
            "w800at fleet: 300 w800 modules w800-0000..w800-0299 "
            f"on tcp 127.0.0.1:{base}..{base + 299}, 2 workers (pids "
        )
        workers = [int(p) for p in lines[0].rsplit("pids ", 1)[1].rstrip(")").split()]

        async def main() -> None:
            await asyncio.gather(*(_at(base + i) for i in range(n)))
            with TcpEchoServer() as echo:
                chosen = random.Random(3).sample(range(n), 30)
                await asyncio.gather(
                    *(_link(base + i, echo.port, b"module %d here" % i) for i in chosen)
                )

        asyncio.run(main())
        assert fleet.interrupt() == 0
    finally:
        if fleet.proc.poll() is None:
            fleet.proc.kill()
            fleet.proc.wait()
    assert listening(base, n) == []
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    assert processes_mentioning(str(store)) == []
    # each module that saved settings (the join) has its own store subdirectory
    assert sorted(p.name for p in store.iterdir()) == [
        f"w800-{i:04d}" for i in sorted(random.Random(3).sample(range(n), 30))
    ]


def test_small_fleet_in_one_process_lists_its_modules(tmp_path: Path) -> None:
    base = free_range(3)
    fleet = FleetProcess(
        "--count",
        "3",
        "--tcp",
        f"127.0.0.1:{base}",
        "--store",
        str(tmp_path / "s"),
        "--profile",
        "esp-at",
    )
    try:
        lines = fleet.wait_ready()
        assert lines == [
            f"w800-0000 tcp 127.0.0.1:{base}",
            f"w800-0001 tcp 127.0.0.1:{base + 1}",
            f"w800-0002 tcp 127.0.0.1:{base + 2}",
            "w800at fleet: 3 esp-at modules w800-0000..w800-0002 "
            f"on tcp 127.0.0.1:{base}..{base + 2}",
        ]
        asyncio.run(_at(base + 2))
        assert fleet.interrupt() == 0
    finally:
        if fleet.proc.poll() is None:
            fleet.proc.kill()
    assert listening(base, 3) == []


def test_fleet_on_ptys(tmp_path: Path) -> None:
    import serial

    ttys = tmp_path / "ttys"
    fleet = FleetProcess("--count", "4", "--pty-dir", str(ttys), "--store", str(tmp_path / "s"))
    try:
        lines = fleet.wait_ready()
        assert [ln.split(" ")[0] for ln in lines[:4]] == [f"w800-{i:04d}" for i in range(4)]
        assert sorted(p.name for p in ttys.iterdir()) == [f"w800-{i:04d}.tty" for i in range(4)]
        port = serial.Serial(str(ttys / "w800-0003.tty"), 115200, timeout=5)
        assert port.read(9) == b"\r\nready\r\n"
        port.write(b"AT\r\n")
        assert port.read(10) == b"AT\r\n" + OK
        port.close()
        assert fleet.interrupt() == 0
    finally:
        if fleet.proc.poll() is None:
            fleet.proc.kill()
    assert not ttys.exists()  # made by the fleet, left empty: removed


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_error_line_and_nothing_is_left(tmp_path: Path, workers: str) -> None:
    base = free_range(20)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 7))
        taken.listen()
        r = subprocess.run(
            [
                *SERVE_CMD,
                "fleet",
                "--count",
                "20",
                "--tcp",
                f"127.0.0.1:{base}",
                "--store",
                str(tmp_path / "s"),
                "--workers",
                workers,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2
        assert r.stdout == ""
        assert r.stderr == (
            f"w800at fleet: module w800-0007 (tcp 127.0.0.1:{base + 7}) did not start: "
            f"[Errno 98] cannot listen on 127.0.0.1:{base + 7}: Address already in use\n"
        )
        assert listening(base, 20) == [base + 7]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--count", "0", "--tcp", "127.0.0.1:40000"], "--count must be at least 1"),
        (["--count", "-3", "--tcp", "127.0.0.1:40000"], "--count must be at least 1"),
        (
            ["--count", "5", "--tcp", "127.0.0.1:65533"],
            "ports 65533..65537: the last one is beyond 65535",
        ),
        (
            ["--count", "5", "--tcp", "127.0.0.1:0"],
            "--tcp needs a base port (module i listens on BASE+i)",
        ),
        (["--count", "5", "--tcp", "127.0.0.1:x"], "bad port in '127.0.0.1:x'"),
        (
            ["--count", "2", "--tcp", "127.0.0.1:40000", "--workers", "3"],
            "--workers 3 is more than --count 2",
        ),
        (
            ["--count", "2", "--tcp", "127.0.0.1:40000", "--workers", "0"],
            "--workers must be at least 1",
        ),
    ],
)
def test_bad_options_are_one_error_line(args: list[str], error: str) -> None:
    r = subprocess.run([*SERVE_CMD, "fleet", *args], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"w800at fleet: {error}\n")


def test_a_pty_dir_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = subprocess.run(
        [*SERVE_CMD, "fleet", "--count", "3", "--pty-dir", str(blocker / "ttys")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (r.returncode, r.stdout, r.stderr) == (
        2,
        "",
        f"w800at fleet: --pty-dir {blocker / 'ttys'}: cannot write there (Not a directory)\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_worker_slices_cover_every_module_once() -> None:
    from w800at.fleet_cli import _slices

    for count in (1, 2, 7, 300, 10001):
        for workers in range(1, min(count, 5) + 1):
            s = _slices(count, workers)
            assert [f for f, _ in s] == [sum(n for _, n in s[:k]) for k in range(len(s))]
            assert sum(n for _, n in s) == count
            assert max(n for _, n in s) - min(n for _, n in s) <= 1


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("/proc is needed to check that no process is left")


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    base = free_range(10)
    fleet = FleetProcess(
        "--count",
        "10",
        "--tcp",
        f"127.0.0.1:{base}",
        "--store",
        str(tmp_path / "s"),
        "--workers",
        "2",
    )
    try:
        line = fleet.wait_ready()[-1]
        workers = [int(p) for p in line.rsplit("pids ", 1)[1].rstrip(")").split()]
        assert len(listening(base, 10)) == 10
        fleet.proc.kill()  # SIGKILL: no chance to stop the workers itself
        fleet.proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.05)
        assert not any(_alive(p) for p in workers)
        assert listening(base, 10) == []
    finally:
        if fleet.proc.poll() is None:
            fleet.proc.kill()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status

"""``python bench/fleet.py``: many modules in one process (``w800at fleet``).

Three figures, each from a real ``w800at fleet --tcp`` subprocess on loopback ports
below the ephemeral range (10000 and up):

* **RSS per idle module** at each ``--counts`` N: the fleet process's RSS once every
  module has booted and answered ``AT`` (its host then disconnected: idle, powered),
  minus the same for a fleet of one, divided by N - 1.  Target: <= 50 KB.
* **Time until all answer AT**: from spawning the process to the last ``OK`` (the
  host connects to every port, at most ``--concurrency`` at a time, reads ``ready``,
  sends ``AT``).  Target for 10,000 modules: <= 10 s.
* **AT round trip under load**: a fleet of ``--streams`` + ``--probes`` modules;
  ``--streams`` of them each stream ``+IPD`` from their own loopback source at full
  speed (the source and the draining host are processes of their own), while this
  process times ``AT`` -> ``OK`` round trips on the ``--probes`` others.  Reports
  p50/p99 (target p99 < 5 ms) and the same with no streams, as a reference from the
  same run.

``--markdown`` also prints the tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FLEET = [sys.executable, "-m", "w800at", "fleet"]
OK = b"\r\nOK\r\n"
READY = b"\r\nready\r\n"
KB = 1024
#: the load generators (source, draining host) run at a lower CPU priority than the
#: fleet and the prober: on a 2-core machine they would otherwise take the fleet's core
#: away for whole scheduler slices, and the round trips would measure that
LOAD_NICE = 10


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_base(count: int, lo: int = 10000) -> int:
    """A base port with ``count`` free ports after it, below the ephemeral range."""
    eph_lo = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    base = lo
    while base + count <= eph_lo:
        taken = None
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    taken = p
                    break
        if taken is None:
            return base
        base = taken + 1
    raise RuntimeError(f"no {count} free ports below {eph_lo}")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.contextmanager
def fleet(count: int, base: int) -> Iterator[tuple[subprocess.Popen[bytes], float, float]]:
    """A running ``w800at fleet``: (process, spawn time, ready time)."""
    with tempfile.TemporaryDirectory(prefix="w800at-fleet-bench-") as d:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*FLEET, "--count", str(count), "--tcp", f"127.0.0.1:{base}", "--store", d],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == b"ready":
                    break
            else:
                raise RuntimeError(f"fleet of {count} did not start")
            yield proc, t0, time.perf_counter()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _Host(asyncio.Protocol):
    """One host: waits for ``ready``, sends ``AT``, expects exactly its ``OK``.

    A bare protocol (no streams, no task per host), so that the measuring side is not
    what limits how fast ten thousand modules are seen to answer."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.buf = b""
        self.sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.sent and len(self.buf) >= len(READY):
            assert self.buf[: len(READY)] == READY, self.buf
            self.buf = self.buf[len(READY) :]
            self.sent = True
            self.transport.write(b"AT\r\n")  # type: ignore[attr-defined]
        if self.sent and len(self.buf) >= 4 + len(OK):
            assert self.buf == b"AT\r\n" + OK, self.buf
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed early: {self.buf!r}"))


async def _answer(port: int, sem: asyncio.Semaphore) -> None:
    async with sem:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda: _Host(done), "127.0.0.1", port)
        await asyncio.wait_for(done, 30)


def answer_all(base: int, count: int, concurrency: int) -> float:
    """Every module answers AT; returns perf_counter() of the last OK."""

    async def main() -> None:
        sem = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(_answer(base + i, sem) for i in range(count)))

    asyncio.run(main())
    return time.perf_counter()


def memory_step(count: int, concurrency: int) -> dict[str, float]:
    base = free_base(count)
    with fleet(count, base) as (proc, t0, t_ready):
        listening_kb = rss_kb(proc.pid)
        t_all = answer_all(base, count, concurrency)
        time.sleep(0.5)  # hosts gone: every module idle
        idle_kb = rss_kb(proc.pid)
    return {
        "count": count,
        "listening_kb": listening_kb,
        "idle_kb": idle_kb,
        "ready_s": t_ready - t0,
        "answered_s": t_all - t0,
    }


# --- AT round trips while other modules stream ----------------------------------------


def _source_main(port_q: Any, stop: Any) -> None:
    """A loopback server sending random bytes to every client as fast as it reads."""
    os.nice(LOAD_NICE)

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        block = os.urandom(64 * KB)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while not stop.is_set():
                w.write(block)
                await w.drain()
        w.close()

    async def main() -> None:
        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        port_q.put(srv.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        srv.close()
        await asyncio.sleep(0.2)  # the senders see stop and end

    asyncio.run(main())


def _drainer_main(ports: list[int], source: int, started: Any, stop: Any, total: Any) -> None:
    """The hosts of the streaming modules: start a link each, then read everything."""
    _raise_fd_limit()
    os.nice(LOAD_NICE)

    async def one(port: int) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)

        async def cmd(line: bytes, end: bytes = OK) -> None:
            w.write(line + b"\r\n")
            await asyncio.wait_for(r.readuntil(end), 30)

        await asyncio.wait_for(r.readexactly(len(READY)), 30)
        await cmd(b"ATE0")
        await cmd(b'AT+CWJAP="bench","benchpass"')
        await cmd(b'AT+CIPSTART="TCP","127.0.0.1",%d' % source)
        with started.get_lock():
            started.value += 1
        while not stop.is_set():
            data = await r.read(1 << 20)
            if not data:
                break
            with total.get_lock():
                total.value += len(data)
        w.close()

    async def main() -> None:
        await asyncio.gather(*(one(p) for p in ports), return_exceptions=True)

    asyncio.run(main())


def _probe(ports: list[int], rounds: int, first: bool) -> list[float]:
    """AT round trips (ms) on each probe module in turn, ``rounds`` times (``first``:
    the modules power up now and say ``ready``; later hosts find them up, echo off)."""
    socks = []
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
        if first:
            assert _recv_exact(s, len(READY)) == READY
            s.sendall(b"ATE0\r\n")
            assert _recv_exact(s, 6 + len(OK)) == b"ATE0\r\n" + OK
    rtts = []
    try:
        for _ in range(rounds):
            for s in socks:
                t = time.perf_counter()
                s.sendall(b"AT\r\n")
                got = _recv_exact(s, len(OK))
                rtts.append((time.perf_counter() - t) * 1000)
                assert got == OK, got
    finally:
        for s in socks:
            s.close()
    return rtts


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("module closed the port")
        buf += chunk
    return buf


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def latency_step(streams: int, probes: int, rounds: int) -> dict[str, float]:
    mp = multiprocessing.get_context("spawn")
    count = streams + probes
    base = free_base(count)
    with fleet(count, base) as (proc, _, _):
        probe_ports = [base + streams + i for i in range(probes)]
        idle = _probe(probe_ports, rounds, True)  # reference: nothing else going on
        port_q, stop = mp.Queue(), mp.Event()
        started, total = mp.Value("i", 0), mp.Value("q", 0)
        source = mp.Process(target=_source_main, args=(port_q, stop), daemon=True)
        source.start()
        src_port = port_q.get(timeout=30)
        drainer = mp.Process(
            target=_drainer_main,
            args=([base + i for i in range(streams)], src_port, started, stop, total),
            daemon=True,
        )
        drainer.start()
        try:
            deadline = time.monotonic() + 60
            while started.value < streams and time.monotonic() < deadline:
                time.sleep(0.05)
            if started.value < streams:
                raise RuntimeError(f"only {started.value} of {streams} streams started")
            time.sleep(1.0)  # let the streams reach full speed
            b0, t0 = total.value, time.perf_counter()
            loaded = _probe(probe_ports, rounds, False)
            rate = (total.value - b0) / (time.perf_counter() - t0)
            fleet_cpu = _cpu_seconds(proc.pid)
        finally:
            stop.set()
            drainer.join(10)
            source.join(10)
            for p in (drainer, source):
                if p.is_alive():
                    p.kill()
    return {
        "idle_p50": statistics.median(idle),
        "idle_p99": _pct(idle, 99),
        "p50": statistics.median(loaded),
        "p99": _pct(loaded, 99),
        "max": max(loaded),
        "samples": len(loaded),
        "stream_mb_s": rate / 1e6,
        "fleet_cpu_s": fleet_cpu,
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1000,10000", help="fleet sizes for the RSS step")
    ap.add_argument("--concurrency", type=int, default=5000, help="hosts connected at once (5000)")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=100, help="AT round trips per probe module")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    _raise_fd_limit()
    counts = [int(c) for c in args.counts.split(",")]
    print(
        f"w800at fleet bench: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    one = memory_step(1, 1)
    print(f"fleet of 1: RSS {one['idle_kb'] / KB:.1f} MiB once it answered AT")
    mem = []
    for n in counts:
        r = memory_step(n, args.concurrency)
        per = (r["idle_kb"] - one["idle_kb"]) / (n - 1)
        per_listening = (r["listening_kb"] - one["listening_kb"]) / (n - 1)
        r["per_kb"], r["per_listening_kb"] = per, per_listening
        mem.append(r)
        print(
            f"{n:>6} modules: {per:.1f} KB per idle module ({per_listening:.1f} KB listening, "
            f"not powered); listening after {r['ready_s']:.2f} s, all answered AT after "
            f"{r['answered_s']:.2f} s"
        )
    lat = latency_step(args.streams, args.probes, args.rounds)
    print(
        f"AT round trip on {args.probes} idle modules while {args.streams} stream +IPD "
        f"({lat['stream_mb_s']:.1f} MB/s drained): p50 {lat['p50']:.2f} ms, p99 "
        f"{lat['p99']:.2f} ms, max {lat['max']:.2f} ms ({lat['samples']:.0f} round trips); "
        f"with no streams: p50 {lat['idle_p50']:.2f} ms, p99 {lat['idle_p99']:.2f} ms"
    )
    if args.markdown:
        print()
        print("| modules | KB per idle module | KB listening | listening after | all answered AT |")
        print("|---|---|---|---|---|")
        for r in mem:
            verdict = "PASS" if r["per_kb"] <= 50 else "MISS"
            t_verdict = (
                "" if r["count"] < 10000 else (" PASS" if r["answered_s"] <= 10 else " MISS")
            )
            print(
                f"| {r['count']:.0f} | {r['per_kb']:.1f} ({verdict}, <= 50) | "
                f"{r['per_listening_kb']:.1f} | {r['ready_s']:.2f} s | "
                f"{r['answered_s']:.2f} s{t_verdict} |"
            )
        print()
        print("| AT round trip | p50 | p99 | max |")
        print("|---|---|---|---|")
        verdict = "PASS" if lat["p99"] < 5 else "MISS"
        print(
            f"| {args.streams} modules streaming ({lat['stream_mb_s']:.1f} MB/s) | "
            f"{lat['p50']:.2f} ms | {lat['p99']:.2f} ms ({verdict}, < 5) | {lat['max']:.2f} ms |"
        )
        print(f"| nothing streaming | {lat['idle_p50']:.2f} ms | {lat['idle_p99']:.2f} ms | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

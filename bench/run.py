"""One command: ``python bench/run.py`` - the module against a socat relay, same run.

Measures, over a PTY driven by pyserial and a loopback TCP sink/source:

* relay:  ``socat PTY,link=...,raw,echo=0 TCP:127.0.0.1:<port>`` both ways (the floor
  a byte pipe can do on this machine);
* module (``w800at serve --pty`` as a subprocess): AT+CIPSEND at the dialect's
  largest chunk, +IPD receive, passive AT+CIPRECVDATA reads, passthrough both ways;
* AT round trip: median ``AT`` -> ``OK`` time for the module and a minimal Python
  PTY responder (blocking read/write loop).

Prints the figures and the ratios against the targets; ``--markdown`` also prints
a table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from endpoints import Sink, Source, new_event
from port import Port

HERE = Path(__file__).resolve().parent
RESPONDER = HERE / "responder.py"
MB = 1e6


def _wait_path(path: Path, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.01)


@contextlib.contextmanager
def _process(args: list[str], link: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    try:
        _wait_path(link, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rate(n: int, seconds: float) -> float:
    return n / MB / max(seconds, 1e-9)


# ------------------------------------------------------------------ the relay


def relay_up(tmp: Path, payload: bytes) -> float:
    sink = Sink(len(payload))
    link = tmp / f"relay-up-{time.monotonic_ns()}.tty"
    try:
        with _process(["socat", f"PTY,link={link},raw,echo=0", f"TCP:127.0.0.1:{sink.port}"], link):
            port = Port(str(link))
            t0 = time.perf_counter()
            port.write(payload)
            if not sink.done.wait(60):
                raise TimeoutError(f"relay up: sink got {sink.received}")
            port.close()
            return _rate(len(payload), sink.last - t0)
    finally:
        sink.close()


def relay_down(tmp: Path, payload: bytes) -> float:
    go = new_event()
    source = Source(payload, go)
    link = tmp / f"relay-down-{time.monotonic_ns()}.tty"
    try:
        with _process(
            ["socat", f"PTY,link={link},raw,echo=0", f"TCP:127.0.0.1:{source.port}"], link
        ):
            port = Port(str(link))
            go.set()
            port.drain_count(len(payload), 60)
            t1 = time.perf_counter()
            port.close()
            return _rate(len(payload), t1 - source.start)
    finally:
        source.close()


# ------------------------------------------------------------------ the module


class Module:
    """Drive ``w800at serve`` over its PTY."""

    def __init__(self, port: Port, max_send: int) -> None:
        self.p = port
        self.max_send = max_send

    def setup(self) -> None:
        self.p.until(b"ready\r\n", 10)
        self.p.command(b"ATE0")
        self.p.command(b'AT+CWJAP="bench","benchpass"', timeout=10)

    def start(self, port: int) -> None:
        self.p.command(f'AT+CIPSTART="TCP","127.0.0.1",{port}'.encode())

    def close_link(self) -> None:
        self.p.command(b"AT+CIPCLOSE")

    def cipsend(self, payload: bytes) -> float:
        sink = Sink(len(payload))
        try:
            self.start(sink.port)
            n = len(payload)
            t0 = time.perf_counter()
            _cipsend_loop(self.p, payload, self.max_send)
            if not sink.done.wait(60):
                raise TimeoutError(f"cipsend: sink got {sink.received}")
            rate = _rate(n, sink.last - t0)
            self.close_link()
            return rate
        finally:
            sink.close()

    def ipd(self, payload: bytes) -> float:
        go = new_event()
        source = Source(payload, go)
        try:
            self.start(source.port)
            go.set()
            got, buf, p = 0, self.p.buf, self.p
            n = len(payload)
            while got < n:
                i = buf.find(b"+IPD,")
                j = buf.find(b":", i) if i >= 0 else -1
                if j < 0:
                    p.fill()
                    continue
                length = int(buf[i + 5 : j])
                end = j + 1 + length + 2
                if len(buf) < end:
                    p.fill()
                    continue
                got += length
                del buf[:end]
            rate = _rate(n, time.perf_counter() - source.start)
            self.close_link()
            return rate
        finally:
            source.close()

    def passive(self, payload: bytes) -> float:
        go = new_event()
        source = Source(payload, go)
        p = self.p
        try:
            p.command(b"AT+CIPRECVMODE=1")
            self.start(source.port)
            go.set()
            got, n = 0, len(payload)
            req = b"AT+CIPRECVDATA=%d\r\n" % 65536
            while got < n:
                p.write(req)
                p.until(b"+CIPRECVDATA:")  # notices before it belong to this read
                actual = int(p.until(b",")[:-1])
                if actual:
                    p.exact(actual)
                p.until(b"\r\nOK\r\n")
                if not actual:
                    p.until(b"+IPD,")  # nothing buffered yet: wait for the notice
                got += actual
            rate = _rate(n, time.perf_counter() - source.start)
            self.close_link()
            p.command(b"AT+CIPRECVMODE=0")
            return rate
        finally:
            source.close()

    def _enter_passthrough(self, port: int) -> None:
        self.p.command(b"AT+CIPMODE=1")
        self.start(port)
        self.p.write(b"AT+CIPSEND\r\n")
        self.p.until(b">")

    def _leave_passthrough(self) -> None:
        time.sleep(0.1)
        self.p.write(b"+++")
        time.sleep(0.1)
        self.p.buf.clear()
        self.p.command(b"AT+CIPMODE=0")
        self.close_link()

    def passthrough_up(self, payload: bytes) -> float:
        sink = Sink(len(payload))
        try:
            self._enter_passthrough(sink.port)
            t0 = time.perf_counter()
            self.p.write(payload)
            if not sink.done.wait(60):
                raise TimeoutError(f"passthrough up: sink got {sink.received}")
            rate = _rate(len(payload), sink.last - t0)
            self._leave_passthrough()
            return rate
        finally:
            sink.close()

    def passthrough_down(self, payload: bytes) -> float:
        go = new_event()
        source = Source(payload, go)
        try:
            self._enter_passthrough(source.port)
            go.set()
            self.p.drain_count(len(payload), 60)
            rate = _rate(len(payload), time.perf_counter() - source.start)
            self._leave_passthrough()
            return rate
        finally:
            source.close()

    def at_median(self, rounds: int) -> float:
        return _at_median(self.p, rounds)


def _cipsend_loop(p: Port, payload: bytes, step: int) -> None:
    mv = memoryview(payload)
    for i in range(0, len(payload), step):
        chunk = mv[i : i + step]
        p.write(b"AT+CIPSEND=%d\r\n" % len(chunk))
        p.until(b">")
        p.write(chunk)
        p.until(b"SEND OK\r\n")


def _at_median(p: Port, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        p.write(b"AT\r\n")
        p.until(b"\r\nOK\r\n")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def responder_at(tmp: Path, rounds: int) -> float:
    """AT median (ms) of the minimal responder."""
    link = tmp / f"responder-{time.monotonic_ns()}.tty"
    with _process([sys.executable, str(RESPONDER), str(link)], link):
        p = Port(str(link))
        try:
            return _at_median(p, rounds)
        finally:
            p.close()


def responder_cipsend(tmp: Path, payload: bytes, step: int) -> float:
    """AT+CIPSEND throughput (MB/s) of the minimal responder."""
    link = tmp / f"responder-{time.monotonic_ns()}.tty"
    with _process([sys.executable, str(RESPONDER), str(link)], link):
        p = Port(str(link))
        try:
            t0 = time.perf_counter()
            _cipsend_loop(p, payload, step)
            return _rate(len(payload), time.perf_counter() - t0)
        finally:
            p.close()


def _w800at() -> list[str]:
    exe = Path(sys.executable).parent / "w800at"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from w800at.cli import main; sys.exit(main())"]


TARGETS = [
    # (module figure, baseline figure, floor ratio, "higher is better")
    ("module AT median", "responder AT median", 1.5, False),
    ("module CIPSEND x{max_send}", "relay up", 0.3, True),
    ("module CIPSEND x{max_send}", "responder CIPSEND x{max_send}", None, True),
    # what the protocol's round trips leave to any Python process behind this PTY
    ("responder CIPSEND x{max_send}", "relay up", None, True),
    ("module +IPD receive", "relay down", 0.8, True),
    ("module CIPRECVDATA", "relay down", None, True),
    ("module passthrough up", "relay up", 0.8, True),
    ("module passthrough down", "relay down", 0.8, True),
]

#: a (module, baseline) pair measured back to back -> [(module value, baseline value)]
Pairs = dict[tuple[str, str], list[tuple[float, float]]]


def run_round(
    tmp: Path,
    payload: bytes,
    profile: str,
    rounds: int,
    pairs: Pairs,
    record: Callable[[str, float, str], None],
    only: str = "",
    prefix: tuple[str, ...] = (),
    exe: list[str] | None = None,
) -> None:
    """One round: every module step, each right after the baselines it is compared
    with (so that a slow or fast moment of this shared machine hits both sides).
    ``exe``: the ``w800at`` command to run (default: this interpreter's)."""
    from w800at.profiles import get_profile

    max_send = get_profile(profile).max_send
    baselines: dict[str, tuple[Callable[[], float], str]] = {
        "relay up": (lambda: relay_up(tmp, payload), "MB/s"),
        "relay down": (lambda: relay_down(tmp, payload), "MB/s"),
        "responder AT median": (lambda: responder_at(tmp, rounds), "ms"),
        f"responder CIPSEND x{max_send}": (
            lambda: responder_cipsend(tmp, payload, max_send),
            "MB/s",
        ),
    }
    link = tmp / "w800.tty"
    store = tmp / "store"
    cfg = tmp / "bench.toml"
    cfg.write_text('[station]\nip = "127.0.0.1"\ngateway = "127.0.0.1"\nnetmask = "255.0.0.0"\n')
    args = [
        *prefix,
        *(exe or _w800at()),
        "serve",
        "--pty",
        str(link),
        "--store",
        str(store),
        "--config",
        str(cfg),
        "--profile",
        profile,
    ]
    with _process(args, link):
        port = Port(str(link))
        try:
            m = Module(port, max_send)
            m.setup()
            steps: list[tuple[str, Callable[[], float], str]] = [
                ("module AT median", lambda: m.at_median(rounds), "ms"),
                (f"module CIPSEND x{max_send}", lambda: m.cipsend(payload), "MB/s"),
                ("module +IPD receive", lambda: m.ipd(payload), "MB/s"),
                ("module CIPRECVDATA", lambda: m.passive(payload), "MB/s"),
                ("module passthrough up", lambda: m.passthrough_up(payload), "MB/s"),
                ("module passthrough down", lambda: m.passthrough_down(payload), "MB/s"),
            ]
            for name, fn, unit in steps:
                if only and only not in name:
                    continue
                bases = [
                    b.format(max_send=max_send)
                    for mod, b, _, _ in TARGETS
                    if mod.format(max_send=max_send) == name
                ]
                base_values = {}
                for b in bases:
                    bfn, bunit = baselines[b]
                    base_values[b] = bfn()
                    record(b, base_values[b], bunit)
                for x, y, _, _ in TARGETS:  # two baselines measured back to back
                    x, y = x.format(max_send=max_send), y.format(max_send=max_send)
                    if x in base_values and y in base_values:
                        pairs.setdefault((x, y), []).append((base_values[x], base_values[y]))
                try:
                    value = fn()
                except Exception as exc:  # report and go on: one missing command != no bench
                    print(f"  {name}: FAILED ({type(exc).__name__}: {exc})", flush=True)
                    _recover(port)
                    continue
                record(name, value, unit)
                for b, bv in base_values.items():
                    pairs.setdefault((name, b), []).append((value, bv))
        finally:
            port.close()


def _recover(port: Port) -> None:
    """After a failed step: leave passthrough, close the link, forget the output."""
    port.buf.clear()
    time.sleep(0.2)
    with contextlib.suppress(Exception):
        port.write(b"+++")
        time.sleep(0.1)
        port.command(b"AT+CIPCLOSE", ok=b"\r\n", timeout=2)
    port.buf.clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=float, default=16, help="MiB per throughput run (default 16)")
    ap.add_argument("--rounds", type=int, default=500, help="AT round trips (default 500)")
    ap.add_argument("--profile", default="w800")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds; in each, every module step runs right after its baselines (5)",
    )
    ap.add_argument("--only", default="", help="run only the module steps whose name has this")
    ap.add_argument(
        "--prefix",
        default="",
        help='wrap the module, e.g. "py-spy record -o prof.svg --" (profiling)',
    )
    ap.add_argument(
        "--compare",
        metavar="W800AT",
        help="another w800at command (e.g. an older checkout's .venv/bin/w800at): every "
        "round also runs it, in alternating order, and both get their ratios ('before' "
        "is that one, 'after' this interpreter's)",
    )
    args = ap.parse_args()
    if shutil.which("socat") is None:
        print("socat is required (apt-get install socat)", file=sys.stderr)
        return 2
    from w800at.profiles import get_profile

    max_send = get_profile(args.profile).max_send
    payload = os.urandom(int(args.size * 1024 * 1024))
    versions: list[tuple[str, list[str] | None]] = [("after", None)]
    if args.compare:
        versions = [("before", args.compare.split()), ("after", None)]
    by_version: dict[str, Pairs] = {v: {} for v, _ in versions}
    figures: dict[str, dict[str, list[float]]] = {v: {} for v, _ in versions}
    units: dict[str, str] = {}
    current = [versions[0][0]]

    def record(name: str, value: float, unit: str) -> None:
        figures[current[0]].setdefault(name, []).append(value)
        units[name] = unit
        print(f"  {name:28s} {value:10.3f} {unit}", flush=True)

    print(
        f"w800at bench: {len(payload)} bytes per run, profile {args.profile}, {args.repeat} rounds",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="w800at-bench-") as d:
        tmp = Path(d)
        for n in range(args.repeat):
            order = versions if n % 2 == 0 else versions[::-1]
            for label, exe in order:
                current[0] = label
                print(f"round {n + 1}" + (f" ({label})" if args.compare else ""), flush=True)
                run_round(
                    tmp,
                    payload,
                    args.profile,
                    args.rounds,
                    by_version[label],
                    record,
                    args.only,
                    tuple(args.prefix.split()),
                    exe,
                )
    for label, _ in versions:
        if args.compare:
            print(f"\n== {label}")
        _report(by_version[label], figures[label], units, max_send, args.markdown)
    return 0


def _report(
    pairs: Pairs,
    figures: dict[str, list[float]],
    units: dict[str, str],
    max_send: int,
    markdown: bool,
) -> None:

    print("\nratios (module / baseline measured just before it; median of the pairs, [min - max]):")
    table = []
    for mod, base, floor, higher in TARGETS:
        mod, base = mod.format(max_send=max_send), base.format(max_send=max_send)
        ratios = [m / b for m, b in pairs.get((mod, base), [])]
        if not ratios:
            print(f"  {mod:28s} / {base:28s}   not measured")
            table.append((mod, base, "-", "not measured"))
            continue
        med = statistics.median(ratios)
        if floor is None:
            verdict = "(no target)"
        else:
            ok = med >= floor if higher else med <= floor
            verdict = f"{'PASS' if ok else 'MISS'} ({'>=' if higher else '<='} {floor}x)"
        spread = f"[{min(ratios):.2f} - {max(ratios):.2f}]"
        print(f"  {mod:28s} / {base:28s} = {med:6.2f}x {spread:15s} {verdict}")
        table.append((mod, base, f"{med:.2f}x {spread}", verdict))
    if markdown:
        print(
            f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}"
        )
        print("\n| figure (median of all runs) | value |\n|---|---|")
        for name, vals in figures.items():
            print(f"| {name} | {statistics.median(vals):.3f} {units[name]} |")
        print("\n| module | baseline | ratio | target |\n|---|---|---|---|")
        for mod, base, r, verdict in table:
            print(f"| {mod} | {base} | {r} | {verdict} |")


if __name__ == "__main__":
    sys.exit(main())

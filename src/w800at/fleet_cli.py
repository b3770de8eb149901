"""``w800at fleet``: N modules in one process (or spread over worker processes).

::

    w800at fleet --count 300 --tcp 127.0.0.1:40000     # module i on port 40000+i
    w800at fleet --count 100 --pty-dir ./ttys          # ./ttys/w800-0000.tty, ...

Standard output gets one line per module (``w800-0000 tcp 127.0.0.1:40000``) with
``--list`` (or for ten modules or fewer), else a range summary, then ``ready`` once
every module listens.  Ctrl-C (SIGINT) or SIGTERM closes every link, port and file.
Errors are one line on stderr and exit code 2 (bad options, a port in use, a
directory that cannot be written); nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .channels.base import Channel
from .channels.pty import PtyChannel
from .channels.tcp import TcpChannel, format_hostport
from .config import ConfigError, load_config
from .fleet import Fleet, FleetError, module_names
from .profiles import PROFILES, get_profile
from .store import default_store_dir

#: a fleet's PTYs are probed less often while nobody has them open (see PtyChannel)
PTY_IDLE_POLL = 0.25
#: up to this many modules, the start lists every one
LIST_UP_TO = 10


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fleet",
        help="run many modules in one process",
        description="Run N emulated modules in one process (or W worker processes).",
    )
    p.add_argument("--count", type=int, required=True, metavar="N", help="how many modules")
    port = p.add_mutually_exclusive_group(required=True)
    port.add_argument(
        "--tcp", metavar="HOST:BASE", help="module i on TCP port BASE+i (HOST default 127.0.0.1)"
    )
    port.add_argument(
        "--pty-dir", type=Path, metavar="DIR", help="module i on a PTY at DIR/w800-NNNN.tty"
    )
    from .cli import add_control_options, add_timing_options

    add_timing_options(p)
    add_control_options(p, "every module (every route takes the module index)")
    p.add_argument("--profile", choices=sorted(PROFILES), help="dialect (default: w800)")
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="configuration file")
    p.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="module NAME keeps its settings in DIR/NAME "
        f"(default: {default_store_dir() / 'fleet'})",
    )
    p.add_argument(
        "--workers", type=int, default=1, metavar="W", help="spread the modules over W processes"
    )
    p.add_argument("--list", action="store_true", help="print one line per module")
    p.add_argument("--lenient-eol", action="store_true", help="as for serve")
    p.add_argument(
        "--trace-dir", type=Path, metavar="DIR", help="record each module's bytes in DIR/NAME.trace"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (as for serve)")
    # a worker process of --workers runs the slice [first, first+count)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


class UsageError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    from .cli import setup_logging

    setup_logging(args.verbose)
    made: list[Path] = []  # directories this run created: removed again if left empty
    try:
        _check(args, made)
        if args.workers > 1 and not args.worker:
            return _supervise(args)
        return asyncio.run(_run(args))
    except (UsageError, FleetError, ConfigError) as exc:
        _fail(args, str(exc))
        return 2
    except KeyboardInterrupt:  # pragma: no cover - the signal handler normally wins
        return 0
    finally:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()


def _fail(args: argparse.Namespace, text: str) -> None:
    if args.worker:  # the supervisor prints it
        print(f"error {text}", flush=True)
    else:
        print(f"w800at fleet: {text}", file=sys.stderr, flush=True)


def _check(args: argparse.Namespace, made: list[Path]) -> None:
    """Everything that can be refused before a single port is opened."""
    if args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.workers > args.count:
        raise UsageError(f"--workers {args.workers} is more than --count {args.count}")
    if args.tcp:
        from .channels import parse_hostport

        try:
            _, base = parse_hostport(args.tcp)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        last = base + args.first + args.count - 1
        if base == 0:
            raise UsageError("--tcp needs a base port (module i listens on BASE+i)")
        if last > 65535:
            raise UsageError(f"ports {base}..{last}: the last one is beyond 65535")
    else:
        _check_dir(args.pty_dir, "--pty-dir", made)
    if args.trace_dir is not None:
        _check_dir(args.trace_dir, "--trace-dir", made)
    if args.config is not None:
        load_config(args.config)  # ConfigError: one line
    from .cli import control_setup, pacing_from

    try:
        args.control_setup = control_setup(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    try:
        pacing_from(args, get_profile(args.profile or "w800"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _raise_fd_limit(args)


#: file descriptors a process needs besides one per module (interpreter, epoll, a
#: few hosts and links at once)
FD_MARGIN = 256


def _raise_fd_limit(args: argparse.Namespace) -> None:
    """A module holds one descriptor while idle (its port), more with a host and links:
    lift the soft limit to the hard one, and refuse a fleet that cannot fit."""
    per_process = -(-args.count // args.workers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = per_process + FD_MARGIN
    if need > soft:
        target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
        if hard != resource.RLIM_INFINITY and need > hard:
            raise UsageError(
                f"--count {args.count} needs about {need} open files per process and this "
                f"system allows {hard} (ulimit -Hn); use --workers or raise the limit"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _check_dir(path: Path, option: str, made: list[Path]) -> None:
    """``path`` is a directory we can create files in (made if missing: the ones made
    are added to ``made``, outermost first)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    made.extend(reversed(missing))
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".w800at-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _channel_factory(args: argparse.Namespace) -> tuple[Callable[[int, str], Channel], str]:
    """Module i's channel, and a description of where the fleet lives."""
    if args.tcp:
        from .channels import parse_hostport

        host, base = parse_hostport(args.tcp)
        first, last = base + args.first, base + args.first + args.count - 1
        where = f"tcp {format_hostport(host, first)}..{last}"
        return (lambda i, name: TcpChannel(host, base + i)), where
    pty_dir: Path = args.pty_dir
    where = f"pty {pty_dir}/{module_names(args.count, args.first)[0]}.tty.."
    return (
        lambda i, name: PtyChannel(str(pty_dir / f"{name}.tty"), idle_poll_max=PTY_IDLE_POLL)
    ), where


async def _run(args: argparse.Namespace) -> int:
    from .cli import pacing_from

    config = load_config(args.config)
    profile = get_profile(args.profile or config.profile or "w800")
    pacing = pacing_from(args, profile)
    channel_for, where = _channel_factory(args)
    fleet = Fleet(
        args.count,
        channel_for,
        first=args.first,
        profile=profile,
        config=config,
        store_root=args.store or default_store_dir() / "fleet",
        trace_dir=args.trace_dir,
        lenient_eol=args.lenient_eol or config.lenient_eol,
        pacing=pacing,
        control=args.control_setup.enabled,
        scenario=args.control_setup.scenario,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.worker:  # the supervisor holds our stdin: its end (it died) stops us too
        loop.add_reader(sys.stdin.fileno(), _stop_at_eof, stop)
    server = None
    try:
        await fleet.start()
        setup = args.control_setup
        if setup.address is not None:
            from .control.http import serve_control

            try:
                server = await serve_control(
                    lambda i: fleet[i].control,
                    range(args.first, args.first + args.count),
                    setup.address,
                    single=False,
                    token=setup.token,
                )
            except BaseException:
                await fleet.stop()
                raise
            if not args.worker:
                print(f"w800at fleet: control on {server.address}", flush=True)
        # Thousands of modules are a few million long-lived objects: out of the cyclic
        # collector's way, or every full collection would stall every module.
        gc.freeze()
        try:
            if args.worker or args.list or args.count <= LIST_UP_TO:
                for m in fleet:
                    print(f"{m.name} {m.description}")
            if not args.worker:
                names = fleet.names
                print(
                    f"w800at fleet: {len(fleet)} {profile.name} modules "
                    f"{names[0]}..{names[-1]} on {where}"
                )
            print("ready", flush=True)
            await stop.wait()
        finally:
            if server is not None:
                await server.stop()
            await fleet.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if args.worker:
            loop.remove_reader(sys.stdin.fileno())
    return 0


def _stop_at_eof(stop: asyncio.Event) -> None:
    try:
        data = os.read(sys.stdin.fileno(), 4096)
    except OSError:
        data = b""
    if not data:
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stop.set()


# --- --workers: one process per slice ---------------------------------------------------


def _slices(count: int, workers: int) -> list[tuple[int, int]]:
    """(first, count) per worker, as even as possible."""
    per, extra = divmod(count, workers)
    out, first = [], 0
    for w in range(workers):
        n = per + (1 if w < extra else 0)
        out.append((first, n))
        first += n
    return out


def _worker_argv(
    args: argparse.Namespace, first: int, count: int, control: str | None = None
) -> list[str]:
    argv = [sys.executable, "-m", "w800at", "fleet", "--worker", "--first", str(first)]
    argv += ["--count", str(count)]
    if args.tcp:
        argv += ["--tcp", args.tcp]
    else:
        argv += ["--pty-dir", str(args.pty_dir)]
    for opt, val in (
        ("--profile", args.profile),
        ("--config", args.config),
        ("--store", args.store),
        ("--trace-dir", args.trace_dir),
        ("--scenario", args.scenario),
        ("--control", control),
    ):
        if val is not None:
            argv += [opt, str(val)]
    if args.lenient_eol:
        argv.append("--lenient-eol")
    argv += ["--baud", str(args.baud), "--pacing", args.pacing]
    argv += ["--flow-control", args.flow_control]
    argv += ["-v"] * args.verbose
    return argv


def _supervise(args: argparse.Namespace) -> int:
    """Start the workers, print their lines, ``ready`` when all are; Ctrl-C stops all.

    Workers run in sessions of their own (a terminal's Ctrl-C reaches only us) and are
    stopped with SIGTERM, which they handle like Ctrl-C once running and which ends
    them quietly before that; each also stops when its stdin (a pipe from us) closes,
    so none outlives a supervisor that was killed.

    With ``--control``, each worker serves its slice's test bench on a Unix socket in a
    private directory, and the supervisor serves the fleet's endpoint in front of them
    (`w800at.control.proxy`)."""
    slices = _slices(args.count, args.workers)
    ctl_dir = tempfile.mkdtemp(prefix="w800at-fleet-ctl-") if args.control else None
    sockets = [
        os.path.join(ctl_dir, f"worker-{k}.sock") if ctl_dir else None for k in range(len(slices))
    ]
    procs = [
        subprocess.Popen(
            _worker_argv(args, first, n, sockets[k]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for k, (first, n) in enumerate(slices)
    ]
    proxy = None
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        lines: list[str] = []
        error = ""
        for p in procs:  # each worker prints its modules, then "ready" or "error ..."
            assert p.stdout is not None
            for line in p.stdout:
                line = line.rstrip("\n")
                if line == "ready":
                    break
                if line.startswith("error "):
                    error = error or line[len("error ") :]
                    break
                lines.append(line)
            if error or stopping:
                break
        if error or stopping:
            forward(signal.SIGINT, None)
            for p in procs:
                p.wait()
            if error:
                print(f"w800at fleet: {error}", file=sys.stderr, flush=True)
                return 2
            return 0
        if args.list or args.count <= LIST_UP_TO:
            print("\n".join(lines))
        if ctl_dir is not None:
            from .control.proxy import FleetProxy, ProxyThread

            setup = args.control_setup
            routes = [(f, n, str(s)) for (f, n), s in zip(slices, sockets, strict=True)]
            proxy = ProxyThread(FleetProxy(routes, setup.token), setup.address)
            try:
                where_ctl = proxy.start()
            except (OSError, ValueError) as exc:
                proxy = None
                forward(signal.SIGINT, None)
                for p in procs:
                    p.wait()
                print(f"w800at fleet: {exc}", file=sys.stderr, flush=True)
                return 2
            print(f"w800at fleet: control on {where_ctl}")
        names = module_names(args.count)
        _, where = _channel_factory(args)
        profile = get_profile(args.profile or load_config(args.config).profile or "w800")
        print(
            f"w800at fleet: {args.count} {profile.name} modules {names[0]}..{names[-1]} "
            f"on {where}, {len(procs)} workers (pids {' '.join(str(p.pid) for p in procs)})"
        )
        print("ready", flush=True)
        while any(p.poll() is None for p in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(0.2)
            for p in procs:
                if p.poll() is not None and not stopping:
                    forward(signal.SIGINT, None)  # one worker died: stop the fleet
        bad = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGTERM)]
        return 1 if bad else 0
    finally:
        if proxy is not None:
            proxy.stop()
        for s, h in old.items():
            signal.signal(s, h)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if ctl_dir is not None:
            shutil.rmtree(ctl_dir, ignore_errors=True)

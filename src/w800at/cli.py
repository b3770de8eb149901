"""``w800at``: the command line.

``w800at serve`` runs the module on a port; ``w800at fleet`` many of them; ``w800at
ctl`` drives a running module's test bench; ``w800at certs`` manages the TLS
certificate store; ``w800at trace show`` reads traces.  For tests, pytest finds the
w800at fixtures (``w800at``, ``w800at_factory``, ``w800at_fleet``) once w800at is
installed: see "Testing with pytest" in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .channels.base import Channel
from .config import ConfigError, load_config
from .log import ModuleNameFilter, get_logger
from .module import Module
from .profiles import PROFILES, get_profile
from .store import Store, default_store_dir

if TYPE_CHECKING:
    from .channels.pacing import Pacing
    from .profiles import Profile

log = get_logger("w800at")


def add_timing_options(p: argparse.ArgumentParser) -> None:
    """``--baud``, ``--pacing``, ``--flow-control`` (serve and fleet)."""
    p.add_argument(
        "--baud",
        type=int,
        default=115200,
        help="the line rate: --serial's port, and the pace with --pacing (default: 115200)",
    )
    p.add_argument(
        "--pacing",
        choices=("off", "output", "both"),
        default="off",
        help="keep a real UART's pace on any port: the module's output (output), "
        "and the host's input too, into the module's receive buffer (both) (default: off)",
    )
    p.add_argument(
        "--flow-control",
        choices=("none", "rtscts"),
        default="none",
        help="with --pacing both: rtscts holds the host off when the receive buffer is "
        "full; none loses the bytes, as a real module does (default: none)",
    )


def add_control_options(p: argparse.ArgumentParser, what: str = "the module") -> None:
    """``--control``, ``--control-token``, ``--scenario`` (serve and fleet)."""
    p.add_argument(
        "--control",
        metavar="PATH|HOST:PORT",
        help=f"serve the test bench's HTTP/JSON API for {what} on a Unix socket (created "
        "mode 0600) or on loopback TCP (another address needs --control-token)",
    )
    p.add_argument(
        "--control-token",
        metavar="TOKEN",
        default=os.environ.get("W800AT_CONTROL_TOKEN") or None,
        help="every control request must carry it (Authorization: Bearer TOKEN); "
        "default: $W800AT_CONTROL_TOKEN",
    )
    p.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE.toml",
        help="load a scenario (rules 'when TRIGGER do ACTION') at start",
    )


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="run the module on a port", description="Run an emulated W800 AT module."
    )
    port = p.add_mutually_exclusive_group()
    port.add_argument(
        "--pty",
        metavar="PATH",
        help="a pseudo-terminal, with a symlink at PATH (default: ./w800.tty)",
    )
    port.add_argument(
        "--tcp", metavar="HOST:PORT", help="the AT port on a TCP socket (one host at a time)"
    )
    port.add_argument("--serial", metavar="DEVICE", help="a real serial port")
    port.add_argument(
        "--rfc2217",
        metavar="HOST:PORT",
        help="a serial-over-TCP (RFC 2217) port; DTR/RTS toggle = reset",
    )
    port.add_argument("--stdio", action="store_true", help="standard input and output")
    add_timing_options(p)
    p.add_argument("--profile", choices=sorted(PROFILES), help="dialect (default: w800)")
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="configuration file")
    p.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help=f"where saved settings and certificates live (default: {default_store_dir()})",
    )
    p.add_argument(
        "--lenient-eol",
        action="store_true",
        help="accept a lone CR or LF as a line terminator (the real module does not)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (-v: info and every byte, -vv: debug)",
    )
    p.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="record every byte both ways, with timestamps, to FILE",
    )
    p.add_argument(
        "--transcript",
        type=Path,
        metavar="FILE",
        help="write the readable transcript (as `w800at trace show` prints it) live to FILE",
    )
    add_control_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="w800at", description=__doc__)
    parser.add_argument("--version", action="version", version=f"w800at {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True)
    _serve_parser(sub)
    from .fleet_cli import add_parser as add_fleet

    add_fleet(sub)
    from .ctl_cli import add_parser as add_ctl

    add_ctl(sub)
    try:
        from .certs_cli import add_parser as add_certs
    except ImportError:  # pragma: no cover
        pass
    else:
        add_certs(sub)
    try:
        from .transcript_cli import add_parser as add_trace
    except ImportError:  # pragma: no cover
        pass
    else:
        add_trace(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "serve":
        return serve(args)
    handler = getattr(args, "handler", None)
    if handler is None:  # pragma: no cover
        return 2
    rc: int = handler(args)
    return rc


class LogFormatter(logging.Formatter):
    """``time logger LEVEL: [module] message`` (the module's name when there is one)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        name = getattr(record, "module_name", "")
        if not name:
            return text
        head, sep, rest = text.partition(": ")
        return f"{head}{sep}[{name}] {rest}" if sep else text


def setup_logging(verbose: int) -> None:
    """Log to stderr, ``-v`` info and every byte, ``-vv`` debug; records name their module."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ModuleNameFilter())
    handler.setFormatter(LogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))
    if verbose < 2:  # pyserial's RFC 2217 negotiation chatter is debug detail
        logging.getLogger("w800at.channel.rfc2217").setLevel(logging.WARNING)


def serve(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"w800at: {exc}", file=sys.stderr)
        return 2
    try:
        profile = get_profile(args.profile or config.profile or "w800")
        channel = _channel_from(args)  # bad HOST:PORT is a usage error, not a crash
        pacing = pacing_from(args, profile)
    except ValueError as exc:
        print(f"w800at: {exc}", file=sys.stderr)
        return 2
    try:
        control = control_setup(args)
    except ValueError as exc:
        print(f"w800at: {exc}", file=sys.stderr)
        return 2
    store = Store(args.store or default_store_dir())
    module = Module(
        channel,
        profile=profile,
        config=config,
        store=store,
        lenient_eol=args.lenient_eol or config.lenient_eol,
        trace=args.trace,
        transcript=args.transcript,
        verbose=args.verbose > 0,
        pacing=pacing,
        control=control.enabled,
        scenario=control.scenario,
    )
    try:
        asyncio.run(_serve(module, control))
    except KeyboardInterrupt:  # pragma: no cover - signal handler normally wins
        pass
    except ValueError as exc:  # the control socket could not be made
        print(f"w800at: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"w800at: {exc}", file=sys.stderr)
        return 1
    return 0


class ControlSetup:
    """What ``--control``, ``--control-token`` and ``--scenario`` ask for, checked."""

    def __init__(self, address: Any, token: str | None, scenario: Any) -> None:
        self.address = address
        self.token = token
        self.scenario = scenario

    @property
    def enabled(self) -> bool:
        return self.address is not None or self.scenario is not None


def control_setup(args: argparse.Namespace) -> ControlSetup:
    """Check the control options before anything opens (ValueError: one line)."""
    address = None
    if args.control is not None:
        from .control.http import parse_address

        address = parse_address(args.control, args.control_token)
    scenario = None
    if args.scenario is not None:
        from .control.scenario import read_scenario

        scenario = read_scenario(args.scenario)
    return ControlSetup(address, args.control_token, scenario)


async def _serve(module: Module, control: ControlSetup | None = None) -> None:
    """Run until Ctrl-C / SIGTERM (or end of input on --stdio), then close everything."""
    stop = asyncio.Event()
    with _signals(stop.set):
        await module.start()
        server = None
        if control is not None and control.address is not None:
            from .control.http import serve_control

            try:
                server = await serve_control(
                    lambda i: module.control,
                    [0],
                    control.address,
                    single=True,
                    token=control.token,
                )
            except BaseException:
                await module.stop()
                raise
            print(f"w800at: control on {server.address}", file=sys.stderr, flush=True)
        print(
            f"w800at: {module.profile.name} module on {module.description}",
            file=sys.stderr,
            flush=True,
        )
        try:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(module.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        finally:
            log.info("shutting down")
            if server is not None:
                await server.stop()
            await module.stop()


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` while inside (main thread only)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
        except (RuntimeError, ValueError):  # not the main thread
            break
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _channel_from(args: argparse.Namespace) -> Channel:
    from .channels import open_channel

    if args.tcp:
        return open_channel("tcp", args.tcp)
    if args.serial:
        return open_channel("serial", args.serial, baud=args.baud)
    if args.rfc2217:
        return open_channel("rfc2217", args.rfc2217, baud=args.baud)
    if args.stdio:
        return open_channel("stdio", "")
    return open_channel("pty", args.pty or "./w800.tty")


def pacing_from(args: argparse.Namespace, profile: Profile) -> Pacing | None:
    """``--pacing``/``--baud``/``--flow-control`` for this dialect (None: pacing off)."""
    from .channels.pacing import pacing_from_options
    from .uart import UartFrame

    frame = UartFrame(*profile.uart_default)  # data bits, stop bits, parity: the dialect's
    return pacing_from_options(
        args.pacing, args.baud, args.flow_control, profile.uart_rx_buffer, frame
    )

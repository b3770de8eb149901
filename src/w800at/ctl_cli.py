"""``w800at ctl``'s place in the command line (the work is in `w800at.control.ctl`,
imported only when ``ctl`` runs: ``serve`` without the test bench never loads it)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ctl",
        help="drive a running module's test bench (prints JSON)",
        description=CTL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--control",
        required=True,
        metavar="PATH|HOST:PORT",
        help="where the module serves its control API (serve --control)",
    )
    p.add_argument(
        "--control-token",
        "--token",
        dest="token",
        metavar="TOKEN",
        default=os.environ.get("W800AT_CONTROL_TOKEN") or None,
        help="the API's token (default: $W800AT_CONTROL_TOKEN)",
    )
    p.add_argument("--module", type=int, metavar="I", help="module I of a fleet")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    p.add_argument("verb", nargs=argparse.REMAINDER, help="the operation and its arguments")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .control.ctl import run

    return run(args)


CTL_HELP = """\
Drive a running module's test bench (serve --control); prints JSON.

    w800at ctl --control PATH status
    w800at ctl --control PATH wifi drop
    w800at ctl --control PATH link fault 0 reset_peer after=1000
    w800at ctl --control PATH uart busy count=2
    w800at ctl --control PATH dns set name=foo.test address=127.0.0.9
    w800at ctl --control PATH power reset

A verb is the words of an operation (wifi drop, link fault, ...: see the README's
"Testing your driver"), then its arguments as key=value (a value starting with [ or {
is JSON; the schema converts the others), or without key= in the operation's order
(link fault TARGET TYPE: TARGET a link ID, next or HOST:PORT).  Also:
uart corrupt|drop|duplicate|delay|hang|dead|reset ... (uart fault type=...),
events [kinds=a,b] [count=N] [since=SEQ] (JSON lines until Ctrl-C or N events),
wait kind=K [match=REGEX] [timeout=S], mark, scenario load FILE, modules, openapi.
--module I picks module I of a fleet.

Exit status: 0 done, 1 the API refused (its JSON error is printed, and one line on
stderr), 2 usage or connection problems.
"""

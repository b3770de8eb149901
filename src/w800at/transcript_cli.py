"""``w800at trace show FILE [--html OUT]``: a ``--trace`` file as a readable transcript.

The text transcript goes to standard output; ``--html OUT`` writes one self-contained
page instead.  A file that cannot be read or is not a trace is one error line on
standard error and exit status 2.  The work is in `w800at.transcript` (rows, text)
and `w800at.transcript_html` (the page).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .transcript import Record, TraceFormatError, format_transcript, parse_trace, transcribe
from .transcript_html import render_html


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "trace",
        help="read --trace files",
        description="Read the files `w800at serve --trace FILE` writes.",
    )
    verbs = p.add_subparsers(dest="trace_verb", required=True)
    show = verbs.add_parser(
        "show",
        help="print a trace as a readable transcript",
        description="One row per command line, answer, URC, payload and link chunk: "
        "time, delta, lane (host, module, L<id> for a link's peer, event), kind, text.",
    )
    show.add_argument("file", type=Path, metavar="FILE", help="a trace file")
    show.add_argument(
        "--html",
        type=Path,
        metavar="OUT",
        help="write a self-contained HTML page (lanes on a time axis) to OUT instead",
    )
    show.set_defaults(handler=_show)


def _fail(message: str) -> int:
    print(f"w800at trace show: {message}", file=sys.stderr)
    return 2


def _show(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        items = parse_trace(data)
    except TraceFormatError as exc:
        return _fail(f"{path}: {exc}")
    rows = transcribe(items)
    if args.html is not None:
        started = next((i.wall for i in items if isinstance(i, Record)), "")
        page = render_html(rows, title=path.name, started=started)
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as exc:
            print(
                f"w800at trace show: cannot write {args.html}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        return 0
    try:
        sys.stdout.write(format_transcript(rows))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0

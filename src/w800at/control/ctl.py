"""``w800at ctl``: the test bench's API from the shell; prints JSON.

::

    w800at ctl --control PATH status
    w800at ctl --control PATH wifi drop
    w800at ctl --control PATH link fault 0 reset_peer after=1000
    w800at ctl --control PATH uart busy count=2
    w800at ctl --control PATH dns set name=foo.test address=127.0.0.9
    w800at ctl --control PATH power reset

A verb is the words of an operation (`OPS`: ``wifi drop``, ``link fault``, ...), then
its arguments as ``key=value`` (a value starting with ``[`` or ``{`` is JSON; the
schema converts the others), or without ``key=`` in the operation's order (``link
fault TARGET TYPE``: TARGET a link ID, ``next`` or ``HOST:PORT``).  Also:
``uart corrupt|drop|duplicate|delay|hang|dead|reset ...`` (``uart fault type=...``),
``events [kinds=a,b] [count=N] [since=SEQ]`` (JSON lines until Ctrl-C or N events),
``wait kind=K [match=REGEX] [timeout=S]``, ``mark``, ``scenario load FILE``,
``modules``, ``openapi``.  ``--module I`` picks module I of a fleet.

Exit status: 0 done, 1 the API refused (its JSON error is printed, and one line on
stderr), 2 usage or connection problems.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .ops import OPS, UART_TYPES, Op


class UsageError(Exception):
    pass


def _value(text: str) -> Any:
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{text!r}: not JSON ({exc})") from None
    return text


def _match(words: list[str]) -> tuple[Op, list[str]]:
    best: Op | None = None
    for op in OPS:
        n = len(op.words)
        if words[:n] == list(op.words) and (best is None or n > len(best.words)):
            best = op
    if best is None:
        known = sorted({" ".join(op.words) for op in OPS})
        extra = ["events", "wait", "mark", "scenario load FILE", "modules", "openapi"]
        extra += [f"uart {t}" for t in UART_TYPES]
        raise UsageError(f"unknown verb {' '.join(words)!r}; known: {', '.join(known + extra)}")
    return best, words[len(best.words) :]


def _pairs(rest: list[str], positional: tuple[str, ...]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    pos = list(positional)
    for tok in rest:
        key, sep, val = tok.partition("=")
        if sep and key.isidentifier():
            args[key] = _value(val)
        elif pos:
            args[pos.pop(0)] = _value(tok)
        else:
            raise UsageError(f"{tok!r}: give it as key=value")
    return args


def _link_target(args: dict[str, Any]) -> None:
    target = args.pop("target", None)
    if target is None:
        return
    if isinstance(target, str) and target.isdigit():
        args["link"] = target
    elif target == "next":
        args["next"] = "true"
    elif isinstance(target, str) and ":" in target:
        args["remote"] = target
    else:
        raise UsageError(f"link fault target {target!r}: a link ID, next, or HOST:PORT")


def build(words: list[str]) -> tuple[str, str, Any, dict[str, str]]:
    """``(method, path, body, headers)`` for a verb; UsageError if it is not one."""
    if not words:
        raise UsageError("give a verb, e.g. status")
    head = words[0]
    if head == "events":
        q = _pairs(words[1:], ())
        unknown = set(q) - {"kinds", "count", "since"}
        if unknown:
            raise UsageError(f"events: unknown {', '.join(sorted(unknown))}")
        query = "&".join(f"{k}={v}" for k, v in q.items())
        return "GET", "/events" + (f"?{query}" if query else ""), None, {}
    if head == "wait":
        return "POST", "/events/wait", _pairs(words[1:], ("kind", "match")), {}
    if head == "mark":
        return "POST", "/events/mark", None, {}
    if head == "modules":
        return "GET", "/modules", None, {}
    if head == "openapi":
        return "GET", "/openapi.json", None, {}
    if words[:2] == ["scenario", "load"]:
        if len(words) != 3:
            raise UsageError("scenario load FILE")
        try:
            text = Path(words[2]).read_bytes()
        except OSError as exc:
            raise UsageError(f"{words[2]}: {exc.strerror or exc}") from None
        return "POST", "/scenario", text, {"Content-Type": "application/toml"}
    if head == "uart" and len(words) > 1 and words[1] in UART_TYPES:
        words = ["uart", "fault", f"type={words[1]}", *words[2:]]
    op, rest = _match(words)
    args = _pairs(rest, op.positional)
    if op.name == "link_fault":
        _link_target(args)
        link = args.pop("link", None)
        if link is not None and not args.get("remote") and not args.get("next"):
            return "POST", f"/links/{link}/faults", args, {}
    path = op.path
    for key in [k[1:-1] for k in path.split("/") if k.startswith("{")]:
        if key not in args:
            raise UsageError(f"{' '.join(op.words)}: give {key}=...")
        path = path.replace("{" + key + "}", str(args.pop(key)))
    if op.method in ("GET", "DELETE"):
        if args:
            from urllib.parse import urlencode

            path += "?" + urlencode({k: str(v) for k, v in args.items()})
        return op.method, path, None, {}
    return op.method, path, args, {}


def run(args: argparse.Namespace) -> int:
    try:
        method, path, body, headers = build(list(args.verb))
    except UsageError as exc:
        print(f"w800at ctl: {exc}", file=sys.stderr)
        return 2
    if args.module is not None:
        path = f"/modules/{args.module}{path}"
    try:
        return asyncio.run(_request(args, method, path, body, headers))
    except KeyboardInterrupt:
        return 0


async def _request(
    args: argparse.Namespace, method: str, path: str, body: Any, headers: dict[str, str]
) -> int:
    import aiohttp

    from .http import AddressError, parse_address

    try:
        addr = parse_address(args.control, token="client")  # the server decides
    except AddressError as exc:
        print(f"w800at ctl: {exc}", file=sys.stderr)
        return 2
    hdrs = dict(headers)
    if args.token:
        hdrs["Authorization"] = f"Bearer {args.token}"
    connector: aiohttp.BaseConnector = (
        aiohttp.UnixConnector(path=addr.path) if addr.path is not None else aiohttp.TCPConnector()
    )
    streaming = path.split("?")[0].endswith("/events")
    waiting = path.endswith("/events/wait")  # the server keeps to the wait's own timeout
    timeout = aiohttp.ClientTimeout(total=None if streaming or waiting else args.timeout)
    data: Any = body if isinstance(body, bytes) else None
    js = body if not isinstance(body, bytes) and body is not None else None
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.request(method, addr.base_url + path, json=js, data=data, headers=hdrs) as resp,
        ):
            if streaming and resp.status == 200:
                async for line in resp.content:
                    sys.stdout.write(line.decode())
                    sys.stdout.flush()
                return 0
            text = await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        print(f"w800at ctl: cannot reach {args.control}: {exc}", file=sys.stderr)
        return 2
    try:
        shown = json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        shown = text.rstrip("\n")
    print(shown)
    if resp.status >= 400:
        try:
            message = json.loads(text).get("error", text)
        except (json.JSONDecodeError, AttributeError):
            message = text
        print(f"w800at ctl: {resp.status}: {message}", file=sys.stderr)
        return 1
    return 0

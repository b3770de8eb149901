"""The test bench's HTTP/JSON API (aiohttp): the `Control` operations over a socket.

``w800at serve --control PATH`` serves it on a Unix socket created mode 0600;
``--control 127.0.0.1:PORT`` on loopback TCP.  Any other address is refused at start
unless ``--control-token`` is given, and then every request must carry it
(``Authorization: Bearer TOKEN``).  The routes come from `OPS` (one per operation) plus:

- ``GET /events``: the event stream, one JSON object per line (``?kinds=a,b``,
  ``?since=SEQ``, ``?count=N`` to stop after N);
- ``POST /events/wait``: the next event of a kind matching a regex (`WaitFor`);
- ``POST /links/{link}/faults``: a fault on link ``link`` (the body without target);
- ``POST /scenario``: a scenario, TOML (or JSON) in the body;
- ``GET /openapi.json``: this API, described;
- ``GET /modules``: the modules behind this endpoint.

A fleet serves every route under ``/modules/{index}/``; a single module serves them
at the root too.  Bodies are JSON objects, checked by the operation's schema; query
parameters count as body fields.  Errors are JSON ``{"error": "..."}``: 400 malformed
JSON, 401 no or wrong token, 404 unknown route or thing, 405 wrong method, 409 not
now, 422 invalid arguments, 500 a bug (logged; the module keeps serving its host).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..log import get_logger
from . import models as M
from .control import Control
from .ops import OPS, ControlError, Op
from .scenario import ScenarioError, parse_scenario

log = get_logger("w800at.control.http")

#: the largest request body (a scenario file, an injected payload)
MAX_BODY = 1024 * 1024

Targets = Callable[[int], Control]


class AddressError(ValueError):
    """A control address that cannot be used (one line for the user)."""


@dataclass(frozen=True)
class ControlAddress:
    """Where the API listens: a Unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int = 0

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return "http://module" if self.path is not None else f"http://{self}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, token: str | None = None) -> ControlAddress:
    """``PATH`` (a Unix socket) or ``HOST:PORT`` (TCP).  A TCP host that is not
    loopback needs a token (`AddressError` otherwise)."""
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit() and "/" not in text:
        host = head.strip("[]")
        port = int(tail)
        if not host or port > 65535:
            raise AddressError(f"--control {text}: give HOST:PORT with a port of 0 to 65535")
        if not _is_loopback(host) and not token:
            raise AddressError(
                f"--control {text}: {host} is not a loopback address; the control API is "
                "as powerful as a shell on the module: give --control-token to serve it there"
            )
        return ControlAddress(host=host, port=port)
    if not text:
        raise AddressError("--control: give a socket path or HOST:PORT")
    return ControlAddress(path=text)


# --------------------------------------------------------------------------- the app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data) + "\n", status=status, content_type="application/json"
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest(f"the body must be a JSON object, not {type(data).__name__}")
    return data


class _BadRequest(Exception):
    pass


def _args(request: web.Request, body: dict[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    args: dict[str, Any] = {k: v for k, v in request.query.items()}
    args.update(body)
    for k, v in request.match_info.items():
        if k not in skip:
            args[k] = v
    return args


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(
            404, f"no route {request.method} {request.path} (GET /openapi.json lists them)"
        )
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return _error(
            405, f"{request.method} is not allowed on {request.path} (allowed: {allowed})"
        )
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"the body is larger than {MAX_BODY} bytes")
    except _BadRequest as exc:
        return _error(400, str(exc))
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        return _error(422, f"invalid arguments: {M.describe_error(exc)}", details=details)
    except ScenarioError as exc:
        return _error(422, str(exc))
    except ControlError as exc:
        return _error(exc.status, str(exc))
    except TimeoutError as exc:
        return _error(408, str(exc) or "timed out")
    except web.HTTPException:
        raise
    except Exception as exc:  # a bug: say so, keep serving
        log.exception("control request %s %s failed", request.method, request.path)
        return _error(500, f"internal error: {exc!r}")


def _auth(token: str | None) -> Any:
    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "missing or wrong token (Authorization: Bearer TOKEN)")
        return await handler(request)

    return check


class Api:
    """The routes, for one module or a fleet (``targets(index)`` gives the Control)."""

    def __init__(self, targets: Targets, indexes: Sequence[int], single: bool) -> None:
        self.targets = targets
        self.indexes = list(indexes)
        self.single = single
        #: the event streams being served (ended at shutdown)
        self.streams: set[asyncio.Task[Any]] = set()

    def close_streams(self) -> None:
        for task in list(self.streams):
            task.cancel()

    def control(self, request: web.Request) -> Control:
        index = request.match_info.get("index")
        if index is None:
            return self.targets(self.indexes[0])
        if not index.isdigit() or int(index) not in self.indexes:
            first, last = self.indexes[0], self.indexes[-1]
            raise ControlError(f"no module {index} (modules {first} to {last})", 404)
        return self.targets(int(index))

    # --- one handler per operation

    def op_handler(self, op: Op, skip: Iterable[str] = ()) -> Any:
        async def handle(request: web.Request) -> web.Response:
            control = self.control(request)
            body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else {}
            return _json(control.run(op.name, _args(request, body, skip)))

        return handle

    async def link_fault(self, request: web.Request) -> web.Response:
        control = self.control(request)
        body = await _body(request)
        args = _args(request, body, skip=("index",))
        return _json(control.run("link_fault", args))

    async def events(self, request: web.Request) -> web.StreamResponse:
        control = self.control(request)
        q = request.query
        kinds = frozenset(k for k in q.get("kinds", "").split(",") if k) or None
        try:
            since = int(q["since"]) if "since" in q else None
            count = int(q["count"]) if "count" in q else None
        except ValueError:
            raise _BadRequest("since and count must be integers") from None
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        n = 0
        task = asyncio.current_task()
        assert task is not None
        self.streams.add(task)
        try:
            async for ev in control.events(kinds, since):
                await resp.write((json.dumps(ev) + "\n").encode())
                n += 1
                if count is not None and n >= count:
                    break
        except (ConnectionResetError, ConnectionError):
            pass
        except asyncio.CancelledError:
            if request.transport is None or request.transport.is_closing():
                raise  # the client went away
            return resp  # the server stops: end the stream
        finally:
            self.streams.discard(task)
        return resp

    async def wait(self, request: web.Request) -> web.Response:
        control = self.control(request)
        req = M.WaitFor.model_validate(_args(request, await _body(request), skip=("index",)))
        ev = await control.wait_for(req.kind, req.match, req.timeout, since=req.since)
        return _json(ev)

    async def mark(self, request: web.Request) -> web.Response:
        return _json({"seq": self.control(request).mark()})

    async def scenario(self, request: web.Request) -> web.Response:
        control = self.control(request)
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        source: Any = raw
        if "json" in ctype:
            source = await _body(request)
        return _json(control.load_scenario_now(parse_scenario(source, "scenario")))

    async def modules(self, request: web.Request) -> web.Response:
        out = []
        for i in self.indexes:
            m = self.targets(i).module
            out.append({"index": i, "name": m.name, "port": m.description})
        return _json(out)

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi(self.single))

    # --- the table

    def routes(self) -> list[tuple[str, str, Any]]:
        out: list[tuple[str, str, Any]] = []
        for op in OPS:
            out.append((op.method, op.path, self.op_handler(op, skip=("index",))))
        out += [
            ("POST", "/links/{link}/faults", self.link_fault),
            ("DELETE", "/dns/{name}", self.op_handler(_OP["dns_clear"], skip=("index",))),
            ("GET", "/events", self.events),
            ("POST", "/events/wait", self.wait),
            ("POST", "/events/mark", self.mark),
            ("POST", "/scenario", self.scenario),
        ]
        return out


_OP = {op.name: op for op in OPS}
API = web.AppKey("api", Api)


def make_app(
    targets: Targets, indexes: Sequence[int], *, single: bool, token: str | None = None
) -> web.Application:
    """The API for the modules ``indexes`` (``targets(i)``: module i's Control)."""
    api = Api(targets, indexes, single)
    app = web.Application(middlewares=[_auth(token), _errors], client_max_size=MAX_BODY)
    app[API] = api
    for method, path, handler in api.routes():
        app.router.add_route(method, "/modules/{index}" + path, handler)
        if single:
            app.router.add_route(method, path, handler)
    app.router.add_get("/openapi.json", api.openapi)
    app.router.add_get("/modules", api.modules)
    return app


# --------------------------------------------------------------------------- OpenAPI


def openapi(single: bool = True) -> dict[str, Any]:
    """The API described (OpenAPI 3.1), from the same table and schemas it serves."""
    models: list[type[BaseModel]] = sorted(
        {op.model for op in OPS} | {M.WaitFor}, key=lambda m: m.__name__
    )
    _, schema = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas = schema.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}

    def add(
        method: str, path: str, summary: str, body: type[BaseModel] | None, **extra: Any
    ) -> None:
        prefixes = ["/modules/{index}"] + ([""] if single else [])
        for prefix in prefixes:
            full = prefix + path
            entry: dict[str, Any] = {"summary": summary, "responses": _RESPONSES}
            params = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in _path_params(full)
            ]
            if params:
                entry["parameters"] = params
            if body is not None and method in ("post", "put", "patch"):
                entry["requestBody"] = {
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{body.__name__}"}
                        }
                    }
                }
            entry.update(extra)
            paths.setdefault(full, {})[method] = entry

    for op in OPS:
        has_body = op.model is not M.NoArgs
        add(op.method.lower(), op.path, op.summary, op.model if has_body else None)
    add("post", "/links/{link}/faults", "a fault on link {link}", M.LinkFaultRequest)
    add("delete", "/dns/{name}", "forget the DNS override for {name}", None)
    add(
        "get",
        "/events",
        "the event stream: one JSON object per line (?kinds, ?since, ?count)",
        None,
    )
    add("post", "/events/wait", "the next event of a kind matching a regex", M.WaitFor)
    add("post", "/events/mark", "wait looks only at later events", None)
    add(
        "post",
        "/scenario",
        "a scenario: TOML (or JSON) rules 'when TRIGGER do ACTION'",
        None,
        requestBody={"content": {"application/toml": {"schema": {"type": "string"}}}},
    )
    paths["/openapi.json"] = {"get": {"summary": "this document", "responses": _RESPONSES}}
    paths["/modules"] = {
        "get": {"summary": "the modules behind this endpoint", "responses": _RESPONSES}
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "w800at test bench", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


_RESPONSES = {
    "200": {"description": "done: the result as JSON"},
    "400": {"description": "malformed JSON"},
    "401": {"description": "missing or wrong token"},
    "404": {"description": "no such route, module, fault or name"},
    "409": {"description": "not possible now (e.g. the station is not on an AP)"},
    "422": {"description": "invalid arguments (the schema says why)"},
}


def _path_params(path: str) -> list[str]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            out.append(part[1:-1])
    return out


# --------------------------------------------------------------------------- serving


class ControlServer:
    """The API listening on its address (`start`, `stop`)."""

    def __init__(self, app: web.Application, address: ControlAddress) -> None:
        self.app = app
        self.address = address
        # a client that hangs up ends its request (an event stream), and a stop never
        # waits long for one
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        self._sock: socket.socket | None = None

    async def start(self) -> ControlServer:
        await self._runner.setup()
        addr = self.address
        try:
            if addr.path is not None:
                self._sock = _unix_socket(addr.path)
                site: web.BaseSite = web.SockSite(self._runner, self._sock)
            else:
                site = web.TCPSite(self._runner, addr.host, addr.port, reuse_address=True)
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        if addr.path is None and addr.port == 0:
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.address = ControlAddress(host=addr.host, port=sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        api = self.app.get(API)
        if api is not None:
            api.close_streams()
        await self._runner.cleanup()
        path = self.address.path
        if path is not None and self._sock is not None:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)


def _unix_socket(path: str) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600 from the start (a stale socket
    left by a dead process is replaced; anything else there is an error)."""
    if os.path.lexists(path):
        st = os.lstat(path)
        if not stat.S_ISSOCK(st.st_mode):
            raise AddressError(f"--control {path}: exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody answers: stale
        else:
            raise AddressError(f"--control {path}: another process is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise AddressError(f"--control {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock


async def serve_control(
    targets: Targets,
    indexes: Sequence[int],
    address: ControlAddress,
    *,
    single: bool,
    token: str | None = None,
) -> ControlServer:
    """Start the API for these modules on ``address``."""
    app = make_app(targets, indexes, single=single, token=token)
    return await ControlServer(app, address).start()

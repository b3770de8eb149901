"""One control endpoint for a fleet spread over worker processes (``--workers W``).

Each worker serves the test bench of its slice of modules on a private Unix socket
(in a directory only this user can enter); the supervisor serves the fleet's
``--control`` address and passes each request on to the worker that runs the module
in its path (``/modules/{index}/...``), answers streamed as they come (``/events``).
``GET /modules`` gathers every worker's list; ``GET /openapi.json`` is the first
worker's.  The token, if any, is checked here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from .http import MAX_BODY, ControlAddress, ControlServer

#: request headers not passed on
_HOP = {"host", "content-length", "transfer-encoding", "connection", "authorization"}


class FleetProxy:
    """Routes ``/modules/{index}/...`` to the worker whose slice holds ``index``."""

    def __init__(self, slices: Sequence[tuple[int, int, str]], token: str | None = None) -> None:
        #: (first, count, socket path) per worker
        self.slices = list(slices)
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    def _worker(self, index: int) -> str | None:
        for first, count, path in self.slices:
            if first <= index < first + count:
                return path
        return None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=MAX_BODY)
        app.router.add_get("/modules", self.modules)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_route("*", "/modules/{index}/{tail:.*}", self.forward)
        app.router.add_route("*", "/{tail:.*}", self.unknown)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return _error(401, "missing or wrong token (Authorization: Bearer TOKEN)")
        result: web.StreamResponse = await handler(request)
        return result

    async def _call(
        self, path: str, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=path),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        try:
            resp = await session.request(method, url, data=body or None, headers=headers)
        except BaseException:
            await session.close()
            raise
        resp._w800at_session = session  # type: ignore[attr-defined]
        return resp

    async def forward(self, request: web.Request) -> web.StreamResponse:
        index = request.match_info["index"]
        path = self._worker(int(index)) if index.isdigit() else None
        if path is None:
            first = self.slices[0][0]
            last = self.slices[-1][0] + self.slices[-1][1] - 1
            return _error(404, f"no module {index} (modules {first} to {last})")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        try:
            resp = await self._call(
                path, request.method, "http://worker" + request.rel_url.path_qs, body, headers
            )
        except (aiohttp.ClientError, OSError) as exc:
            return _error(502, f"the worker of module {index} does not answer: {exc}")
        session: aiohttp.ClientSession = resp._w800at_session  # type: ignore[attr-defined]
        try:
            out = web.StreamResponse(status=resp.status)
            ctype = resp.headers.get("Content-Type")
            if ctype:
                out.headers["Content-Type"] = ctype
            await out.prepare(request)
            with contextlib.suppress(ConnectionError):
                async for chunk in resp.content.iter_any():
                    await out.write(chunk)
            return out
        finally:
            resp.release()
            await session.close()

    async def modules(self, request: web.Request) -> web.Response:
        out: list[Any] = []
        for _, _, path in self.slices:
            resp = await self._call(path, "GET", "http://worker/modules", b"", {})
            try:
                out += await resp.json()
            finally:
                resp.release()
                await resp._w800at_session.close()  # type: ignore[attr-defined]
        return web.Response(text=json.dumps(out) + "\n", content_type="application/json")

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        path = self.slices[0][2]
        resp = await self._call(path, "GET", "http://worker/openapi.json", b"", {})
        try:
            text = await resp.text()
        finally:
            resp.release()
            await resp._w800at_session.close()  # type: ignore[attr-defined]
        return web.Response(text=text, content_type="application/json")

    async def unknown(self, request: web.Request) -> web.Response:
        return _error(
            404,
            f"no route {request.method} {request.path}: a fleet's routes are "
            "/modules/{index}/... (GET /openapi.json lists them)",
        )


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        text=json.dumps({"error": message}) + "\n",
        status=status,
        content_type="application/json",
    )


class ProxyThread:
    """The proxy on an event loop of its own in a daemon thread (the supervisor of
    ``w800at fleet --workers`` is not an asyncio program)."""

    def __init__(self, proxy: FleetProxy, address: ControlAddress) -> None:
        self.proxy = proxy
        self.address = address
        self.loop = asyncio.new_event_loop()
        self._server: ControlServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ControlAddress:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            ControlServer(self.proxy.app(), self.address).start(), self.loop
        )
        self._server = fut.result(10)
        return self._server.address

    def stop(self) -> None:
        if self._server is not None:
            fut = asyncio.run_coroutine_threadsafe(self._server.stop(), self.loop)
            with contextlib.suppress(Exception):
                fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

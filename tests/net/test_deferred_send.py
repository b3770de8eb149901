"""Sends the stack is sure to take answer first and reach the kernel right after.

`Runtime.after_output`: a TCP/SSL send whose link buffer stays under its mark completes
at once (``SEND OK``), and its bytes go to the socket once the pump has written its
output.  The host reads its answer while the kernel moves the data, and nothing changes
order: deferred sends run before any other action of the same pump (a close, say), and
a send that cannot be deferred waits for the ones that were.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

from tests.live import OK, LiveModule
from tests.net.helpers import RecordingRuntime, run
from tests.servers.tcp_servers import TcpSinkServer
from w800at.core.net_actions import Close, Connect, Send
from w800at.runtime import net_links
from w800at.runtime.net_links import StreamLink


def test_send_ok_is_written_to_the_host_before_the_bytes_go_to_the_socket() -> None:
    async def main() -> None:
        with TcpSinkServer() as srv:
            async with LiveModule() as mod:
                await mod.join()
                await mod.cmd(b"ATE0", OK)
                await mod.cmd(
                    f'AT+CIPSTART="TCP","127.0.0.1",{srv.port}'.encode(), b"CONNECT\r\n\r\nOK\r\n"
                )
                events: list[tuple[str, bytes]] = []
                link = mod.rt.net.links[0]
                assert isinstance(link, StreamLink)
                transport: Any = link.transport
                real_write, real_out = transport.write, mod.channel.write

                def on_socket(data: bytes) -> None:
                    events.append(("socket", bytes(data)))
                    real_write(data)

                def on_host(data: bytes) -> None:
                    events.append(("host", bytes(data)))
                    real_out(data)

                transport.write = on_socket
                mod.channel.write = on_host  # type: ignore[method-assign]
                mod.send(b"AT+CIPSEND=5\r\n")
                await mod.expect(b"\r\nOK\r\n\r\n>")
                mod.send(b"hello")
                await mod.expect(b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n")
                assert events[-2:] == [
                    ("host", b"\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n"),
                    ("socket", b"hello"),
                ]
                await asyncio.to_thread(srv.wait_bytes, 5)
                assert srv.connection(0).sha256 == hashlib.sha256(b"hello").hexdigest()

    asyncio.run(main())


def test_deferred_sends_reach_the_peer_in_order_before_a_close_of_the_same_pump() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            parts = [os.urandom(1000) for _ in range(5)]
            for p in parts:
                rt.engine.act(Send(0, p))
            rt.engine.act(Close(0))
            rt.pump()
            await asyncio.to_thread(srv.wait_closed, 0)
            assert srv.connection(0).sha256 == hashlib.sha256(b"".join(parts)).hexdigest()

    run(main)


def test_a_send_after_the_mark_waits_for_the_sends_deferred_before_it() -> None:
    async def main(rt: RecordingRuntime) -> None:
        with TcpSinkServer() as srv:
            await rt.ok(Connect(0, "TCP", "127.0.0.1", srv.port))
            big = os.urandom(3 * net_links.STACK_SEND_BUFFER)  # fills the stack's buffer
            small = os.urandom(100)
            link = rt.net.links[0]
            assert isinstance(link, StreamLink)
            assert link.can_send_later()
            paths: list[str] = []
            real_send, real_later = link.send, link.send_later

            def send(data: bytes, addr: Any) -> Any:
                paths.append("now")
                return real_send(data, addr)

            def send_later(data: bytes, later: Any) -> int:
                paths.append("later")
                return real_later(data, later)

            link.send, link.send_later = send, send_later  # type: ignore[method-assign]
            rt.engine.act(Send(0, big))
            rt.engine.act(Send(0, small))  # past the mark once big is counted: not put off
            rt.pump()
            assert paths == ["later", "now"]
            await asyncio.to_thread(srv.wait_bytes, len(small) + len(big))
            assert srv.connection(0).sha256 == hashlib.sha256(big + small).hexdigest()

    run(main)

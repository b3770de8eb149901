"""Issue 12 item 1, with a real peer: a TCP server that sends 5 bytes and closes at once.

In passive receive mode the link the peer closed keeps its ID, its ``CLOSED`` is held
back, and it stays listed in AT+CIPSTATUS (``STATUS:3``) and AT+CIPSTATE? until the
host has read the data; then ``CLOSED`` comes and the lists are empty.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.live import OK, LiveModule
from tests.servers.tcp_servers import TcpSourceServer
from w800at.core.links import LinkState
from w800at.profiles import ESP_AT, W800, Profile


async def _held(mod: LiveModule, timeout: float = 5.0) -> None:
    """Wait until the engine has seen the peer's close (the link is held)."""
    end = time.monotonic() + timeout
    while True:
        link = mod.engine.links.get(0)
        if link is not None and link.state is LinkState.HELD:
            return
        assert time.monotonic() < end, f"link 0 not held: {link!r}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("profile", "multi"), [(W800, True), (ESP_AT, False)])
def test_peer_closed_link_stays_listed_until_read(profile: Profile, multi: bool) -> None:
    async def main() -> None:
        with TcpSourceServer(b"12345", after="close") as srv:
            async with LiveModule(profile=profile) as mod:
                await mod.cmd(b"ATE0", OK)
                await mod.cmd(b"AT+CIPV6=0", OK)  # no IPv6 URCs to wait for
                joined = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK
                await mod.cmd(b'AT+CWJAP="lab","secret"', joined)
                await mod.cmd(b"AT+CIPRECVMODE=1", OK)
                lid, pre = (b"0,", b"0,") if multi else (b"", b"")
                if multi:
                    await mod.cmd(b"AT+CIPMUX=1", OK)
                start = b'AT+CIPSTART=%s"TCP","127.0.0.1",%d' % (pre, srv.port)
                await mod.cmd(start, lid + b"CONNECT\r\n" + OK)
                await mod.expect(b"\r\n+IPD,%s5\r\n" % lid)
                await _held(mod)
                await mod.quiet(0.1)  # CLOSED is held back
                link = mod.engine.links.get(0)
                assert link is not None
                row = b'0,"TCP","127.0.0.1",%d,%d,0\r\n' % (srv.port, link.local_port)
                await mod.cmd(b"AT+CIPSTATUS", b"STATUS:3\r\n+CIPSTATUS:" + row + OK)
                await mod.cmd(b"AT+CIPSTATE?", b"+CIPSTATE:" + row + OK)
                read = b"AT+CIPRECVDATA=%s5" % pre
                await mod.cmd(read, b"+CIPRECVDATA:5,12345" + OK)
                await mod.expect(lid + b"CLOSED\r\n")
                await mod.cmd(b"AT+CIPSTATUS", b"STATUS:4\r\n" + OK)
                await mod.cmd(b"AT+CIPSTATE?", OK)

    asyncio.run(asyncio.wait_for(main(), 30))

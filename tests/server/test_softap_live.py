"""The SoftAP's stand-in address with real sockets (issue 12 item 3): while the SoftAP is
on, the module's server also listens on ``[softap] host``; a client on this host that
connects there plays a station reaching the module at its SoftAP address."""

from __future__ import annotations

import asyncio

from tests.harness import LAB_ADDRESSES
from tests.live import OK, LiveModule, free_port
from w800at.core.options import ModuleOptions, SoftApOptions
from w800at.profiles import ESP_AT

#: a loopback address of its own (Linux routes all of 127.0.0.0/8 to lo)
AP_HOST = "127.0.0.2"


def test_a_client_reaches_the_server_at_the_softap_address() -> None:
    async def main() -> None:
        opts = ModuleOptions(addresses=LAB_ADDRESSES, softap=SoftApOptions(host=AP_HOST))
        async with LiveModule(options=opts, profile=ESP_AT) as mod:
            await mod.cmd(b"ATE0", OK)
            await mod.cmd(b"AT+CWMODE=2", OK)  # SoftAP only: no station, no join
            await mod.cmd(
                b"AT+CIPAP?",
                b'+CIPAP:ip:"192.168.4.1"\r\n+CIPAP:gateway:'
                b'"192.168.4.1"\r\n+CIPAP:netmask:"255.255.255.0"\r\n' + OK,
            )
            await mod.cmd(b"AT+CIPMUX=1", OK)
            port = free_port()
            await mod.cmd(b"AT+CIPSERVER=1,%d" % port, OK)
            reader, writer = await asyncio.open_connection(AP_HOST, port)
            try:
                await mod.expect(b"0,CONNECT\r\n")
                writer.write(b"ping")
                await writer.drain()
                await mod.expect(b"\r\n+IPD,0,4:ping\r\n")
                mod.send(b"AT+CIPSEND=0,4\r\n")
                await mod.expect(OK + b"\r\n>")
                mod.send(b"pong")
                await mod.expect(b"\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n")
                assert await asyncio.wait_for(reader.readexactly(4), 5) == b"pong"
            finally:
                writer.close()
            await mod.expect(b"0,CLOSED\r\n")
            # and the server's own address still works (server_bind loopback)
            _, writer2 = await asyncio.open_connection("127.0.0.1", port)
            await mod.expect(b"0,CONNECT\r\n")
            writer2.close()

    asyncio.run(asyncio.wait_for(main(), 30))

"""AT+CIPSENDL after AT+CIPSENDLCFG with a real peer (esp-at dialect): the blocks reach
a loopback TCP sink whole, and the progress lines follow <report size>."""

from __future__ import annotations

import asyncio

from tests.live import OK, LiveModule
from tests.servers.tcp_servers import TcpSinkServer
from w800at.profiles import ESP_AT


def test_cipsendl_reports_by_report_size_to_a_real_sink() -> None:
    payload = bytes(range(256)) * 4  # 1024 bytes

    async def main() -> None:
        with TcpSinkServer() as srv:
            async with LiveModule(profile=ESP_AT) as mod:
                await mod.cmd(b"ATE0", OK)
                await mod.cmd(b'AT+CWJAP="lab","secret"', b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK)
                await mod.cmd(b"AT+CIPSENDLCFG=300,200", OK)
                await mod.cmd(b'AT+CIPSTART="TCP","127.0.0.1",%d' % srv.port, b"CONNECT\r\n" + OK)
                mod.send(b"AT+CIPSENDL=1024\r\n")
                await mod.expect(b"\r\nOK\r\n\r\n>")
                mod.send(payload)
                # 200-byte blocks; a report each time 300, 600, 900 are passed, then 1024
                await mod.expect(
                    b"+CIPSENDL:400,1024\r\n+CIPSENDL:600,1024\r\n+CIPSENDL:1000,1024\r\n"
                    b"+CIPSENDL:1024,1024\r\n\r\nSEND OK\r\n"
                )
                await asyncio.to_thread(srv.wait_connection_bytes, 0, len(payload))
                assert srv.connection(0).data == payload

    asyncio.run(asyncio.wait_for(main(), 30))

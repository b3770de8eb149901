"""AT+CIPDOMAIN / AT+CIPDNS through Engine + Runtime, with real DNS to a loopback responder.

Names are only ever resolved after AT+CIPDNS=1 points at the test responder: in automatic
mode the host's resolver could send queries off this machine.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.harness import LAB_ADDRESSES
from tests.live import LiveModule
from tests.servers.dns_responder import DnsQuery, DnsResponder
from w800at.core.options import ModuleOptions
from w800at.runtime.resolver import system_dns_servers

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
RECORDS = {
    "example.test": ["192.0.2.10", "2001:db8::10"],
    "v4only.test": ["192.0.2.20"],
    "v6only.test": ["2001:db8::30"],
}


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def options(dns_port: int) -> ModuleOptions:
    return ModuleOptions(addresses=LAB_ADDRESSES, dns_port=dns_port, net_timeout=2.0)


def q(name: str, rdtype: str) -> tuple[str, str]:
    return (name, rdtype)


def asked(dns: DnsResponder) -> list[tuple[str, str]]:
    return [(x.name, x.rdtype) for x in dns.queries_snapshot() if isinstance(x, DnsQuery)]


CASES = [
    (b'"example.test"', b'"192.0.2.10"', [q("example.test", "A")]),
    (b'"example.test",1', b'"192.0.2.10"', [q("example.test", "A")]),
    (b'"example.test",2', b'"192.0.2.10"', [q("example.test", "A")]),
    (b'"example.test",3', b'"2001:db8::10"', [q("example.test", "AAAA")]),
    (b'"v6only.test",1', b'"2001:db8::30"', [q("v6only.test", "A"), q("v6only.test", "AAAA")]),
    (b'"V4ONLY.test",1', b'"192.0.2.20"', [q("v4only.test", "A")]),
    (b'"v6only.test",2', None, [q("v6only.test", "A")]),
    (b'"v4only.test",3', None, [q("v4only.test", "AAAA")]),
    (b'"nx.test"', None, [q("nx.test", "A")]),
]


@pytest.mark.parametrize(("args", "ip", "queries"), CASES)
def test_cipdomain_asks_the_cipdns_server(
    args: bytes, ip: bytes | None, queries: list[tuple[str, str]]
) -> None:
    async def main() -> None:
        with DnsResponder(RECORDS, host="127.0.0.2") as dns:
            async with LiveModule(options=options(dns.port)) as mod:
                await mod.join()
                assert await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"') == (
                    b'AT+CIPDNS=1,"127.0.0.2"\r\n' + OK
                )
                line = b"AT+CIPDOMAIN=" + args
                got = await mod.cmd(line)
                want = line + b"\r\n" + (b"+CIPDOMAIN:" + ip + b"\r\n" + OK if ip else ERROR)
                assert got == want
                assert asked(dns) == queries

    asyncio.run(main())


def test_cipdomain_is_not_blocking_the_event_loop_but_busy_for_the_host() -> None:
    async def main() -> None:
        with DnsResponder(RECORDS, host="127.0.0.2", silent=True) as dns:
            async with LiveModule(options=options(dns.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                mod.send(b'AT+CIPDOMAIN="example.test"\r\n')
                assert await mod.until(b'"example.test"\r\n') == (
                    b'AT+CIPDOMAIN="example.test"\r\n'
                )
                await asyncio.sleep(0.2)
                mod.send(b"AT\r\n")
                assert await mod.until(b"busy p...\r\n") == b"\r\nbusy p...\r\n"
                # the silent server: ERROR after the module's timeout (2 s)
                assert await mod.until(*(OK, ERROR), timeout=5) == ERROR
                assert asked(dns)[0] == ("example.test", "A")
                assert await mod.cmd(b"AT") == b"AT\r\n" + OK

    asyncio.run(main())


def test_first_dns_server_refusing_falls_back_to_the_second() -> None:
    async def main() -> None:
        with DnsResponder(RECORDS, host="127.0.0.2") as dns:
            async with LiveModule(options=options(dns.port)) as mod:
                await mod.join()
                # nothing listens on 127.0.0.3 at that port: ICMP port unreachable
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.3","127.0.0.2"')
                assert await mod.cmd(b'AT+CIPDOMAIN="v4only.test"') == (
                    b'AT+CIPDOMAIN="v4only.test"\r\n+CIPDOMAIN:"192.0.2.20"\r\n' + OK
                )
                assert asked(dns) == [("v4only.test", "A")]

    asyncio.run(main())


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 on this host")
def test_ipv6_dns_server_and_cipv6_off() -> None:
    async def main() -> None:
        with DnsResponder(RECORDS, host="::1") as dns:
            async with LiveModule(options=options(dns.port)) as mod:
                await mod.join()
                assert await mod.cmd(b'AT+CIPDNS=1,"::1"') == b'AT+CIPDNS=1,"::1"\r\n' + OK
                assert await mod.cmd(b'AT+CIPDOMAIN="example.test",3') == (
                    b'AT+CIPDOMAIN="example.test",3\r\n+CIPDOMAIN:"2001:db8::10"\r\n' + OK
                )
                await mod.cmd(b"AT+CIPV6=0")
                # IPv6 answers are off: prefer-IPv4 becomes IPv4 only; IPv6 only fails at once
                assert await mod.cmd(b'AT+CIPDOMAIN="v6only.test"') == (
                    b'AT+CIPDOMAIN="v6only.test"\r\n' + ERROR
                )
                assert await mod.cmd(b'AT+CIPDOMAIN="example.test",3') == (
                    b'AT+CIPDOMAIN="example.test",3\r\n' + ERROR
                )
                assert asked(dns) == [("example.test", "AAAA"), ("v6only.test", "A")]

    asyncio.run(main())


def test_ip_literal_needs_no_dns_and_auto_query_shows_host_servers() -> None:
    async def main() -> None:
        async with LiveModule(options=options(9)) as mod:
            await mod.join()
            assert await mod.cmd(b'AT+CIPDOMAIN="127.0.0.1"') == (
                b'AT+CIPDOMAIN="127.0.0.1"\r\n+CIPDOMAIN:"127.0.0.1"\r\n' + OK
            )
            shown = b"".join(b',"' + s.encode() + b'"' for s in system_dns_servers()[:2])
            assert await mod.cmd(b"AT+CIPDNS?") == (
                b"AT+CIPDNS?\r\n+CIPDNS:0" + shown + b"\r\n" + OK
            )

    asyncio.run(main())


def test_cipdomain_resolves_a_200_byte_name() -> None:
    """Issue 12, item 8: AT+CIPSTART takes at most 64 bytes of host name and the spec
    sends longer names to AT+CIPDOMAIN; a real query for a 200-byte name, byte-exact."""
    from tests.services_at.test_engine_dns import long_name

    name = long_name(200)
    records = {**RECORDS, name: ["192.0.2.200", "2001:db8::200"]}

    async def main() -> None:
        with DnsResponder(records, host="127.0.0.2") as dns:
            async with LiveModule(options=options(dns.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"', OK)
                line = b'AT+CIPDOMAIN="%s"' % name.encode()
                assert len(line) == 215
                await mod.cmd(line, b'+CIPDOMAIN:"192.0.2.200"\r\n' + OK)
                await mod.cmd(line + b",3", b'+CIPDOMAIN:"2001:db8::200"\r\n' + OK)
                # one byte at a time, as a slow UART delivers it
                for byte in line + b"\r\n":
                    mod.send(bytes([byte]))
                    await asyncio.sleep(0)
                assert await mod.until(OK, ERROR) == (
                    line + b'\r\n+CIPDOMAIN:"192.0.2.200"\r\n' + OK
                )
                assert asked(dns) == [(name, "A"), (name, "AAAA"), (name, "A")]

    asyncio.run(main())

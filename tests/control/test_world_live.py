"""World events on a real module over a real TCP port: the AP vanishing under live
links (the peer sees the close), DNS overrides used by every name the module resolves,
the SNTP clock shift against a real SNTP responder, new station addresses."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from tests.control.helpers import ERROR, GOT_IPV6, JOINED, OK, BenchModule, Peer
from tests.harness import LAB_ADDRESSES
from tests.servers.dns_responder import DnsResponder
from tests.servers.sntp_responder import SntpResponder
from w800at import ModuleOptions
from w800at.control import ControlError
from w800at.core.state import derived_bssid
from w800at.profiles import W800

pytestmark = pytest.mark.timeout(60)

#: a rejoin in the background: no OK, the IPv6 URCs right after WIFI GOT IP
GOT = JOINED.removesuffix(OK) + GOT_IPV6


def opts(**kw: object) -> ModuleOptions:
    base = ModuleOptions(addresses=LAB_ADDRESSES, net_timeout=1.0, system_dns=())
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_wifi_drop_closes_live_links_and_the_station_rejoins(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            with pytest.raises(ControlError, match="the station is not on an access point"):
                await b.control.wifi_drop()
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.open_tcp(1, peer.port)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            r = await b.control.wifi_drop(duration=0.5)
            assert r == {"ssid": "lab", "back_in": 0.5}
            await b.expect(b"WIFI DISCONNECT\r\n0,CLOSED\r\n1,CLOSED\r\n")
            assert [c.end for c in [await peer.ended(0), await peer.ended(1)]] == ["eof", "eof"]
            # back after 0.5 s; the rejoin tries every second: joined 1 s + join + DHCP later
            await b.expect(GOT, timeout=3)
            took = b.arrivals[-1][0] - t0
            assert W800.reconnect_interval <= took < 2.5, took
            ev = await b.control.wait_for("urc", r"WIFI GOT IP$")
            assert ev["source"] == "module"
            await b.cmd(b"AT+CWSTATE?", b'+CWSTATE:2,"lab"\r\n' + OK)
        notes = b.trace_text()
        assert "-- fault wifi drop: AP 'lab' gone, back in 0.5 s" in notes
        assert "-- fault wifi ap 'lab' back" in notes

    asyncio.run(main())


def test_next_join_wrong_password_over_the_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.control.next_join("wrong_password")
            await b.cmd(b'AT+CWJAP="lab","secret"', ERROR)  # w800: ERROR alone
            await b.join()

    asyncio.run(main())


def test_dns_overrides_reach_cipdomain_cipstart_and_beat_manual_dns(tmp_path: Path) -> None:
    async def main() -> None:
        with DnsResponder({"foo.test": ["192.0.2.1"]}) as dns:
            o = opts(dns_port=dns.port)
            async with Peer() as peer, BenchModule(tmp_path, o) as b:
                await b.join()
                await b.cmd(b'AT+CIPDNS=1,"127.0.0.1"', OK)
                await b.cmd(b'AT+CIPDOMAIN="foo.test"', b'+CIPDOMAIN:"192.0.2.1"\r\n' + OK)
                await b.control.dns_set("foo.test", "127.0.0.1")
                await b.cmd(b'AT+CIPDOMAIN="FOO.test."', b'+CIPDOMAIN:"127.0.0.1"\r\n' + OK)
                queries = len(dns.queries_snapshot())
                await b.cmd(b"AT+CIPMUX=1", OK)
                line = b'AT+CIPSTART=0,"TCP","foo.test",%d' % peer.port
                await b.cmd(line, b"0,CONNECT\r\n" + OK)
                await peer.conn()  # the override's address, really connected
                assert len(dns.queries_snapshot()) == queries  # the servers were not asked
                await b.control.dns_set("foo.test", nxdomain=True)
                await b.cmd(b'AT+CIPDOMAIN="foo.test"', ERROR)
                await b.control.dns_clear("foo.test")
                await b.cmd(b'AT+CIPDOMAIN="foo.test"', b'+CIPDOMAIN:"192.0.2.1"\r\n' + OK)

    asyncio.run(main())


def test_dns_no_answer_times_out_and_a_v6_only_answer_is_not_v4(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path, opts(net_timeout=0.5)) as b:
            await b.join()
            await b.control.dns_set("slow.test", no_answer=True)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            b.send(b'AT+CIPDOMAIN="slow.test"\r\n')
            b.send(b"AT\r\n")  # busy while it waits
            await b.expect(b'AT+CIPDOMAIN="slow.test"\r\n\r\nbusy p...\r\n' + ERROR, timeout=3)
            assert 0.45 <= b.arrivals[-1][0] - t0 < 1.5
            await b.control.dns_set("six.test", addresses=["2001:db8::1"])
            await b.cmd(b'AT+CIPDOMAIN="six.test",2', ERROR)
            await b.cmd(b'AT+CIPDOMAIN="six.test",3', b'+CIPDOMAIN:"2001:db8::1"\r\n' + OK)

    asyncio.run(main())


def test_sntp_clock_shift_against_a_real_sntp_server(tmp_path: Path) -> None:
    async def main() -> None:
        with SntpResponder(1_634_636_876.0) as ntp:
            async with BenchModule(tmp_path, opts(sntp_port=ntp.port)) as b:
                await b.join()
                await b.cmd(b'AT+CIPSNTPCFG=1,0,"127.0.0.1"', OK)
                await asyncio.sleep(0.3)
                await b.cmd(b"AT+CIPSNTPTIME?", b"+CIPSNTPTIME:Tue Oct 19 09:47:56 2021\r\n" + OK)
                await b.control.sntp_shift(3600 * 24 * 365)
                await asyncio.sleep(0.3)
                await b.cmd(b"AT+CIPSNTPTIME?", b"+CIPSNTPTIME:Wed Oct 19 09:47:56 2022\r\n" + OK)
                assert len(ntp.requests_snapshot()) == 2

    asyncio.run(main())


def test_new_station_addresses_over_the_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.station_set(ip="10.1.2.3", gateway="10.1.2.1")
            await b.expect(b"0,CLOSED\r\nWIFI GOT IP\r\n")
            await peer.ended()
            got = await b.cmd(b"AT+CIFSR")
            assert b'+CIFSR:STAIP,"10.1.2.3"\r\n' in got

    asyncio.run(main())


def test_ap_add_change_remove_over_the_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.control.ap_add("shop", password="password1", rssi=-60, channel=11)
            got = await b.cmd(b"AT+CWLAP", None)
            bssid = derived_bssid("shop").encode()  # none given: its own
            # the w800 dialect's nine fields (ciphers of a WPA2 AP: CCMP, CCMP; bgn; wps)
            assert got == b'AT+CWLAP\r\n+CWLAP:(3,"shop",-60,"%s",11,4,4,5,0)\r\n' % bssid + OK
            await b.cmd(b'AT+CWJAP="shop","wrong-pass"', ERROR)
            await b.cmd(b'AT+CWJAP="shop","password1"', JOINED)
            await b.expect(GOT_IPV6)
            await b.control.ap_change("shop", rssi=-90)
            await b.cmd(b"AT+CWJAP?", b'+CWJAP:"shop","%s",11,-90,0,1,3,0,1\r\n' % bssid + OK)
            aps = await b.control.aps()
            assert [(a["ssid"], a["password"]) for a in aps] == [("shop", "***")]
            await b.control.ap_remove("shop")
            await b.expect(b"WIFI DISCONNECT\r\n")

    asyncio.run(main())

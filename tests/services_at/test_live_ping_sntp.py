"""AT+PING, SNTP and names used by other commands, through Engine + Runtime for real.

PING sends real ICMP on loopback.  The honest timeout needs an address that does not
answer; every loopback address does, so (like the ping backend's own tests) the whole
module runs in a child process inside a private network namespace whose kernel ignores
echo requests.  SNTP and DNS go to the loopback responders.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import LAB_ADDRESSES
from tests.live import LiveModule
from tests.netns import private_netns
from tests.servers.dns_responder import DnsResponder
from tests.servers.sntp_responder import SntpResponder
from tests.servers.tcp_servers import TcpEchoServer
from w800at.core.options import ModuleOptions
from w800at.core.sntp_time import format_asctime, parse_timezone

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
T0 = 1_634_636_876.0  # 2021-10-19 09:47:56 UTC
ROOT = str(Path(__file__).resolve().parents[2])
LOOP_NAMES = {
    "loop.test": ["127.0.0.1"],
    "loop6.test": ["::1"],
    "ntp.test": ["127.0.0.1"],
    "both.test": ["127.0.0.1", "::1"],
}


def _icmp(family: int, proto: int) -> bool:
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(family, kind, proto).close()
        except OSError:
            continue
        return True
    return False


def _has_v6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_icmp4 = pytest.mark.skipif(
    not _icmp(socket.AF_INET, socket.IPPROTO_ICMP),
    reason="no ICMP socket (root/CAP_NET_RAW or ping_group_range)",
)
needs_icmp6 = pytest.mark.skipif(
    not (_has_v6_loopback() and _icmp(socket.AF_INET6, socket.IPPROTO_ICMPV6)),
    reason="no ICMPv6 socket or no ::1",
)


def opts(dns_port: int = 9, sntp_port: int = 9, timeout: float = 2.0) -> ModuleOptions:
    return ModuleOptions(
        addresses=LAB_ADDRESSES, dns_port=dns_port, sntp_port=sntp_port, net_timeout=timeout
    )


def ping_ok(line: bytes, out: bytes) -> int:
    """``out`` is exactly the echo, ``+PING:<ms>`` and OK; returns the time."""
    m = re.fullmatch(rb"\+PING:([1-9][0-9]*)\r\n\r\nOK\r\n", out[len(line) + 2 :])
    assert out.startswith(line + b"\r\n") and m, out
    ms = int(m.group(1))
    assert out == line + b"\r\n+PING:%d\r\n" % ms + OK
    return ms


# --- PING -----------------------------------------------------------------------------


@needs_icmp4
def test_ping_ipv4_loopback_and_a_name_via_cipdns() -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns:
            async with LiveModule(options=opts(dns.port)) as mod:
                await mod.join()
                line = b'AT+PING="127.0.0.1"'
                assert ping_ok(line, await mod.cmd(line)) < 2000
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                line = b'AT+PING="loop.test"'
                assert ping_ok(line, await mod.cmd(line)) < 2000
                # a name that both families have: IPv4 first (the spec), one query
                line = b'AT+PING="both.test"'
                assert ping_ok(line, await mod.cmd(line)) < 2000
                assert [(x.name, x.rdtype) for x in dns.queries_snapshot()] == [
                    ("loop.test", "A"),
                    ("both.test", "A"),
                ]

    asyncio.run(main())


@needs_icmp6
def test_ping_ipv6_loopback_literal_and_name() -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns:
            async with LiveModule(options=opts(dns.port)) as mod:
                await mod.join()
                line = b'AT+PING="::1"'
                assert ping_ok(line, await mod.cmd(line)) < 2000
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                line = b'AT+PING="loop6.test"'  # no A record: falls back to AAAA
                assert ping_ok(line, await mod.cmd(line)) < 2000
                await mod.cmd(b"AT+CIPV6=0")
                assert await mod.cmd(b'AT+PING="::1"') == (
                    b'AT+PING="::1"\r\n+PING:TIMEOUT\r\n' + ERROR
                )
                assert await mod.cmd(b'AT+PING="loop6.test"') == (
                    b'AT+PING="loop6.test"\r\n+PING:TIMEOUT\r\n' + ERROR
                )

    asyncio.run(main())


def test_ping_unresolvable_name_is_timeout() -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns:
            async with LiveModule(options=opts(dns.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                assert await mod.cmd(b'AT+PING="nx.test"') == (
                    b'AT+PING="nx.test"\r\n+PING:TIMEOUT\r\n' + ERROR
                )
                assert [(x.name, x.rdtype) for x in dns.queries_snapshot()] == [("nx.test", "A")]
                assert await mod.cmd(b"AT") == b"AT\r\n" + OK

    asyncio.run(main())


_CHILD = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[3])
from tests.harness import LAB_ADDRESSES
from tests.live import LiveModule
from w800at.core.options import ModuleOptions
address, ignore = sys.argv[1], sys.argv[2] == "ignore"
knob = "ipv6/icmp/echo_ignore_all" if ":" in address else "ipv4/icmp_echo_ignore_all"
knob_set = False
if ignore:
    try:
        with open("/proc/sys/net/" + knob, "w") as f:
            f.write("1")
        knob_set = True
    except OSError:
        pass

async def main():
    async with LiveModule(options=ModuleOptions(addresses=LAB_ADDRESSES, net_timeout=0.5)) as mod:
        await mod.join()
        start = time.monotonic()
        out = await mod.cmd(('AT+PING="%s"' % address).encode())
        return out, time.monotonic() - start

out, elapsed = asyncio.run(main())
print(json.dumps({"out": out.decode("latin-1"), "elapsed": elapsed, "knob_set": knob_set}))
"""


@pytest.fixture
def netns() -> Iterator[str]:
    with private_netns("at-ping") as name:
        yield name


def _module_ping_in(netns: str, address: str, mode: str) -> dict[str, object]:
    ip = shutil.which("ip")
    assert ip is not None
    res = subprocess.run(
        [ip, "netns", "exec", netns, sys.executable, "-c", _CHILD, address, mode, ROOT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    parsed: dict[str, object] = json.loads(res.stdout)
    return parsed


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ping_timeout_on_an_unanswered_address(netns: str, address: str) -> None:
    line = f'AT+PING="{address}"\r\n'
    control = _module_ping_in(netns, address, "control")
    out = str(control["out"])
    if out == line + "+PING:TIMEOUT\r\n\r\nERROR\r\n":
        pytest.skip("pings do not work inside the namespace (no ICMP socket?)")
    assert re.fullmatch(re.escape(line) + r"\+PING:[1-9][0-9]*\r\n\r\nOK\r\n", out), out
    ignored = _module_ping_in(netns, address, "ignore")
    if not ignored["knob_set"]:
        pytest.skip("no per-namespace echo_ignore_all sysctl for this family")
    assert ignored["out"] == line + "+PING:TIMEOUT\r\n\r\nERROR\r\n"
    elapsed = ignored["elapsed"]
    assert isinstance(elapsed, float) and 0.45 <= elapsed < 3.0


# --- SNTP -----------------------------------------------------------------------------


def sntp_line(unix: float, tz: str) -> bytes:
    return (
        b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:"
        + format_asctime(unix, parse_timezone(tz)).encode()
        + b"\r\n"
        + OK
    )


async def synced_time(mod: LiveModule, tz: str, timeout: float = 5.0) -> bytes:
    """Poll AT+CIPSNTPTIME? until the clock left the epoch (1969 west of UTC)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        out = await mod.cmd(b"AT+CIPSNTPTIME?")
        if not re.search(rb" 19(69|70)\r\n", out) or loop.time() > end:
            return out
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("tz", ["1245", "-500", "8", "530", "-1130"])
def test_sntp_sets_the_clock_through_a_named_server(tz: str) -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns, SntpResponder(T0) as ntp:
            async with LiveModule(options=opts(dns.port, ntp.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                line = b"AT+CIPSNTPCFG=1," + tz.encode() + b',"ntp.test"'
                assert await mod.cmd(line) == line + b"\r\n" + OK
                got = await synced_time(mod, tz)
                # the clock runs on from the answer: within the second or the next
                assert got in (sntp_line(T0, tz), sntp_line(T0 + 1, tz)), got
                assert [(x.name, x.rdtype) for x in dns.queries_snapshot()] == [("ntp.test", "A")]
                (req,) = ntp.requests_snapshot()
                assert (req.client[0], req.mode, req.version) == ("127.0.0.1", 3, 4)

    asyncio.run(main())


def test_sntp_servers_are_tried_in_order() -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns, SntpResponder(T0) as ntp:
            async with LiveModule(options=opts(dns.port, ntp.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                await mod.cmd(b'AT+CIPSNTPCFG=1,0,"nx.test","127.0.0.3","127.0.0.1"')
                got = await synced_time(mod, "0")
                assert got in (sntp_line(T0, "0"), sntp_line(T0 + 1, "0")), got
                assert [(x.name, x.rdtype) for x in dns.queries_snapshot()] == [("nx.test", "A")]
                assert len(ntp.requests_snapshot()) == 1
                assert await mod.cmd(b"AT+CIPSNTPCFG?") == (
                    b'AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:1,0,"nx.test","127.0.0.3","127.0.0.1"\r\n' + OK
                )

    asyncio.run(main())


# --- names used by AT+CIPSTART --------------------------------------------------------


def test_cipstart_resolves_through_cipdns() -> None:
    async def main() -> None:
        with DnsResponder(LOOP_NAMES, host="127.0.0.2") as dns, TcpEchoServer() as echo:
            async with LiveModule(options=opts(dns.port)) as mod:
                await mod.join()
                await mod.cmd(b'AT+CIPDNS=1,"127.0.0.2"')
                line = b'AT+CIPSTART="TCP","loop.test",%d' % echo.port
                assert await mod.cmd(line) == line + b"\r\nCONNECT\r\n" + OK
                assert [(x.name, x.rdtype) for x in dns.queries_snapshot()] == [("loop.test", "A")]
                line = b'AT+CIPSTART="TCP","nx.test",%d' % echo.port
                out = await mod.cmd(b"AT+CIPCLOSE")
                assert out == b"AT+CIPCLOSE\r\nCLOSED\r\n" + OK
                assert await mod.cmd(line) == line + b"\r\n" + ERROR

    asyncio.run(main())

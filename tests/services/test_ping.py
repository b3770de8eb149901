"""ICMP ping: packet helpers, real echoes on loopback, and an honest timeout.

The timeout test needs an address that does not answer.  Every 127/8 address answers on the
host, and changing host settings would disturb other tests, so it runs the real ``ping()`` in a
child process inside a private network namespace (``ip netns``) whose loopback is up but whose
kernel is told to ignore echo requests (``net.ipv4.icmp_echo_ignore_all=1``, a per-namespace
sysctl).  A control run in the same namespace first proves pings succeed there without it.

The same namespace trick covers the unprivileged paths: the child sets the namespace's own
``net.ipv4.ping_group_range`` and drops to uid/gid 65534 (no CAP_NET_RAW), so ``ping()`` must
fall back to the ICMP datagram socket, or raise PingUnavailable when the range excludes it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.netns import private_netns
from w800at.runtime.ping import (
    PingError,
    PingTimeout,
    PingUnavailable,
    build_echo_request,
    icmp_checksum,
    parse_echo_reply,
    ping,
)

# -- pure packet helpers --------------------------------------------------------------------


def test_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3 example: words 0001 f203 f4f5 f6f7 sum to ddf2 -> checksum 220d.
    assert icmp_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert icmp_checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length padded with a zero byte


def test_ipv4_request_layout_and_checksum_verifies() -> None:
    packet = build_echo_request(False, 0x1234, 0x0005, b"abcd")
    assert packet[:2] == b"\x08\x00"
    assert packet[4:] == b"\x12\x34\x00\x05abcd"
    assert icmp_checksum(packet) == 0  # a correct checksum makes the total sum to 0xffff


def test_ipv6_request_leaves_checksum_to_kernel() -> None:
    assert build_echo_request(True, 1, 2, b"x") == b"\x80\x00\x00\x00\x00\x01\x00\x02x"


def _ipv4_header(ihl_words: int) -> bytes:
    return bytes([0x40 | ihl_words]) + b"\x00" * (ihl_words * 4 - 1)


def test_parse_reply_strips_ipv4_header_including_options() -> None:
    icmp = struct.pack("!BBHHH", 0, 0, 0, 7, 9) + b"data"
    for ihl in (5, 6, 15):
        assert parse_echo_reply(_ipv4_header(ihl) + icmp, ipv6=False, has_ip_header=True) == (
            7,
            9,
            b"data",
        )


def test_parse_reply_rejects_requests_and_other_types() -> None:
    request = build_echo_request(False, 7, 9, b"data")
    assert parse_echo_reply(_ipv4_header(5) + request, ipv6=False, has_ip_header=True) is None
    assert (
        parse_echo_reply(build_echo_request(True, 7, 9, b""), ipv6=True, has_ip_header=False)
        is None
    )
    unreachable = struct.pack("!BBHHH", 3, 1, 0, 0, 0)
    assert parse_echo_reply(unreachable, ipv6=False, has_ip_header=False) is None
    assert parse_echo_reply(b"\x00\x00", ipv6=False, has_ip_header=False) is None
    assert parse_echo_reply(b"", ipv6=False, has_ip_header=True) is None
    v6_reply = struct.pack("!BBHHH", 129, 0, 0, 1, 2)
    assert parse_echo_reply(v6_reply, ipv6=True, has_ip_header=False) == (1, 2, b"")


def test_non_literal_address_is_rejected() -> None:
    with pytest.raises(ValueError):
        asyncio.run(ping("localhost", timeout=1.0))


# -- real ICMP on loopback ----------------------------------------------------------------------


def _icmp_socket_available(family: int, proto: int) -> bool:
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(family, kind, proto).close()
        except OSError:
            continue
        return True
    return False


needs_icmp4 = pytest.mark.skipif(
    not _icmp_socket_available(socket.AF_INET, socket.IPPROTO_ICMP),
    reason="neither a raw ICMP socket (needs root/CAP_NET_RAW) nor an ICMP datagram socket "
    "(needs the gid inside net.ipv4.ping_group_range) can be opened here",
)
needs_icmp6 = pytest.mark.skipif(
    not _icmp_socket_available(socket.AF_INET6, socket.IPPROTO_ICMPV6),
    reason="no raw or datagram ICMPv6 socket can be opened here (root/CAP_NET_RAW or "
    "ping_group_range needed, and IPv6 support)",
)


@needs_icmp4
@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2"])
def test_ping_ipv4_loopback(address: str) -> None:
    rtt = asyncio.run(ping(address, timeout=2.0))
    assert 0.0 < rtt < 2000.0


@needs_icmp6
def test_ping_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback address on this host")
    rtt = asyncio.run(ping("::1", timeout=2.0))
    assert 0.0 < rtt < 2000.0


@needs_icmp4
def test_concurrent_pings_each_get_their_own_reply() -> None:
    """Raw sockets see each other's replies; matching must keep them apart."""

    async def many() -> list[float]:
        return await asyncio.gather(*(ping("127.0.0.1", timeout=2.0) for _ in range(20)))

    results = asyncio.run(many())
    assert len(results) == 20
    assert all(0.0 < rtt < 2000.0 for rtt in results)


def test_unavailable_is_a_ping_error() -> None:
    assert issubclass(PingUnavailable, PingError)
    assert issubclass(PingTimeout, PingError)


# -- in a private network namespace: timeout and unprivileged sockets ---------------------------

_CHILD = """
import asyncio, json, os, sys, time
import w800at.runtime.ping as ping_module

address, mode = sys.argv[1], sys.argv[2]
loop = asyncio.new_event_loop()  # everything imported before privileges may be dropped
result = {"knob_set": False}


def sysctl(knob, value):
    try:
        with open("/proc/sys/net/" + knob, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


if mode == "ignore":
    knob = "ipv6/icmp/echo_ignore_all" if ":" in address else "ipv4/icmp_echo_ignore_all"
    result["knob_set"] = sysctl(knob, "1")
elif mode in ("dgram", "unprivileged"):
    # ping_group_range is per namespace and also governs ICMPv6 ping sockets.
    allowed = "65534 65534" if mode == "dgram" else "1 0"
    result["knob_set"] = sysctl("ipv4/ping_group_range", allowed)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)  # nobody: no CAP_NET_RAW, so no raw socket
    try:
        sock, raw = ping_module._open_socket(":" in address)
        sock.close()
        result["raw"] = raw
    except ping_module.PingUnavailable:
        pass
start = time.monotonic()
try:
    result["rtt"] = loop.run_until_complete(ping_module.ping(address, timeout=0.3))
except Exception as exc:
    result["error"] = type(exc).__name__
    result["message"] = str(exc)
    result["elapsed"] = time.monotonic() - start
print(json.dumps(result))
"""


@pytest.fixture
def netns() -> Iterator[str]:
    with private_netns("ping") as name:
        yield name


def _ping_in(netns: str, address: str, mode: str) -> dict[str, object]:
    ip = shutil.which("ip")
    assert ip is not None
    result = subprocess.run(
        [ip, "netns", "exec", netns, sys.executable, "-c", _CHILD, address, mode],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def _require_working_namespace(netns: str, address: str) -> None:
    control = _ping_in(netns, address, "control")
    if control.get("error") == "PingUnavailable":
        pytest.skip("no ICMP socket inside the namespace")
    assert "rtt" in control, control  # the namespace itself answers pings


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ping_timeout_when_echo_is_ignored(netns: str, address: str) -> None:
    _require_working_namespace(netns, address)
    ignored = _ping_in(netns, address, "ignore")
    if not ignored["knob_set"]:
        pytest.skip("this kernel has no per-namespace echo_ignore_all sysctl for this family")
    assert ignored.get("error") == "PingTimeout", ignored
    elapsed = ignored["elapsed"]
    assert isinstance(elapsed, float)
    assert 0.29 <= elapsed < 2.0


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_unprivileged_ping_uses_datagram_socket(netns: str, address: str) -> None:
    _require_working_namespace(netns, address)
    outcome = _ping_in(netns, address, "dgram")
    if not outcome["knob_set"]:
        pytest.skip("cannot set net.ipv4.ping_group_range inside the namespace")
    if "raw" not in outcome:
        pytest.skip(f"this kernel offers no ICMP datagram socket: {outcome.get('message')}")
    assert outcome["raw"] is False, outcome
    assert isinstance(outcome.get("rtt"), float), outcome


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_unprivileged_ping_outside_group_range_is_unavailable(netns: str, address: str) -> None:
    _require_working_namespace(netns, address)
    outcome = _ping_in(netns, address, "unprivileged")
    if not outcome["knob_set"]:
        pytest.skip("cannot set net.ipv4.ping_group_range inside the namespace")
    assert outcome.get("error") == "PingUnavailable", outcome
    message = outcome["message"]
    assert isinstance(message, str)
    assert "ping_group_range" in message and "CAP_NET_RAW" in message

"""Resolver: host path, real DNS queries against the loopback responder, network modes."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from tests.servers.dns_responder import DnsQuery, DnsResponder
from w800at.runtime.resolver import (
    ResolveError,
    parse_resolv_conf,
    resolve,
    system_dns_servers,
)

RECORDS = {
    "dual.test": ["192.0.2.10", "2001:db8::10"],
    "v4only.test": ["192.0.2.20"],
    "v6only.test": ["2001:db8::30"],
}


def _run(
    name: str, network: int, servers: list[tuple[str, int]] | None, timeout: float = 2.0
) -> str:
    return asyncio.run(resolve(name, network, servers, timeout=timeout))


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- automatic (host resolver) -------------------------------------------------------------


def test_system_localhost_ipv4() -> None:
    assert _run("localhost", 2, None) == "127.0.0.1"
    assert _run("localhost", 1, None) == "127.0.0.1"


@pytest.mark.parametrize("name", ["", "a" * 254])
def test_invalid_names_rejected_before_any_lookup(name: str) -> None:
    # Only names that fail locally: a real unknown name would send a query to the host's
    # (non-loopback) DNS server, which these tests must never do.
    with pytest.raises(ResolveError):
        _run(name, 1, None)


# -- literals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "network", "expected"),
    [
        ("192.0.2.1", 1, "192.0.2.1"),
        ("192.0.2.1", 2, "192.0.2.1"),
        ("2001:db8::1", 1, "2001:db8::1"),
        ("2001:db8::1", 3, "2001:db8::1"),
    ],
)
def test_literals_return_themselves_without_queries(name: str, network: int, expected: str) -> None:
    with DnsResponder(RECORDS) as dns:
        assert _run(name, network, [dns.address]) == expected
        assert dns.queries_snapshot() == []


@pytest.mark.parametrize(("name", "network"), [("192.0.2.1", 3), ("2001:db8::1", 2)])
def test_literals_of_the_wrong_family_are_rejected(name: str, network: int) -> None:
    with pytest.raises(ResolveError):
        _run(name, network, None)


def test_invalid_network_value() -> None:
    with pytest.raises(ValueError):
        _run("localhost", 4, None)


# -- manual servers: real queries to the loopback responder --------------------------------


@pytest.mark.parametrize(
    ("name", "network", "expected", "asked"),
    [
        ("dual.test", 1, "192.0.2.10", ["A"]),
        ("dual.test", 2, "192.0.2.10", ["A"]),
        ("dual.test", 3, "2001:db8::10", ["AAAA"]),
        ("v4only.test", 1, "192.0.2.20", ["A"]),
        ("v4only.test", 2, "192.0.2.20", ["A"]),
        ("v6only.test", 1, "2001:db8::30", ["A", "AAAA"]),  # falls back to IPv6
        ("v6only.test", 3, "2001:db8::30", ["AAAA"]),
        ("DUAL.Test.", 2, "192.0.2.10", ["A"]),
    ],
)
def test_manual_modes(name: str, network: int, expected: str, asked: list[str]) -> None:
    with DnsResponder(RECORDS) as dns:
        assert _run(name, network, [dns.address]) == expected
        queries = dns.queries_snapshot()
    assert [q.rdtype for q in queries] == asked
    assert {q.name for q in queries} == {name.rstrip(".").lower()}
    assert all(q.transport == "udp" for q in queries)


@pytest.mark.parametrize(("name", "network"), [("v6only.test", 2), ("v4only.test", 3)])
def test_manual_no_record_of_family(name: str, network: int) -> None:
    with DnsResponder(RECORDS) as dns, pytest.raises(ResolveError, match="no address"):
        _run(name, network, [dns.address])


def test_manual_nxdomain() -> None:
    with DnsResponder(RECORDS) as dns:
        with pytest.raises(ResolveError, match="NXDOMAIN"):
            _run("missing.test", 1, [dns.address])
        # NXDOMAIN means no name at all: no pointless AAAA query afterwards.
        assert [q.rdtype for q in dns.queries_snapshot()] == ["A"]


def test_manual_dns_server_on_ipv6_loopback() -> None:
    if not _has_ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1 cannot be bound)")
    with DnsResponder(RECORDS, host="::1") as dns:
        assert _run("dual.test", 3, [dns.address]) == "2001:db8::10"
        assert _run("dual.test", 2, [dns.address]) == "192.0.2.10"
        assert [q.client[0] for q in dns.queries_snapshot()] == ["::1", "::1"]


def test_manual_second_server_used_when_first_is_silent() -> None:
    with DnsResponder(RECORDS, silent=True) as dead, DnsResponder(RECORDS) as alive:
        start = time.monotonic()
        assert _run("dual.test", 2, [dead.address, alive.address], timeout=2.0) == "192.0.2.10"
        assert time.monotonic() - start < 1.9  # the dead server got only its share
        assert len(dead.queries_snapshot()) == 1  # same address, other port: really tried
        assert len(alive.queries_snapshot()) == 1


def test_manual_timeout_is_honoured() -> None:
    with DnsResponder(RECORDS, silent=True) as dns:
        start = time.monotonic()
        with pytest.raises(ResolveError, match="timed out"):
            _run("dual.test", 1, [dns.address], timeout=0.5)
        elapsed = time.monotonic() - start
        assert len(dns.queries_snapshot()) >= 1
    assert 0.4 <= elapsed < 2.0


def test_manual_server_not_listening() -> None:
    # Grab a free UDP port on loopback, then close it: nothing listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ResolveError):
        _run("dual.test", 1, [("127.0.0.1", port)], timeout=1.0)


def test_manual_requires_servers() -> None:
    with pytest.raises(ResolveError):
        _run("dual.test", 1, [])


def test_query_record_type() -> None:
    with DnsResponder({"a.test": ["192.0.2.1"]}) as dns:
        _run("a.test", 2, [dns.address])
        (query,) = dns.queries_snapshot()
    assert query == DnsQuery("a.test", "A", "udp", query.client)
    assert query.client[0] == "127.0.0.1"


# -- resolv.conf -----------------------------------------------------------------------------


def test_parse_resolv_conf() -> None:
    text = (
        "# generated\n"
        "search example.com\n"
        "nameserver 10.0.0.1\n"
        "  nameserver   10.0.0.2  # trailing\n"
        "nameserver fe80::1%eth0\n"
        "nameserver not-an-ip\n"
        "nameserver 10.0.0.1\n"
        "options ndots:2\n"
        "nameserver\n"
    )
    assert parse_resolv_conf(text) == ["10.0.0.1", "10.0.0.2", "fe80::1"]


def test_system_dns_servers_reads_file(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nnameserver ::1\n")
    assert system_dns_servers(conf) == ["127.0.0.53", "::1"]
    assert system_dns_servers(tmp_path / "missing") == []


def test_system_dns_servers_matches_host_file() -> None:
    path = Path("/etc/resolv.conf")
    if not path.exists():
        pytest.skip("host has no /etc/resolv.conf")
    assert system_dns_servers() == parse_resolv_conf(path.read_text())

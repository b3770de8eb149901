"""SNTP client against the loopback SNTP responder, plus packet-level checks."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from tests.servers.sntp_responder import SntpResponder
from w800at.runtime.sntp import (
    NTP_UNIX_OFFSET,
    SntpError,
    build_request,
    ntp_to_unix,
    parse_reply,
    sntp_query,
    unix_to_ntp,
)

FIXED = 1_634_636_876.0  # 2021-10-19 09:47:56 UTC
FIXED_FRACTION = 1_634_636_876.25


def _query(server: SntpResponder, timeout: float = 2.0) -> float:
    host, port = server.address
    return asyncio.run(sntp_query(host, port, timeout=timeout))


def test_exact_time_from_responder() -> None:
    with SntpResponder(FIXED) as server:
        assert _query(server) == FIXED
        (request,) = server.requests_snapshot()
    assert len(request.data) == 48
    assert request.data[0] == 0x23  # LI 0, version 4, mode 3 (client)
    assert request.version == 4
    assert request.mode == 3
    assert request.data[1:40] == bytes(39)  # everything but the transmit timestamp is zero
    assert request.transmit != 0
    # The transmit timestamp is the host clock (upper bits) with random low fraction bits.
    assert abs(ntp_to_unix(request.transmit) - time.time()) < 60


def test_fraction_is_preserved() -> None:
    with SntpResponder(FIXED_FRACTION) as server:
        assert _query(server) == FIXED_FRACTION


def test_time_can_change_between_queries() -> None:
    with SntpResponder(FIXED) as server:
        assert _query(server) == FIXED
        server.unix_time = FIXED + 3600
        assert _query(server) == FIXED + 3600
        assert len(server.requests_snapshot()) == 2


def test_ipv6_server() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback address on this host")
    with SntpResponder(FIXED, host="::1") as server:
        assert _query(server) == FIXED


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stratum": 0, "kiss_code": "RATE"}, "Kiss-o'-Death 'RATE'"),
        ({"stratum": 0, "kiss_code": "DENY"}, "Kiss-o'-Death 'DENY'"),
        ({"stratum": 16}, "stratum 16"),
        ({"leap": 3}, "not synchronised"),
    ],
)
def test_unusable_replies_raise(options: dict[str, object], message: str) -> None:
    with (
        SntpResponder(FIXED, **options) as server,  # type: ignore[arg-type]
        pytest.raises(SntpError, match=message),
    ):
        _query(server)


def test_zero_transmit_timestamp_raises() -> None:
    # NTP time 0 is 1900-01-01 era 0, i.e. Unix time -NTP_UNIX_OFFSET.
    with (
        SntpResponder(-float(NTP_UNIX_OFFSET)) as server,
        pytest.raises(SntpError, match="transmit timestamp is zero"),
    ):
        _query(server)


@pytest.mark.parametrize("options", [{"echo_origin": False}, {"mode": 3}, {"silent": True}])
def test_replies_not_answering_our_request_are_ignored_until_timeout(
    options: dict[str, object],
) -> None:
    with SntpResponder(FIXED, **options) as server:  # type: ignore[arg-type]
        start = time.monotonic()
        with pytest.raises(SntpError, match="no SNTP reply"):
            _query(server, timeout=0.3)
        assert 0.29 <= time.monotonic() - start < 2.0
        assert len(server.requests_snapshot()) == 1


def test_port_unreachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SntpError):
        asyncio.run(sntp_query("127.0.0.1", port, timeout=1.0))


def test_server_must_be_ip_literal() -> None:
    with pytest.raises(ValueError):
        asyncio.run(sntp_query("pool.ntp.org", timeout=1.0))


# -- timestamp conversion --------------------------------------------------------------------


def test_ntp_timestamp_roundtrip_and_eras() -> None:
    assert unix_to_ntp(0.0) == NTP_UNIX_OFFSET << 32
    assert unix_to_ntp(0.5) == (NTP_UNIX_OFFSET << 32) | 0x80000000
    assert ntp_to_unix(NTP_UNIX_OFFSET << 32) == 0.0
    assert ntp_to_unix(unix_to_ntp(FIXED_FRACTION)) == FIXED_FRACTION
    # Era 1: 2036-02-07 06:28:16 UTC is NTP second 2**32, which wraps to 0 on the wire.
    era1 = 2**32 - NTP_UNIX_OFFSET
    assert unix_to_ntp(float(era1)) == 0
    assert ntp_to_unix(unix_to_ntp(era1 + 10.0)) == era1 + 10.0


def test_parse_reply_rules() -> None:
    xmit = unix_to_ntp(FIXED)
    mine = 0x1234

    def reply(first: int = 0x24, stratum: int = 2, origin: int = mine, tx: int = xmit) -> bytes:
        return struct.pack("!BBbbII4sQQQQ", first, stratum, 0, 0, 0, 0, b"GPS\0", 0, origin, 0, tx)

    assert parse_reply(reply(), mine) == FIXED
    assert parse_reply(reply(first=0x1C), mine) == FIXED  # version 3 server reply accepted
    assert parse_reply(reply()[:47], mine) is None  # too short
    assert parse_reply(reply(origin=mine + 1), mine) is None  # not an answer to us
    assert parse_reply(reply(first=0x23), mine) is None  # client mode
    assert parse_reply(reply(first=0x14), mine) is None  # version 2
    with pytest.raises(SntpError, match="zero"):
        parse_reply(reply(tx=0), mine)
    with pytest.raises(SntpError, match="Kiss"):
        parse_reply(reply(stratum=0), mine)
    assert build_request(mine)[40:] == struct.pack("!Q", mine)

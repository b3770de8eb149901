"""pytest fixtures wrapping the loopback test servers.

Register them for the whole suite from the root conftest with
``pytest_plugins = ["tests.servers.fixtures"]`` (needs the repository root on ``sys.path``,
e.g. ``pythonpath = ["."]`` in the pytest ini options), or import the ones you need into a
conftest.  Each fixture yields a started server and stops it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.dns_responder import DnsResponder
from tests.servers.sntp_responder import SntpResponder
from tests.servers.tcp_servers import TcpEchoServer, TcpSinkServer, UdpEchoServer

#: 2021-10-19 09:47:56 UTC - the instant behind the manual's AT+CIPSNTPTIME? example.
SNTP_FIXED_TIME = 1_634_636_876.0


@pytest.fixture
def dns_responder() -> Iterator[DnsResponder]:
    """DNS server on 127.0.0.1 (UDP+TCP) with example.test A/AAAA and v4only/v6only names."""
    records = {
        "example.test": ["192.0.2.10", "2001:db8::10"],
        "v4only.test": ["192.0.2.20"],
        "v6only.test": ["2001:db8::30"],
    }
    with DnsResponder(records, tcp=True) as server:
        yield server


@pytest.fixture
def sntp_responder() -> Iterator[SntpResponder]:
    """SNTP server on 127.0.0.1 serving :data:`SNTP_FIXED_TIME`."""
    with SntpResponder(SNTP_FIXED_TIME) as server:
        yield server


@pytest.fixture
def tcp_echo_server() -> Iterator[TcpEchoServer]:
    with TcpEchoServer() as server:
        yield server


@pytest.fixture
def tcp_sink_server() -> Iterator[TcpSinkServer]:
    with TcpSinkServer() as server:
        yield server


@pytest.fixture
def udp_echo_server() -> Iterator[UdpEchoServer]:
    with UdpEchoServer() as server:
        yield server

"""AT+PING, AT+CIPV6, and the IPv6 lines of AT+CIFSR / AT+CIPSTA? on the engine alone."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from w800at.core.actions import SaveSettings
from w800at.core.service_actions import Ping
from w800at.profiles import ESP_AT
from w800at.runtime.ping import PingTimeout, PingUnavailable
from w800at.runtime.resolver import ResolveError

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
TIMEOUT = b"+PING:TIMEOUT\r\n" + ERROR


def joined(**kw: object) -> Harness:
    h = Harness(**kw)  # type: ignore[arg-type]
    h.join()
    h.take()
    return h


def test_ping_needs_wifi() -> None:
    h = Harness()
    assert h.send(b'AT+PING="127.0.0.1"\r\n') == b'AT+PING="127.0.0.1"\r\n' + ERROR
    assert h.take(Ping) == []


@pytest.mark.parametrize(("ms", "shown"), [(0.04, b"1"), (1.0, b"1"), (12.3, b"13"), (250, b"250")])
def test_ping_prints_whole_milliseconds(ms: float, shown: bytes) -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.join()
        h.take()
        out = h.send(b'AT+PING="127.0.0.1"\r\n', bytewise=bytewise)
        (act,) = h.take(Ping)
        assert isinstance(act, Ping) and act.host == "127.0.0.1"
        out += h.send(b"AT+CIPDNS?\r\n", bytewise=bytewise)  # busy while pinging
        return out + h.complete(act, ms)

    assert both(scenario) == (
        b'AT+PING="127.0.0.1"\r\n\r\nbusy p...\r\n+PING:' + shown + b"\r\n" + OK
    )


@pytest.mark.parametrize(
    "failure",
    [
        PingTimeout("no reply"),
        ResolveError("NXDOMAIN"),
        PingUnavailable("no raw socket"),
        OSError("unreachable"),
    ],
)
def test_ping_failures_are_timeout_error(failure: Exception) -> None:
    h = joined()
    h.send(b'AT+PING="host.test"\r\n')
    (act,) = h.take(Ping)
    assert isinstance(act, Ping) and act.host == "host.test"
    assert h.complete(act, failure) == TIMEOUT
    assert h.send(b"AT\r\n") == b"AT\r\n" + OK
    h.check()


def test_ping_ipv6_literal_needs_cipv6() -> None:
    h = joined()
    h.send(b'AT+PING="::1"\r\n')
    (act,) = h.take(Ping)
    assert isinstance(act, Ping) and act.host == "::1"
    assert h.complete(act, 0.2) == b"+PING:1\r\n" + OK
    h.send(b"AT+CIPV6=0\r\n")
    assert h.send(b'AT+PING="::1"\r\n') == b'AT+PING="::1"\r\n' + TIMEOUT
    assert h.take(Ping) == []
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b"AT+PING=127.0.0.1",
        b'AT+PING=""',
        b"AT+PING",
        b'AT+PING="' + b"a" * 65 + b'"',
        b'AT+PING="a","b"',
    ],
)
def test_ping_bad_parameters(line: bytes) -> None:
    h = joined()
    out = h.send(line + b"\r\n")
    assert out in (line + b"\r\n" + ERROR, line + b"\r\n" + TIMEOUT)
    # an empty host is a failed resolution (TIMEOUT); malformed lines are plain ERROR
    assert (out == line + b"\r\n" + TIMEOUT) == (line == b'AT+PING=""')
    assert h.take(Ping) == []
    h.check()


# --- AT+CIPV6 -------------------------------------------------------------------------


def test_cipv6_defaults_per_dialect() -> None:
    assert Harness().send(b"AT+CIPV6?\r\n") == b"AT+CIPV6?\r\n+CIPV6:1\r\n" + OK
    assert Harness(ESP_AT).send(b"AT+CIPV6?\r\n") == b"AT+CIPV6?\r\n+CIPV6:0\r\n" + OK


@pytest.mark.parametrize("line", [b"AT+CIPV6=2", b"AT+CIPV6=-1", b'AT+CIPV6="1"', b"AT+CIPV6="])
def test_cipv6_bad_values(line: bytes) -> None:
    h = Harness()
    assert h.send(line + b"\r\n") == line + b"\r\n" + ERROR
    assert h.send(b"AT+CIPV6?\r\n") == b"AT+CIPV6?\r\n+CIPV6:1\r\n" + OK


def test_cipv6_is_saved_under_sysstore() -> None:
    h = Harness()
    h.take()
    assert h.send(b"AT+CIPV6=0\r\n") == b"AT+CIPV6=0\r\n" + OK
    saves = [a for a in h.take(SaveSettings) if isinstance(a, SaveSettings)]
    assert saves and saves[-1].snapshot["cipv6"] == 0
    h2 = Harness(saved=saves[-1].snapshot)
    assert h2.send(b"AT+CIPV6?\r\n") == b"AT+CIPV6?\r\n+CIPV6:0\r\n" + OK


CIFSR_V4 = b'+CIFSR:STAIP,"127.0.0.1"\r\n'
CIFSR_V6 = b'+CIFSR:STAIP6LL,"fe80::1"\r\n+CIFSR:STAIP6GL,"::1"\r\n'
CIFSR_MAC = b'+CIFSR:STAMAC,"02:00:00:00:00:01"\r\n'


def test_join_reports_ipv6_addresses_when_enabled() -> None:
    h = Harness()
    out = h.join()
    assert out == (
        b'AT+CWJAP="lab","secret"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n'
        + OK
        + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
    )
    h2 = Harness(ESP_AT)
    assert h2.join() == b'AT+CWJAP="lab","secret"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n' + OK


def test_cifsr_lists_ipv6_in_spec_order() -> None:
    h = joined()
    assert h.send(b"AT+CIFSR\r\n") == b"AT+CIFSR\r\n" + CIFSR_V4 + CIFSR_V6 + CIFSR_MAC + OK
    h.send(b"AT+CIPV6=0\r\n")
    assert h.send(b"AT+CIFSR\r\n") == b"AT+CIFSR\r\n" + CIFSR_V4 + CIFSR_MAC + OK


def test_cifsr_softap_and_station() -> None:
    h = joined()
    h.send(b"AT+CWMODE=3\r\n")
    assert h.send(b"AT+CIFSR\r\n") == (
        b'AT+CIFSR\r\n+CIFSR:APIP,"192.168.4.1"\r\n'
        b'+CIFSR:APMAC,"02:00:00:00:00:02"\r\n'  # the station's MAC + 1
        + CIFSR_V4
        + CIFSR_V6
        + CIFSR_MAC
        + OK
    )


def test_cipsta_query_ipv6_lines() -> None:
    h = joined()
    base = (
        b'AT+CIPSTA?\r\n+CIPSTA:ip:"127.0.0.1"\r\n+CIPSTA:gateway:"127.0.0.1"\r\n'
        b'+CIPSTA:netmask:"255.0.0.0"\r\n'
    )
    v6 = b'+CIPSTA:ip6ll:"fe80::1"\r\n+CIPSTA:ip6gl:"::1"\r\n'
    assert h.send(b"AT+CIPSTA?\r\n") == base + v6 + OK
    h.send(b"AT+CIPV6=0\r\n")
    assert h.send(b"AT+CIPSTA?\r\n") == base + OK

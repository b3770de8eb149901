"""AT+CIPDOMAIN and AT+CIPDNS on the engine alone (manual clock, byte-exact)."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from w800at.core.actions import SaveSettings
from w800at.core.service_actions import Resolve
from w800at.profiles import ESP_AT, W800, Profile
from w800at.runtime.resolver import ResolveError

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def joined(**kw: object) -> Harness:
    h = Harness(**kw)  # type: ignore[arg-type]
    h.join()
    h.take()
    return h


# --- AT+CIPDOMAIN ---------------------------------------------------------------------


def test_cipdomain_needs_wifi() -> None:
    h = Harness()
    assert h.send(b'AT+CIPDOMAIN="a.test"\r\n') == b'AT+CIPDOMAIN="a.test"\r\n' + ERROR
    assert h.take() == []
    h.check()


@pytest.mark.parametrize(("arg", "network"), [("", 1), (",1", 1), (",2", 2), (",3", 3)])
def test_cipdomain_resolves_as_a_task(arg: str, network: int) -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.join()
        h.take()
        line = f'AT+CIPDOMAIN="host.test"{arg}\r\n'.encode()
        out = h.send(line, bytewise=bytewise)
        assert out == line
        (act,) = h.take(Resolve)
        assert isinstance(act, Resolve)
        assert (act.name, act.network) == ("host.test", network)
        # the module is busy until the answer comes
        out += h.send(b"AT\r\n", bytewise=bytewise)
        answer = "2001:db8::1" if network == 3 else "192.0.2.1"
        return out + h.complete(act, answer)

    out = both(scenario)
    ip = "2001:db8::1" if network == 3 else "192.0.2.1"
    assert out == (
        f'AT+CIPDOMAIN="host.test"{arg}\r\n'.encode()
        + b"\r\nbusy p...\r\n"
        + f'+CIPDOMAIN:"{ip}"\r\n'.encode()
        + OK
    )


def test_cipdomain_failure_is_error_and_module_keeps_serving() -> None:
    h = joined()
    h.send(b'AT+CIPDOMAIN="nx.test"\r\n')
    (act,) = h.take(Resolve)
    assert h.complete(act, ResolveError("NXDOMAIN")) == ERROR
    assert h.send(b"AT\r\n") == b"AT\r\n" + OK
    h.check()


def test_cipdomain_ipv6_needs_cipv6() -> None:
    h = joined()
    assert h.send(b"AT+CIPV6=0\r\n") == b"AT+CIPV6=0\r\n" + OK
    assert h.send(b'AT+CIPDOMAIN="a.test",3\r\n') == b'AT+CIPDOMAIN="a.test",3\r\n' + ERROR
    assert h.take(Resolve) == []
    # "prefer IPv4" can only give IPv4 now
    h.send(b'AT+CIPDOMAIN="a.test"\r\n')
    (act,) = h.take(Resolve)
    assert isinstance(act, Resolve) and act.network == 2
    h.check()


def test_cipdomain_is_not_limited_to_64_bytes() -> None:
    """64 was AT+CIPSTART's limit; AT+CIPDOMAIN asks for longer names (item 8 below)."""
    for n in (64, 65):
        h = joined()
        h.send(f'AT+CIPDOMAIN="{"a" * n}"\r\n'.encode())
        (act,) = h.take(Resolve)
        assert isinstance(act, Resolve) and act.name == "a" * n
        h.check()


@pytest.mark.parametrize(
    "line",
    [
        b'AT+CIPDOMAIN="a.test",0\r\n',
        b'AT+CIPDOMAIN="a.test",4\r\n',
        b'AT+CIPDOMAIN=""\r\n',
        b"AT+CIPDOMAIN=a.test\r\n",
        b'AT+CIPDOMAIN="a.test",1,2\r\n',
        b"AT+CIPDOMAIN\r\n",
    ],
)
def test_cipdomain_bad_parameters(line: bytes) -> None:
    h = joined()
    assert h.send(line) == line + ERROR
    assert h.take(Resolve) == []
    h.check()


# --- AT+CIPDNS ------------------------------------------------------------------------


def test_cipdns_default_query_without_runtime_shows_spec_defaults() -> None:
    h = Harness()
    assert h.send(b"AT+CIPDNS?\r\n") == (
        b'AT+CIPDNS?\r\n+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
    )
    h.check()


def _auto_dns_scenario(h: Harness, bytewise: bool) -> bytes:
    """AT+CIPDNS? with <enable> 0: the spec's defaults until DHCP is done, then the
    servers "DHCP" gave (the host's), the defaults again after a static IP."""
    h.engine.options.system_dns = ("127.0.0.53", "::1", "10.0.0.1", "10.0.0.2")
    h.send(b"ATE0\r\n")
    out = h.send(b"AT+CIPDNS?\r\n", bytewise=bytewise)  # before any join
    h.join()
    out += h.send(b"AT+CIPDNS?\r\n", bytewise=bytewise)
    out += h.send(b'AT+CWQAP\r\nAT+CIPSTA="127.0.0.9"\r\n', bytewise=bytewise)
    h.join()  # a static address: no DHCP, no servers from it
    return out + h.send(b"AT+CIPDNS?\r\n", bytewise=bytewise)


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_cipdns_automatic_shows_defaults_until_dhcp(profile: Profile) -> None:
    """Issue 12 item 10 (W800 spec, AT+CIPDNS <enable> 0); at most the dialect's
    number of servers (W800: two, ESP-AT: three)."""
    spec = b'+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
    host = b'+CIPDNS:0,"127.0.0.53","::1"'
    host += b',"10.0.0.1"\r\n' if profile.max_dns == 3 else b"\r\n"
    out = both(_auto_dns_scenario, profile=profile)
    assert out == spec + host + OK + OK + b"WIFI DISCONNECT\r\n" + OK + spec


def test_cipdns_automatic_after_dhcp_without_host_servers_keeps_the_defaults() -> None:
    h = joined()
    h.engine.options.system_dns = ()
    assert h.send(b"AT+CIPDNS?\r\n") == (
        b'AT+CIPDNS?\r\n+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
    )


def test_cipdns_three_servers_in_the_esp_at_dialect() -> None:
    """Issue 12 item 2: ESP-AT's AT+CIPDNS=1,<ip1>,<ip2>,<ip3>."""

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
        line = b'AT+CIPDNS=1,"127.0.0.2","::1","127.0.0.3"\r\nAT+CIPDNS?\r\n'
        out = h.send(line, bytewise=bytewise)
        line = b'AT+CIPDNS=1,"1.1.1.1","2.2.2.2","3.3.3.3","4.4.4.4"\r\n'
        return out + h.send(line, bytewise=bytewise)

    assert both(scenario, profile=ESP_AT) == (
        OK
        + b'+CIPDNS:1,"127.0.0.2","::1","127.0.0.3"\r\n'
        + OK
        + b"ERR CODE:0x01060405\r\n"  # at most 4 parameters, given 5
        + ERROR
    )
    assert (
        both(scenario, profile=W800)
        == (  # the W800 spec: two servers (at most 3 parameters)
            b"ERR CODE:0x01060304\r\n" + ERROR + b'+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
        )
        + b"ERR CODE:0x01060305\r\n"
        + ERROR
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (b"AT+CIPDNS=1", b'1,"208.67.222.222","8.8.8.8"'),
        (b'AT+CIPDNS=1,"127.0.0.2"', b'1,"127.0.0.2"'),
        (b'AT+CIPDNS=1,"208.67.222.222","8.8.8.8"', b'1,"208.67.222.222","8.8.8.8"'),
        (
            b'AT+CIPDNS=1,"240C::6666","2001:4860:4860::8888"',
            b'1,"240c::6666","2001:4860:4860::8888"',
        ),
        (b'AT+CIPDNS=1,"127.0.0.2","::1"', b'1,"127.0.0.2","::1"'),
        (b'AT+CIPDNS=1,,"127.0.0.3"', b'1,"127.0.0.3"'),
    ],
)
def test_cipdns_manual(line: bytes, shown: bytes) -> None:
    h = Harness()
    assert h.send(line + b"\r\n") == line + b"\r\n" + OK
    assert h.send(b"AT+CIPDNS?\r\n") == b"AT+CIPDNS?\r\n+CIPDNS:" + shown + b"\r\n" + OK
    assert h.send(b"AT+CIPDNS=0\r\n") == b"AT+CIPDNS=0\r\n" + OK
    assert h.send(b"AT+CIPDNS?\r\n") == (
        b'AT+CIPDNS?\r\n+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
    )
    h.check()


@pytest.mark.parametrize(
    "line",
    [
        b'AT+CIPDNS=1,"8.8.8.8","8.8.8.8"',  # the same server twice
        b'AT+CIPDNS=1,"::1","0:0::1"',  # the same, spelled differently
        b'AT+CIPDNS=1,"8.8.8"',  # not an IP
        b'AT+CIPDNS=1,"dns.test"',
        b'AT+CIPDNS=1,"0.0.0.0"',
        b'AT+CIPDNS=1,"1.1.1.1","2.2.2.2","3.3.3.3"',  # W800: two servers
        b'AT+CIPDNS=0,"1.1.1.1"',  # IPs are valid only with enable=1
        b"AT+CIPDNS=2",
        b"AT+CIPDNS=1,8.8.8.8",
    ],
)
def test_cipdns_bad_parameters_keep_the_setting(line: bytes) -> None:
    h = Harness()
    h.send(b'AT+CIPDNS=1,"127.0.0.2"\r\n')
    assert h.send(line + b"\r\n") == line + b"\r\n" + ERROR
    assert h.send(b"AT+CIPDNS?\r\n") == b'AT+CIPDNS?\r\n+CIPDNS:1,"127.0.0.2"\r\n' + OK
    h.check()


def test_cipdns_is_saved_under_sysstore() -> None:
    h = Harness()
    h.take()
    h.send(b'AT+CIPDNS=1,"127.0.0.2"\r\n')
    saves = h.take(SaveSettings)
    assert saves and isinstance(saves[-1], SaveSettings)
    snapshot = saves[-1].snapshot
    assert snapshot["cipdns"] == ["127.0.0.2"]
    h2 = Harness(saved=snapshot)
    assert h2.send(b"AT+CIPDNS?\r\n") == b'AT+CIPDNS?\r\n+CIPDNS:1,"127.0.0.2"\r\n' + OK


def test_cipdns_not_saved_with_sysstore_0() -> None:
    h = Harness()
    h.send(b"AT+SYSSTORE=0\r\n")
    h.take()
    h.send(b'AT+CIPDNS=1,"127.0.0.2"\r\n')
    assert all(
        "cipdns" not in a.snapshot for a in h.take(SaveSettings) if isinstance(a, SaveSettings)
    )
    out = h.send(b"AT+RST\r\n") + h.advance(1.0)
    assert out.endswith(b"ready\r\n")
    assert h.send(b"AT+CIPDNS?\r\n") == (
        b'AT+CIPDNS?\r\n+CIPDNS:0,"208.67.222.222","8.8.8.8"\r\n' + OK
    )


def test_esp_at_profile_same_shape() -> None:
    h = Harness(ESP_AT)
    h.send(b'AT+CIPDNS=1,"127.0.0.2"\r\n')
    assert h.send(b"AT+CIPDNS?\r\n") == b'AT+CIPDNS?\r\n+CIPDNS:1,"127.0.0.2"\r\n' + OK


# --- AT+CIPDOMAIN: names longer than AT+CIPSTART's 64 bytes (issue 12, item 8) -------


def long_name(length: int) -> str:
    """A valid DNS name of exactly ``length`` characters (labels of at most 63)."""
    labels: list[str] = []
    left = length
    while left > 0:
        n = min(63, left - 1 if left > 64 else left)  # each later label costs a dot
        labels.append(("a" * n)[:n])
        left -= n + (1 if left > n else 0)
    name = ".".join(labels)
    assert len(name) == length, (len(name), length)
    return name


@pytest.mark.parametrize("length", [65, 200, 241])
def test_cipdomain_takes_names_up_to_the_line_limit(length: int) -> None:
    """The spec sends names longer than AT+CIPSTART's 64 bytes to AT+CIPDOMAIN; the
    256-byte line is what limits them: 241 characters between the quotes."""
    name = long_name(length)
    line = f'AT+CIPDOMAIN="{name}"\r\n'.encode()
    assert len(line) - 2 <= 256

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.join()
        h.take()
        out = h.send(line, bytewise=bytewise)
        (act,) = h.take(Resolve)
        assert isinstance(act, Resolve) and act.name == name
        return out + h.complete(act, "192.0.2.7")

    assert both(scenario) == line + b'+CIPDOMAIN:"192.0.2.7"\r\n' + OK


def test_cipdomain_line_past_256_bytes_is_too_long() -> None:
    name = long_name(242)  # AT+CIPDOMAIN="<242>" is 257 bytes
    line = f'AT+CIPDOMAIN="{name}"\r\n'.encode()

    def scenario(h: Harness, bytewise: bool) -> bytes:
        h.join()
        h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
        h.take()
        out = h.send(line, bytewise=bytewise)
        assert h.take(Resolve) == []
        return out

    assert both(scenario) == b"ERR CODE:0x01010000\r\n" + ERROR


def test_cipstart_keeps_its_64_byte_host_limit() -> None:
    h = joined()
    h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
    line = f'AT+CIPSTART="TCP","{long_name(65)}",80\r\n'.encode()
    assert h.send(line) == b"ERR CODE:0x01040001\r\n" + ERROR
    h.check()

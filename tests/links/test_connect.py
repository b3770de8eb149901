"""AT+CIPSTART / CIPSTARTEX / CIPCLOSE / CIPMUX / CIPSTATE / CIPSTATUS, engine side."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from tests.links.helpers import PEER, finish_close, joined, open_link, table
from w800at.core.net_actions import Close, Connect, Connected, TlsSettings
from w800at.core.state import ServerState
from w800at.profiles import ESP_AT, W800, Profile

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def _connect_scenario(h: Harness, bytewise: bool) -> bytes:
    h.join()
    out = h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n', bytewise=bytewise)
    (act,) = h.take(Connect)
    return out + h.complete(act, Connected("127.0.0.1", 8080, "127.0.0.1", 40000))


def test_cipstart_single_connect_ok_whole_and_bytewise() -> None:
    out = both(_connect_scenario)
    assert out == b'AT+CIPSTART="TCP","127.0.0.1",8080\r\nCONNECT\r\n\r\nOK\r\n'


def test_connect_action_carries_the_parameters() -> None:
    h = joined()
    h.send(b'AT+CIPSTART="TCP","localhost",8080,60,"127.0.0.1"\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect)
    assert (act.link_id, act.kind, act.host, act.port, act.local_ip, act.local_port) == (
        0,
        "TCP",
        "localhost",
        8080,
        "127.0.0.1",
        None,
    )
    assert act.opts.keepalive == 60
    assert act.tls is None


def test_busy_while_connecting() -> None:
    h = joined()
    h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n')
    assert h.send(b"AT\r\n") == b"\r\nbusy p...\r\n"
    (act,) = h.take(Connect)
    assert h.complete(act, Connected(*PEER, "127.0.0.1", 1)) == b"CONNECT\r\n" + OK


def test_connect_failure_is_error_and_frees_the_id() -> None:
    h = joined()
    h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n')
    (act,) = h.take(Connect)
    assert h.complete(act, ConnectionRefusedError("refused")) == ERROR
    assert table(h).links == {}
    assert open_link(h) == b"CONNECT\r\n" + OK
    h.check()


def test_multi_connect_and_already_connected() -> None:
    h = joined()
    assert h.send(b"AT+CIPMUX=1\r\n") == OK
    assert open_link(h, b'AT+CIPSTART=3,"TCP","127.0.0.1",8080\r\n') == b"3,CONNECT\r\n" + OK
    assert h.send(b'AT+CIPSTART=3,"TCP","127.0.0.1",8080\r\n') == ERROR
    assert h.take(Connect) == []
    assert h.send(b'AT+CIPSTART=5,"TCP","127.0.0.1",8080\r\n') == ERROR
    assert h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n') == ERROR  # ID missing


def test_single_already_connected_is_error() -> None:
    h = joined()
    open_link(h)
    assert h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n') == ERROR
    assert h.take(Connect) == []


def test_cipstartex_takes_the_lowest_free_id() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    open_link(h, b'AT+CIPSTART=2,"UDP","127.0.0.1",8080\r\n')
    assert open_link(h, b'AT+CIPSTARTEX="TCP","127.0.0.1",8080\r\n') == b"1,CONNECT\r\n" + OK
    assert open_link(h, b'AT+CIPSTARTEX="SSL","127.0.0.1",8443\r\n') == b"3,CONNECT\r\n" + OK


def test_cipstartex_single_is_like_cipstart() -> None:
    h = joined()
    assert open_link(h, b'AT+CIPSTARTEX="TCP","127.0.0.1",8080\r\n') == b"CONNECT\r\n" + OK


def test_ssl_link_carries_tls_settings() -> None:
    h = joined()
    h.send(b'AT+CIPSTART="SSL","127.0.0.1",8443\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect) and act.tls == TlsSettings()


def test_udp_local_port_and_mode() -> None:
    h = joined()
    h.send(b'AT+CIPSTART="UDP","127.0.0.1",8080,1002,2\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect)
    assert (act.kind, act.local_port, act.local_ip) == ("UDP", 1002, None)
    assert table(h).get(0) is not None and table(h).links[0].udp_mode == 2
    h.complete(act, Connected(*PEER, "127.0.0.1", 1002))
    h.send(b"AT+CIPCLOSE\r\n")
    finish_close(h)
    h.send(b'AT+CIPSTART="UDP","127.0.0.1",8080,,,"127.0.0.1"\r\n')
    (act,) = h.take(Connect)
    assert isinstance(act, Connect) and act.local_ip == "127.0.0.1" and act.local_port is None


def test_parameter_errors() -> None:
    h = joined()
    bad = [
        b'AT+CIPSTART="UDP","127.0.0.1",8080,,1\r\n',  # mode needs a local port
        b'AT+CIPSTART="UDP","127.0.0.1",8080,1002,3\r\n',  # mode out of range
        b'AT+CIPSTART="TCP","127.0.0.1",8080,7201\r\n',  # keep_alive out of range
        b'AT+CIPSTART="TCP","127.0.0.1",8080,60,"127.0.0.1",3\r\n',  # too many for TCP
        b'AT+CIPSTART="TCP","127.0.0.1",0\r\n',  # port 0
        b'AT+CIPSTART="TCP","127.0.0.1",65536\r\n',
        b'AT+CIPSTART="ICMP","127.0.0.1",80\r\n',
        b'AT+CIPSTART="TCP","' + b"a" * 65 + b'",80\r\n',  # host longer than 64 bytes
        b'AT+CIPSTART="TCP",127,80\r\n',
    ]
    for cmd in bad:
        assert h.send(cmd) == ERROR, cmd
    assert h.take(Connect) == []
    h.send(b'AT+CIPSTART="TCP","' + b"a" * 64 + b'",80\r\n')  # 64 is fine
    assert len(h.take(Connect)) == 1
    h.check()


def test_v6_needs_cipv6() -> None:
    h = joined(profile=ESP_AT)  # AT+CIPV6 defaults to 0 there
    assert h.send(b'AT+CIPSTART="TCPv6","::1",8080\r\n') == ERROR
    assert h.take(Connect) == []
    assert h.send(b"AT+CIPV6=1\r\n") == OK
    out = open_link(h, b'AT+CIPSTART="TCPv6","::1",8080\r\n', remote=("::1", 8080))
    assert out == b"CONNECT\r\n" + OK


def test_needs_wifi() -> None:
    h = Harness()
    assert h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n') == (
        b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n' + ERROR
    )
    assert h.take(Connect) == []


def test_sysmsg_link_conn() -> None:
    h = joined()
    h.send(b"AT+SYSMSG=2\r\n")
    h.send(b"AT+CIPMUX=1\r\n")
    out = open_link(h, b'AT+CIPSTART=1,"TCP","127.0.0.1",8080\r\n')
    assert out == b'+LINK_CONN:0,1,"TCP",0,"127.0.0.1",8080,40000\r\n' + OK


def test_cipmux_rules() -> None:
    h = joined()
    assert h.send(b"AT+CIPMUX?\r\n") == b"+CIPMUX:0\r\n" + OK
    h.send(b"AT+CIPMODE=1\r\n")
    assert h.send(b"AT+CIPMUX=1\r\n") == ERROR
    h.send(b"AT+CIPMODE=0\r\n")
    open_link(h)
    assert h.send(b"AT+CIPMUX=1\r\n") == ERROR  # links open
    h.send(b"AT+CIPCLOSE\r\n")
    finish_close(h)
    assert h.send(b"AT+CIPMUX=1\r\n") == OK
    assert h.send(b"AT+CIPMODE=1\r\n") == ERROR  # passthrough is single-connection only
    h.engine.server = ServerState(333, "TCP", 0)  # a server runs
    assert h.send(b"AT+CIPMUX=0\r\n") == ERROR
    h.engine.server = None
    assert h.send(b"AT+CIPMUX=0\r\n") == OK
    assert h.send(b"AT+CIPMUX=2\r\n") == ERROR


def test_cipclose_single() -> None:
    h = joined()
    assert h.send(b"AT+CIPCLOSE\r\n") == ERROR
    open_link(h)
    assert h.send(b"AT+CIPCLOSE\r\n") == b""
    assert h.send(b"AT\r\n") == b"\r\nbusy p...\r\n"
    assert finish_close(h) == b"CLOSED\r\n" + OK
    assert table(h).links == {}
    assert h.send(b"AT+CIPCLOSE=0\r\n") == ERROR  # the set form is for AT+CIPMUX=1


def test_cipclose_multi_by_id_and_all() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    for i in (0, 1, 3):
        open_link(h, b'AT+CIPSTART=%d,"TCP","127.0.0.1",8080\r\n' % i)
    assert h.send(b"AT+CIPCLOSE=2\r\n") == ERROR
    assert h.send(b"AT+CIPCLOSE=6\r\n") == ERROR
    assert h.send(b"AT+CIPCLOSE\r\n") == ERROR
    h.send(b"AT+CIPCLOSE=1\r\n")
    assert finish_close(h) == b"1,CLOSED\r\n" + OK
    h.send(b"AT+CIPCLOSE=5\r\n")
    out = finish_close(h)
    assert out == b"0,CLOSED\r\n"
    assert finish_close(h) == b"3,CLOSED\r\n" + OK
    assert h.send(b"AT+CIPCLOSE=5\r\n") == OK  # nothing to close
    h.check()


def test_peer_close_prints_closed() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=2,"TCP","127.0.0.1",8080\r\n')
    table(h).on_closed(2, "reset")
    assert h.send(b"") == b"2,CLOSED\r\n"
    assert table(h).links == {}
    table(h).on_closed(2, "late")  # unknown: ignored
    assert h.send(b"") == b""


def test_peer_close_during_cipclose_prints_once() -> None:
    h = joined()
    open_link(h)
    h.send(b"AT+CIPCLOSE\r\n")
    table(h).on_closed(0, "fin")
    assert h.send(b"") == b""
    assert finish_close(h) == b"CLOSED\r\n" + OK


def test_cipstate_and_cipstatus() -> None:
    h = Harness()
    h.send(b"ATE0\r\n")
    assert h.send(b"AT+CIPSTATUS\r\n") == b"STATUS:5\r\n" + OK
    h.join()
    assert h.send(b"AT+CIPSTATUS\r\n") == b"STATUS:2\r\n" + OK
    assert h.send(b"AT+CIPSTATE?\r\n") == OK
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"UDP","127.0.0.1",8080,1002\r\n', local_port=1002)
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    rows = b'0,"TCP","127.0.0.1",8080,40000,0\r\n1,"UDP","127.0.0.1",8080,1002,0\r\n'
    assert (
        h.send(b"AT+CIPSTATE?\r\n")
        == b"".join(b"+CIPSTATE:" + r + b"\r\n" for r in rows.split(b"\r\n")[:2]) + OK
    )
    assert (
        h.send(b"AT+CIPSTATUS\r\n")
        == b"STATUS:3\r\n"
        + b"".join(b"+CIPSTATUS:" + r + b"\r\n" for r in rows.split(b"\r\n")[:2])
        + OK
    )
    h.send(b"AT+CIPCLOSE=5\r\n")
    finish_close(h)
    finish_close(h)
    assert h.send(b"AT+CIPSTATUS\r\n") == b"STATUS:4\r\n" + OK


def _status_before_and_after_joins(h: Harness, bytewise: bool) -> bytes:
    h.send(b"ATE0\r\n")
    out = h.send(b"AT+CIPSTATUS\r\n", bytewise=bytewise)  # no join started yet
    out += h.send(b"AT+CWMODE=3\r\nAT+CIPSTATUS\r\n", bytewise=bytewise)  # still none
    h.join()
    out += h.send(b"AT+CIPSTATUS\r\nAT+CWQAP\r\n", bytewise=bytewise)
    return out + h.send(b"AT+CIPSTATUS\r\n", bytewise=bytewise)  # joined, then left


@pytest.mark.parametrize(("profile", "idle"), [(W800, 5), (ESP_AT, 1)])
def test_cipstatus_before_any_join_is_dialect_data(profile: Profile, idle: int) -> None:
    """Issue 12 item 9: ESP-AT v2.4+ says 1 (station initialised, no connection started)
    where the older table (the w800 dialect's) says 5; after a join was made and left
    both say 5."""
    out = both(_status_before_and_after_joins, profile=profile)
    status = b"STATUS:%d\r\n" + OK
    assert out == (
        status % idle + OK + status % idle + status % 2 + OK + b"WIFI DISCONNECT\r\n" + status % 5
    )


def test_accepted_link_is_listed_as_server() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    assert table(h).on_accepted("TCP", "127.0.0.9", 5555, 333) == 1
    assert h.send(b"") == b"1,CONNECT\r\n"
    assert h.send(b"AT+CIPSTATE?\r\n") == (
        b'+CIPSTATE:0,"TCP","127.0.0.1",8080,40000,0\r\n'
        b'+CIPSTATE:1,"TCP","127.0.0.9",5555,333,1\r\n' + OK
    )
    table(h).server_max_conn = 1
    assert table(h).on_accepted("TCP", "127.0.0.9", 5556, 333) is None


def test_wifi_down_closes_links() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    open_link(h, b'AT+CIPSTART=4,"UDP","127.0.0.1",8080\r\n')
    out = h.send(b"AT+CWQAP\r\n")
    assert out == OK + b"WIFI DISCONNECT\r\n0,CLOSED\r\n4,CLOSED\r\n"
    assert sorted(a.link_id for a in h.take(Close) if isinstance(a, Close)) == [0, 4]
    assert table(h).links == {}


def test_reset_forgets_links_silently() -> None:
    h = joined()
    open_link(h)
    before = table(h)
    out = h.send(b"AT+RST\r\n") + h.advance(h.engine.profile.boot_time + 0.01)
    assert out == OK + b"\r\nready\r\n"
    assert table(h) is not before and table(h).links == {}
    h.check()

"""AT+CIPSERVER, AT+CIPSERVERMAXCONN, AT+CIPSTO against the engine (manual clock)."""

from __future__ import annotations

import pytest

from tests.harness import Harness, both
from w800at.core.net_actions import Close, Listen, StopListening

from .helpers import accept, mux, started, table

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def cmd(h: Harness, line: bytes, answer: bytes) -> None:
    assert h.send(line) == line + answer


# --- AT+CIPSERVER


def test_query_without_server() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


def test_needs_multi_connection_mode() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSERVER=1,80\r\n", ERROR)
    assert h.take(Listen) == []
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


def test_defaults_port_333_tcp_no_ca() -> None:
    h = Harness()
    mux(h)
    assert h.send(b"AT+CIPSERVER=1\r\n") == b"AT+CIPSERVER=1\r\n"
    (act,) = h.take(Listen)
    assert isinstance(act, Listen)
    assert (act.port, act.kind, act.ca_enable) == (333, "TCP", False)
    assert h.complete(act, 333) == OK
    cmd(h, b"AT+CIPSERVER?\r\n", b'+CIPSERVER:1,333,"TCP",0\r\n' + OK)
    assert table(h).server_running
    h.check()


def test_ssl_with_ca_query() -> None:
    h = Harness()
    mux(h)
    act = started(h, b'AT+CIPSERVER=1,443,"SSL",1\r\n', 443)
    assert (act.port, act.kind, act.ca_enable) == (443, "SSL", True)
    cmd(h, b"AT+CIPSERVER?\r\n", b'+CIPSERVER:1,443,"SSL",1\r\n' + OK)
    h.check()


def test_busy_while_listening_then_ok() -> None:
    def scenario(h: Harness, bytewise: bool) -> bytes:
        mux(h)
        out = h.send(b"AT+CIPSERVER=1,80\r\nAT\r\n", bytewise=bytewise)
        (act,) = h.take(Listen)
        return out + h.complete(act, 80)

    assert both(scenario) == b"AT+CIPSERVER=1,80\r\n\r\nbusy p...\r\n" + OK


@pytest.mark.parametrize(
    "line",
    [
        b"AT+CIPSERVER=1,0\r\n",
        b"AT+CIPSERVER=1,65536\r\n",
        b'AT+CIPSERVER=1,80,"UDP"\r\n',
        b'AT+CIPSERVER=1,80,"TCP",2\r\n',
        b"AT+CIPSERVER=2\r\n",
        b'AT+CIPSERVER=1,"80"\r\n',
        b'AT+CIPSERVER=1,80,"TCP",0,1\r\n',
        b"AT+CIPSERVER=\r\n",
    ],
)
def test_bad_parameters(line: bytes) -> None:
    h = Harness()
    mux(h)
    cmd(h, line, ERROR)
    assert h.take(Listen) == []
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


def test_err_code_under_syslog() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+SYSLOG=1\r\n", OK)
    cmd(h, b"AT+CIPSERVER=1,70000\r\n", b"ERR CODE:0x01070001\r\n" + ERROR)
    h.check()


def test_only_one_server() -> None:
    h = Harness()
    mux(h)
    started(h)
    cmd(h, b"AT+CIPSERVER=1,81\r\n", ERROR)
    assert h.take(Listen) == []
    cmd(h, b"AT+CIPSERVER?\r\n", b'+CIPSERVER:1,333,"TCP",0\r\n' + OK)
    h.check()


def test_listen_failure_is_error_and_no_server() -> None:
    h = Harness()
    mux(h)
    assert h.send(b"AT+CIPSERVER=1,80\r\n") == b"AT+CIPSERVER=1,80\r\n"
    (act,) = h.take(Listen)
    assert h.complete(act, OSError(98, "Address already in use")) == ERROR
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    assert not table(h).server_running
    cmd(h, b"AT+CIPMUX=0\r\n", OK)
    h.check()


def test_ipv6_server_needs_cipv6() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPV6=0\r\n", OK)
    cmd(h, b'AT+CIPSERVER=1,80,"TCPv6"\r\n', ERROR)
    cmd(h, b"AT+CIPV6=1\r\n", OK)
    act = started(h, b'AT+CIPSERVER=1,80,"SSLv6",0\r\n', 80)
    assert act.kind == "SSLv6"
    cmd(h, b"AT+CIPSERVER?\r\n", b'+CIPSERVER:1,80,"SSLv6",0\r\n' + OK)
    h.check()


def test_close_rules() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSERVER=0\r\n", ERROR)  # no server
    started(h)
    cmd(h, b'AT+CIPSERVER=0,0,"TCP"\r\n', ERROR)  # type must be omitted
    cmd(h, b"AT+CIPSERVER=0,1,,1\r\n", ERROR)  # CA enable must be omitted
    cmd(h, b"AT+CIPSERVER=0,2\r\n", ERROR)
    assert h.take(StopListening) == []
    cmd(h, b"AT+CIPSERVER=0\r\n", OK)
    assert len(h.take(StopListening)) == 1
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


def test_close_keeps_clients_by_default() -> None:
    h = Harness()
    mux(h)
    started(h)
    assert accept(h, 50000) == (0, b"0,CONNECT\r\n")
    assert accept(h, 50001) == (1, b"1,CONNECT\r\n")
    cmd(h, b"AT+CIPSERVER=0\r\n", OK)
    assert h.take(Close) == []
    cmd(
        h,
        b"AT+CIPSTATE?\r\n",
        b'+CIPSTATE:0,"TCP","127.0.0.1",50000,333,1\r\n'
        b'+CIPSTATE:1,"TCP","127.0.0.1",50001,333,1\r\n' + OK,
    )
    # the clients still block single-connection mode ("all connections closed")
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


def test_close_all_closes_server_links_only() -> None:
    h = Harness()
    h.join()
    mux(h)
    # a client link of our own on ID 0 first
    assert (
        h.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",7\r\n') == b'AT+CIPSTART=0,"TCP","127.0.0.1",7\r\n'
    )
    from w800at.core.net_actions import Connect, Connected

    (conn,) = h.take(Connect)
    assert h.complete(conn, Connected("127.0.0.1", 7, "127.0.0.1", 40000)) == b"0,CONNECT\r\n" + OK
    started(h)
    assert accept(h, 50000) == (1, b"1,CONNECT\r\n")
    assert accept(h, 50001) == (2, b"2,CONNECT\r\n")
    cmd(h, b"AT+CIPSERVER=0,1\r\n", b"1,CLOSED\r\n2,CLOSED\r\n" + OK)
    assert sorted(a.link_id for a in h.take(Close) if isinstance(a, Close)) == [1, 2]
    cmd(h, b"AT+CIPSTATE?\r\n", b'+CIPSTATE:0,"TCP","127.0.0.1",7,40000,0\r\n' + OK)
    h.check()


def test_cipmux0_refused_while_server_runs() -> None:
    h = Harness()
    mux(h)
    started(h)
    cmd(h, b"AT+CIPMUX=0\r\n", ERROR)
    cmd(h, b"AT+CIPSERVER=0\r\n", OK)
    cmd(h, b"AT+CIPMUX=0\r\n", OK)
    h.check()


def test_reset_forgets_server() -> None:
    h = Harness()
    mux(h)
    started(h)
    h.send(b"AT+RST\r\n")
    h.advance(1.0)
    cmd(h, b"AT+CIPSERVER?\r\n", b"+CIPSERVER:0\r\n" + OK)
    h.check()


# --- accepting and AT+CIPSERVERMAXCONN


def test_accepts_take_lowest_free_id_and_sixth_is_turned_away() -> None:
    h = Harness()
    mux(h)
    started(h)
    for i in range(5):
        assert accept(h, 50000 + i) == (i, b"%d,CONNECT\r\n" % i)
    assert accept(h, 50005) == (None, b"")
    cmd(h, b"AT+CIPCLOSE=2\r\n", b"")
    for act in h.take(Close):
        h.complete(act, None)
    assert accept(h, 50006) == (2, b"2,CONNECT\r\n")
    h.check()


def test_link_conn_under_sysmsg() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+SYSMSG=2\r\n", OK)
    started(h, b'AT+CIPSERVER=1,333,"SSL"\r\n')
    assert accept(h, 50000, "SSL") == (0, b'+LINK_CONN:0,0,"SSL",1,"127.0.0.1",50000,333\r\n')
    h.check()


def test_maxconn_query_set_and_limit() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSERVERMAXCONN?\r\n", b"+CIPSERVERMAXCONN:5\r\n" + OK)
    cmd(h, b"AT+CIPSERVERMAXCONN=0\r\n", ERROR)
    cmd(h, b"AT+CIPSERVERMAXCONN=6\r\n", ERROR)
    cmd(h, b"AT+CIPSERVERMAXCONN=2\r\n", OK)
    cmd(h, b"AT+CIPSERVERMAXCONN?\r\n", b"+CIPSERVERMAXCONN:2\r\n" + OK)
    started(h)
    cmd(h, b"AT+CIPSERVERMAXCONN=3\r\n", ERROR)  # "set it before creating the server"
    assert accept(h, 50000) == (0, b"0,CONNECT\r\n")
    assert accept(h, 50001) == (1, b"1,CONNECT\r\n")
    assert accept(h, 50002) == (None, b"")
    cmd(h, b"AT+CIPSERVERMAXCONN?\r\n", b"+CIPSERVERMAXCONN:2\r\n" + OK)
    h.check()


def test_maxconn_not_saved() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSERVERMAXCONN=1\r\n", OK)
    assert "cipservermaxconn" not in h.engine.settings.saved
    h.send(b"AT+RST\r\n")
    h.advance(1.0)
    cmd(h, b"AT+CIPSERVERMAXCONN?\r\n", b"+CIPSERVERMAXCONN:5\r\n" + OK)
    h.check()


# --- AT+CIPSTO


def test_cipsto_query_default_and_range() -> None:
    h = Harness()
    cmd(h, b"AT+CIPSTO?\r\n", b"+CIPSTO:180\r\n" + OK)
    cmd(h, b"AT+CIPSTO=7201\r\n", ERROR)
    cmd(h, b"AT+CIPSTO=-1\r\n", ERROR)
    cmd(h, b"AT+CIPSTO=7200\r\n", OK)
    cmd(h, b"AT+CIPSTO?\r\n", b"+CIPSTO:7200\r\n" + OK)
    cmd(h, b"AT+CIPSTO=0\r\n", OK)
    cmd(h, b"AT+CIPSTO?\r\n", b"+CIPSTO:0\r\n" + OK)
    h.check()


def test_idle_server_link_closes_exactly_at_deadline() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSTO=2\r\n", OK)
    started(h)
    assert accept(h) == (0, b"0,CONNECT\r\n")
    assert h.advance(1.999) == b""
    assert h.take(Close) == []
    assert h.advance(0.001) == b"0,CLOSED\r\n"
    (act,) = h.take(Close)
    assert isinstance(act, Close) and act.link_id == 0
    cmd(h, b"AT+CIPSTATE?\r\n", OK)
    h.check()


def test_default_timeout_is_180s() -> None:
    h = Harness()
    mux(h)
    started(h)
    accept(h)
    assert h.advance(179.999) == b""
    assert h.advance(0.001) == b"0,CLOSED\r\n"
    h.check()


def test_traffic_both_ways_resets_the_timer() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSTO=2\r\n", OK)
    started(h)
    accept(h)
    h.advance(1.5)
    table(h).on_data(0, b"hi", ("127.0.0.1", 50000), h.now)  # client -> module
    assert h._collect() == b"\r\n+IPD,0,2:hi\r\n"
    assert h.advance(1.999) == b""
    out = h.send(b"AT+CIPSEND=0,3\r\n") + h.send(b"abc")  # module -> client
    from w800at.core.net_actions import Send

    for act in h.take(Send):
        out += h.complete(act, 3)
    assert out == b"AT+CIPSEND=0,3\r\n\r\nOK\r\n\r\n>\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n"
    assert h.advance(1.999) == b""
    assert h.advance(0.001) == b"0,CLOSED\r\n"
    h.check()


def test_zero_never_times_out_and_change_applies_to_open_links() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSTO=0\r\n", OK)
    started(h)
    accept(h)
    assert h.advance(10000.0) == b""
    cmd(h, b"AT+CIPSTO=5\r\n", OK)  # the link has been idle 10000 s already
    assert h.advance(0.0) == b"0,CLOSED\r\n"
    h.check()


def test_client_links_never_time_out() -> None:
    h = Harness()
    h.join()
    mux(h)
    cmd(h, b"AT+CIPSTO=1\r\n", OK)
    started(h)
    from w800at.core.net_actions import Connect, Connected

    h.send(b'AT+CIPSTART=0,"TCP","127.0.0.1",7\r\n')
    (conn,) = h.take(Connect)
    h.complete(conn, Connected("127.0.0.1", 7, "127.0.0.1", 40000))
    assert accept(h) == (1, b"1,CONNECT\r\n")
    assert h.advance(1.0) == b"1,CLOSED\r\n"
    assert h.advance(100.0) == b""
    h.check()


def test_closed_link_timer_does_not_hit_a_new_link() -> None:
    h = Harness()
    mux(h)
    cmd(h, b"AT+CIPSTO=2\r\n", OK)
    started(h)
    accept(h)
    h.advance(1.0)
    table(h).on_closed(0, "closed", h.now)
    assert h._collect() == b"0,CLOSED\r\n"
    h.advance(0.5)
    assert accept(h) == (0, b"0,CONNECT\r\n")  # same ID, new link, at t+1.5
    assert h.advance(1.999) == b""
    assert h.advance(0.001) == b"0,CLOSED\r\n"
    h.check()

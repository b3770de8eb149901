"""AT+CIPTCPOPT and CIPSTART's keep_alive: per link ID, applied now and later."""

from __future__ import annotations

from tests.links.helpers import finish_close, joined, open_link
from w800at.core.net_actions import Connect, SetSockOpts, SockOpts

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def rows(*vals: tuple[int, int, int, int]) -> bytes:
    return b"".join(b"+CIPTCPOPT:%d,%d,%d,%d,%d\r\n" % (i, *v) for i, v in enumerate(vals))


DEFAULT = (-1, 0, 0, 0)


def test_query_defaults() -> None:
    h = joined()
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows(*[DEFAULT] * 5) + OK


def test_set_one_link_multi_and_apply_to_open_link() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"TCP","127.0.0.1",8080\r\n')
    assert h.send(b"AT+CIPTCPOPT=1,0,1,5000,60\r\n") == OK
    (act,) = h.take(SetSockOpts)
    assert isinstance(act, SetSockOpts) and act.link_id == 1
    assert act.opts == SockOpts(linger=0, nodelay=1, sndtimeo=5000, keepalive=60)
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows(DEFAULT, (0, 1, 5000, 60), *[DEFAULT] * 3) + OK
    # empty parameters keep the last configured value
    assert h.send(b"AT+CIPTCPOPT=1,,0\r\n") == OK
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows(DEFAULT, (0, 0, 5000, 60), *[DEFAULT] * 3) + OK


def test_set_all_and_later_links_use_it() -> None:
    h = joined()
    h.send(b"AT+CIPMUX=1\r\n")
    assert h.send(b"AT+CIPTCPOPT=5,3,1,100,10\r\n") == OK
    assert h.take(SetSockOpts) == []  # nothing open yet
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows(*[(3, 1, 100, 10)] * 5) + OK
    h.send(b'AT+CIPSTART=2,"TCP","127.0.0.1",8080\r\n')
    (c,) = h.take(Connect)
    assert isinstance(c, Connect) and c.opts == SockOpts(3, 1, 100, 10)


def test_single_mode_sets_link_0() -> None:
    h = joined()
    assert h.send(b"AT+CIPTCPOPT=,1\r\n") == OK
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows((-1, 1, 0, 0), *[DEFAULT] * 4) + OK


def test_keep_alive_shared_with_cipstart_last_wins() -> None:
    h = joined()
    open_link(h, b'AT+CIPSTART="TCP","127.0.0.1",8080,60\r\n')
    assert h.send(b"AT+CIPTCPOPT?\r\n") == rows((-1, 0, 0, 60), *[DEFAULT] * 4) + OK
    h.send(b"AT+CIPTCPOPT=,,,120\r\n")
    (act,) = h.take(SetSockOpts)
    assert isinstance(act, SetSockOpts) and act.opts.keepalive == 120
    h.send(b"AT+CIPCLOSE\r\n")
    finish_close(h)
    # not given: the last configured value
    h.send(b'AT+CIPSTART="TCP","127.0.0.1",8080\r\n')
    (c,) = h.take(Connect)
    assert isinstance(c, Connect) and c.opts.keepalive == 120


def test_ranges() -> None:
    h = joined()
    for cmd in (
        b"AT+CIPTCPOPT=-2\r\n",
        b"AT+CIPTCPOPT=,2\r\n",
        b"AT+CIPTCPOPT=,,-1\r\n",
        b"AT+CIPTCPOPT=,,,7201\r\n",
        b"AT+CIPTCPOPT=1,1,1,1,1\r\n",
    ):
        assert h.send(cmd) == ERROR, cmd
    h.send(b"AT+CIPMUX=1\r\n")
    assert h.send(b"AT+CIPTCPOPT=6,1\r\n") == ERROR
    assert h.send(b"AT+CIPTCPOPT=0,100,0,0,7200\r\n") == OK

"""+IPD frames (active mode) and passive receive (CIPRECVMODE / CIPRECVDATA / CIPRECVLEN)."""

from __future__ import annotations

from tests.harness import Harness, both
from tests.links.helpers import PEER, finish_close, joined, open_link, table
from w800at.core.net_actions import Close, SetReading
from w800at.profiles import ESP_AT

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


def multi(**kw: object) -> Harness:
    h = joined(**kw)
    h.send(b"AT+CIPMUX=1\r\n")
    return h


def data_in(h: Harness, link_id: int, data: bytes, addr: tuple[str, int] = PEER) -> bytes:
    table(h).on_data(link_id, data, addr, h.now)
    return h.send(b"")


def test_ipd_single() -> None:
    h = joined()
    open_link(h)
    assert data_in(h, 0, b"hello") == b"\r\n+IPD,5:hello\r\n"


def test_ipd_multi_and_dinfo() -> None:
    h = multi()
    open_link(h, b'AT+CIPSTART=3,"TCP","127.0.0.1",8080\r\n')
    assert data_in(h, 3, b"abc") == b"\r\n+IPD,3,3:abc\r\n"
    assert h.send(b"AT+CIPDINFO?\r\n") == b"+CIPDINFO:false\r\n" + OK
    assert h.send(b"AT+CIPDINFO=1\r\n") == OK
    assert h.send(b"AT+CIPDINFO?\r\n") == b"+CIPDINFO:true\r\n" + OK
    assert data_in(h, 3, b"abc") == b'\r\n+IPD,3,3,"127.0.0.1",8080:abc\r\n'


def test_ipd_splits_at_2920() -> None:
    h = joined()
    open_link(h)
    data = bytes(range(256)) * 23 + b"xyz"  # 5891 bytes
    out = data_in(h, 0, data)
    assert out == (
        b"\r\n+IPD,2920:"
        + data[:2920]
        + b"\r\n"
        + b"\r\n+IPD,2920:"
        + data[2920:5840]
        + b"\r\n"
        + b"\r\n+IPD,51:"
        + data[5840:]
        + b"\r\n"
    )


def test_ipd_exactly_2920_is_one_frame() -> None:
    h = joined()
    open_link(h)
    data = b"q" * 2920
    assert data_in(h, 0, data) == b"\r\n+IPD,2920:" + data + b"\r\n"


def test_udp_one_datagram_per_frame_and_sender() -> None:
    h = multi()
    h.send(b"AT+CIPDINFO=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"UDP","127.0.0.1",8080,1002,2\r\n')
    table(h).on_data(1, b"one", ("127.0.0.5", 7000), h.now)
    table(h).on_data(1, b"two", ("127.0.0.6", 7001), h.now)
    assert h.send(b"") == (
        b'\r\n+IPD,1,3,"127.0.0.5",7000:one\r\n\r\n+IPD,1,3,"127.0.0.6",7001:two\r\n'
    )
    # <mode> 2: the remote follows every datagram
    assert h.send(b"AT+CIPSTATE?\r\n") == (b'+CIPSTATE:1,"UDP","127.0.0.6",7001,40000,0\r\n' + OK)


def test_udp_mode_1_changes_remote_once() -> None:
    h = joined()
    open_link(h, b'AT+CIPSTART="UDP","127.0.0.1",8080,1002,1\r\n')
    data_in(h, 0, b"a", PEER)  # same as initial: no change, not used up
    data_in(h, 0, b"b", ("127.0.0.5", 7000))
    data_in(h, 0, b"c", ("127.0.0.6", 7001))
    assert table(h).links[0].remote == ("127.0.0.5", 7000)


def test_udp_mode_0_keeps_remote() -> None:
    h = joined()
    open_link(h, b'AT+CIPSTART="UDP","127.0.0.1",8080\r\n')
    data_in(h, 0, b"b", ("127.0.0.5", 7000))
    assert table(h).links[0].remote == PEER


# --- passive mode


def passive(**kw: object) -> Harness:
    h = multi(**kw)
    assert h.send(b"AT+CIPRECVMODE=1\r\n") == OK
    assert h.send(b"AT+CIPRECVMODE?\r\n") == b"+CIPRECVMODE:1\r\n" + OK
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    return h


def test_passive_notice_once_then_read() -> None:
    h = passive()
    assert data_in(h, 0, b"hello") == b"\r\n+IPD,0,5\r\n"
    assert data_in(h, 0, b"world") == b""  # not repeated until the host reads
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:10,,,,\r\n" + OK
    assert h.send(b"AT+CIPRECVDATA=0,4\r\n") == b"+CIPRECVDATA:4,hell" + OK
    assert data_in(h, 0, b"!") == b"\r\n+IPD,0,7\r\n"
    assert h.send(b"AT+CIPRECVDATA=0,100\r\n") == b"+CIPRECVDATA:7,oworld!" + OK
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:0,,,,\r\n" + OK
    h.check()


def test_passive_single_notice_and_dinfo_read() -> None:
    h = joined()
    h.send(b"AT+CIPRECVMODE=1\r\n")
    h.send(b"AT+CIPDINFO=1\r\n")
    open_link(h)
    assert data_in(h, 0, b"abc") == b"\r\n+IPD,3\r\n"
    assert h.send(b"AT+CIPRECVDATA=10\r\n") == b'+CIPRECVDATA:3,"127.0.0.1",8080,abc' + OK


def test_recvdata_errors() -> None:
    h = passive()
    assert h.send(b"AT+CIPRECVDATA=1,10\r\n") == ERROR  # link 1 not open
    assert h.send(b"AT+CIPRECVDATA=0,0\r\n") == ERROR
    assert h.send(b"AT+CIPRECVDATA=0\r\n") == ERROR
    assert h.send(b"AT+CIPRECVDATA=0,10\r\n") == b"+CIPRECVDATA:0," + OK


def test_recvlen_unused_esp_at() -> None:
    h = passive(profile=ESP_AT)
    data_in(h, 0, b"xy")
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:2,-1,-1,-1,-1\r\n" + OK


def test_passive_tcp_window_pauses_and_resumes() -> None:
    h = passive()
    w = h.engine.profile.passive_window
    data_in(h, 0, b"a" * (w - 1))
    assert h.take(SetReading) == []
    data_in(h, 0, b"bb")
    (p,) = h.take(SetReading)
    assert isinstance(p, SetReading) and p.paused and p.link_id == 0
    data_in(h, 0, b"c" * 100)  # the runtime's last chunk: kept, not dropped
    assert table(h).links[0].buffered == w + 101
    # the 101 bytes behind the window enter it as the host reads: a new notice each time
    out = h.send(b"AT+CIPRECVDATA=0,100\r\n")
    assert out == b"+CIPRECVDATA:100," + b"a" * 100 + OK + b"\r\n+IPD,0,%d\r\n" % w
    assert h.take(SetReading) == []  # still at/above the window
    out = h.send(b"AT+CIPRECVDATA=0,1000\r\n")
    assert out == b"+CIPRECVDATA:1000," + b"a" * 1000 + OK + b"\r\n+IPD,0,%d\r\n" % (w - 999)
    (r,) = h.take(SetReading)
    assert isinstance(r, SetReading) and not r.paused


def test_passive_udp_drops_what_does_not_fit() -> None:
    h = multi()
    h.send(b"AT+CIPRECVMODE=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"UDP","127.0.0.1",8080\r\n')
    w = h.engine.profile.passive_window
    data_in(h, 1, b"a" * (w - 10))
    data_in(h, 1, b"b" * 11)  # does not fit: dropped
    data_in(h, 1, b"c" * 10)  # fits exactly
    assert table(h).links[1].buffered == w
    assert table(h).udp_dropped == 1 and table(h).links[1].dropped == 1
    assert h.take(SetReading) == []


def test_passive_udp_read_keeps_senders_apart() -> None:
    h = multi()
    h.send(b"AT+CIPRECVMODE=1\r\n")
    h.send(b"AT+CIPDINFO=1\r\n")
    open_link(h, b'AT+CIPSTART=1,"UDP","127.0.0.1",8080\r\n')
    data_in(h, 1, b"one", ("127.0.0.5", 7000))
    data_in(h, 1, b"two", ("127.0.0.6", 7001))
    assert h.send(b"AT+CIPRECVDATA=1,100\r\n") == b'+CIPRECVDATA:3,"127.0.0.5",7000,one' + OK
    assert h.send(b"AT+CIPRECVDATA=1,100\r\n") == b'+CIPRECVDATA:3,"127.0.0.6",7001,two' + OK


def test_passive_closed_held_until_read() -> None:
    h = passive()
    data_in(h, 0, b"abcdef")
    table(h).on_closed(0, "fin")
    assert h.send(b"") == b""
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:6,,,,\r\n" + OK
    assert h.send(b"AT+CIPRECVDATA=0,4\r\n") == b"+CIPRECVDATA:4,abcd" + OK
    assert h.send(b"AT+CIPRECVDATA=0,4\r\n") == b"+CIPRECVDATA:2,ef" + OK + b"0,CLOSED\r\n"
    assert table(h).links == {}


def _held_scenario(h: Harness, bytewise: bool) -> bytes:
    """Issue 12 item 1: a link the peer closed while passive data is unread stays
    listed (and ``STATUS:3``) until the host reads the data, then ``CLOSED``."""
    h.join()
    h.send(b"ATE0\r\nAT+CIPMUX=1\r\nAT+CIPRECVMODE=1\r\n")
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    out = data_in(h, 0, b"12345")
    table(h).on_closed(0, "fin")
    out += h.send(b"")
    for line in (b"AT+CIPSTATUS\r\n", b"AT+CIPSTATE?\r\n", b"AT+CIPRECVDATA=0,5\r\n"):
        out += h.send(line, bytewise=bytewise)
    return out + h.send(b"AT+CIPSTATUS\r\nAT+CIPSTATE?\r\n", bytewise=bytewise)


def test_passive_held_link_stays_listed_until_read() -> None:
    row = b'0,"TCP","127.0.0.1",8080,40000,0\r\n'
    out = both(_held_scenario)
    assert out == (
        b"\r\n+IPD,0,5\r\n"  # the notice; CLOSED is held back
        + b"STATUS:3\r\n+CIPSTATUS:"
        + row
        + OK
        + b"+CIPSTATE:"
        + row
        + OK
        + b"+CIPRECVDATA:5,12345"
        + OK
        + b"0,CLOSED\r\n"
        + b"STATUS:4\r\n"
        + OK
        + OK
    )


def test_passive_held_link_closed_by_host() -> None:
    h = passive()
    data_in(h, 0, b"abc")
    table(h).on_closed(0, "fin")
    assert h.send(b"AT+CIPCLOSE=0\r\n") == b"0,CLOSED\r\n" + OK
    assert h.take(Close) == []  # the socket is already gone


def test_passive_close_with_empty_buffer_is_immediate() -> None:
    h = passive()
    table(h).on_closed(0, "fin")
    assert h.send(b"") == b"0,CLOSED\r\n"


def test_passive_back_to_active_flushes() -> None:
    h = passive()
    data_in(h, 0, b"abc")
    assert h.send(b"AT+CIPRECVMODE=0\r\n") == b"\r\n+IPD,0,3:abc\r\n" + OK


def test_active_close_then_ipd_order() -> None:
    h = joined()
    open_link(h)
    data_in(h, 0, b"x")
    table(h).on_closed(0, "fin")
    assert h.send(b"") == b"CLOSED\r\n"
    h.send(b"AT+CIPSTATE?\r\n")
    open_link(h)
    h.send(b"AT+CIPCLOSE\r\n")
    assert finish_close(h) == b"CLOSED\r\n" + OK


def reading(h: Harness) -> list[tuple[int, bool]]:
    return [(a.link_id, a.paused) for a in h.take(SetReading) if isinstance(a, SetReading)]


def test_passive_window_caps_what_the_host_sees_and_loses_nothing() -> None:
    """A read larger than the 5760-byte window (the runtime reads big chunks before
    SetReading takes effect): the excess waits behind the window, enters it as the host
    reads, and is announced by a new notice after the read's OK."""
    h = multi()
    h.send(b"AT+CIPRECVMODE=1\r\n")
    open_link(h, b'AT+CIPSTART=0,"TCP","127.0.0.1",8080\r\n')
    h.take()
    data = bytes(range(256)) * 40  # 10240 bytes
    assert data_in(h, 0, data) == b"\r\n+IPD,0,5760\r\n"
    assert [(a.link_id, a.paused) for a in h.take(SetReading)] == [(0, True)]  # type: ignore[attr-defined]
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:5760,,,,\r\n" + OK
    out = h.send(b"AT+CIPRECVDATA=0,8000\r\n")
    assert out == (b"+CIPRECVDATA:5760," + data[:5760] + OK + b"\r\n+IPD,0,4480\r\n")
    assert [(a.link_id, a.paused) for a in h.take(SetReading)] == [(0, False)]  # type: ignore[attr-defined]
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:4480,,,,\r\n" + OK
    out = h.send(b"AT+CIPRECVDATA=0,8000\r\n")
    assert out == b"+CIPRECVDATA:4480," + data[5760:] + OK
    assert h.send(b"AT+CIPRECVLEN?\r\n") == b"+CIPRECVLEN:0,,,,\r\n" + OK
    h.check()

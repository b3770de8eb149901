"""Link faults with a manual clock: what leaves each side of a link, and exactly when.

The toxics are pure (`Chain.feed`); `LinkFaults` runs them on a scheduler, here a
`ManualLoop`, for a fake link that records what reached the peer (`_put_up`) and the
module (`_put_down`) and how it ended.
"""

from __future__ import annotations

import random
from typing import Any

from tests.control.helpers import ManualLoop
from w800at.runtime.link_faults import Chain, FaultBook, LinkFault, LinkFaults, make_toxic


def chain(*faults: LinkFault, seed: int = 1) -> Chain:
    c = Chain()
    rng = random.Random(seed)
    c.toxics = [make_toxic(f, rng, datagrams=False) for f in faults]
    return c


def test_latency_delays_each_chunk_and_keeps_order() -> None:
    c = chain(LinkFault(1, "latency", latency=200))
    assert c.feed(10.0, b"ab", None) == ([(10.2, b"ab", None)], None)
    assert c.feed(10.05, b"cd", None) == ([(10.25, b"cd", None)], None)


def test_jitter_is_seeded_and_never_reorders() -> None:
    f = LinkFault(1, "latency", latency=100, jitter=90)
    a = [chain(f, seed=7).feed(float(t) / 1000, b"x", None)[0][0][0] for t in range(0, 50, 5)]
    b = [chain(f, seed=7).feed(float(t) / 1000, b"x", None)[0][0][0] for t in range(0, 50, 5)]
    assert a == b  # the same seed, the same delays
    c = chain(f, seed=7)
    times = [c.feed(t / 1000, b"x", None)[0][0][0] for t in range(0, 50, 5)]
    assert times == sorted(times)
    assert all(0.009 <= t - s / 1000 <= 0.191 for t, s in zip(times, range(0, 50, 5), strict=True))


def test_bandwidth_spreads_bytes_at_the_rate_in_10ms_slices() -> None:
    c = chain(LinkFault(1, "bandwidth", rate=10))  # 10 KB/s: 100 bytes per 10 ms
    items, end = c.feed(0.0, bytes(250), None)
    assert end is None
    assert [(round(t, 6), len(d)) for t, d, _ in items] == [(0.01, 100), (0.02, 100), (0.025, 50)]
    # a chunk that comes while the line is busy waits for it
    items, _ = c.feed(0.001, bytes(100), None)
    assert [(round(t, 6), len(d)) for t, d, _ in items] == [(0.035, 100)]


def test_slicer_cuts_into_segments_each_after_the_delay() -> None:
    c = chain(LinkFault(1, "slicer", average_size=4, size_variation=0, delay=500))
    items, _ = c.feed(1.0, b"0123456789", None)
    assert [(round(t, 6), d) for t, d, _ in items] == [
        (1.0005, b"0123"),
        (1.001, b"4567"),
        (1.0015, b"89"),
    ]
    v = chain(LinkFault(1, "slicer", average_size=10, size_variation=5, delay=0))
    items, _ = v.feed(0.0, bytes(1000), None)
    sizes = [len(d) for _, d, _ in items]
    assert sum(sizes) == 1000 and all(5 <= s <= 15 for s in sizes[:-1])


def test_timeout_drops_everything() -> None:
    c = chain(LinkFault(1, "timeout"))
    assert c.feed(0.0, b"lost", None) == ([], None)


def test_reset_peer_after_n_bytes_passes_exactly_n_then_ends() -> None:
    c = chain(LinkFault(1, "reset_peer", after=100))
    items, end = c.feed(5.0, bytes(60), None)
    assert (len(items[0][1]), end) == (60, None)
    items, end = c.feed(6.0, bytes(range(50)), None)
    assert items == [(6.0, bytes(range(40)), None)]
    assert end == (6.0, "reset")


def test_limit_data_then_fin_after_latency() -> None:
    c = chain(LinkFault(1, "latency", latency=100), LinkFault(2, "limit_data", bytes=3))
    items, end = c.feed(0.0, b"abcdef", None)
    assert items == [(0.1, b"abc", None)]
    assert end == (0.1, "close")


class FakeLink:
    """What `LinkFaults` needs of a link: the two exits and the two ends."""

    def __init__(self, link_id: int = 0) -> None:
        self.link_id = link_id
        self.faults: Any = None
        self.loop: ManualLoop | None = None
        self.up: list[tuple[float, bytes]] = []
        self.down: list[tuple[float, bytes]] = []
        self.ended: list[tuple[float, str]] = []
        self.held: list[bool] = []
        self.remote = None
        self.peer = ("127.0.0.1", 80)
        self.asked = ("127.0.0.1", 80)

    def _put_up(self, data: bytes, meta: Any) -> None:
        assert self.loop is not None
        self.up.append((self.loop.time(), data))

    def _put_down(self, data: bytes, meta: Any) -> None:
        assert self.loop is not None
        self.down.append((self.loop.time(), data))

    def fault_reset(self) -> None:
        assert self.loop is not None
        self.ended.append((self.loop.time(), "reset"))

    def fault_close(self) -> None:
        assert self.loop is not None
        self.ended.append((self.loop.time(), "close"))

    def fault_hold(self, on: bool) -> None:
        self.held.append(on)

    def _write(self, data: bytes) -> None:
        """The seam, as `StreamLink._write` has it."""
        if self.faults is not None:
            self.faults.send_up(data, None)
            return
        self._put_up(data, None)


def setup(*faults: LinkFault) -> tuple[ManualLoop, FakeLink, FaultBook, list[str]]:
    loop = ManualLoop()
    link = FakeLink()
    link.loop = loop
    notes: list[str] = []
    book = FaultBook(lambda: {0: link}, random.Random(1), lambda t, f: notes.append(t), loop)  # type: ignore[arg-type]
    for f in faults:
        book.install(f)
    return loop, link, book, notes


def test_a_link_with_latency_delivers_each_chunk_at_its_time() -> None:
    loop, link, _book, notes = setup(LinkFault(1, "latency", stream="upstream", link=0, latency=50))
    assert isinstance(link.faults, LinkFaults)
    link._write(b"one")
    loop.advance(0.01)
    link._write(b"two")
    loop.advance(0.039)
    assert link.up == []
    loop.advance(0.001)
    assert link.up == [(100.05, b"one")]
    loop.advance(0.01)
    assert link.up == [(100.05, b"one"), (100.06, b"two")]
    assert notes == ["fault link 0 latency 50 ms (upstream) on (fault 1)"]


def test_removing_a_fault_lets_queued_bytes_finish_then_the_seam_is_plain() -> None:
    loop, link, book, _ = setup(LinkFault(1, "latency", stream="upstream", link=0, latency=50))
    link._write(b"queued")
    book.remove(1)
    assert link.faults is not None  # still carrying the queued chunk
    link._write(b"after")  # behind it, not before it
    loop.advance(0.05)
    assert [d for _, d in link.up] == [b"queued", b"after"]
    assert link.faults is None


def test_reset_peer_timeout_and_close_timeout_fire_on_the_clock() -> None:
    loop, link, _book, notes = setup(LinkFault(1, "reset_peer", link=0, timeout=250))
    loop.advance(0.249)
    assert link.ended == []
    loop.advance(0.001)
    assert link.ended == [(100.25, "reset")]
    assert (
        notes[-1]
        == "fault link 0 reset_peer RST after 250 ms (downstream): RST sent, link ends (fault 1)"
    )
    loop, link, _book, _ = setup(LinkFault(1, "close", link=0))
    assert link.ended == []  # timers run on the loop
    loop.advance(0)
    assert link.ended == [(100.0, "close")]


def test_timeout_with_a_close_drops_data_then_closes() -> None:
    loop, link, _book, _ = setup(LinkFault(1, "timeout", stream="upstream", link=0, timeout=100))
    link._write(b"gone")
    loop.advance(0.1)
    assert link.up == []
    assert link.ended == [(100.1, "close")]
    link._write(b"after the end")
    loop.advance(1)
    assert link.up == []


def test_reset_after_bytes_delivers_what_passed_before_the_rst() -> None:
    loop, link, _book, _ = setup(
        LinkFault(1, "latency", stream="upstream", link=0, latency=10),
        LinkFault(2, "reset_peer", stream="upstream", link=0, after=5),
    )
    link._write(b"0123456789")
    loop.advance(0.009)
    assert (link.up, link.ended) == ([], [])
    loop.advance(0.001)
    assert link.up == [(100.01, b"01234")]
    assert link.ended == [(100.01, "reset")]


def test_a_slow_fault_holds_sends_like_a_full_stack() -> None:
    loop, link, _book, _ = setup(LinkFault(1, "bandwidth", stream="upstream", link=0, rate=1))
    link._write(bytes(12000))  # more than the stack's 11520 bytes
    assert link.held == [True]
    loop.advance(6.0)  # 1 KB/s: 6000 bytes are out, 6000 wait: more than half the mark
    assert link.held == [True]
    loop.advance(0.5)  # 5500 wait: below half the mark, sends may come again
    assert link.held == [True, False]


def test_downstream_faults_act_on_what_reaches_the_module() -> None:
    _loop, link, _book, _ = setup(LinkFault(1, "limit_data", link=0, bytes=4))
    assert isinstance(link.faults, LinkFaults)
    link.faults.recv_down(b"abcdef", ("127.0.0.1", 80))
    assert link.down == [(100.0, b"abcd")]
    assert link.ended == [(100.0, "close")]


def test_toxicity_is_rolled_once_per_link_with_the_seed() -> None:
    rolls = []
    for _ in range(2):
        _loop, link, book, _notes = setup()
        book.rng.seed(42)
        outcome = []
        for i in range(8):
            link.faults = None
            f = LinkFault(i + 1, "latency", link=0, latency=1, toxicity=0.5)
            book.install(f)
            outcome.append(link.faults is not None)
            book.remove(f.id)
        rolls.append(outcome)
    assert rolls[0] == rolls[1]
    assert True in rolls[0] and False in rolls[0]


def test_an_ssl_chunks_wire_bytes_are_shared_out_among_its_pieces() -> None:
    """On an SSL link the toxics cut the plaintext; each piece gets its share of the
    chunk's TLS bytes (by length, the last piece the rest), so the pieces that pass
    add up to the record; bytes a toxic drops take their share with them."""
    from w800at.runtime.link_faults import _Wire

    addr = ("127.0.0.1", 443)
    w = _Wire(addr, 100, 139)
    shares = [w.take(10) for _ in range(10)]
    assert sum(shares) == 139 and all(13 <= s <= 14 for s in shares)
    odd = _Wire(addr, 10, 33)
    assert [odd.take(n) for n in (3, 3, 4)] == [9, 10, 14]  # of what is left
    cut = _Wire(addr, 100, 139)
    assert cut.take(40) == 55  # limit_data let 40 of 100 bytes through: 40 % of the wire

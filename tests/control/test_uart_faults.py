"""Host-port (UART) faults: with a manual clock on the port wrapper (exact bytes and
times), then on a real module over a real TCP port (what the host reads)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from tests.control.helpers import OK, BenchModule, ManualLoop
from w800at.control.port import ControlChannel, UartFault
from w800at.core import render
from w800at.profiles import W800

pytestmark = pytest.mark.timeout(60)


class FakeInner:
    """The wrapped channel: records what reached the host, and when."""

    description = "fake"

    def __init__(self, loop: ManualLoop) -> None:
        self.loop = loop
        self.written: list[tuple[float, bytes]] = []

    async def start(self, events: Any) -> None:
        self.events = events

    def write(self, data: bytes) -> None:
        self.written.append((self.loop.time(), data))

    def pending(self) -> int:
        return 0

    def set_baud(self, baud: int) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def close(self) -> None:
        pass


class FakeRuntime:
    """The events the wrapper passes on: what reached the module, and when."""

    def __init__(self, loop: ManualLoop) -> None:
        self.loop = loop
        self.got: list[tuple[float, bytes]] = []
        self.resets = 0

    def attached(self) -> None:
        pass

    def detached(self) -> None:
        pass

    def data(self, data: bytes) -> None:
        self.got.append((self.loop.time(), data))

    def reset(self) -> None:
        self.resets += 1


def port(
    seed: int = 3, rx: int = 8
) -> tuple[ManualLoop, FakeInner, FakeRuntime, ControlChannel, list[str]]:
    loop = ManualLoop()
    inner = FakeInner(loop)
    rt = FakeRuntime(loop)
    notes: list[str] = []
    ch = ControlChannel(
        inner,  # type: ignore[arg-type]
        rx_buffer=rx,
        rng=random.Random(seed),
        report=lambda text, fields: notes.append(text),
        scheduler=loop,
    )
    asyncio.run(ch.start(rt))
    return loop, inner, rt, ch, notes


def host_sends(ch: ControlChannel, data: bytes) -> None:
    assert ch.events is not None
    ch.events.data(data)


def test_no_fault_passes_bytes_at_once() -> None:
    _loop, inner, rt, ch, _ = port()
    assert not ch.faulty_in and not ch.faulty_out
    ch.write(b"ready")
    host_sends(ch, b"AT\r\n")
    assert inner.written == [(100.0, b"ready")]
    assert rt.got == [(100.0, b"AT\r\n")]


def test_delay_holds_every_answer_by_t_in_order() -> None:
    loop, inner, _rt, ch, _ = port()
    ch.add(UartFault(1, "delay", seconds=0.5))
    ch.write(b"\r\nOK\r\n")
    loop.advance(0.1)
    ch.write(b"WIFI DISCONNECT\r\n")
    assert ch.pending() == 23
    loop.advance(0.399)
    assert inner.written == []
    loop.advance(0.001)
    assert inner.written == [(100.5, b"\r\nOK\r\n")]
    loop.advance(0.1)
    assert inner.written[1] == (100.6, b"WIFI DISCONNECT\r\n")
    ch.remove(1)
    ch.write(b"now")
    assert inner.written[-1] == (100.6, b"now")
    assert not ch.faulty_out


def test_hang_holds_output_and_input_then_resumes_and_loses_beyond_the_buffer() -> None:
    loop, inner, rt, ch, notes = port(rx=8)
    ch.add(UartFault(1, "hang", seconds=2.0))
    ch.write(b"\r\nOK\r\n")
    host_sends(ch, b"AT\r\n")
    host_sends(ch, b"AT+GMR\r\n")  # 4 + 8 bytes: 4 lost past the 8-byte buffer
    loop.advance(1.999)
    assert (inner.written, rt.got) == ([], [])
    loop.advance(0.001)
    assert inner.written == [(102.0, b"\r\nOK\r\n")]
    assert rt.got == [(102.0, b"AT\r\nAT+G")]
    assert "fault uart hang: receive buffer full, 4 host bytes lost" in notes
    assert ch.lost_in == 4
    assert not ch.faulty_in and not ch.faulty_out


def test_dead_until_power_goes_away() -> None:
    loop, inner, rt, ch, _ = port()
    ch.add(UartFault(1, "dead"))
    ch.write(b"anything")
    host_sends(ch, b"AT\r\n")
    loop.advance(10)
    assert (inner.written, rt.got) == ([], [])
    assert ch.dropped_out == 8 and ch.lost_in == 4
    ch.power_lost()
    ch.write(b"\r\nready\r\n")
    assert inner.written == [(110.0, b"\r\nready\r\n")]


def _one_bit(a: int, b: int) -> bool:
    return bin(a ^ b).count("1") == 1


@pytest.mark.parametrize("kind", ["drop", "duplicate", "corrupt"])
def test_rate_faults_change_bytes_as_said_and_repeat_with_the_seed(kind: str) -> None:
    line = b"AT+GMR\r\n" * 4
    outs = []
    for _ in range(2):
        _loop, inner, rt, ch, notes = port(seed=3)
        ch.add(UartFault(1, kind, stream="downstream", rate=0.3))
        ch.write(line)
        ((_, out),) = inner.written
        outs.append(out)
        hits = ch.faults[1].hits
        assert 0 < hits < len(line)
        assert notes[-1].startswith(f"fault uart {kind}: {hits} of {len(line)} bytes (downstream")
        # the host's direction is untouched: it is not the fault's stream
        host_sends(ch, line)
        assert rt.got == [(100.0, line)]
    assert outs[0] == outs[1]  # the same seed, the same damage
    out = outs[0]
    if kind == "drop":
        assert len(out) == len(line) - hits
        it = iter(line)
        assert all(c in it for c in out)  # what is left is in order
    elif kind == "duplicate":
        assert len(out) == len(line) + hits
        j = dups = 0  # the line has no byte twice in a row: a doubled one is plain to see
        for c in line:
            assert out[j] == c
            j += 1
            if j < len(out) and out[j] == c:
                j += 1
                dups += 1
        assert (j, dups) == (len(out), hits)
    else:
        assert len(out) == len(line)
        changed = [(a, b) for a, b in zip(line, out, strict=True) if a != b]
        assert len(changed) == hits and all(_one_bit(a, b) for a, b in changed)


def test_rate_one_drops_every_byte_upstream() -> None:
    _loop, inner, rt, ch, _ = port()
    ch.add(UartFault(1, "drop", stream="upstream", rate=1.0))
    host_sends(ch, b"AT\r\n")
    assert rt.got == []
    ch.write(b"out")
    assert inner.written == [(100.0, b"out")]


def test_a_fault_with_a_duration_removes_itself() -> None:
    loop, _inner, rt, ch, _ = port()
    ch.add(UartFault(1, "drop", stream="both", rate=1.0, expires=101.0))
    host_sends(ch, b"x")
    loop.advance(1.0)
    host_sends(ch, b"y")
    assert rt.got == [(101.0, b"y")]
    assert ch.faults == {}


# --------------------------------------------------------------------------- live


def test_busy_answers_the_next_lines_and_the_module_keeps_serving(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.control.uart_busy(count=2)
            b.send(b"AT\r\nAT+GMR\r\nATE0\r\n")
            await b.expect(b"\r\nbusy p...\r\n\r\nbusy p...\r\nATE0\r\n" + OK)
            await b.cmd(b"AT", OK)  # echo is off now

    asyncio.run(main())


def test_inject_a_urc_and_garbage_to_the_host(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.join()
            await b.control.uart_inject(urc="WIFI DISCONNECT")
            await b.expect(b"WIFI DISCONNECT\r\n")
            # a lie on the wire: the module is still joined
            await b.cmd(b"AT+CWSTATE?", b'+CWSTATE:2,"lab"\r\n' + OK)
            await b.control.seed(5)
            r = await b.control.uart_inject(garbage=16)
            assert r == {"bytes": 16, "stream": "downstream"}
            first = await b.read(16)
            await b.control.seed(5)
            await b.control.uart_inject(garbage=16)
            assert await b.read(16) == first  # the seed makes it repeatable
            await b.control.uart_inject(data="AT\\r\\n", stream="upstream")
            await b.expect(b"AT\r\n" + OK)  # as if the host had sent it

    asyncio.run(main())


def test_delay_and_hang_on_a_real_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            loop = asyncio.get_running_loop()
            await b.control.uart_fault("delay", seconds=0.3)
            t0 = loop.time()
            await b.cmd(b"AT", OK)
            assert 0.29 <= b.arrivals[-1][0] - t0 < 0.6
            await b.control.uart_clear()
            await b.control.uart_fault("hang", seconds=0.4)
            t1 = loop.time()
            b.send(b"AT\r\n")
            await b.expect(b"AT\r\n" + OK, timeout=2)
            assert 0.39 <= b.arrivals[-1][0] - t1 < 0.8
            st = await b.control.status()
            assert st["uart"]["hung"] is False

    asyncio.run(main())


def test_dead_port_until_power_cycle(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            await b.control.uart_fault("dead")
            b.send(b"AT\r\n")
            await b.quiet(0.3)
            await b.control.power_cycle(off=0.1)
            await b.expect(b"\r\nready\r\n", timeout=2)
            await b.cmd(b"AT", OK)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kind", "stream"),
    [("corrupt", "downstream"), ("drop", "downstream"), ("duplicate", "downstream"),
     ("drop", "upstream")],
)  # fmt: skip
def test_rate_faults_on_a_real_port_repeat_with_a_seed(
    tmp_path: Path, kind: str, stream: str
) -> None:
    clean = b"AT+GMR\r\n" + render.lines(W800.gmr) + OK

    async def once(sub: str) -> bytes:
        (tmp_path / sub).mkdir()
        async with BenchModule(tmp_path / sub) as b:
            await b.control.seed(11)
            await b.control.uart_fault(kind, rate=0.2, stream=stream)
            for _ in range(4):
                b.send(b"AT+GMR\r\n")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            return bytes(b.buf)

    a = asyncio.run(once("a"))
    b = asyncio.run(once("b"))
    assert a == b  # the seed makes it repeatable
    if stream == "upstream":  # damaged lines: the module answers ERROR, or nothing
        assert a.count(b"\r\nOK\r\n") < 4
    elif kind == "corrupt":
        assert len(a) == len(clean) * 4 and a != clean * 4
    elif kind == "drop":
        assert 0 < len(a) < len(clean) * 4
    else:
        assert len(a) > len(clean) * 4


def test_uart_reset_reboots_the_module_and_drops_its_links(tmp_path: Path) -> None:
    async def main() -> None:
        from tests.control.helpers import Peer

        async with Peer() as peer, BenchModule(tmp_path) as b:
            await b.join()
            await b.open_tcp(0, peer.port)
            await b.control.uart_fault("reset")
            await b.expect(b"\r\nready\r\n", timeout=2)
            await peer.ended()  # the module's links vanish
            await b.cmd(b"AT+CIPSTATUS", b"STATUS:5\r\n" + OK)

    asyncio.run(main())

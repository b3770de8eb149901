"""`w800at.Module`: the one assembly of engine, runtime and channel.

The in-memory port pair, the thread-backed sync facade over a real TCP port with
pyserial, log records that name their module, saves that never stall another
module, and the per-link seam (byte counters, the trace's link lines).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from tests.harness import LAB_ADDRESSES
from tests.servers.tcp_servers import TcpEchoServer
from w800at import MemoryChannel, Module, ModuleOptions, Store
from w800at.channels.tcp import TcpChannel

OK = b"\r\nOK\r\n"
#: a join's answer: OK once IPv4 is up, then the IPv6 URCs
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n" + OK + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
OPTS = ModuleOptions(addresses=LAB_ADDRESSES, system_dns=())


def test_memory_pair_whole_and_one_byte_at_a_time() -> None:
    async def main() -> None:
        for bytewise in (False, True):
            chan = MemoryChannel()
            async with Module(chan, options=OPTS, profile="esp-at") as module:
                host = chan.host
                await host.expect(b"\r\nready\r\n")
                line = b"AT+CWHOSTNAME?\r\n"
                if bytewise:
                    for i in range(len(line)):
                        host.write(line[i : i + 1])
                else:
                    host.write(line)
                await host.expect(line + b"+CWHOSTNAME:espressif\r\n" + OK)
                assert host.read_nowait() == b""
                assert module.engine.bugs == []

    asyncio.run(main())


def test_memory_host_is_held_while_the_module_pauses_reading() -> None:
    async def main() -> None:
        chan = MemoryChannel()
        async with Module(chan, options=OPTS) as module:
            await chan.host.expect(b"\r\nready\r\n")
            module.runtime.hold_host("test")
            chan.host.write(b"AT\r\n")
            await asyncio.sleep(0.05)
            assert chan.host.read_nowait() == b""  # not taken while paused
            module.runtime.release_host("test")
            await chan.host.expect(b"AT\r\n" + OK)

    asyncio.run(main())


def test_a_module_that_is_not_attached_stays_off() -> None:
    async def main() -> None:
        chan = MemoryChannel(attached=False)
        async with Module(chan, options=OPTS) as module:
            await asyncio.sleep(0.4)
            assert chan.host.read_nowait() == b""
            assert module.engine.mode.value == "off"
            chan.host.attach()
            await chan.host.expect(b"\r\nready\r\n")

    asyncio.run(main())


def test_running_facade_over_a_real_tcp_port_with_pyserial() -> None:
    module = Module(TcpChannel("127.0.0.1", 0), options=OPTS, name="dut")
    with module.running() as m:
        port = m.module.channel.port  # type: ignore[attr-defined]
        ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=5)
        try:
            assert ser.read(9) == b"\r\nready\r\n"
            ser.write(b"AT\r\n")
            assert ser.read(10) == b"AT\r\n" + OK
            assert m.call(lambda: m.module.engine.echo) is True
            assert threading.current_thread() is not m._thread
        finally:
            ser.close()
    assert not module.started
    with pytest.raises(serial.SerialException, match="Connection refused"):
        serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=1)


def test_log_records_carry_the_module_name(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        a, b = MemoryChannel(), MemoryChannel()
        async with Module(a, options=OPTS, name="alpha"), Module(b, options=OPTS, name="beta"):
            await a.host.expect(b"\r\nready\r\n")
            await b.host.expect(b"\r\nready\r\n")
            a.host.write(b"AT+NOPE\r\n")  # logged by the engine: "ERROR UNSUPPORTED: ..."
            b.host.write(b"AT+NOPE=1\r\n")
            await a.host.read_until(b"ERROR\r\n")
            await b.host.read_until(b"ERROR\r\n")

    with caplog.at_level(logging.INFO, logger="w800at"):
        asyncio.run(main())
    errors = [
        (r.module_name, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "w800at.engine" and r.getMessage().startswith("ERROR")
    ]
    assert errors == [
        ("alpha", "ERROR UNSUPPORTED: unknown command AT+NOPE"),
        ("beta", "ERROR UNSUPPORTED: unknown command AT+NOPE"),
    ]
    attached = sorted(
        r.module_name  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "host attached"
    )
    assert attached == ["alpha", "beta"]


class SlowStore(Store):
    """A store whose writes block until the test lets them go (a slow disk)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.go = threading.Event()
        self.saves: list[dict[str, Any]] = []

    def save(self, snapshot: dict[str, Any]) -> None:
        assert self.go.wait(10), "the test never released the save"
        self.saves.append(snapshot)
        super().save(snapshot)


def test_a_slow_save_stalls_no_module(tmp_path: Path) -> None:
    async def main() -> None:
        slow = SlowStore(tmp_path / "slow")
        a, b = MemoryChannel(), MemoryChannel()
        async with Module(a, options=OPTS, store=slow), Module(b, options=OPTS):
            await a.host.expect(b"\r\nready\r\n")
            await b.host.expect(b"\r\nready\r\n")
            # an always-saved setting: the save starts and blocks on the "disk"
            a.host.write(b"AT+CWAUTOCONN=0\r\n")
            await a.host.expect(b"AT+CWAUTOCONN=0\r\n" + OK)
            await asyncio.sleep(0.05)  # the writer thread is now stuck in save()
            # two more saves while one is being written: the newer supersedes the older
            for baud in (9600, 19200):
                a.host.write(b"AT+UART_DEF=%d,8,1,0,0\r\n" % baud)
                await a.host.expect(b"AT+UART_DEF=%d,8,1,0,0\r\n" % baud + OK)
            # both modules go on answering while the disk is stuck
            t0 = time.monotonic()
            for host in (a.host, b.host, a.host):
                host.write(b"AT\r\n")
                await host.expect(b"AT\r\n" + OK, timeout=1)
            assert time.monotonic() - t0 < 1.0
            assert slow.saves == []
            slow.go.set()
        # stop() waited for the writes: the last snapshot is on disk
        assert slow.saves == [
            {"cwautoconn": 0},
            {"cwautoconn": 0, "uart_def": [19200, 8, 1, 0, 0]},
        ]
        assert Store(tmp_path / "slow").load() == slow.saves[1]

    asyncio.run(main())


TRACE_LINE = re.compile(r"^\S+ \+\d+\.\d{6} (\S+) (.*)$")


def test_link_seam_counts_bytes_and_traces_them(tmp_path: Path) -> None:
    trace = tmp_path / "t.trace"

    async def main() -> None:
        chan = MemoryChannel()
        with TcpEchoServer() as echo:
            async with Module(chan, options=OPTS, trace=trace) as module:
                host = chan.host
                await host.expect(b"\r\nready\r\n")
                host.write(b"ATE0\r\n")
                await host.expect(b"ATE0\r\n" + OK)
                host.write(b'AT+CWJAP="lab","x"\r\n')
                await host.expect(JOINED)
                host.write(b'AT+CIPSTART="TCP","127.0.0.1",%d\r\n' % echo.port)
                await host.expect(b"CONNECT\r\n" + OK)
                link = module.runtime.net.links[0]
                for chunk in (b"hello", b"\x00\xff world\r\n"):
                    host.write(b"AT+CIPSEND=%d\r\n" % len(chunk))
                    await host.expect(b"\r\nOK\r\n\r\n>")
                    host.write(chunk)
                    await host.read_until(b"SEND OK\r\n")
                    await host.read_until(chunk + b"\r\n")
                assert (link.bytes_up, link.bytes_down) == (15, 15)
                host.write(b"AT+CIPCLOSE\r\n")
                await host.expect(b"CLOSED\r\n" + OK)

    asyncio.run(main())
    lines = [TRACE_LINE.match(ln) for ln in trace.read_text("ascii").splitlines()]
    assert all(lines)
    events = [(m.group(1), m.group(2)) for m in lines if m and m.group(1)[0] in "L-"]
    link_rows = [e for e in events if e[0].startswith("L") or e[1].startswith("link ")]
    assert link_rows[0][0] == "--" and re.fullmatch(
        r"link 0 open TCP 127\.0\.0\.1:\d+", link_rows[0][1]
    )
    data = link_rows[1:-1]
    assert data == [
        ("L0>", "hello"),
        ("L0<", "hello"),
        ("L0>", "\\x00\\xff world\\r\\n"),
        ("L0<", "\\x00\\xff world\\r\\n"),
    ]
    assert link_rows[-1] == ("--", "link 0 closed (by the module)")

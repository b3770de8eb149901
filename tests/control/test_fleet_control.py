"""A fleet's one control endpoint: every route takes the module index, in one process
and with worker processes behind the supervisor; plus the Python API's event stream."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from tests.control.helpers import OK, BenchModule
from tests.control.test_api import ctl
from tests.fleet.test_fleet_cli import FleetProcess, free_range
from w800at import MemoryChannel
from w800at.fleet import Fleet

pytestmark = pytest.mark.timeout(120)


async def _busy_then_ok(port: int, busy: bool) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(r.readexactly(9), 5) == b"\r\nready\r\n"
        w.write(b"AT\r\n")
        want = b"\r\nbusy p...\r\n" if busy else b"AT\r\n" + OK
        assert await asyncio.wait_for(r.readexactly(len(want)), 5) == want
    finally:
        w.close()


async def _gmr_is_busy(port: int) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(r.readexactly(9), 5) == b"\r\nready\r\n"
        w.write(b"AT+GMR\r\n")
        want = b"\r\nbusy p...\r\n"
        assert await asyncio.wait_for(r.readexactly(len(want)), 5) == want
    finally:
        w.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_one_endpoint_for_the_fleet_routes_by_index(tmp_path: Path, workers: str) -> None:
    base = free_range(4)
    sock = tmp_path / "fleet.sock"
    scenario = tmp_path / "gmr.toml"
    scenario.write_text(
        '[[rule]]\nwhen = { line = "^AT\\\\+GMR$" }\ndo = { action = "uart_busy" }\n'
    )
    fleet = FleetProcess(
        "--count", "4", "--tcp", f"127.0.0.1:{base}", "--store", str(tmp_path / "s"),
        "--workers", workers, "--control", str(sock), "--scenario", str(scenario),
    )  # fmt: skip
    try:
        lines = fleet.wait_ready()
        assert f"w800at fleet: control on {sock}" in lines
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        rc, mods, _ = ctl(sock, "modules")
        assert rc == 0
        assert [(m["index"], m["name"]) for m in mods] == [
            (0, "w800-0000"), (1, "w800-0001"), (2, "w800-0002"), (3, "w800-0003"),
        ]  # fmt: skip
        rc, out, _ = ctl_module(sock, 3, "uart", "busy", "count=1")
        assert (rc, out) == (0, {"busy_lines": 1})
        asyncio.run(_busy_then_ok(base + 3, busy=True))
        asyncio.run(_busy_then_ok(base + 2, busy=False))  # another module: untouched
        rc, st, _ = ctl_module(sock, 3, "status")
        assert (rc, st["name"], st["busy_lines"]) == (0, "w800-0003", 0)
        asyncio.run(_gmr_is_busy(base))  # every module runs the scenario
        asyncio.run(_gmr_is_busy(base + 1))
        rc, sc, _ = ctl_module(sock, 1, "scenario", "show")
        assert (rc, sc["rules"][0]["fired"]) == (0, 1)
        rc, out, _ = ctl_module(sock, 9, "status")
        assert rc == 1 and "no module 9 (modules 0 to 3)" in out["error"]
        rc, out, _err = ctl(sock, "status")  # a fleet's routes all take the index
        assert rc == 1 and out["error"].startswith("no route GET /status")
        assert fleet.interrupt() == 0
        assert not sock.exists()
    finally:
        if fleet.proc.poll() is None:
            fleet.proc.kill()
            fleet.proc.wait()


def ctl_module(sock: Path, index: int, *args: str) -> tuple[int, object, str]:
    import json
    import subprocess

    from tests.control.test_api import CTL

    r = subprocess.run(
        [*CTL, "--control", str(sock), "--module", str(index), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr


def test_fleet_modules_each_have_their_control() -> None:
    async def main() -> None:
        async with Fleet(3, lambda i, name: MemoryChannel(), control=True) as fleet:
            for m in fleet:
                await m.host.expect(b"\r\nready\r\n")
            await fleet[1].control.uart_busy(count=1)
            fleet[1].host.write(b"AT\r\n")
            fleet[2].host.write(b"AT\r\n")
            await fleet[1].host.expect(b"\r\nbusy p...\r\n")
            await fleet[2].host.expect(b"AT\r\n" + OK)
        plain = Fleet(1, lambda i, name: MemoryChannel())
        with pytest.raises(RuntimeError, match="built with control=False"):
            _ = plain[0].control

    asyncio.run(main())


def test_wait_for_finds_what_came_before_it_and_not_twice(tmp_path: Path) -> None:
    async def main() -> None:
        async with BenchModule(tmp_path) as b:
            b.send(b"AT\r\n")
            await b.expect(b"AT\r\n" + OK)
            ev = await b.control.wait_for("command", r"^AT$")  # it came before the call
            assert (ev["kind"], ev["text"], ev["source"]) == ("command", "AT", "host")
            with pytest.raises(TimeoutError, match="no command event matching"):
                await b.control.wait_for("command", r"^AT$", timeout=0.2)  # not twice
            # a control operation moves the cursor: old results do not match
            await b.control.uart_busy(count=1)
            b.send(b"AT+GMR\r\n")
            ev = await b.control.wait_for("result")
            assert ev["text"] == "busy p..."
            seen = []

            async def collect() -> None:
                async for e in b.control.events(kinds=["command", "result"]):
                    seen.append((e["kind"], e["text"]))
                    if len(seen) == 2:
                        return

            task = asyncio.get_running_loop().create_task(collect())
            await asyncio.sleep(0)
            b.send(b"AT\r\n")
            await asyncio.wait_for(task, 5)
            assert seen == [("command", "AT"), ("result", "OK")]
            await b.control.wait_for("result", {"text": "OK"})

    asyncio.run(main())


def test_the_thread_facade_drives_the_bench_over_a_real_tcp_port() -> None:
    import serial

    from tests.harness import LAB_ADDRESSES
    from w800at import Module, ModuleOptions
    from w800at.channels.tcp import TcpChannel

    opts = ModuleOptions(addresses=LAB_ADDRESSES, system_dns=())
    with Module(TcpChannel("127.0.0.1", 0), options=opts).running() as m:
        port = m.module.channel.port  # type: ignore[attr-defined]
        ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=5)
        try:
            assert ser.read(9) == b"\r\nready\r\n"
            assert m.run(m.module.control.uart_busy(count=1)) == {"busy_lines": 1}
            ser.write(b"AT\r\n")
            assert ser.read(13) == b"\r\nbusy p...\r\n"
            ev = m.run(m.module.control.wait_for("result", "busy"))
            assert ev["text"] == "busy p..."
        finally:
            ser.close()

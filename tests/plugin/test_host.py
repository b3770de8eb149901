"""The host helper and the module factory behind the fixtures (w800at.testing), directly."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from w800at import Module
from w800at.config import ConfigError
from w800at.control.scenario import ScenarioError
from w800at.testing import ExpectTimeout, ModuleFactory, PortClosed, RunningModule

LAB = {"access_point": [{"ssid": "lab", "password": "lab-secret"}]}


@pytest.fixture
def make(tmp_path: Path) -> Iterator[ModuleFactory]:
    with ModuleFactory(tmp_path / "w800at", base_dir=tmp_path) as factory:
        yield factory


def ready(m: RunningModule, timeout: float = 2.0) -> None:
    m.host(timeout=timeout).expect_exact(b"\r\nready\r\n")


@pytest.mark.parametrize("transport", ["pty", "tcp", "memory"])
def test_expect_and_cmd_over_each_transport(make: ModuleFactory, transport: str) -> None:
    m = make(transport=transport)
    ready(m)
    host = m.host()
    host.write(b"AT+GMR\r\n")
    match = host.expect(rb"Bin version:([\d.]+)\((\w+)\)")
    assert match.groups() == (b"2.1.0", b"W800")
    assert host.before == (
        b"AT+GMR\r\nAT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)\r\n"
        b"SDK version:W800 SDK v1.00.10\r\ncompile time(w800at):Nov 24 2026 00:00:00\r\n"
    )
    host.expect_exact(b"\r\n\r\nOK\r\n")
    assert host.buffer == b""
    reply = host.cmd("AT+CWMODE?")
    assert (reply.raw, reply.lines, reply.result, reply.ok) == (
        b"AT+CWMODE?\r\n+CWMODE:1\r\n\r\nOK\r\n",
        ("+CWMODE:1",),
        "OK",
        True,
    )
    assert "+CWMODE:1" in reply and b"+CWMODE:1" in reply
    assert host.read(0.2) == b""  # nothing more came


def test_the_earliest_of_several_patterns_wins(make: ModuleFactory) -> None:
    m = make(transport="memory")
    ready(m)
    host = m.host()
    host.write(b"AT+NOPE\r\nAT\r\n")
    assert host.expect_exact([b"OK", b"ERROR"]).group() == b"ERROR"
    assert host.expect([b"ERROR", rb"O(K)"]).group(1) == b"K"


def test_cmd_results_and_what_waited_before(make: ModuleFactory) -> None:
    # esp-at: a failed join names its reason (+CWJAP:<code>), IPv6 (and its URCs) off
    m = make(transport="memory", config=LAB, profile="esp-at")
    ready(m)
    host = m.host()
    host.write(b"AT\r\n")  # its answer is not read: it waits in the port
    time.sleep(0.1)
    assert host.cmd("AT+NOPE").result == "ERROR"
    assert host.before == b"AT\r\n\r\nOK\r\n"  # the older answer is not the reply
    host.cmd("AT+CWMODE=1")
    failed = host.cmd('AT+CWJAP="lab","wrong-password"')
    assert (failed.result, failed.lines) == ("ERROR", ("+CWJAP:2",))
    assert host.cmd(b'AT+CWJAP="lab","lab-secret"\r\n').lines == (
        "WIFI CONNECTED",
        "WIFI GOT IP",
    )
    assert host.cmd("ATE0").ok
    assert host.cmd("AT+CWMODE?").raw == b"+CWMODE:1\r\n\r\nOK\r\n"  # no echo


def test_cipsend_leaves_the_prompt_for_expect(make: ModuleFactory) -> None:
    m = make(transport="memory", config=LAB)
    ready(m)
    host = m.host()
    host.cmd("AT+CWMODE=1")
    host.cmd('AT+CWJAP="lab","lab-secret"')
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert host.cmd(f'AT+CIPSTART="TCP","127.0.0.1",{port}').lines == ("CONNECT",)
        peer, _ = server.accept()
        with peer:
            assert host.cmd("AT+CIPSEND=3").ok
            host.expect_exact(b">")
            host.write(b"abc")
            host.expect_exact(b"SEND OK\r\n")
            assert peer.recv(3) == b"abc"


def test_a_timeout_shows_what_arrived(make: ModuleFactory) -> None:
    m = make(transport="memory")
    ready(m)
    host = m.host()
    host.write(b"AT+GMR\r\n")
    with pytest.raises(ExpectTimeout) as err:
        host.expect_exact(b"W801", timeout=0.3)
    assert str(err.value) == (
        "w800 on memory: no b'W801' within 0.3 s\n"
        "arrived and not matched (169 bytes):\n"
        "    | AT+GMR\\r\\n\n"
        "    | AT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)\\r\\n\n"
        "    | SDK version:W800 SDK v1.00.10\\r\\n\n"
        "    | compile time(w800at):Nov 24 2026 00:00:00\\r\\n\n"
        "    | Bin version:2.1.0(W800)\\r\\n\n"
        "    | \\r\\n\n"
        "    | OK\\r\\n"
    )
    host.read()
    with pytest.raises(ExpectTimeout) as err:
        host.cmd("AT+CWJAP?", timeout=0.0)
    assert str(err.value).startswith(
        "w800 on memory: no a final result (OK, ERROR, FAIL, SEND OK, SEND FAIL, "
        "SEND CANCELLED, busy p...) for 'AT+CWJAP?' within 0 s\n"
    )
    host.read(0.2)
    with pytest.raises(ExpectTimeout, match=r"nothing arrived since the last match \(\d+ bytes"):
        host.expect(b"OK", timeout=0.1)


def test_a_regex_pattern_that_arrived_literally_gets_a_hint(make: ModuleFactory) -> None:
    m = make(transport="memory")
    ready(m)
    host = m.host()
    host.write(b"AT+GMR\r\n")
    with pytest.raises(ExpectTimeout, match=r"note: b'AT\+GMR' arrived literally, but expect"):
        host.expect(b"AT+GMR", timeout=0.3)
    with pytest.raises(ValueError, match="use expect_exact"):
        host.expect(b"+IPD")


def test_the_host_learns_when_the_module_stopped(make: ModuleFactory) -> None:
    for transport in ("pty", "tcp", "memory"):
        m = make(transport=transport, name=f"dut-{transport}")
        ready(m)
        host = m.host()
        m.loop.run(m.module.stop())
        with pytest.raises(PortClosed, match=f"dut-{transport} on .*: no b'OK'"):
            host.expect_exact(b"OK", timeout=2)


def test_the_transcript_so_far(make: ModuleFactory) -> None:
    m = make(transport="tcp")
    ready(m)
    m.host().cmd("AT")
    lines = m.transcript.splitlines()
    assert lines[0] == "       time       delta  lane    kind      text"
    assert [ln[25:] for ln in lines[-3:]] == [
        "host    cmd       AT",
        "module  echo      AT",
        "module  result    OK",
    ]
    assert m.trace_path.exists()


def test_options_reach_the_module(make: ModuleFactory, tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text('profile = "esp-at"\n[station]\nip = "192.168.9.9"\n')
    m = make(config="lab.toml", transport="memory", lenient_eol=True, pacing="both")
    assert m.module.profile.name == "esp-at"  # the config's profile
    assert m.module.lenient_eol
    assert m.module.pacing is not None and m.module.pacing.rx_buffer == 2048
    assert m.module.pacing.frame.baud == 115200
    ready(m)
    m.host().write(b"AT\r")  # a lone CR ends the line with lenient_eol
    m.host().expect_exact(b"OK\r\n")
    other = make(config="lab.toml", profile="w800", transport="memory")
    assert other.module.profile.name == "w800"  # profile= wins over the config's


def test_bad_options_are_refused_clearly(make: ModuleFactory) -> None:
    with pytest.raises(ValueError, match="transport must be one of pty, tcp, memory, not 'udp'"):
        make(transport="udp")
    with pytest.raises(ValueError, match="--pacing must be one of off, output, both"):
        make(pacing="fast")
    with pytest.raises(ConfigError, match=r"config: \[network\] timeout: must be more than 0"):
        make(config={"network": {"timeout": -1}})
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        make(config="nope.toml")
    make(transport="memory", name="dut")
    with pytest.raises(ValueError, match="already named 'dut'"):
        make(transport="memory", name="dut")


def test_a_restart_on_the_same_store_keeps_saved_settings(make: ModuleFactory) -> None:
    first = make(transport="memory", name="first")
    ready(first)
    assert first.host().cmd("AT+SYSSTORE=0").ok
    first.stop()
    second = make(transport="memory", name="second", store=first.store_dir)
    ready(second)
    assert second.host().cmd("AT+SYSSTORE?").lines == ("+SYSSTORE:0",)


def test_a_fleet_of_modules_on_ptys(make: ModuleFactory) -> None:
    fleet = make.fleet(4, profile="esp-at")
    assert len(fleet) == 4
    assert len({m.port for m in fleet}) == 4
    for m in fleet:
        ready(m)
        assert "ESP32" in m.host().cmd("AT+GMR")
    second = make.fleet(2, transport="memory")
    assert [m.name for m in second] == ["fleet2-0000", "fleet2-0001"]


def test_close_stops_everything(tmp_path: Path) -> None:
    factory = ModuleFactory(tmp_path)
    a = factory(transport="pty")
    b = factory(transport="tcp")
    ready(a)
    port = b.tcp[1]
    factory.close()
    assert not a.module.started and not b.module.started
    assert not Path(a.port).exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not a.loop.alive


def test_a_scenario_path_is_the_base_dirs_and_control_is_the_modules(
    make: ModuleFactory, tmp_path: Path
) -> None:
    """``scenario=`` reaches `Module`'s (a relative path: from ``base_dir``, the test
    file's directory in the plugin); ``.control`` is ``module.control``."""
    (tmp_path / "at5.toml").write_text(
        '[[rule]]\nwhen = { at = 0 }\ndo = { action = "seed", seed = 5 }\n'
    )
    m = make(scenario="at5.toml", transport="memory")
    assert m.control is m.module.control
    assert m.run(m.control.scenario())["rules"][0]["when"] == "at 0 s"
    with pytest.raises(ScenarioError, match=re.escape(f"{tmp_path / 'nope.toml'}: No such file")):
        make(scenario="nope.toml")
    bare = RunningModule(
        Module(control=False),
        make.loop,
        transport="memory",
        trace_path=tmp_path / "x",
        store_dir=tmp_path,
    )
    with pytest.raises(AttributeError, match="built with control=False"):
        bare.control  # noqa: B018


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_a_second_host_finds_the_module_as_it_was(make: ModuleFactory, transport: str) -> None:
    m = make(transport=transport)
    ready(m)
    first = m.host()
    assert first.cmd("ATE0").ok
    first.close()
    second = m.host()
    assert second is not first
    assert second.cmd("AT").raw == b"\r\nOK\r\n"  # no ready again, and echo still off
    assert second.read(0.2) == b""

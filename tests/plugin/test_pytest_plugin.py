"""The pytest plugin, as its users meet it: test files run by an inner pytest (pytester).

The inner runs find the plugin through its ``pytest11`` entry point, as any project
that installs w800at does: nothing here registers it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

# Imported before pytester's in-process runs: they snapshot sys.modules and drop what an
# inner run imported first, and a second import of asyncio would not catch the
# CancelledError of the first one's C tasks (which outlive the snapshot).
import w800at.testing  # noqa: F401

pytest_plugins = ["pytester"]

#: a transcript row: time, delta, then lane, kind and text (exact, as ``trace show``)
T = r" +\d+\.\d{6} +[+-]\d+\.\d{6}  "


def row(lane: str, kind: str, text: str) -> str:
    """The regex of one transcript row with this lane, kind and (literal) text."""
    return f"{T}{lane:<6}  {kind:<8}  {re.escape(text)}$"


def test_the_plugin_is_found_through_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "plugins: *w800at-*",
            "*fixtures defined from w800at.pytest_plugin*",
            "w800at_factory -- *",
            "w800at_fleet -- *",
            "w800at -- *",
        ]
    )
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.w800at(profile=, config=, scenario=, *"])


def test_a_five_line_test_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_at(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            assert host.cmd("AT").ok
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)
    assert "w800at transcript" not in result.stdout.str()


def test_a_failing_test_shows_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_version(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            assert "W801" in host.cmd("AT+GMR")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r"E +AssertionError: assert 'W801' in Reply\('AT\+GMR' -> OK, "])
    result.stdout.re_match_lines(
        [
            r"test_a_failing_test_shows_the_transcript.py:4: AssertionError",
            r"-+ w800at transcript: w800 -+$",
            r"trace: /.*/test_version0/w800at/w800\.trace$",
            r"       time       delta  lane    kind      text$",
            row("event", "note", "trace start"),
            f"{T}event   note      channel pty /dev/pts/\\d+ -> /.*/w800at/w800\\.tty$",
            row("event", "note", "attached"),
            row("module", "urc", "ready"),
            row("host", "cmd", "AT+GMR"),
            row("module", "echo", "AT+GMR"),
            row("module", "info", "AT version:2.1.0(w800at - W800 - Nov 24 2026 00:00:00)"),
            row("module", "info", "SDK version:W800 SDK v1.00.10"),
            row("module", "info", "compile time(w800at):Nov 24 2026 00:00:00"),
            row("module", "info", "Bin version:2.1.0(W800)"),
            row("module", "result", "OK"),
            r"=+ short test summary info =+$",
        ],
        consecutive=True,
    )


def test_the_transcript_is_a_section_of_the_failed_report_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_passes(w800at):
            w800at.host().expect_exact(b"ready")

        def test_fails(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            host.write(b"AT\\r\\n")
            host.expect_exact(b"\\r\\nOK\\r\\n")
            assert False, "the driver gave up"
        """
    )
    rec = pytester.inline_run()
    reports = {
        (r.nodeid.split("::")[-1], r.when): r for r in rec.getreports("pytest_runtest_logreport")
    }
    assert reports["test_fails", "call"].failed
    sections = dict(reports["test_fails", "call"].sections)
    text = sections["w800at transcript: w800"]
    lines = text.splitlines()
    assert re.fullmatch(r"trace: /.*/test_fails0/w800at/w800\.trace", lines[0])
    assert [ln[25:] for ln in lines[-4:]] == [
        "module  urc       ready",
        "host    cmd       AT",
        "module  echo      AT",
        "module  result    OK",
    ]
    for when in ("setup", "call", "teardown"):
        assert not any("w800at" in title for title, _ in reports["test_passes", when].sections)


def test_the_module_stops_at_the_end_of_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os

        seen = {}

        def test_first(w800at):
            seen["port"], seen["module"] = w800at.port, w800at.module
            assert os.path.islink(w800at.port) and w800at.module.started

        def test_then(w800at):
            assert not os.path.lexists(seen["port"])  # the PTY's symlink is gone
            assert not seen["module"].started
            assert w800at.module is not seen["module"]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_marker_options(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        lab='[station]\nip = "192.168.7.50"\n\n[[access_point]]\nssid = "lab"\n'
        'password = "lab-secret"\n',
    )
    pytester.makepyfile(
        """
        import time

        import pytest

        @pytest.mark.w800at(profile="esp-at")
        def test_profile(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            assert host.cmd("AT+GMR").lines[0].startswith("AT version:3.4.0.0(w800at - ESP32")

        @pytest.mark.w800at(
            profile="esp-at",
            config={"access_point": [{"ssid": "lab", "password": "lab-secret"}]},
        )
        def test_config_as_tables(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            host.cmd("AT+CWMODE=1")
            reply = host.cmd('AT+CWJAP="lab","wrong-password"', timeout=5)
            assert (reply.result, reply.lines[-1]) == ("ERROR", "+CWJAP:2")

        @pytest.mark.w800at(config="lab.toml")  # relative to this file
        def test_config_file(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            host.cmd("AT+CWMODE=1")
            assert host.cmd('AT+CWJAP="lab","lab-secret"', timeout=5).ok
            assert '+CIPSTA:ip:"192.168.7.50"' in host.cmd("AT+CIPSTA?").lines

        @pytest.mark.w800at(transport="tcp")
        def test_tcp(w800at):
            host, port = w800at.tcp
            assert host == "127.0.0.1" and port > 0
            assert w800at.url == f"socket://127.0.0.1:{port}"
            with pytest.raises(AttributeError, match="not a PTY"):
                w800at.port
            w800at.host().expect_exact(b"ready")
            assert w800at.host().cmd("AT").ok

        @pytest.mark.w800at(transport="memory", pacing="output", baud=9600)
        def test_pacing(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            t0 = time.monotonic()
            reply = host.cmd("AT+GMR")
            took = time.monotonic() - t0
            line_time = len(reply.raw) * 10 / 9600  # 8N1: 10 bits a byte
            assert line_time * 0.9 <= took <= line_time + 0.5

        pytestmark = pytest.mark.w800at(profile="esp-at")

        @pytest.mark.w800at(transport="memory")
        def test_markers_combine(w800at):
            assert (w800at.module.profile.name, w800at.transport) == ("esp-at", "memory")
        """
    )
    result = pytester.runpytest("--strict-markers", "-v")
    result.assert_outcomes(passed=6)


def test_a_misspelt_marker_option_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.w800at(profle="esp-at")
        def test_x(w800at):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.w800at: unknown option 'profle' (known: profile, config, scenario, *"]
    )


def test_control_is_the_modules_test_bench(pytester: pytest.Pytester) -> None:
    """``.control`` is ``module.control``: its coroutines run on the module's loop with
    ``run`` and ``submit``; a ``wait_for`` started before an operation sees the event
    it causes, and so does one started after it (it looks from the operation on)."""
    pytester.makepyfile(
        """
        import pytest
        from w800at.control import Control, ControlError

        LAB = {"access_point": [{"ssid": "lab", "password": "lab-secret"}]}

        @pytest.mark.w800at(config=LAB, transport="memory")
        def test_bench(w800at):
            control = w800at.control
            assert isinstance(control, Control) and control is w800at.module.control
            host = w800at.host()
            host.expect_exact(b"ready")
            with pytest.raises(ControlError, match="not on an access point"):
                w800at.run(control.wifi_drop())
            host.cmd("AT+CWMODE=1")
            host.cmd("AT+CWAUTOCONN=0")
            assert host.cmd('AT+CWJAP="lab","lab-secret"').ok
            before = w800at.submit(control.wait_for("urc", "WIFI DISCONNECT"))
            w800at.run(control.wifi_drop(duration=0.2))
            assert before.result(timeout=5)["text"] == "WIFI DISCONNECT"
            host.expect_exact(b"WIFI DISCONNECT\\r\\n")
            w800at.run(control.next_join("wrong_password"))
            reply = host.cmd('AT+CWJAP="lab","lab-secret"')
            assert (reply.result, reply.lines) == ("ERROR", ())  # w800: ERROR alone
            after = w800at.run(control.wait_for("result", "ERROR"))  # came before the call
            assert after["kind"] == "result"
            assert host.cmd('AT+CWJAP="lab","lab-secret"').ok
            assert w800at.run(control.status())["wifi"]["state"] == "got_ip"

        def test_fleet_members_have_it_too(w800at_fleet):
            fleet = w800at_fleet(2, transport="memory")
            for m in fleet:
                m.host().expect_exact(b"ready")
                m.run(m.control.uart_busy(count=1))
                assert m.host().cmd("AT").result == "busy p..."
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=2)


def test_a_scenario_from_the_marker_the_factory_and_the_fleet(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        busy="[[rule]]\nwhen = { line = '^AT\\+CIPSTATUS' }\n"
        'do = { action = "uart_busy", count = 1 }\n',
        broken='[[rule]]\nwhen = { at = 1 }\ndo = { action = "uart_busy", count = 0 }\n',
    )
    pytester.makepyfile(
        """
        import pytest

        def busy_once(m):
            host = m.host()
            host.expect_exact(b"ready")
            assert host.cmd("AT+CIPSTATUS").result == "busy p..."  # the rule fired
            assert host.cmd("AT+CIPSTATUS").ok  # once
            rules = m.run(m.control.scenario())
            assert rules["rules"][0]["fired"] == 1

        @pytest.mark.w800at(scenario="busy.toml")  # relative to this file
        def test_marker(w800at):
            busy_once(w800at)
            assert "rule" in w800at.transcript

        def test_factory(w800at_factory):
            busy_once(w800at_factory(scenario="busy.toml", transport="memory"))
            plain = w800at_factory(transport="memory")
            plain.host().expect_exact(b"ready")
            assert plain.host().cmd("AT+CIPSTATUS").ok

        def test_fleet(w800at_fleet):
            for m in w800at_fleet(2, scenario="busy.toml", transport="memory"):
                busy_once(m)

        @pytest.mark.w800at(scenario="broken.toml")
        def test_a_bad_scenario_is_named(w800at):
            pass

        @pytest.mark.w800at(scenario="missing.toml")
        def test_a_missing_one_too(w800at):
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.re_match_lines(
        [
            r"E +w800at\.control\.scenario\.ScenarioError: .*broken\.toml: rule #1: action #1 "
            r"uart_busy: count: Input should be greater than or equal to 1 \(got 0\)$",
            r"E +w800at\.control\.scenario\.ScenarioError: .*missing\.toml: No such file or "
            r"directory$",
        ]
    )


def test_the_factory_with_three_modules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_three(w800at_factory):
            a = w800at_factory()
            b = w800at_factory(profile="esp-at", transport="tcp")
            c = w800at_factory(transport="memory", name="third")
            assert [m.name for m in (a, b, c)] == ["w800", "w800-2", "third"]
            for m, chip in ((a, "W800"), (b, "ESP32"), (c, "W800")):
                host = m.host()
                host.expect_exact(b"ready")
                assert f"(w800at - {chip} - " in host.cmd("AT+GMR").lines[0]
            a.host().cmd("AT+CWMODE=1")
            assert "AT+CWMODE=1" in a.transcript
            assert "AT+CWMODE" not in b.transcript + c.transcript  # no cross talk
            assert False, "to see the three transcripts"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"-+ w800at transcript: w800 -+$",
            row("host", "cmd", "AT+CWMODE=1"),
            r"-+ w800at transcript: w800-2 -+$",
            f"{T}event   note      channel tcp 127\\.0\\.0\\.1:\\d+$",
            row("module", "info", "Bin version:v3.4.0.0(WROOM-32)"),
            r"-+ w800at transcript: third -+$",
            row("event", "note", "channel memory"),
        ]
    )


def test_a_fleet_and_the_report_of_a_big_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fleet(w800at_fleet):
            fleet = w800at_fleet(6, transport="memory")
            assert [m.name for m in fleet] == [f"w800-000{i}" for i in range(6)]
            assert all(m.module.started for m in fleet)
            host = fleet[2].host()
            host.expect_exact(b"ready")
            assert host.cmd("AT").ok
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "w800at transcript: w800-0002" in out
    assert "w800at transcript: w800-0001" not in out
    result.stdout.fnmatch_lines(
        [
            "*- w800at transcript -*",
            "the host said nothing to 5 modules: w800-0000, w800-0001, w800-0003, w800-0004, "
            "w800-0005",
        ]
    )


def test_rows_in_the_report_are_capped_by_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nw800at_transcript_rows = 3\n")
    pytester.makepyfile(
        """
        def test_x(w800at):
            host = w800at.host()
            host.expect_exact(b"ready")
            host.cmd("AT")
            assert False
        """
    )
    result = pytester.runpytest()
    result.stdout.re_match_lines(
        [
            r"trace: .*w800\.trace$",
            r"\[4 earlier rows not shown: `w800at trace show` the trace for all\]$",
            r"       time       delta  lane    kind      text$",
            row("host", "cmd", "AT"),
            row("module", "echo", "AT"),
            row("module", "result", "OK"),
        ],
        consecutive=True,
    )


def test_parallel_workers_get_their_own_ports_and_paths(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    out = tmp_path / "seen"
    out.mkdir()
    pytester.makepyfile(
        f"""
        import json, os
        import pytest

        @pytest.mark.parametrize("i", range(6))
        def test_module(w800at_factory, i):
            pty = w800at_factory()
            tcp = w800at_factory(transport="tcp")
            for m in (pty, tcp):
                host = m.host()
                host.expect_exact(b"ready")
                assert host.cmd("AT").ok
            seen = {{
                "worker": os.environ["PYTEST_XDIST_WORKER"],
                "pty": pty.port,
                "tcp": tcp.tcp[1],
                "store": str(pty.store_dir),
                "trace": str(pty.trace_path),
            }}
            with open(os.path.join({str(out)!r}, f"{{i}}.json"), "w") as f:
                json.dump(seen, f)

        def test_fails(w800at):
            w800at.host().expect_exact(b"ready")
            assert w800at.host().cmd("AT+RST").ok
            assert False, "in a worker"
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.re_match_lines(  # the report came from a worker with its transcript
        [
            r"-+ w800at transcript: w800 -+$",
            r"trace: /.*/popen-gw\d/test_fails0/w800at/w800\.trace$",
            row("host", "cmd", "AT+RST"),
            row("module", "echo", "AT+RST"),
            row("module", "result", "OK"),
        ],
        consecutive=False,
    )
    seen = [json.loads(p.read_text()) for p in sorted(out.iterdir())]
    assert len(seen) == 6
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}
    for key in ("pty", "store", "trace"):
        assert len({s[key] for s in seen}) == 6
        for s in seen:  # each under its own worker's base directory
            assert f"/popen-{s['worker']}/" in s[key]

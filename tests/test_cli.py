"""The command line: options, usage errors, and a clean start/stop of `serve`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD, ServeProcess
from w800at import __version__
from w800at.cli import build_parser, main


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE_CMD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_serve_options_parse() -> None:
    a = build_parser().parse_args(
        [
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--profile",
            "esp-at",
            "--lenient-eol",
            "--store",
            "/tmp/s",
            "-vv",
        ]
    )
    assert (a.tcp, a.profile, a.lenient_eol, a.store, a.verbose) == (
        "127.0.0.1:0",
        "esp-at",
        True,
        Path("/tmp/s"),
        2,
    )
    d = build_parser().parse_args(["serve"])
    assert (d.pty, d.tcp, d.lenient_eol, d.profile, d.baud) == (None, None, False, None, 115200)


def test_pacing_options_parse(capsys: pytest.CaptureFixture[str]) -> None:
    d = build_parser().parse_args(["serve"])
    assert (d.pacing, d.flow_control) == ("off", "none")
    a = build_parser().parse_args(
        ["serve", "--tcp", "1", "--baud", "9600", "--pacing", "both", "--flow-control", "rtscts"]
    )
    assert (a.baud, a.pacing, a.flow_control) == (9600, "both", "rtscts")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--pacing", "input"])
    assert "invalid choice: 'input'" in capsys.readouterr().err


def test_bad_baud_with_pacing_exits_2(tmp_path: Path) -> None:
    r = run_cli("serve", "--pacing", "output", "--baud", "0", "--pty", str(tmp_path / "x.tty"))
    assert r.returncode == 2
    assert r.stderr == "w800at: baud rate must be positive, not 0\n"
    assert not (tmp_path / "x.tty").exists()


def test_port_kinds_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["serve", "--pty", "x", "--tcp", "1"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_unknown_profile_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--profile", "esp8266"])
    assert "invalid choice: 'esp8266'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"w800at {__version__}\n"


def test_bad_config_file_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("bogus = 1\n")
    r = run_cli("serve", "--config", str(cfg), "--pty", str(tmp_path / "x.tty"))
    assert r.returncode == 2
    assert r.stderr == (
        f"w800at: {cfg}: bogus: unknown key"
        " (known: profile, lenient_eol, station, access_point, network, softap)\n"
    )
    assert not (tmp_path / "x.tty").exists()


def test_bad_address_exits_2(tmp_path: Path) -> None:
    r = run_cli("serve", "--tcp", "localhost:http", "--store", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr == "w800at: bad port in 'localhost:http'\n"


def test_pty_path_that_is_a_file_exits_1(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    r = run_cli("serve", "--pty", str(victim), "--store", str(tmp_path / "s"))
    assert r.returncode == 1
    assert r.stderr == (f"w800at: {victim} exists and is not a symlink; refusing to replace it\n")
    assert victim.read_text() == "keep me"


def test_sigint_stops_serve_cleanly(serve: Callable[..., ServeProcess]) -> None:
    srv = serve("pty", "--lenient-eol")
    port = srv.connect()
    port.expect(b"\r\nready\r\n")
    port.command(b"AT\r", b"AT\r\r\nOK\r\n")
    assert srv.stop() == 0
    assert srv.path is not None
    assert not Path(srv.path).exists()


def test_python_can_import_cli_without_side_effects() -> None:
    r = subprocess.run(
        [sys.executable, "-c", "import w800at.cli"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""

"""The HTTP/JSON API and ``w800at ctl`` against a real ``w800at serve`` (a real PTY,
pyserial as the host, loopback peers): the issue's contract for scripts, with ctl and
with curl; bad requests refused with a clear 4xx while the module keeps serving; the
socket's mode; the address rules; the event stream; the OpenAPI document."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVE_CMD, Port, ServeProcess
from tests.control.helpers import ThreadPeer
from w800at.control.http import AddressError, parse_address

pytestmark = pytest.mark.timeout(120)

CTL = [sys.executable, "-c", "import sys; from w800at.cli import main; sys.exit(main())", "ctl"]
OK = b"\r\nOK\r\n"
JOINED = b"WIFI CONNECTED\r\nWIFI GOT IP\r\n"
CURL = shutil.which("curl")


def ctl(sock: Path | str, *args: str, token: str | None = None) -> tuple[int, Any, str]:
    cmd = [*CTL, "--control", str(sock)]
    if token is not None:
        cmd += ["--token", token]
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=30)
    try:
        out = json.loads(r.stdout) if r.stdout.strip() else None
    except json.JSONDecodeError:
        out = r.stdout
    return r.returncode, out, r.stderr


def curl(
    sock: Path, method: str, path: str, body: str | None = None, ctype: str = "application/json"
) -> tuple[int, Any]:
    assert CURL is not None
    cmd = [CURL, "-s", "-w", "\n%{http_code}", "--unix-socket", str(sock), "-X", method]
    if body is not None:
        cmd += ["-H", f"Content-Type: {ctype}", "--data-binary", body]
    r = subprocess.run([*cmd, f"http://module{path}"], capture_output=True, text=True, timeout=30)
    text, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(text) if text.strip() else None


def start(
    serve: Callable[..., ServeProcess], tmp_path: Path, *extra: str
) -> tuple[ServeProcess, Port, Path]:
    sock = tmp_path / "ctl.sock"
    config = '[[access_point]]\nssid = "lab"\nipv6 = false\n[network]\ntimeout = 2.0\n'
    srv = serve("pty", "--control", str(sock), *extra, config=config)
    assert f"w800at: control on {sock}" in srv.stderr_text()
    port = srv.connect()
    port.expect(b"\r\nready\r\n")
    return srv, port, sock


def join(port: Port) -> None:
    port.send(b'AT+CWJAP="lab","secret"\r\n')
    port.expect(b'AT+CWJAP="lab","secret"\r\n' + JOINED + OK)


def open_link(port: Port, link: int, peer: ThreadPeer) -> None:
    line = f'AT+CIPSTART={link},"TCP","127.0.0.1",{peer.port}\r\n'.encode()
    port.send(line)
    port.expect(line + f"{link},CONNECT\r\n".encode() + OK)


def test_the_socket_is_0600_and_the_contract_for_scripts_with_ctl(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    _srv, port, sock = start(serve, tmp_path)
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    rc, st, _ = ctl(sock, "status")
    assert rc == 0
    assert (st["mode"], st["wifi"]["state"], st["links"]) == ("command", "not_started", [])
    with ThreadPeer() as peer:
        join(port)
        port.command(b"AT+CIPMUX=1\r\n", b"AT+CIPMUX=1\r\n" + OK)
        open_link(port, 0, peer)
        open_link(port, 1, peer)
        rc, st, _ = ctl(sock, "status")
        assert [(ln["id"], ln["state"]) for ln in st["links"]] == [(0, "open"), (1, "open")]

        # link fault 0 reset_peer after=1000: the 1000th byte from the peer is the last
        rc, fault, _ = ctl(sock, "link", "fault", "0", "reset_peer", "after=1000")
        assert rc == 0 and fault["target"] == "link 0" and fault["stream"] == "downstream"
        peer.send(0, b"a" * 600)
        port.expect(b"\r\n+IPD,0,600:" + b"a" * 600 + b"\r\n")
        peer.send(0, b"b" * 600)
        port.expect(b"\r\n+IPD,0,400:" + b"b" * 400 + b"\r\n0,CLOSED\r\n")
        peer.wait(lambda: peer.conns[0].end == "reset")

        # wifi drop: AP gone, WIFI DISCONNECT, links CLOSED (the peer sees it)
        rc, out, _ = ctl(sock, "wifi", "drop")
        assert (rc, out["ssid"]) == (0, "lab")
        port.expect(b"WIFI DISCONNECT\r\n1,CLOSED\r\n")
        peer.wait(lambda: peer.conns[1].end == "eof")

    # uart busy count=2
    assert ctl(sock, "uart", "busy", "count=2")[0] == 0
    port.send(b"AT\r\nAT\r\nAT\r\n")
    port.expect(b"\r\nbusy p...\r\n\r\nbusy p...\r\nAT\r\n" + OK)

    # dns set name=foo.test address=127.0.0.9 (the station must be up to resolve)
    assert ctl(sock, "wifi", "ap", "add", "ssid=lab", "ipv6=false")[0] == 0
    port.expect(JOINED, timeout=5)  # the auto-reconnect finds it back (no IPv6 here)
    assert ctl(sock, "dns", "set", "name=foo.test", "address=127.0.0.9")[0] == 0
    port.send(b'AT+CIPDOMAIN="foo.test"\r\n')
    port.expect(b'AT+CIPDOMAIN="foo.test"\r\n+CIPDOMAIN:"127.0.0.9"\r\n' + OK)

    # power reset: ready again
    rc, out, _ = ctl(sock, "power", "reset")
    assert (rc, out) == (0, {"reset": True})
    port.expect(b"\r\nready\r\n" + JOINED)  # and AT+CWAUTOCONN=1 joins the saved AP
    port.quiet()


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_the_same_contract_with_curl(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    _srv, port, sock = start(serve, tmp_path)
    assert curl(sock, "GET", "/status")[1]["mode"] == "command"
    with ThreadPeer() as peer:
        join(port)
        port.command(b"AT+CIPMUX=1\r\n", b"AT+CIPMUX=1\r\n" + OK)
        open_link(port, 0, peer)
        code, fault = curl(sock, "POST", "/links/0/faults", '{"type": "reset_peer", "after": 1000}')
        assert (code, fault["description"]) == (200, "reset_peer RST after 1000 bytes (downstream)")
        peer.send(0, b"z" * 1500)
        port.expect(b"\r\n+IPD,0,1000:" + b"z" * 1000 + b"\r\n0,CLOSED\r\n")
        open_link(port, 0, peer)
        assert curl(sock, "POST", "/wifi/drop")[0] == 200
        port.expect(b"WIFI DISCONNECT\r\n0,CLOSED\r\n")
    assert curl(sock, "POST", "/uart/busy", '{"count": 2}') == (200, {"busy_lines": 2})
    port.send(b"AT\r\nAT\r\nAT\r\n")
    port.expect(b"\r\nbusy p...\r\n\r\nbusy p...\r\nAT\r\n" + OK)
    code, _ = curl(sock, "PUT", "/dns/foo.test", '{"address": "127.0.0.9"}')
    assert code == 200
    assert curl(sock, "GET", "/dns")[1] == {"foo.test": ["127.0.0.9"]}
    assert curl(sock, "POST", "/power/reset") == (200, {"reset": True})
    port.expect(b"\r\nready\r\n")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_bad_requests_get_a_clear_4xx_and_the_module_keeps_serving(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    _srv, port, sock = start(serve, tmp_path)
    cases = [
        ("POST", "/uart/busy", "{count: 2", 400, "malformed JSON"),
        ("POST", "/uart/busy", "[1, 2]", 400, "the body must be a JSON object"),
        ("POST", "/wifi/dorp", "{}", 404, "no route POST /wifi/dorp"),
        ("GET", "/power/reset", None, 405, "GET is not allowed on /power/reset"),
        (
            "POST",
            "/uart/busy",
            '{"count": 0}',
            422,
            "count: Input should be greater than or equal to 1",
        ),
        (
            "POST",
            "/uart/busy",
            '{"count": 2, "extra": 1}',
            422,
            "extra: Extra inputs are not permitted",
        ),
        (
            "POST",
            "/links/9/faults",
            '{"type": "latency", "latency": 5}',
            422,
            "link: Input should be less than or equal to 4",
        ),
        (
            "POST",
            "/links/0/faults",
            '{"type": "lag"}',
            422,
            "does not match any of the expected tags",
        ),
        ("POST", "/links/0/faults", '{"type": "latency"}', 422, "latency: Field required"),
        (
            "POST",
            "/uart/faults",
            '{"type": "corrupt", "rate": 1.5}',
            422,
            "rate: Input should be less than or equal to 1",
        ),
        (
            "PUT",
            "/dns/foo.test",
            '{"address": "999.1.1.1"}',
            422,
            "must be an IPv4 or IPv6 address",
        ),
        ("PUT", "/dns/bad..name", '{"nxdomain": true}', 422, "must be a domain name"),
        ("POST", "/wifi/drop", "{}", 409, "the station is not on an access point"),
        ("DELETE", "/faults/77", None, 404, "no fault 77"),
        ("POST", "/scenario", "rule = 3", 422, "scenario: rule: Input should be a valid list"),
    ]
    for method, path, body, code, message in cases:
        ctype = "application/toml" if path == "/scenario" else "application/json"
        got, out = curl(sock, method, path, body, ctype)
        assert got == code, (method, path, got, out)
        assert message in out["error"], (path, out)
        port.send(b"AT\r\n")  # and the module answers its host, every time
        port.expect(b"AT\r\n" + OK)
    rc, out, err = ctl(sock, "uart", "busy", "count=-1")
    assert rc == 1 and "count: Input should be greater than or equal to 1" in err
    rc, out, err = ctl(sock, "wifi", "dorp")
    assert rc == 2 and err.startswith("w800at ctl: unknown verb 'wifi dorp'")
    rc, out, err = ctl(tmp_path / "nothing.sock", "status")
    assert rc == 2 and "cannot reach" in err


def test_openapi_lists_every_operation(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    from w800at.control import OPS

    _srv, _port, sock = start(serve, tmp_path)
    rc, doc, _ = ctl(sock, "openapi")
    assert rc == 0 and doc["openapi"].startswith("3.")
    for op in OPS:
        assert op.method.lower() in doc["paths"][op.path], op.name
        assert op.method.lower() in doc["paths"]["/modules/{index}" + op.path], op.name
    body = doc["paths"]["/links/{link}/faults"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("LinkFaultRequest")
    assert "ResetPeerFault" in doc["components"]["schemas"]


def test_the_event_stream_as_json_lines(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    _srv, port, sock = start(serve, tmp_path)
    cmd = [*CTL, "--control", str(sock), "events", "kinds=command,result,fault", "count=4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # subscribed (the interpreter starts, the request arrives)
        assert ctl(sock, "uart", "busy", "count=1")[0] == 0
        port.send(b"AT+GMR\r\n")
        port.expect(b"\r\nbusy p...\r\n")
        port.send(b"AT\r\n")
        port.expect(b"AT\r\n" + OK)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["kind"], e["text"]) for e in events] == [
        ("fault", "fault uart busy: the next 1 command lines get busy p..."),
        ("command", "AT+GMR"),
        ("result", "busy p..."),
        ("command", "AT"),
    ]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    rc, ev, _ = ctl(sock, "wait", "kind=result", "match=^OK$", "since=0", "timeout=2")
    assert rc == 0 and ev["text"] == "OK"
    rc, ev, err = ctl(sock, "wait", "kind=urc", "match=never", "timeout=0.3")
    assert rc == 1 and "no urc event matching 'never' within 0.3 s" in err


def test_a_token_is_required_when_given(serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    srv = serve("pty", "--control", "127.0.0.1:0", "--control-token", "s3cret")
    line = next(ln for ln in srv.stderr_text().splitlines() if "control on" in ln)
    addr = line.rsplit(" ", 1)[1]
    assert addr.startswith("127.0.0.1:") and not addr.endswith(":0")
    rc, out, _ = ctl(addr, "status")
    assert rc == 1 and out["error"].startswith("missing or wrong token")
    rc, out, _ = ctl(addr, "status", token="wrong")
    assert rc == 1
    rc, out, _err = ctl(addr, "status", token="s3cret")
    assert rc == 0 and out["powered"] is False


def test_a_non_loopback_control_address_without_a_token_is_refused_at_start(
    tmp_path: Path,
) -> None:
    for addr in ("0.0.0.0:8123", "[::]:8123", "192.0.2.1:8123"):
        r = subprocess.run(
            [*SERVE_CMD, "serve", "--pty", str(tmp_path / "w.tty"), "--control", addr],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 2, r
        lines = r.stderr.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"w800at: --control {addr}: ")
        assert "is not a loopback address" in lines[0]
        assert "--control-token" in lines[0]
        assert not (tmp_path / "w.tty").exists()  # refused before anything opened
    # with a token it is accepted (checked without listening there)
    assert parse_address("0.0.0.0:8123", "tok").host == "0.0.0.0"
    assert parse_address("localhost:1").host == "localhost"
    assert parse_address("[::1]:1").host == "::1"
    with pytest.raises(AddressError):
        parse_address("10.0.0.1:80")


def test_a_bad_scenario_file_is_refused_at_start_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"

    def refused(text: str) -> list[str]:
        bad.write_text(text)
        r = subprocess.run(
            [*SERVE_CMD, "serve", "--pty", str(tmp_path / "w.tty"), "--scenario", str(bad)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 2
        return r.stderr.splitlines()

    assert refused('[[rule]]\nwhen = { line = "(" }\ndo = { action = "uart_busy" }\n') == [
        f"w800at: {bad}: rule #1 when.line: is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0 (got '(')"
    ]
    assert refused('[[rule]]\nwhen = { at = 1 }\ndo = { action = "uart_busy", count = 0 }\n') == [
        f"w800at: {bad}: rule #1: action #1 uart_busy: count: Input should be greater "
        "than or equal to 1 (got 0)"
    ]


def test_an_event_stream_ends_with_its_client_and_never_holds_up_a_stop(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    srv, _port, sock = start(serve, tmp_path)
    watchers = [
        subprocess.Popen([*CTL, "--control", str(sock), "events"], stdout=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 20
        while ctl(sock, "status")[1]["subscribers"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        watchers[0].kill()  # a client that goes away: its stream ends
        watchers[0].wait()
        while ctl(sock, "status")[1]["subscribers"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        t0 = time.monotonic()
        assert srv.stop() == 0  # with a stream still open
        assert time.monotonic() - t0 < 5
        assert not sock.exists()
        assert watchers[1].wait(10) == 0  # its stream ended cleanly
    finally:
        for w in watchers:
            w.kill()

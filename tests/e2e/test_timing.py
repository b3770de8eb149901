"""UART-true timing through `w800at serve --pacing`: real PTY/TCP ports, pyserial, and
real loopback TCP peers.

Timings are measured over about one second and asserted to 5 %: the module's bytes
are released in batches of a few ms, and this shared machine adds scheduling noise
of a few ms at either end of a measurement.  A span is taken from the arrival of the
first chunk to the arrival of the last byte, and compared with the byte time of the
bytes that arrived after that first chunk (each chunk arrives when its last byte has
crossed the line).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SERVE_CMD, Port, ServeProcess
from tests.e2e.test_serve_pty import JOIN_OK, LAB_CONFIG, OK, READY
from tests.servers.tcp_servers import TcpSinkServer, TcpSourceServer

Serve = Callable[..., ServeProcess]

TOLERANCE = 0.05
PROMPT = b"\r\nOK\r\n\r\n>"
_IPD = re.compile(rb"\r\n\+IPD,(\d+):")


class Timed:
    """What arrived, chunk by chunk, with the monotonic time each chunk was read."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.chunks: list[tuple[float, int]] = []

    def span(self) -> tuple[float, int]:
        """(seconds from the first chunk to the last, bytes that came after the first)."""
        (t_first, first), (t_last, _) = self.chunks[0], self.chunks[-1]
        return t_last - t_first, len(self.data) - first

    def check_rate(self, byte_time: float) -> float:
        """Assert the bytes came at ``byte_time`` each (5 %); returns the measured ratio."""
        seconds, n = self.span()
        expected = n * byte_time
        ratio = seconds / expected
        assert abs(ratio - 1) <= TOLERANCE, (
            f"{n} bytes in {seconds:.4f} s, expected {expected:.4f} s (x{ratio:.3f})"
        )
        return ratio


def read_timed(port: Port, done: Callable[[bytes], bool], timeout: float = 30.0) -> Timed:
    """Read until ``done(data)``, timestamping every chunk as pyserial returns it."""
    ser = port.ser
    out = Timed()
    end = time.monotonic() + timeout
    while not done(bytes(out.data)):
        left = end - time.monotonic()
        assert left > 0, f"timed out; got {len(out.data)} bytes: {bytes(out.data[-80:])!r}"
        ser.timeout = min(left, 1.0)
        first = ser.read(1)  # wait for the next batch
        if not first:
            continue
        ser.timeout = 0
        chunk = first + ser.read(65536)  # and take what came with it
        out.chunks.append((time.monotonic(), len(chunk)))
        out.data += chunk
    return out


def ipd_complete(payload_len: int) -> Callable[[bytes], bool]:
    """True once ``+IPD`` frames carrying ``payload_len`` bytes arrived whole."""

    def done(data: bytes) -> bool:
        got, pos = 0, 0
        while True:
            m = _IPD.match(data, pos)
            if m is None:
                return False
            n = int(m.group(1))
            end = m.end() + n + 2  # data, then the frame's CR LF
            if end > len(data):
                return False
            got, pos = got + n, end
            if got >= payload_len:
                return pos == len(data)

    return done


def ipd_payload(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(data):
        m = _IPD.match(data, pos)
        assert m is not None, data[pos : pos + 40]
        n = int(m.group(1))
        out += data[m.end() : m.end() + n]
        pos = m.end() + n + 2
    return bytes(out)


def joined(srv: ServeProcess) -> Port:
    port = srv.connect()
    port.expect(READY, timeout=10)
    port.command(b"ATE0\r\n", b"ATE0\r\n" + OK)
    port.command(b'AT+CWJAP="lab","lab-secret"\r\n', JOIN_OK)
    return port


def receive_ipd(port: Port, payload: bytes) -> Timed:
    """A loopback source sends ``payload`` once the link is up; read its +IPD frames."""
    go = threading.Event()
    with TcpSourceServer(payload, go=go, after="keep") as source:
        port.command(
            f'AT+CIPSTART="TCP","127.0.0.1",{source.port}\r\n'.encode(), b"CONNECT\r\n" + OK
        )
        go.set()
        timed = read_timed(port, ipd_complete(len(payload)))
        port.command(b"AT+CIPCLOSE\r\n", b"CLOSED\r\n" + OK)
    assert ipd_payload(bytes(timed.data)) == payload
    return timed


def pattern(n: int) -> bytes:
    return bytes(0x20 + (i * 7) % 90 for i in range(n))


@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_ipd_at_115200_takes_one_second(serve: Serve, kind: str) -> None:
    srv = serve(kind, "--pacing", "output", config=LAB_CONFIG)  # --baud: 115200
    port = joined(srv)
    timed = receive_ipd(port, pattern(11_460))  # with its +IPD framing: ~11,520 bytes
    assert 11_480 <= len(timed.data) <= 11_560
    timed.check_rate(10 / 115200)


@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_ipd_at_9600_takes_one_second(serve: Serve, kind: str) -> None:
    srv = serve(kind, "--pacing", "output", "--baud", "9600", config=LAB_CONFIG)
    port = joined(srv)
    timed = receive_ipd(port, pattern(947))  # "\r\n+IPD,947:" + 947 + "\r\n": 960 bytes
    assert 960 <= len(timed.data) <= 990  # (a second frame, if TCP split the data)
    timed.check_rate(10 / 9600)


def test_frame_bits_count_8e2(serve: Serve) -> None:
    """8 data bits, even parity, 2 stop bits: 12 bits a byte (AT+UART_CUR's frame)."""
    srv = serve("pty", "--pacing", "output", "--baud", "19200", config=LAB_CONFIG)
    port = joined(srv)
    port.command(b"AT+UART_CUR=19200,8,3,2,0\r\n", OK)
    timed = receive_ipd(port, pattern(1586))  # 1600 bytes of output, 12 bits each
    assert 1600 <= len(timed.data) <= 1630
    timed.check_rate(12 / 19200)


def test_pacing_off_is_not_paced(serve: Serve) -> None:
    srv = serve("pty", "--baud", "9600", config=LAB_CONFIG)  # --pacing off: the default
    port = joined(srv)
    timed = receive_ipd(port, pattern(947))
    seconds, _ = timed.span()
    assert seconds < 0.25  # 960 bytes at 9600 would take 1 s


def test_uart_cur_switches_the_pace_after_ok(serve: Serve) -> None:
    """The OK of AT+UART_CUR leaves at the old rate (600), what follows at the new one."""
    srv = serve("pty", "--pacing", "output", "--baud", "600", config=LAB_CONFIG)
    port = srv.connect()
    port.expect(READY, timeout=10)
    line = b"AT+UART_CUR=19200,8,1,0,0\r\n"
    port.send(line)
    answer = line + OK  # the echo, then OK: 33 bytes at 600 baud
    before = read_timed(port, lambda d: len(d) >= len(answer))
    assert bytes(before.data) == answer
    before.check_rate(10 / 600)
    port.send(b"AT+CMD?\r\n")  # a long answer, at 19200
    after = read_timed(port, lambda d: d.endswith(OK) and len(d) > 1000)
    assert after.data.startswith(b"AT+CMD?\r\n+CMD:0,")
    after.check_rate(10 / 19200)
    seconds, _ = after.span()
    assert seconds > 0.5  # about 1600 bytes: not instantaneous


@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_input_is_taken_at_the_line_rate(serve: Serve, kind: str) -> None:
    """--pacing both: passthrough bytes reach the peer as fast as a UART delivers them.

    The w800 dialect sends a passthrough packet per 512 bytes received, so with a
    multiple of 512 bytes the first packet leaves when byte 512 has crossed the line
    and the last when the last byte has.
    """
    srv = serve(kind, "--pacing", "both", config=LAB_CONFIG)
    port = joined(srv)
    n = 24 * 512
    payload = pattern(n)
    with TcpSinkServer() as sink:
        port.command(b"AT+CIPMODE=1\r\n", OK)
        port.command(f'AT+CIPSTART="TCP","127.0.0.1",{sink.port}\r\n'.encode(), b"CONNECT\r\n" + OK)
        port.command(b"AT+CIPSEND\r\n", PROMPT)
        record = sink.connection()
        arrivals: list[tuple[float, int]] = []
        watcher_done = threading.Event()

        def watch() -> None:
            seen = 0
            while seen < n:
                sink.wait_connection_bytes(0, seen + 1, timeout=10)
                seen = record.bytes_received
                arrivals.append((time.monotonic(), seen))
            watcher_done.set()

        threading.Thread(target=watch, daemon=True).start()
        port.send(payload)
        assert watcher_done.wait(10)
        assert bytes(record.data) == payload
        (t_first, first), (t_last, _) = arrivals[0], arrivals[-1]
        expected = (n - first) * 10 / 115200
        ratio = (t_last - t_first) / expected
        assert abs(ratio - 1) <= TOLERANCE, f"x{ratio:.3f}"
        time.sleep(0.1)
        port.send(b"+++")
        time.sleep(0.1)


def test_stdio_output_keeps_its_order_after_end_of_input(tmp_path: Path) -> None:
    """stdio's end of input is no host leaving: the output goes on at the pace and in
    order (the join's answer comes while AT+CMD?'s is still on the line), byte for byte
    as without pacing."""
    script = b'AT+CMD?\r\nAT+CWMODE=1\r\nAT+CWJAP="lab","lab-secret"\r\n'
    cfg = tmp_path / "lab.toml"
    cfg.write_text(LAB_CONFIG)

    def run(*extra: str) -> bytes:
        store = tmp_path / f"store{len(extra)}"
        r = subprocess.run(
            [*SERVE_CMD, "serve", "--stdio", "--store", str(store), "--config", str(cfg), *extra],
            input=script,
            capture_output=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    plain = run()
    assert plain.endswith(JOIN_OK)
    t0 = time.monotonic()
    assert run("--pacing", "both", "--baud", "9600") == plain
    assert time.monotonic() - t0 >= len(plain) * 10 / 9600  # paced to the end

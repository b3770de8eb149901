"""The data path through a real PTY (`PtyChannel`) driven by pyserial.

The module runs on its own event loop in a thread; the test thread is the host.
A host that stops reading the PTY makes the channel back up; the runtime then stops
reading the links (the TCP sender blocks) and nothing is lost once the host reads.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from tests.harness import LAB_ADDRESSES
from tests.net.test_flow import CountingSender
from tests.servers.tcp_servers import TcpSinkServer
from w800at import Module, ModuleThread
from w800at.channels.pty import PtyChannel
from w800at.core.options import ModuleOptions
from w800at.profiles import W800


def pty_module(link: Path) -> Module:
    """A module on a PTY whose symlink is ``link`` (the lab's addresses)."""
    return Module(PtyChannel(str(link)), options=ModuleOptions(addresses=LAB_ADDRESSES))


class Port:
    def __init__(self, path: Path) -> None:
        self.ser = serial.Serial(str(path), 115200, timeout=5)
        self.buf = bytearray()

    def fill(self, timeout: float = 5.0) -> None:
        r, _, _ = select.select([self.ser.fd], [], [], timeout)
        assert r, f"nothing from the module; have {bytes(self.buf[-200:])!r}"
        self.buf += os.read(self.ser.fd, 1 << 20)

    def until(self, token: bytes) -> bytes:
        while (i := self.buf.find(token)) < 0:
            self.fill()
        out = bytes(self.buf[: i + len(token)])
        del self.buf[: i + len(token)]
        return out

    def cmd(self, line: bytes) -> bytes:
        self.ser.write(line + b"\r\n")
        return self.until(b"\r\nOK\r\n")


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[tuple[ModuleThread, Port]]:
    with pty_module(tmp_path / "w800.tty").running() as mod:
        port = Port(tmp_path / "w800.tty")
        assert port.until(b"\r\nready\r\n") == b"\r\nready\r\n"
        assert port.cmd(b"ATE0") == b"ATE0\r\n\r\nOK\r\n"
        port.cmd(b"AT+CIPV6=0")  # no IPv6 URCs after the join's OK
        port.cmd(b'AT+CWJAP="lab","password"')
        try:
            yield mod, port
        finally:
            port.ser.close()


def test_pty_cipsend_and_ipd_with_host_backpressure(booted: tuple[ModuleThread, Port]) -> None:
    mod, port = booted
    payload = random.Random(7).randbytes(8 * 1024 * 1024)
    # 1. CIPSEND 1 MiB over the PTY into a sink
    with TcpSinkServer(keep_data=False) as sink:
        assert port.cmd(f'AT+CIPSTART="TCP","127.0.0.1",{sink.port}'.encode()) == (
            b"CONNECT\r\n\r\nOK\r\n"
        )
        up = payload[: 1 << 20]
        for i in range(0, len(up), W800.max_send):
            chunk = up[i : i + W800.max_send]
            port.ser.write(b"AT+CIPSEND=%d\r\n" % len(chunk))
            assert port.until(b">") == b"\r\nOK\r\n\r\n>"
            port.ser.write(chunk)
            assert port.until(b"SEND OK\r\n") == (
                b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % len(chunk)
            )
        sink.wait_connection_bytes(0, len(up), 10)
        assert sink.connection(0).sha256 == hashlib.sha256(up).hexdigest()
        assert port.cmd(b"AT+CIPCLOSE") == b"CLOSED\r\n\r\nOK\r\n"
    # 2. +IPD: the host does not read for a while; the runtime must throttle the link
    src = CountingSender(payload)
    try:
        port.ser.write(f'AT+CIPSTART="TCP","127.0.0.1",{src.port}\r\n'.encode())
        time.sleep(0.6)
        assert mod.module.runtime.net.host_paused
        stalled = src.sent
        time.sleep(0.2)
        assert src.sent == stalled < len(payload) and src.error is None
        assert port.until(b"\r\nOK\r\n") == b"CONNECT\r\n\r\nOK\r\n"
        got = hashlib.sha256()
        n = 0
        while n < len(payload):
            while b":" not in port.buf[:20]:
                port.fill()
            assert port.buf.startswith(b"\r\n+IPD,"), bytes(port.buf[:30])
            colon = port.buf.index(b":")
            length = int(port.buf[7:colon])
            end = colon + 1 + length + 2
            while len(port.buf) < end:
                port.fill()
            got.update(port.buf[colon + 1 : end - 2])
            n += length
            del port.buf[:end]
        assert got.hexdigest() == hashlib.sha256(payload).hexdigest()
        assert port.cmd(b"AT+CIPCLOSE") == b"CLOSED\r\n\r\nOK\r\n"
    finally:
        src.close()

"""A small AT driver, as a firmware project has one: the code under test in these examples.

It opens the module's serial port, waits for ``ready``, sends commands and reads their
answers line by line, and keeps the station joined: `service` handles the URCs that
arrive between commands and joins again when the access point drops the station.
"""

from __future__ import annotations

import contextlib
import re
import time

import serial

FAILURES = ("ERROR", "FAIL", "busy p...")


class AtError(Exception):
    """The module refused a command, or did not answer in time."""


class AtDriver:
    def __init__(self, port: str, *, timeout: float = 5.0, retry_interval: float = 0.5) -> None:
        self.ser = serial.serial_for_url(port, baudrate=115200, timeout=0.05)
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.connected = False
        self.joins = 0  # successful joins
        self._rx = b""
        self._network: tuple[str, str] | None = None
        self._next_try = 0.0
        if self._readline(time.monotonic() + timeout, until="ready") is None:
            raise AtError("the module did not say ready")

    def close(self) -> None:
        self.ser.close()

    # -- lines

    def _readline(self, deadline: float, until: str | None = None) -> str | None:
        """The next line (without CR LF), or the next line equal to ``until``; None at
        the deadline."""
        while time.monotonic() < deadline:
            end = self._rx.find(b"\r\n")
            if end < 0:
                self._rx += self.ser.read(4096)
                continue
            line, self._rx = self._rx[:end].decode("latin-1"), self._rx[end + 2 :]
            if until is None or line == until:
                return line
        return None

    def _urc(self, line: str) -> bool:
        """Track the station's state; True if ``line`` was a URC."""
        if line == "WIFI DISCONNECT":
            self.connected = False
        elif line == "WIFI GOT IP":
            self.connected = True
        elif not line.startswith("WIFI "):
            return False
        return True

    def command(self, line: str, timeout: float | None = None) -> list[str]:
        """Send ``line``; its information lines once ``OK`` came (URCs are handled)."""
        self.ser.write(line.encode("latin-1") + b"\r\n")
        deadline = time.monotonic() + (timeout or self.timeout)
        answer: list[str] = []
        while (got := self._readline(deadline)) is not None:
            if got in ("", line) or self._urc(got):  # blank, echo, URC
                continue
            if got == "OK":
                return answer
            if got in FAILURES:
                raise AtError(f"{line}: {got} {answer}")
            answer.append(got)
        raise AtError(f"{line}: no answer in time")

    # -- Wi-Fi

    def join(self, ssid: str, password: str) -> None:
        self._network = (ssid, password)
        self.command("AT+CWMODE=1")
        self.command(f'AT+CWJAP="{ssid}","{password}"', timeout=20)
        self.joins += 1

    def station_ip(self) -> str:
        for line in self.command("AT+CIPSTA?"):
            if m := re.fullmatch(r'\+CIPSTA:ip:"(.*)"', line):
                return m.group(1)
        raise AtError("AT+CIPSTA? gave no address")

    def service(self, until: object = None, timeout: float = 10.0) -> None:
        """The driver's main loop for ``timeout`` seconds (or until ``until()`` is true):
        handle URCs; while the station is not joined, join again every
        ``retry_interval`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(until) and until():
                return
            line = self._readline(min(deadline, time.monotonic() + 0.05))
            if line:
                self._urc(line)
            if not self.connected and self._network and time.monotonic() >= self._next_try:
                self._next_try = time.monotonic() + self.retry_interval
                with contextlib.suppress(AtError):  # the AP is still away: try again later
                    self.join(*self._network)

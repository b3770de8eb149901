"""open_channel(): kinds, address parsing, errors."""

from __future__ import annotations

import pytest

from w800at.channels import (
    PtyChannel,
    Rfc2217Channel,
    SerialChannel,
    StdioChannel,
    TcpChannel,
    open_channel,
    parse_hostport,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2323", ("127.0.0.1", 2323)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:2323", ("::1", 2323)),
        (":2323", ("127.0.0.1", 2323)),
        ("2323", ("127.0.0.1", 2323)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    "text", ["::1:23", "[::1]23", "[::1]", "host:", "host:x", "h:70000", "h:-1"]
)
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text)


def test_open_channel_kinds() -> None:
    pty = open_channel("pty", "./w800.tty")
    assert isinstance(pty, PtyChannel) and pty.link_path == "./w800.tty"
    tcp = open_channel("tcp", "[::1]:2323")
    assert isinstance(tcp, TcpChannel) and (tcp.host, tcp.port) == ("::1", 2323)
    r = open_channel("rfc2217", "127.0.0.1:0", baud=921600)
    assert isinstance(r, Rfc2217Channel) and r.baud == 921600
    s = open_channel("serial", "/dev/ttyUSB0", baud=9600)
    assert isinstance(s, SerialChannel) and (s.device, s.baud) == ("/dev/ttyUSB0", 9600)
    assert isinstance(open_channel("stdio", None), StdioChannel)


def test_open_channel_errors() -> None:
    with pytest.raises(ValueError, match="unknown channel kind"):
        open_channel("usb", "x")
    with pytest.raises(ValueError, match="needs an argument"):
        open_channel("tcp", None)

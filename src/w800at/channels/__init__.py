"""Where the AT port lives: a PTY, a TCP socket, a serial device, RFC 2217, stdio.

``open_channel(kind, arg)`` turns the CLI's choice into a ``Channel``; nothing
is opened until ``start()``.
"""

from __future__ import annotations

from .base import Channel, ChannelEvents
from .pty import PtyChannel
from .rfc2217 import Rfc2217Channel
from .serial_port import SerialChannel
from .stdio import StdioChannel
from .tcp import TcpChannel

KINDS = ("pty", "tcp", "serial", "rfc2217", "stdio")
DEFAULT_HOST = "127.0.0.1"

__all__ = [
    "KINDS",
    "Channel",
    "ChannelEvents",
    "PtyChannel",
    "Rfc2217Channel",
    "SerialChannel",
    "StdioChannel",
    "TcpChannel",
    "open_channel",
    "parse_hostport",
]


def parse_hostport(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` -> (host, port).

    The host defaults to loopback: exposing the AT port beyond this machine
    must be an explicit choice.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"bad address {text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        raise ValueError(f"bad address {text!r}: write IPv6 hosts as [ADDR]:PORT")
    else:
        host, port_text = "", text
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return (host or default_host), port


def open_channel(kind: str, arg: str | None = None, *, baud: int = 115200) -> Channel:
    """Build the channel for ``kind`` ("pty", "tcp", "serial", "rfc2217", "stdio").

    ``arg`` is the PTY symlink path, ``HOST:PORT`` for tcp/rfc2217, the device
    for serial, and ignored for stdio.  ``baud`` is the initial UART rate.
    """
    if kind == "stdio":
        return StdioChannel()
    if not arg:
        raise ValueError(f"channel {kind!r} needs an argument")
    if kind == "pty":
        return PtyChannel(arg)
    if kind == "tcp":
        return TcpChannel(*parse_hostport(arg))
    if kind == "rfc2217":
        host, port = parse_hostport(arg)
        return Rfc2217Channel(host, port, baud=baud)
    if kind == "serial":
        return SerialChannel(arg, baud)
    raise ValueError(f"unknown channel kind {kind!r}; expected one of {', '.join(KINDS)}")

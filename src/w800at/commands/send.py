"""Sending: AT+CIPSEND (set: one payload after ``>``; execute: passthrough),
AT+CIPSENDEX (``\\0``-escaped payload), AT+CIPSENDL (ESP-AT: long data in data mode).

The payload itself is collected by the engine (`Payload`); here the link is checked
before the ``>`` (a closed link answers ``ERROR`` without a prompt), and the data goes
to the runtime as one `Send` whose result decides ``SEND OK`` / ``SEND FAIL``.
"""

from __future__ import annotations

import functools
from typing import Any

from ..core import render
from ..core.actions import Payload
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.links import LinkState
from ..core.net_actions import Send
from ..core.params import Args, Int, LinkId, Param, Str
from ..core.registry import Command, Final, Task
from ..core.settings import CIPMODE, SettingDef, int_range
from .passthrough import SendLSink, enter_passthrough
from .services import name_service

#: AT+CIPSENDL: "<length>: maximum value: 2^31 - 1 bytes"
SENDL_MAX = 2**31 - 1
_REMOTE = (Str("remote_host", 64, optional=True), Int("remote_port", 0, 65535, optional=True))


@functools.cache  # every send binds these: one signature per length limit
def _signature(max_len: int) -> tuple[Param, ...]:
    return (LinkId(), Int("length", 1, max_len), *_REMOTE)


def _cipsend_params(m: Engine) -> tuple[Param, ...]:
    """AT+CIPSEND / AT+CIPSENDEX: <length> up to the dialect's maximum."""
    return _signature(m.profile.max_send)


_SENDL_PARAMS = _signature(SENDL_MAX)


def _target(m: Engine, a: Args) -> tuple[int, tuple[str, int] | None]:
    """(link ID, per-send UDP remote) of a send command; ERROR if the link is not open."""
    if m.settings.int(CIPMODE):
        raise CommandError(ErrCode.EXEC_FAILED, "AT+CIPMODE=1: use AT+CIPSEND (passthrough)")
    table = m.links
    link_id = a.int("link_id") if table.multi else 0
    link = table.open_link(link_id)
    host, port = a.opt_str("remote_host"), a.opt_int("remote_port")
    if (host is None) != (port is None):
        raise a.count_error(a.index("remote_port") + 1, "remote host and port go together")
    if host is None or port is None:
        # UDP <mode> 1/2: the remote is now the sender the link followed (links.on_data)
        return link_id, (link.remote if link.udp and link.remote_changed else None)
    if not link.udp:
        raise a.error(ErrCode.PARAM_INVALID, "remote_host", "a remote per send is for UDP links")
    return link_id, (host, port)


def _send(m: Engine, a: Args, escaped: bool) -> Task:
    link_id, addr = _target(m, a)
    table = m.links
    link = table.get(link_id)
    data = yield Payload(a.int("length"), escaped)
    assert isinstance(data, bytes)
    m.emit(render.recv_bytes(len(data)))
    if link is None or table.get(link_id) is not link or link.state is not LinkState.OPEN:
        # spec: "the connection is disconnected during data transmission: ERROR"
        raise CommandError(ErrCode.EXEC_FAILED, f"link {link_id} closed during the payload")
    names = name_service(m) if addr is not None else None
    res = yield Send(link_id, data, addr, names)
    table.touch(link)
    return Final.SEND_FAIL if isinstance(res, BaseException) else Final.SEND_OK


def _cipsend_s(m: Engine, a: Args) -> Task:
    return _send(m, a, False)


def _cipsendex_s(m: Engine, a: Args) -> Task:
    return _send(m, a, True)


def _cipsend_x(m: Engine) -> Final:
    """Passthrough: AT+CIPMODE=1, single connection, link 0 open (UDP with <mode> 0)."""
    if not m.settings.int(CIPMODE):
        raise CommandError(ErrCode.EXEC_FAILED, "AT+CIPSEND without <length> needs CIPMODE=1")
    link = m.links.open_link(0)
    if link.udp and link.udp_mode:
        raise CommandError(ErrCode.EXEC_FAILED, "UDP passthrough needs <mode> 0")
    return enter_passthrough(m)


def _cipsendl_s(m: Engine, a: Args) -> Final:
    link_id, addr = _target(m, a)
    link = m.links.open_link(link_id)
    report, transmit = m.settings.get(SENDLCFG)
    m.emit(render.PROMPT)
    SendLSink(m, link, a.int("length"), addr, int(report), int(transmit)).start()
    return Final.NONE


# --- AT+CIPSENDLCFG (ESP-AT, docs/en/AT_Command_Set/TCP-IP_AT_Commands.rst) -------------

#: [<report size>, <transmit size>]: "Default: 1024. Range: [100,2^20]" and "Default:
#: 2920. Range: [100,2920]".  Not saved: it is not among AT+SYSSTORE's commands.
_SENDLCFG: Any = tuple[int_range(100, 2**20), int_range(100, 2920)]  # type: ignore[misc]
#: [report size, transmit size]
SENDLCFG = SettingDef("cipsendlcfg", [1024, 2920], "never", _SENDLCFG)
_SENDLCFG_PARAMS = (Int("report_size", 100, 2**20), Int("transmit_size", 100, 2920, optional=True))


def _sendlcfg_q(m: Engine) -> None:
    report, transmit = m.settings.get(SENDLCFG)
    m.emit(render.info("+CIPSENDLCFG", report, transmit))


def _sendlcfg_s(m: Engine, a: Args) -> None:
    """``AT+CIPSENDLCFG=<report size>[,<transmit size>]``: an omitted <transmit size>
    keeps its value."""
    _, transmit = m.settings.get(SENDLCFG)
    new = a.int("transmit_size") if a.given("transmit_size") else transmit
    m.settings.set(SENDLCFG, [a.int("report_size"), new])


FEATURE = Feature(
    "send",
    commands=(
        Command(
            "+CIPSEND",
            set=_cipsend_s,
            execute=_cipsend_x,
            params=_cipsend_params,
            summary="send data (set), or enter passthrough (execute, AT+CIPMODE=1)",
        ),
        Command(
            "+CIPSENDEX",
            set=_cipsendex_s,
            params=_cipsend_params,
            summary="send data; \\0 ends it early",
        ),
        Command(
            "+CIPSENDL",
            set=_cipsendl_s,
            params=_SENDL_PARAMS,
            summary="send long data in data mode (ESP-AT)",
        ),
        Command(
            "+CIPSENDLCFG",
            query=_sendlcfg_q,
            set=_sendlcfg_s,
            params=_SENDLCFG_PARAMS,
            summary="AT+CIPSENDL's report size and transmit block size (ESP-AT)",
        ),
    ),
    settings=(SENDLCFG,),
)

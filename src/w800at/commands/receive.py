"""Passive receive: AT+CIPRECVMODE, AT+CIPRECVDATA, AT+CIPRECVLEN.

The buffers, the once-only ``+IPD`` notice, the window and the held ``CLOSED`` are in
`w800at.core.links`; these rows read them.
"""

from __future__ import annotations

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.links import LinkState
from ..core.params import Args, Int, LinkId
from ..core.registry import Command, Final
from ..core.settings import CIPDINFO, CIPMODE, RECVMODE

#: spec: "<len>: The maximum value is 0x7fffffff"
RECV_MAX = 0x7FFFFFFF


def _recvmode_q(m: Engine) -> None:
    m.emit(render.info("+CIPRECVMODE", m.settings.int(RECVMODE)))


def _recvmode_s(m: Engine, a: Args) -> None:
    mode = a.int("mode")
    if mode and m.settings.int(CIPMODE):
        raise CommandError(ErrCode.EXEC_FAILED, "passive mode is not for passthrough")
    m.settings.set(RECVMODE, mode)
    if not mode:
        m.links.flush_passive()  # nothing buffered is lost


_RECVDATA_PARAMS = (LinkId(), Int("len", 1, RECV_MAX))


def _recvdata_s(m: Engine, a: Args) -> Final:
    table = m.links
    if not table.passive:
        raise CommandError(ErrCode.EXEC_FAILED, "AT+CIPRECVMODE is 0")
    link_id = a.int("link_id") if table.multi else 0
    link = table.get(link_id)
    if link is None or link.state not in (LinkState.OPEN, LinkState.HELD):
        raise CommandError(ErrCode.EXEC_FAILED, f"link {link_id} is not valid")
    data, addr = table.read(link, a.int("len"))
    info = addr if m.settings.int(CIPDINFO) else None
    m.emit(render.recvdata_header(len(data), info) + data)
    m.emit(render.OK)
    table.settle(link)  # a held CLOSED comes after the OK, as a URC
    return Final.NONE


def _recvlen_q(m: Engine) -> None:
    table = m.links
    unused = m.profile.recvlen_unused
    fields: list[object] = []
    for i in range(m.profile.max_links):
        link = table.get(i)
        ok = link is not None and link.state in (LinkState.OPEN, LinkState.HELD)
        fields.append(table.visible(link) if ok and link is not None else unused)
    m.emit(render.info("+CIPRECVLEN", *fields))


FEATURE = Feature(
    "receive",
    commands=(
        Command(
            "+CIPRECVMODE",
            query=_recvmode_q,
            set=_recvmode_s,
            params=(Int("mode", 0, 1),),
            summary="active (0) or passive (1) receive",
        ),
        Command(
            "+CIPRECVDATA",
            set=_recvdata_s,
            params=_RECVDATA_PARAMS,
            summary="read passive-mode data",
        ),
        Command("+CIPRECVLEN", query=_recvlen_q, summary="bytes buffered per link"),
    ),
    settings=(),
)

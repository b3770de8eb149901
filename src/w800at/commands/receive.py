"""Passive receive: AT+CIPRECVMODE, AT+CIPRECVDATA, AT+CIPRECVLEN.

The buffers, the once-only ``+IPD`` notice, the window and the held ``CLOSED`` are in
`w800at.core.links`; these rows read them.
"""

from __future__ import annotations

import functools

from ..core import render
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.links import CIPDINFO, CIPMODE, RECVMODE, LinkState, links_of
from ..core.params import Args, Int, Param
from ..core.registry import Command, Final, register

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
        links_of(m).flush_passive()  # nothing buffered is lost


@functools.cache  # a passive reader repeats the same line: built once per shape
def _recvdata_signature(max_links: int, multi: bool) -> tuple[Param, ...]:
    length = Int("len", 1, RECV_MAX)
    return (Int("link_id", 0, max_links - 1), length) if multi else (length,)


def _recvdata_params(m: Engine) -> tuple[Param, ...]:
    return _recvdata_signature(m.profile.max_links, links_of(m).multi)


def _recvdata_s(m: Engine, a: Args) -> Final:
    table = links_of(m)
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
    table = links_of(m)
    unused = m.profile.recvlen_unused
    fields: list[object] = []
    for i in range(m.profile.max_links):
        link = table.get(i)
        ok = link is not None and link.state in (LinkState.OPEN, LinkState.HELD)
        fields.append(table.visible(link) if ok and link is not None else unused)
    m.emit(render.info("+CIPRECVLEN", *fields))


register(
    Command(
        "+CIPRECVMODE",
        query=_recvmode_q,
        set=_recvmode_s,
        params=(Int("mode", 0, 1),),
        summary="active (0) or passive (1) receive",
    )
)
register(
    Command(
        "+CIPRECVDATA", set=_recvdata_s, params=_recvdata_params, summary="read passive-mode data"
    )
)
register(Command("+CIPRECVLEN", query=_recvlen_q, summary="bytes buffered per link"))

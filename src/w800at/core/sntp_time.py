"""The AT+CIPSNTPCFG ``<timezone>`` parameter and AT+CIPSNTPTIME's asctime output (pure).

Parsing rule
------------
The parameter is an integer (optional sign, decimal digits, leading zeros ignored - the W800 /
ESP-AT manual: "ESP-AT will ignore the leading 0 ... the set value is 15").  Then:

* value in [-12, 14]: *first format*, whole hours east of UTC (``8`` = UTC+08:00);
* otherwise: *second format* ``[+|-][hh]mm``: hh = value / 100 and mm = |value| % 100, with
  hh in [-12, 14] and mm in [0, 59]; the sign applies to the whole offset
  (``-530`` = UTC-05:30, ``1245`` = UTC+12:45, ``015`` = ``15`` = UTC+00:15).

Anything else (empty, non-digits, hh or mm out of range such as ``1500``, ``1260``, ``99``)
is invalid and the set command answers ERROR.

Query rule
----------
``AT+CIPSNTPCFG?`` prints the first-format value unchanged and, for the second format, the
hour part only, C integer division truncating toward zero: 8 -> 8, 800 -> 8, -500 -> -5,
530 -> 5, 1245 -> 12, -1245 -> -12, 015 -> 0.

Sources: the W800 AT manual (derived from Espressif's ESP-AT manual) states "setting
AT+CIPSNTPCFG=1,015 ... parsed according to the second UTC offset format, which is UTC+00:15,
and the queried time zone is 0" - i.e. the query shows the hour part, not the set value 15.
Bouffalo Lab's open-source ESP-AT-compatible firmware implements exactly this:
``at_query_cmd_cipsntpcfg`` prints ``timezone`` if in [-12, 14] else ``timezone/100``, and
``at_query_cmd_cipsntptime`` applies ``zone/100`` hours plus ``zone%100`` minutes.  We are
stricter than that firmware on set (it only range-checks [-1259, 1459], so ``99`` or ``1299``
slip through) because the manual states "mm must be between 0 and 59".

asctime
-------
AT+CIPSNTPTIME? prints C ``asctime`` style, ``"%.3s %.3s%3d %.2d:%.2d:%.2d %d"``: English day
and month names, day of month space-padded to width 2 (``Thu Jan  1 00:00:00 1970``),
fractional seconds truncated like a ``time_t``.  Built by hand, not with ``strftime``, so the
host locale cannot change it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["UTC", "Timezone", "format_asctime", "parse_timezone"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MIN_HOURS, _MAX_HOURS = -12, 14


@dataclass(frozen=True, slots=True)
class Timezone:
    """A parsed ``<timezone>``.

    ``value`` is the integer as set (leading zeros dropped), ``offset_minutes`` the offset east
    of UTC, ``query_value`` what ``AT+CIPSNTPCFG?`` prints.
    """

    value: int
    offset_minutes: int
    query_value: int


UTC = Timezone(value=0, offset_minutes=0, query_value=0)


def _trunc_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero), unlike Python's floor division."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def parse_timezone(text: str) -> Timezone:
    """Parse the ``<timezone>`` parameter text; raise :class:`ValueError` if invalid."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"timezone must be an integer, got {text!r}")
    value = int(text)
    if _MIN_HOURS <= value <= _MAX_HOURS:
        return Timezone(value=value, offset_minutes=value * 60, query_value=value)
    hours = _trunc_div(value, 100)
    minutes = abs(value) % 100
    if not _MIN_HOURS <= hours <= _MAX_HOURS:
        raise ValueError(f"timezone hour {hours} out of range [-12, 14]")
    if minutes > 59:
        raise ValueError(f"timezone minute {minutes} out of range [0, 59]")
    sign = -1 if value < 0 else 1
    offset = sign * (abs(hours) * 60 + minutes)
    return Timezone(value=value, offset_minutes=offset, query_value=hours)


def format_asctime(unix_seconds: float, tz: Timezone) -> str:
    """Local time for *tz* at *unix_seconds* in asctime style (no trailing newline)."""
    local = _EPOCH + timedelta(seconds=math.floor(unix_seconds) + tz.offset_minutes * 60)
    return (
        f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day:2d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {local.year}"
    )

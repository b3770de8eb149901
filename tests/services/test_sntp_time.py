"""AT+CIPSNTPCFG <timezone> parsing and AT+CIPSNTPTIME asctime formatting (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w800at.core.sntp_time import Timezone, format_asctime, parse_timezone

# 2021-10-19 09:47:56 UTC: the manual shows 17:47:56 for zone 8 and 15:17:56 for zone 530.
MANUAL_INSTANT = 1_634_636_876.0


@pytest.mark.parametrize(
    ("text", "offset_minutes", "query_value"),
    [
        ("8", 480, 8),
        ("-5", -300, -5),
        ("0", 0, 0),
        ("14", 840, 14),
        ("-12", -720, -12),
        ("+8", 480, 8),
        ("-0", 0, 0),
        ("08", 480, 8),
        ("800", 480, 8),
        ("-500", -300, -5),
        ("530", 330, 5),
        ("-530", -330, -5),
        ("1245", 765, 12),
        ("-1245", -765, -12),
        ("015", 15, 0),
        ("15", 15, 0),
        ("-15", -15, 0),
        ("059", 59, 0),
        ("100", 60, 1),
        ("1459", 899, 14),
        ("-1259", -779, -12),
        ("1400", 840, 14),
        ("-1200", -720, -12),
    ],
)
def test_parse_timezone_valid(text: str, offset_minutes: int, query_value: int) -> None:
    tz = parse_timezone(text)
    assert tz.offset_minutes == offset_minutes
    assert tz.query_value == query_value
    assert tz.value == int(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "+",
        "-",
        " 8",
        "8 ",
        "8.5",
        "5:30",
        "abc",
        "0x10",
        "1500",  # hour 15 > 14
        "-1300",  # hour -13 < -12
        "1460",  # minute 60
        "-560",  # minute 60
        "99",  # 00:99
        "60",  # 00:60
        "-99",
        "15000",  # hour 150
        "12345",
        "\u0668",  # Arabic-Indic digit eight: int() accepts it, the AT parser must not
    ],
)
def test_parse_timezone_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timezone(text)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("8", "Tue Oct 19 17:47:56 2021"),  # manual example, AT+CIPSNTPCFG=1,8
        ("800", "Tue Oct 19 17:47:56 2021"),
        ("530", "Tue Oct 19 15:17:56 2021"),  # manual example, AT+CIPSNTPCFG=1,530
        ("0", "Tue Oct 19 09:47:56 2021"),
        ("015", "Tue Oct 19 10:02:56 2021"),
        ("-5", "Tue Oct 19 04:47:56 2021"),
        ("-500", "Tue Oct 19 04:47:56 2021"),
        ("1245", "Tue Oct 19 22:32:56 2021"),
        ("14", "Tue Oct 19 23:47:56 2021"),
        ("-12", "Mon Oct 18 21:47:56 2021"),
    ],
)
def test_format_asctime_manual_instant(zone: str, expected: str) -> None:
    assert format_asctime(MANUAL_INSTANT, parse_timezone(zone)) == expected


def test_format_asctime_pads_day_with_space_and_truncates_fraction() -> None:
    utc = parse_timezone("0")
    assert format_asctime(0.0, utc) == "Thu Jan  1 00:00:00 1970"
    assert format_asctime(0.999, utc) == "Thu Jan  1 00:00:00 1970"
    assert format_asctime(9 * 86400 + 59.5, utc) == "Sat Jan 10 00:00:59 1970"


def test_format_asctime_crosses_day_month_and_year_boundaries() -> None:
    # 2023-12-31 23:30:00 UTC
    instant = 1_704_065_400.0
    assert format_asctime(instant, parse_timezone("0")) == "Sun Dec 31 23:30:00 2023"
    assert format_asctime(instant, parse_timezone("1")) == "Mon Jan  1 00:30:00 2024"
    assert format_asctime(instant, parse_timezone("-1245")) == "Sun Dec 31 10:45:00 2023"
    # Leap day 2024-02-29 12:00:00 UTC
    assert format_asctime(1_709_208_000.0, parse_timezone("0")) == "Thu Feb 29 12:00:00 2024"


def test_timezone_is_a_value_object() -> None:
    assert parse_timezone("0800") == Timezone(value=800, offset_minutes=480, query_value=8)


@given(st.integers(min_value=0, max_value=4_102_444_800), st.integers(-12, 14))
def test_hour_formats_agree(instant: int, hours: int) -> None:
    """``h`` and ``h00`` are the same zone for every hour except 0 (``000`` is just 0)."""
    short = parse_timezone(str(hours))
    long = parse_timezone(str(hours * 100))
    assert short.offset_minutes == long.offset_minutes == hours * 60
    assert format_asctime(instant, short) == format_asctime(instant, long)

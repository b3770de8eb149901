"""Basic AT commands: AT, ATE0/1, AT+RST, AT+GMR, AT+CMD, AT+RESTORE, AT+SYSSTORE,
AT+SYSLOG, AT+SYSMSG, AT+UART_CUR/DEF (ESP-AT's basic set, which the W800 follows), and
AT+RFPOWER (esp-at dialect only: see Profile.unsupported).  AT+SYSTIMESTAMP sets the
module clock, so it lives with SNTP in ``services.py``."""

from __future__ import annotations

from typing import Any

from ..core import render
from ..core.actions import SetUart
from ..core.engine import Engine
from ..core.errors import CommandError, ErrCode
from ..core.feature import Feature
from ..core.params import Args, Int
from ..core.registry import Command, Final, Handler, SetHandler
from ..core.settings import SYSLOG, SYSMSG, SYSSTORE, SettingDef, int_range
from .wifi import CWMODE

#: [baud, databits, stopbits, parity, flow control], the ranges of UART_PARAMS
_BAUD: Any = int_range(80, 5_000_000)
_DATABITS: Any = int_range(5, 8)
_STOPBITS: Any = int_range(1, 3)
_PARITY: Any = int_range(0, 2)
_FLOW: Any = int_range(0, 3)
UART_CONF: Any = tuple[_BAUD, _DATABITS, _STOPBITS, _PARITY, _FLOW]
UART_DEF = SettingDef("uart_def", lambda p: list(p.uart_default), "always", UART_CONF)
UART_CUR = SettingDef("uart_cur", None, "never", UART_CONF | None)  # None: same as UART_DEF


def _at(m: Engine) -> None:
    return None


def _echo(on: bool) -> Handler:
    def run(m: Engine) -> None:
        m.echo = on

    return run


def _rst(m: Engine) -> Final:
    # OK goes out first; the reboot (and "ready" after boot_time) follows.
    m.emit(render.OK)
    m.reset()
    return Final.NONE


def _gmr(m: Engine) -> None:
    m.emit(render.lines(m.profile.gmr))


def _cmd_query(m: Engine) -> None:
    rows = []
    listed = [
        c
        for c in sorted(m.features.commands.values(), key=lambda c: c.name)
        if c.name not in m.profile.unsupported
    ]
    for i, cmd in enumerate(listed):  # consecutive indexes: unsupported ones are not there
        # "=?" answers OK for every command with a set form (the engine's rule)
        test = cmd.test or cmd.set
        flags = [int(h is not None) for h in (test, cmd.query, cmd.set, cmd.execute)]
        rows.append(render.info("+CMD", i, render.q("AT" + cmd.name), *flags))
    m.emit(b"".join(rows))


def _restore(m: Engine) -> Final:
    m.settings.restore()
    m.save_if_dirty()
    m.emit(render.OK)
    m.reset()
    return Final.NONE


def _int_setting(setting: SettingDef, label: str) -> tuple[Handler, SetHandler]:
    def query(m: Engine) -> None:
        m.emit(render.info(label, m.settings.int(setting)))

    def set_(m: Engine, a: Args) -> None:
        m.settings.set(setting, a.int("value"))

    return query, set_


_sysstore_q, _sysstore_s = _int_setting(SYSSTORE, "+SYSSTORE")
_syslog_q, _syslog_s = _int_setting(SYSLOG, "+SYSLOG")
_sysmsg_q, _sysmsg_s = _int_setting(SYSMSG, "+SYSMSG")


# --- AT+RFPOWER (ESP-AT, docs/en/AT_Command_Set/Basic_AT_Commands.rst) -----------------
#
# The esp-at dialect is an ESP32 (AT+GMR): "<wifi_power>: the unit is 0.25 dBm ... the
# range is [40,84]", and the value read back is the level the chip uses ("set value ->
# get value": [40,43] 34, [44,51] 44, [52,55] 52, [56,59] 56, [60,65] 60, [66,71] 66,
# [72,77] 72, [78,84] 78).  Bluetooth LE is never initialised here, so its three powers
# read 0 and setting them fails: "when Bluetooth LE is not initialized, the command
# cannot set or query that of Bluetooth LE" (and esp-at issue #746: AT+RFPOWER? ->
# "+RFPOWER:76,0,0,0", AT+RFPOWER=78,0,0,0 -> ERROR before AT+BLEINIT).  "When Wi-Fi is
# turned off ... cannot set or query the RF TX Power of Wi-Fi": 0, and ERROR.  Not saved
# (not among AT+SYSSTORE's commands): the factory default, 78, at every boot.

#: (lowest set value, value read back) per ESP32 TX power level
RF_LEVELS = ((40, 34), (44, 44), (52, 52), (56, 56), (60, 60), (66, 66), (72, 72), (78, 78))
RFPOWER = SettingDef("rfpower", 78, "never", int_range(34, 78))
BLE_POWERS = ("ble_adv", "ble_scan", "ble_conn")


def _wifi_off(m: Engine) -> bool:
    return m.settings.int(CWMODE) == 0


def _rfpower_q(m: Engine) -> None:
    wifi = 0 if _wifi_off(m) else m.settings.int(RFPOWER)
    m.emit(render.info("+RFPOWER", wifi, 0, 0, 0))


def _rfpower_s(m: Engine, a: Args) -> None:
    if any(a.given(k) for k in BLE_POWERS):
        raise CommandError(ErrCode.EXEC_FAILED, "Bluetooth LE is not initialised")
    if _wifi_off(m):
        raise CommandError(ErrCode.EXEC_FAILED, "Wi-Fi is off (AT+CWMODE=0)")
    value = a.int("wifi_power")
    level = max(get for low, get in RF_LEVELS if value >= low)
    m.settings.set(RFPOWER, level)


def _uart(m: Engine, setting: SettingDef) -> list[int]:
    v = m.settings.get(setting)
    if v is None:
        v = m.settings.get(UART_DEF)
    return list(v)


def _uart_query(label: str, setting: SettingDef) -> Handler:
    def query(m: Engine) -> None:
        m.emit(render.info(label, *_uart(m, setting)))

    return query


def _uart_set(persist: bool) -> SetHandler:
    def set_(m: Engine, a: Args) -> Final:
        conf = [a.int(k) for k in ("baud", "databits", "stopbits", "parity", "flow")]
        m.settings.set(UART_CUR, conf)
        if persist:
            m.settings.set(UART_DEF, conf)
        # The new rate applies after OK has reached the host (the runtime drains first).
        m.emit(render.OK)
        m.save_if_dirty()
        m.act(SetUart(*conf))
        return Final.NONE

    return set_


UART_PARAMS = (
    Int("baud", 80, 5_000_000),
    Int("databits", 5, 8),
    Int("stopbits", 1, 3),
    Int("parity", 0, 2),
    Int("flow", 0, 3),
)

FEATURE = Feature(
    "basic",
    commands=(
        Command("", execute=_at, summary="test AT startup"),
        Command("E0", execute=_echo(False), summary="echo off"),
        Command("E1", execute=_echo(True), summary="echo on"),
        Command("+RST", execute=_rst, summary="restart the module"),
        Command("+GMR", execute=_gmr, summary="version information"),
        Command("+CMD", query=_cmd_query, summary="list AT commands"),
        Command("+RESTORE", execute=_restore, summary="factory reset"),
        Command(
            "+SYSSTORE",
            query=_sysstore_q,
            set=_sysstore_s,
            params=(Int("value", 0, 1),),
            summary="save settings to NVS (1, default) or not (0)",
        ),
        Command(
            "+SYSLOG",
            query=_syslog_q,
            set=_syslog_s,
            params=(Int("value", 0, 1),),
            summary="print ERR CODE lines before ERROR",
        ),
        Command(
            "+SYSMSG",
            query=_sysmsg_q,
            set=_sysmsg_s,
            params=(Int("value", 0, 7),),
            summary="message format bits: 0 +QUITT, 1 +LINK_CONN, 2 CONNECT/CLOSED in passthrough",
        ),
        Command(
            "+RFPOWER",
            query=_rfpower_q,
            set=_rfpower_s,
            params=(Int("wifi_power", 40, 84), *(Int(k, 0, 7, optional=True) for k in BLE_POWERS)),
            summary="RF TX power: Wi-Fi in 0.25 dBm (ESP32 levels); no Bluetooth LE",
        ),
        Command(
            "+UART_CUR",
            query=_uart_query("+UART_CUR", UART_CUR),
            set=_uart_set(False),
            params=UART_PARAMS,
            summary="current UART configuration (not saved)",
        ),
        Command(
            "+UART_DEF",
            query=_uart_query("+UART_DEF", UART_DEF),
            set=_uart_set(True),
            params=UART_PARAMS,
            summary="default UART configuration (saved)",
        ),
    ),
    settings=(UART_DEF, UART_CUR, RFPOWER),
)

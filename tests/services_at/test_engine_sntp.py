"""AT+CIPSNTPCFG, AT+CIPSNTPTIME, AT+CIPSNTPINTV on the engine alone (manual clock)."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from w800at.core.actions import SaveSettings
from w800at.core.service_actions import SntpSync, SntpTime
from w800at.profiles import ESP_AT, W800, Profile
from w800at.runtime.sntp import SntpError

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
#: 2021-10-19 09:47:56 UTC, the instant behind the spec's AT+CIPSNTPTIME? examples
T0 = 1_634_636_876.0
EPOCH = b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:Thu Jan  1 00:00:00 1970\r\n" + OK


def joined() -> Harness:
    h = Harness()
    h.join()
    h.take()
    return h


def time_q(h: Harness) -> bytes:
    out = h.send(b"AT+CIPSNTPTIME?\r\n")
    head = b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:"
    assert out.startswith(head) and out.endswith(b"\r\n" + OK), out
    return out[len(head) : -len(b"\r\n" + OK)]


def sync(h: Harness, unix: float = T0) -> None:
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpTime(unix, "ntp.test")) == b""


def next_sync_in(h: Harness, interval: float) -> None:
    """The next SntpSync is due exactly ``interval`` after now: not before, and then."""
    deadline, _ = h.engine._timers["sntp-sync"]
    assert deadline == h.now + interval
    h.advance(interval - 0.001)
    assert h.take(SntpSync) == []
    h.advance(0.002)
    assert len(h.pending) == 1 and isinstance(h.pending[0], SntpSync)


def test_defaults() -> None:
    h = Harness()
    assert h.send(b"AT+CIPSNTPCFG?\r\n") == (
        b'AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:0,0,"cn.ntp.org.cn","ntp.sjtu.edu.cn","us.pool.ntp.org"'
        b"\r\n" + OK
    )
    assert h.send(b"AT+CIPSNTPINTV?\r\n") == b"AT+CIPSNTPINTV?\r\n+CIPSNTPINTV:3600\r\n" + OK
    assert h.send(b"AT+CIPSNTPTIME?\r\n") == EPOCH
    h.check()


def test_clock_runs_from_the_epoch_before_a_sync() -> None:
    h = Harness()
    h.advance(61.5)
    assert time_q(h) == b"Thu Jan  1 00:01:01 1970"
    h.send(b"AT+CIPSNTPCFG=0,-5\r\n")
    assert time_q(h) == b"Wed Dec 31 19:01:01 1969"


def test_enable_starts_a_sync_with_the_given_servers() -> None:
    h = joined()
    line = b'AT+CIPSNTPCFG=1,8,"cn.ntp.org.cn","ntp.sjtu.edu.cn"\r\n'
    assert h.send(line) == line + OK
    (act,) = h.take(SntpSync)
    assert isinstance(act, SntpSync) and act.servers == ("cn.ntp.org.cn", "ntp.sjtu.edu.cn")
    # not busy: the sync runs in the background
    assert h.send(b"AT\r\n") == b"AT\r\n" + OK
    assert h.send(b"AT+CIPSNTPCFG?\r\n") == (
        b'AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:1,8,"cn.ntp.org.cn","ntp.sjtu.edu.cn"\r\n' + OK
    )
    assert h.complete(act, SntpTime(T0, "cn.ntp.org.cn")) == b""
    assert time_q(h) == b"Tue Oct 19 17:47:56 2021"  # the spec's first example
    h.advance(10.25)
    assert time_q(h) == b"Tue Oct 19 17:48:06 2021"
    h.check()


@pytest.mark.parametrize("profile", [W800, ESP_AT])
def test_time_updated_when_sntp_first_sets_the_clock(profile: Profile) -> None:
    """Issue 12 item 12: ESP-AT prints +TIME_UPDATED when the first sync after
    AT+CIPSNTPCFG (or power-on) sets the clock, not on the periodic re-syncs; the w800
    dialect (WinnerMicro's pages have no such message) prints nothing."""
    h = Harness(profile)
    h.join()
    h.send(b"ATE0\r\n")
    h.take()
    urc = b"+TIME_UPDATED\r\n" if profile.time_updated_urc else b""
    assert h.send(b'AT+CIPSNTPCFG=1,8,"ntp.test"\r\nAT+CIPSNTPINTV=15\r\n') == OK + OK
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpError("no answer")) == b""  # a failure: no message
    h.advance(15.0)
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpTime(T0, "ntp.test")) == urc
    h.advance(15.0)
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpTime(T0 + 15, "ntp.test")) == b""  # a re-sync
    assert h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n') == OK  # configured again
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpTime(T0 + 20, "ntp.test")) == urc
    h.check()


def test_systimestamp_esp_at() -> None:
    """Issue 12 item 2: AT+SYSTIMESTAMP reads and sets the module clock (the one
    AT+CIPSNTPTIME? shows); an SNTP sync sets it again."""
    h = Harness(ESP_AT)
    h.join()
    h.send(b"ATE0\r\nAT+SYSLOG=1\r\n")
    h.take()
    h.advance(61.5)
    assert h.send(b"AT+SYSTIMESTAMP?\r\n") == b"+SYSTIMESTAMP:61\r\n" + OK
    assert h.send(b"AT+SYSTIMESTAMP=1565853509\r\n") == OK  # the doc's example
    h.advance(2.25)
    assert h.send(b"AT+SYSTIMESTAMP?\r\n") == b"+SYSTIMESTAMP:1565853511\r\n" + OK
    assert h.send(b"AT+CIPSNTPTIME?\r\n") == (
        b"+CIPSNTPTIME:Thu Aug 15 07:18:31 2019\r\n" + OK  # "2019-08-15 15:18:29" is UTC+8
    )
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpTime(T0, "ntp.test")) == b"+TIME_UPDATED\r\n"
    assert h.send(b"AT+SYSTIMESTAMP?\r\n") == b"+SYSTIMESTAMP:%d\r\n" % T0 + OK
    for line, code in (
        (b"AT+SYSTIMESTAMP=-1", 0x01070000),
        (b"AT+SYSTIMESTAMP=2147483648", 0x01070000),
        (b'AT+SYSTIMESTAMP="1"', 0x01050000),
        (b"AT+SYSTIMESTAMP=", 0x01060100),  # need 1, given 0
    ):
        assert h.send(line + b"\r\n") == b"ERR CODE:0x%08x\r\n" % code + ERROR, line
    h.check()


def test_default_servers_when_none_given() -> None:
    h = joined()
    h.send(b"AT+CIPSNTPCFG=1,530\r\n")
    (act,) = h.take(SntpSync)
    assert isinstance(act, SntpSync)
    assert act.servers == ("cn.ntp.org.cn", "ntp.sjtu.edu.cn", "us.pool.ntp.org")
    h.complete(act, SntpTime(T0, "cn.ntp.org.cn"))
    assert time_q(h) == b"Tue Oct 19 15:17:56 2021"  # the spec's second example


@pytest.mark.parametrize(
    ("tz", "shown", "local"),
    [
        (b"8", b"8", b"Tue Oct 19 17:47:56 2021"),
        (b"800", b"8", b"Tue Oct 19 17:47:56 2021"),
        (b"-5", b"-5", b"Tue Oct 19 04:47:56 2021"),
        (b"-500", b"-5", b"Tue Oct 19 04:47:56 2021"),
        (b"1245", b"12", b"Tue Oct 19 22:32:56 2021"),
        (b"-1245", b"-12", b"Mon Oct 18 21:02:56 2021"),
        (b"14", b"14", b"Tue Oct 19 23:47:56 2021"),
        (b"-12", b"-12", b"Mon Oct 18 21:47:56 2021"),
        (b"1400", b"14", b"Tue Oct 19 23:47:56 2021"),
        (b"015", b"0", b"Tue Oct 19 10:02:56 2021"),
        (b"0", b"0", b"Tue Oct 19 09:47:56 2021"),
    ],
)
def test_timezones(tz: bytes, shown: bytes, local: bytes) -> None:
    h = joined()
    line = b"AT+CIPSNTPCFG=1," + tz + b',"ntp.test"\r\n'
    assert h.send(line) == line + OK
    sync(h)
    assert h.send(b"AT+CIPSNTPCFG?\r\n") == (
        b"AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:1," + shown + b',"ntp.test"\r\n' + OK
    )
    assert time_q(h) == local
    h.check()


@pytest.mark.parametrize(
    "args",
    [
        b"1,15",
        b"1,1500",
        b"1,1260",
        b"1,99",
        b"1,-1300",
        b"2,8",
        b'1,"8"',
        b"1",
        b"1,8,ntp.test",
        b'1,8,"a","b","c","d"',
        b"1,8," + b'"' + b"a" * 65 + b'"',
        b"1,+",
    ],
)
def test_bad_cfg_keeps_the_setting(args: bytes) -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=0,8,"ntp.test"\r\n')
    line = b"AT+CIPSNTPCFG=" + args + b"\r\n"
    out = h.send(line)
    if args == b"1,15":  # 15 = "0015" in the second format: UTC+00:15 (the spec's "015")
        assert out == line + OK
        return
    assert out == line + ERROR
    assert h.take(SntpSync) == []
    assert h.send(b"AT+CIPSNTPCFG?\r\n") == (
        b'AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:0,8,"ntp.test"\r\n' + OK
    )
    h.check()


def test_resync_exactly_at_the_interval() -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    sync(h)
    next_sync_in(h, 3600)
    (act,) = h.take(SntpSync)
    assert isinstance(act, SntpSync) and act.servers == ("ntp.test",)
    # the new answer sets the clock (the server's time wins over the running clock)
    h.complete(act, SntpTime(T0 + 7200, "ntp.test"))
    assert time_q(h) == b"Tue Oct 19 11:47:56 2021"
    h.check()


def test_interval_setting_is_honoured() -> None:
    h = joined()
    assert h.send(b"AT+CIPSNTPINTV=15\r\n") == b"AT+CIPSNTPINTV=15\r\n" + OK
    assert h.send(b"AT+CIPSNTPINTV?\r\n") == b"AT+CIPSNTPINTV?\r\n+CIPSNTPINTV:15\r\n" + OK
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    for _ in range(3):
        sync(h)
        next_sync_in(h, 15)
    h.check()


def test_changing_the_interval_rearms_the_wait() -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    sync(h)
    h.advance(100)
    h.send(b"AT+CIPSNTPINTV=60\r\n")
    next_sync_in(h, 60)


@pytest.mark.parametrize(
    "line",
    [b"AT+CIPSNTPINTV=14", b"AT+CIPSNTPINTV=4294968", b"AT+CIPSNTPINTV=", b'AT+CIPSNTPINTV="60"'],
)
def test_interval_range(line: bytes) -> None:
    h = Harness()
    assert h.send(line + b"\r\n") == line + b"\r\n" + ERROR
    assert h.send(b"AT+CIPSNTPINTV=4294967\r\n") == b"AT+CIPSNTPINTV=4294967\r\n" + OK


def test_failed_sync_is_retried_after_15_s() -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    (act,) = h.take(SntpSync)
    assert h.complete(act, SntpError("no reply")) == b""
    assert time_q(h).endswith(b"1970")
    next_sync_in(h, 15)
    sync(h)
    assert time_q(h) == b"Tue Oct 19 09:47:56 2021"
    h.check()


def test_disable_stops_syncing_and_keeps_the_time() -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    sync(h)
    h.send(b'AT+CIPSNTPCFG=0,0,"ntp.test"\r\n')
    h.advance(10_000)
    assert h.take(SntpSync) == []
    assert time_q(h) == b"Tue Oct 19 12:34:36 2021"


def test_reconfigure_drops_the_answer_in_flight() -> None:
    h = joined()
    h.send(b'AT+CIPSNTPCFG=1,0,"old.test"\r\n')
    (old,) = h.take(SntpSync)
    h.send(b'AT+CIPSNTPCFG=1,0,"new.test"\r\n')
    (new,) = h.take(SntpSync)
    assert isinstance(new, SntpSync) and new.servers == ("new.test",)
    h.complete(old, SntpTime(T0 - 86400, "old.test"))
    assert time_q(h).endswith(b"1970")
    h.complete(new, SntpTime(T0, "new.test"))
    assert time_q(h) == b"Tue Oct 19 09:47:56 2021"
    h.advance(3600)
    assert len(h.take(SntpSync)) == 1  # only one schedule: the stale answer made none
    h.check()


def test_enable_before_wifi_waits_for_an_ip() -> None:
    h = Harness()
    h.send(b'AT+CIPSNTPCFG=1,0,"ntp.test"\r\n')
    assert h.take(SntpSync) == []
    h.join()
    h.advance(15)
    assert len(h.take(SntpSync)) == 1


def test_sntp_settings_are_not_saved_and_reboot_resets_the_clock() -> None:
    h = joined()
    h.take()
    h.send(b"AT+CIPSNTPINTV=60\r\n")
    h.send(b'AT+CIPSNTPCFG=1,8,"ntp.test"\r\n')
    snaps = [a.snapshot for a in h.take(SaveSettings) if isinstance(a, SaveSettings)]
    assert all("sntp_cfg" not in s and "sntp_intv" not in s for s in snaps)
    sync(h)
    out = h.send(b"AT+RST\r\n") + h.advance(0.3)
    assert out == b"AT+RST\r\n" + OK + b"\r\nready\r\n"
    assert h.send(b"AT+CIPSNTPTIME?\r\n") == EPOCH
    assert h.send(b"AT+CIPSNTPINTV?\r\n") == b"AT+CIPSNTPINTV?\r\n+CIPSNTPINTV:3600\r\n" + OK
    h.advance(4000)
    assert h.take(SntpSync) == []
    h.check()

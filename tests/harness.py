"""A manual-clock driver for the engine (no I/O): the fast engine tests use it.

    h = Harness()                    # powered on, "ready" already consumed
    assert h.send(b"AT\\r\\n") == b"AT\\r\\n\\r\\nOK\\r\\n"
    h.advance(0.5)                   # fire timers up to now+0.5, return output

`send(..., bytewise=True)` feeds one byte at a time; `both(...)` runs a scenario both
ways on two fresh harnesses and checks the outputs are identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from w800at.commands import FEATURES
from w800at.core.actions import Action
from w800at.core.engine import Engine
from w800at.core.feature import FeatureSet
from w800at.core.options import ModuleOptions
from w800at.core.state import StationAddresses
from w800at.profiles import W800, Profile

LAB_ADDRESSES = StationAddresses(
    ip="127.0.0.1",
    gateway="127.0.0.1",
    netmask="255.0.0.0",
    ip6_ll="fe80::1",
    ip6_gl="::1",
    mac="02:00:00:00:00:01",
)


class Harness:
    def __init__(
        self,
        profile: Profile = W800,
        *,
        saved: dict[str, Any] | None = None,
        options: ModuleOptions | None = None,
        lenient_eol: bool = False,
        boot: bool = True,
        features: FeatureSet = FEATURES,
    ) -> None:
        self.now = 1000.0
        opts = options or ModuleOptions(addresses=LAB_ADDRESSES)
        self.engine = Engine(
            profile, features, saved=saved, options=opts, now=self.now, lenient_eol=lenient_eol
        )
        self.pending: list[Action] = []
        if boot:
            self.engine.power_on(self.now)
            self.boot_output = self.advance(profile.boot_time)

    def _collect(self) -> bytes:
        self.pending.extend(self.engine.take_actions())
        return self.engine.take_output()

    def send(self, data: bytes, *, bytewise: bool = False) -> bytes:
        if bytewise:
            for i in range(len(data)):
                self.engine.receive_data(data[i : i + 1], self.now)
        else:
            self.engine.receive_data(data, self.now)
        return self._collect()

    def advance(self, seconds: float) -> bytes:
        """Move the clock forward, firing every timer due on the way, in order."""
        end = self.now + seconds
        out = []
        while True:
            t = self.engine.get_timer()
            if t is None or t > end:
                break
            self.now = max(self.now, t)
            self.engine.handle_timer(self.now)
            out.append(self._collect())
        self.now = end
        out.append(self._collect())
        return b"".join(out)

    def take(self, kind: type[Action] | None = None) -> list[Action]:
        """Actions asked of the runtime so far (of one type), removed from pending."""
        got = [a for a in self.pending if kind is None or isinstance(a, kind)]
        self.pending = [a for a in self.pending if a not in got]
        return got

    def complete(self, action: Action, result: object) -> bytes:
        self.engine.complete(action.token, result, self.now)
        return self._collect()

    def join(self, ssid: str = "lab", pwd: str = "secret") -> bytes:
        """AT+CWJAP and wait for it: the station has an IP afterwards."""
        out = self.send(f'AT+CWJAP="{ssid}","{pwd}"\r\n'.encode())
        p = self.engine.profile
        return out + self.advance(p.join_time + p.dhcp_time + 0.001)

    def check(self) -> None:
        assert self.engine.bugs == [], self.engine.bugs


def both(scenario: Callable[[Harness, bool], bytes], **kw: Any) -> bytes:
    """Run ``scenario(h, bytewise)`` whole and byte-at-a-time; outputs must be equal."""
    a, b = Harness(**kw), Harness(**kw)
    whole = scenario(a, False)
    bytewise = scenario(b, True)
    assert whole == bytewise, (whole, bytewise)
    a.check()
    b.check()
    return whole

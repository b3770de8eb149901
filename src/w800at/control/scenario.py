"""Scenarios: rules "when TRIGGER do ACTION", from a TOML file (or its data).

::

    seed = 7                                  # optional: repeatable probabilistic faults

    [[rule]]
    name = "third send resets link 0"         # optional (default: rule 1, rule 2, ...)
    when = { line = '^AT\\+CIPSEND=', nth = 3 }
    do = { action = "link_fault", link = 0, type = "reset_peer", after = 100, stream = "upstream" }

    [[rule]]
    when = { at = 5.0 }                       # seconds after power-on
    do = [{ action = "wifi_drop", duration = 3 }, { action = "uart_busy", count = 2 }]

Triggers (``when``, exactly one of):

- ``at = T``: T seconds after the module powered on (at once if that is past);
- ``line = REGEX``: the host sends a command line that matches (searched in the line
  without its CR LF); acted on before the module runs it, so a ``uart_busy`` answers
  that very line and a link fault is in place before its payload comes;
- ``urc = REGEX``: the module says a line nobody asked for (``WIFI DISCONNECT``,
  ``0,CLOSED``, ``+IPD,0,5``...) that matches;
- ``link_open = ID`` / ``link_close = ID``: link ID opens / closes;
- ``link_bytes = N`` (with ``link = ID``, default any, and ``stream = "upstream"``,
  ``"downstream"`` or ``"both"``): the link has carried N bytes.

``nth = N`` fires on the N-th time the trigger matches (default the first);
``repeat = true`` fires every N-th time instead of once.  Actions (``do``, one table
or a list) are the test bench's operations by name, with their arguments, checked when
the file is loaded: ``wifi_drop``, ``ap_add``, ``ap_change``, ``ap_remove``,
``next_join``, ``station_set``, ``dns_set``, ``dns_clear``, ``sntp_shift``,
``link_fault``, ``fault_remove``, ``faults_clear``, ``uart_fault``, ``uart_busy``,
``uart_inject``, ``uart_clear``, ``power_reset``, ``power_cycle``, ``seed``.  Every rule
that fires is written to the trace (``rule ...``) and the event stream (``rule``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..log import get_logger
from .models import Regex, describe_error
from .ops import OPS_BY_NAME, ControlError, validate

if TYPE_CHECKING:
    from .control import Control

log = get_logger("w800at.scenario")

ACTIONS = tuple(op.name for op in OPS_BY_NAME.values() if op.action)


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message says where and why (one line)."""


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Annotated[float, Field(ge=0, le=31_536_000)] | None = None
    line: Regex | None = None
    urc: Regex | None = None
    link_open: Annotated[int, Field(ge=0, le=4)] | None = None
    link_close: Annotated[int, Field(ge=0, le=4)] | None = None
    link_bytes: Annotated[int, Field(ge=1, le=2**48)] | None = None
    link: Annotated[int, Field(ge=0, le=4)] | None = None
    stream: Literal["upstream", "downstream", "both"] = "both"
    nth: Annotated[int, Field(ge=1, le=1_000_000)] = 1

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        kinds = [k for k in self.KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one trigger of {', '.join(self.KINDS)}")
        if self.link_bytes is None and (self.link is not None or self.stream != "both"):
            raise ValueError("link and stream go with link_bytes")
        if self.at is not None and self.nth != 1:
            raise ValueError("nth does not go with at")
        return self

    KINDS: tuple[str, ...] = ("at", "line", "urc", "link_open", "link_close", "link_bytes")

    @property
    def kind(self) -> str:
        return next(k for k in self.KINDS if getattr(self, k) is not None)

    def describe(self) -> str:
        k = self.kind
        nth = f" (time {self.nth})" if self.nth > 1 else ""
        if k == "at":
            return f"at {self.at:g} s"
        if k == "link_bytes":
            on = f"link {self.link}" if self.link is not None else "a link"
            return f"{on} carried {self.link_bytes} bytes ({self.stream}){nth}"
        return f"{k} '{getattr(self, k)}'{nth}"


class Action(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    action: Literal[ACTIONS]  # type: ignore[valid-type]

    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    when: Trigger
    do: Action | Annotated[list[Action], Field(min_length=1, max_length=100)]
    repeat: bool = False

    @property
    def actions(self) -> list[Action]:
        return self.do if isinstance(self.do, list) else [self.do]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    seed: int | None = None
    rules: Annotated[list[Rule], Field(alias="rule", max_length=10_000)] = []

    #: each action's arguments as its operation's model (checked at load)
    def checked(self) -> list[list[tuple[str, Any]]]:
        out = []
        for i, rule in enumerate(self.rules, 1):
            acts = []
            for j, act in enumerate(rule.actions, 1):
                op = OPS_BY_NAME[act.action]
                try:
                    acts.append((op.name, validate(op, act.args())))
                except ValidationError as exc:
                    where = f"rule #{i}" + (f" ({rule.name})" if rule.name else "")
                    raise ScenarioError(
                        f"{where}: action #{j} {act.action}: {describe_error(exc)}"
                    ) from None
            out.append(acts)
        return out


def parse_scenario(source: str | bytes | dict[str, Any], where: str = "scenario") -> Scenario:
    """A scenario from TOML text (or its data); `ScenarioError` with one clear line."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    if isinstance(source, str):
        try:
            data: dict[str, Any] = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{where}: invalid TOML: {exc}") from None
    else:
        data = source
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{where}: {_where(exc)}") from None
    try:
        scenario.checked()
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return scenario


def read_scenario(source: Scenario | str | bytes | dict[str, Any] | os.PathLike[str]) -> Scenario:
    """A scenario from a file (a `pathlib.Path` or any ``os.PathLike``), TOML text, its
    data, or one parsed already; `ScenarioError` (one line, naming the file) if not."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, os.PathLike):
        path = Path(source)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
        return parse_scenario(text, str(path))
    return parse_scenario(source)


def _where(exc: ValidationError) -> str:
    text = describe_error(exc)
    return re.sub(r"\brule\.(\d+)\.", lambda m: f"rule #{int(m.group(1)) + 1} ", text)


class _RuleState:
    def __init__(self, index: int, rule: Rule, actions: list[tuple[str, Any]]) -> None:
        self.index = index
        self.rule = rule
        self.name = rule.name or f"rule {index}"
        self.actions = actions
        self.matches = 0
        self.fired = 0
        self.done = False
        self.rx = (
            re.compile(rule.when.line or rule.when.urc or "")
            if (rule.when.line or rule.when.urc)
            else None
        )
        self.timer: Any = None
        #: link_bytes: how many multiples of N each link has carried, when last counted
        self.levels: dict[int, int] = {}

    def hit(self) -> bool:
        """The trigger matched once more: is this the time to fire?"""
        if self.done:
            return False
        self.matches += 1
        nth = self.rule.when.nth
        if self.rule.repeat:
            return self.matches % nth == 0
        if self.matches == nth:
            self.done = True
            return True
        return False


class ScenarioRunner:
    """A scenario running on one module: watches its triggers, fires its rules."""

    def __init__(self, control: Control, scenario: Scenario) -> None:
        self.control = control
        self.scenario = scenario
        self.rules = [
            _RuleState(i, r, acts)
            for i, (r, acts) in enumerate(zip(scenario.rules, scenario.checked(), strict=True), 1)
        ]
        self._by_kind: dict[str, list[_RuleState]] = {}
        for st in self.rules:
            self._by_kind.setdefault(st.rule.when.kind, []).append(st)
        self._stopped = False
        self._power_on: float | None = None

    # --- life

    def start(self) -> None:
        c = self.control
        if self.scenario.seed is not None:
            c.rng.seed(self.scenario.seed)
        eng = c.engine
        if "line" in self._by_kind:
            eng.observer = self
        if "urc" in self._by_kind and c.watch is not None:
            c.watch.on_urc = self.urc
        c.report(
            f"rule scenario loaded: {len(self.rules)} rules"
            + (f", seed {self.scenario.seed}" if self.scenario.seed is not None else ""),
            {"rules": len(self.rules)},
            kind="rule",
        )
        if c.runtime.powered:
            self.powered_on(already=True)

    def powered_on(self, already: bool = False) -> None:
        """Arm the ``at`` rules, from the moment the module powered on."""
        if self._power_on is not None or self._stopped:
            return
        rt = self.control.runtime
        self._power_on = rt.powered_at if already and rt.powered_at is not None else rt.now()
        for st in self._by_kind.get("at", []):
            at = st.rule.when.at or 0.0
            delay = max(0.0, self._power_on + at - rt.now())
            st.timer = rt.loop.call_later(delay, self._at, st, context=self._context())

    def _context(self) -> Any:
        ctx = self.control.module.context
        return ctx.copy() if ctx is not None else None

    def stop(self) -> None:
        self._stopped = True
        c = self.control
        for st in self.rules:
            if st.timer is not None:
                st.timer.cancel()
        eng = c._engine
        if eng is not None and eng.observer is self:
            eng.observer = None
        if c.watch is not None and c.watch.on_urc == self.urc:
            c.watch.on_urc = None

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.scenario.seed,
            "rules": [
                {
                    "name": st.name,
                    "when": st.rule.when.describe(),
                    "do": [a for a, _ in st.actions],
                    "repeat": st.rule.repeat,
                    "matches": st.matches,
                    "fired": st.fired,
                }
                for st in self.rules
            ],
        }

    # --- triggers

    def line(self, raw: bytes) -> None:
        """`Engine.observer`: a command line, before the module runs it."""
        text = raw.rstrip(b"\r\n").decode("latin-1")
        for st in self._by_kind.get("line", ()):
            if st.rx is not None and st.rx.search(text) and st.hit():
                self._fire(st, f"line {text!r}", pump=False)

    def urc(self, text: str) -> None:
        for st in self._by_kind.get("urc", ()):
            if st.rx is not None and st.rx.search(text) and st.hit():
                self._soon(st, f"urc {text!r}")

    def link_event(self, what: str, link_id: int) -> None:
        for st in self._by_kind.get(f"link_{what}", ()):
            if getattr(st.rule.when, f"link_{what}") == link_id and st.hit():
                if what == "open":
                    self._when_open(st, link_id, 20)
                else:
                    self._soon(st, f"link {link_id} closed")

    def _when_open(self, st: _RuleState, link_id: int, tries: int) -> None:
        """Fire once the module has said the link is open (``CONNECT``): the socket
        opens a loop turn before AT+CIPSTART's answer."""
        link = self.control.engine.links.get(link_id)
        if (link is not None and link.state.value == "open") or tries <= 0:
            self._soon(st, f"link {link_id} opened")
            return
        loop = self.control.runtime.loop
        loop.call_soon(self._when_open, st, link_id, tries - 1, context=self._context())

    def link_bytes(self, link_id: int) -> None:
        rules = self._by_kind.get("link_bytes")
        if not rules:
            return
        tap = self.control._tap
        assert tap is not None
        for st in rules:
            w = st.rule.when
            if st.done or (w.link is not None and w.link != link_id):
                continue
            up = tap.totals.get((link_id, "up"), 0)
            down = tap.totals.get((link_id, "down"), 0)
            carried = {"upstream": up, "downstream": down, "both": up + down}[w.stream]
            level = carried // (w.link_bytes or 1)
            if level > st.levels.get(link_id, 0):
                st.levels[link_id] = level
                if st.hit():
                    self._soon(st, f"link {link_id} carried {carried} bytes")

    def _at(self, st: _RuleState) -> None:
        st.timer = None
        if st.hit():
            self._fire(st, f"{st.rule.when.at:g} s after power-on", pump=True)

    # --- firing

    def _soon(self, st: _RuleState, why: str) -> None:
        """Fire after the current callback (bytes being written, a link event)."""
        loop = self.control.runtime.loop
        loop.call_soon(self._fire, st, why, True, context=self._context())

    def _fire(self, st: _RuleState, why: str, pump: bool) -> None:
        if self._stopped:
            return
        c = self.control
        st.fired += 1
        names = ", ".join(a for a, _ in st.actions)
        c.report(
            f"rule {st.name}: {why}: {names}",
            {"rule": st.name, "index": st.index, "actions": [a for a, _ in st.actions]},
            kind="rule",
        )
        for name, req in st.actions:
            try:
                c.run(name, req, pump=False, mark=False)
            except ControlError as exc:
                c.report(
                    f"rule {st.name}: {name} not done: {exc}",
                    {"rule": st.name, "failed": name},
                    kind="rule",
                )
            except Exception:  # a bug: keep serving
                log.exception("rule %s: action %s failed", st.name, name)
        if pump:
            c.runtime.pump()

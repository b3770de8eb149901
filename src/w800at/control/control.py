"""`Control`: the test bench of one module, one object for every door.

``module.control`` (Python), the HTTP/JSON API (`w800at.control.http`), ``w800at ctl``
and scenario files all call the operations of `OPS`: each is one pydantic model (its
arguments, validated) and one method here.  World events go through the engine
(`Engine.apply_world`), link faults to the runtime's `FaultBook` (the per-link seam),
host-port faults to the `ControlChannel` wrapping the port, ``busy p...`` and resets
to the engine.  Everything that takes effect is written to the trace as a ``fault ...``
note and published on the event stream (`EventBus`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..core.options import DnsAnswer
from ..core.state import AccessPoint, StationAddresses, WifiState
from ..core.world import (
    ApAppear,
    ApChange,
    ApVanish,
    ClockShift,
    JoinOutcome,
    NextJoin,
    StationChange,
    WorldError,
    WorldEvent,
)
from ..log import get_logger
from ..runtime.link_faults import ENDING_TYPES, FaultBook, LinkFault
from . import models as M
from .events import Event, EventBus, Pattern
from .ops import OPS, OPS_BY_NAME, ControlError, Op, validate
from .port import ControlChannel, UartFault
from .watch import LinkWatch, PortWatch

if TYPE_CHECKING:
    from ..channels.base import Channel
    from ..core.engine import Engine
    from ..module import Module
    from ..runtime.runner import Runtime
    from ..trace import TraceSink
    from .scenario import ScenarioRunner

log = get_logger("w800at.control")


class Control:
    """The test bench of one module (``module.control``); see the module docstring.

    Every operation is an ``async`` method with keyword arguments, validated by its
    model in `w800at.control.models` (pydantic `ValidationError` on a bad value);
    `ControlError` when it cannot be done now.  The methods run on the module's loop.
    """

    def __init__(self, module: Module) -> None:
        self.module = module
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rng = random.Random()
        self.bus = EventBus(self._time)
        self.port: ControlChannel | None = None
        self.watch: PortWatch | None = None
        self.sink: TraceSink | None = None
        self.scenario_runner: ScenarioRunner | None = None
        self._pending_scenario: Any = None
        self._engine: Engine | None = None
        self._rt: Runtime | None = None
        self._next_id = 1
        self._tap: LinkWatch | None = None

    def _time(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return self._loop.time() if self._loop is not None else 0.0

    # --- wiring (`Module._start`)

    def wrap(self, channel: Channel) -> Channel:
        """The module's channel, wrapped for host-port faults and the event stream."""
        self._loop = asyncio.get_running_loop()
        self.bus.restart_clock()
        self.watch = PortWatch(self.bus, self._loop.time, self.module.profile.escape_guard)
        self.port = ControlChannel(
            channel,
            rx_buffer=self.module.profile.uart_rx_buffer,
            rng=self.rng,
            report=self.report,
            watch=self.watch,
            on_attached=self.powered_on,
        )
        return self.port

    def bind(self, engine: Engine, rt: Runtime, sink: TraceSink | None) -> None:
        """The started module's parts (called once the runtime exists)."""
        self._engine, self._rt, self.sink = engine, rt, sink
        self._tap = LinkWatch(self, rt.link_tap)
        rt.link_tap = self._tap
        if self._pending_scenario is not None:
            scenario, self._pending_scenario = self._pending_scenario, None
            self._start_scenario(scenario)

    def powered_on(self) -> None:
        """The engine powered up (the scenario's clock starts)."""
        if self.scenario_runner is not None:
            self.scenario_runner.powered_on()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ControlError(f"module {self.module.name} is not started")
        return self._engine

    @property
    def runtime(self) -> Runtime:
        if self._rt is None:
            raise ControlError(f"module {self.module.name} is not started")
        return self._rt

    # --- reporting

    def report(self, text: str, fields: dict[str, Any] | None = None, kind: str = "fault") -> None:
        """A fault (or rule) took effect: a trace note and an event."""
        text = text.encode("ascii", "backslashreplace").decode("ascii")  # traces are ASCII
        if self.sink is not None:
            self.sink.note(text)
        log.info("%s", text)
        self.bus.publish(kind, text, **(fields or {}))

    def _new_id(self) -> int:
        fid = self._next_id
        self._next_id += 1
        return fid

    # --- the event stream

    def events(
        self, kinds: Iterable[str] | None = None, since: int | None = None
    ) -> AsyncIterator[Event]:
        """Every event from now on (of ``kinds``), as an async iterator."""
        return self.bus.subscribe(frozenset(kinds) if kinds is not None else None, since)

    async def wait_for(
        self,
        kind: str | None,
        pattern: Pattern = None,
        timeout: float | None = 5.0,
        *,
        since: int | None = None,
    ) -> Event:
        """The next event of ``kind`` whose text matches ``pattern`` (a regex; or a dict
        of fields; or a predicate): among the events after the last one `wait_for`
        matched or the last control operation (or after ``since``), else the next to
        come.  TimeoutError after ``timeout`` seconds."""
        return await self.bus.wait_for(kind, pattern, timeout, since)

    def mark(self) -> int:
        """`wait_for` looks only at events after this moment; returns the sequence
        number (give it as ``since`` to look again)."""
        return self.bus.mark()

    # --- running an operation (every door comes here)

    def run(
        self, name: str, args: dict[str, Any] | BaseModel, *, pump: bool = True, mark: bool = True
    ) -> Any:
        """Operation ``name`` with ``args`` (validated by its model unless already a
        model instance); its JSON-able result.  In the module's context.  ``mark``: an
        operation someone asked for moves `wait_for`'s cursor to now (a scenario's
        rules do not: a test waiting for an event must not lose it to a rule)."""
        op = OPS_BY_NAME.get(name)
        if op is None:
            raise ControlError(f"unknown operation {name!r}", 404)
        req = args if isinstance(args, BaseModel) else validate(op, args)
        if isinstance(req, M.LinkFaultRequest | M.UartFaultRequest):
            req = req.root
        fn: Callable[[Any], Any] = getattr(self, f"_op_{name}")
        if op.action and mark:
            self.bus.mark()
        result = self.module.call(fn, req)
        if pump and self._rt is not None and op.action:
            self.module.call(self._rt.pump)
        return result

    async def _call(self, op_name: str, /, **args: Any) -> Any:
        return self.run(op_name, {k: v for k, v in args.items() if v is not None})

    # --- the operations, for Python (thin: `run` validates)

    async def status(self) -> dict[str, Any]:
        """Mode, Wi-Fi state, links, faults, scenario."""
        result: dict[str, Any] = await self._call("status")
        return result

    async def wifi_drop(self, ssid: str | None = None, duration: float | None = None) -> Any:
        """The AP vanishes (default: the station's): WIFI DISCONNECT, links CLOSED,
        rejoin per AT+CWAUTOCONN; ``duration``: it comes back after that many s."""
        return await self._call("wifi_drop", ssid=ssid, duration=duration)

    async def aps(self) -> Any:
        return await self._call("aps")

    async def ap_add(self, ssid: str, **fields: Any) -> Any:
        """An AP comes up: ``password``, ``bssid``, ``channel``, ``rssi``, ``ecn``,
        ``ipv6``."""
        return await self._call("ap_add", ssid=ssid, **fields)

    async def ap_change(self, ssid: str, **fields: Any) -> Any:
        """An AP changes ``rssi``, ``password`` (clients dropped), ``channel``, ``ecn``."""
        return await self._call("ap_change", ssid=ssid, **fields)

    async def ap_remove(self, ssid: str) -> Any:
        return await self._call("ap_remove", ssid=ssid)

    async def next_join(
        self, outcome: str, count: int | None = None, delay: float | None = None
    ) -> Any:
        """The next ``count`` joins end with ``outcome``: timeout, wrong_password,
        no_ap, fail, no_dhcp."""
        return await self._call("next_join", outcome=outcome, count=count, delay=delay)

    async def station_set(self, **addresses: Any) -> Any:
        """New addresses for the station: ``ip``, ``gateway``, ``netmask``, ``ip6_ll``,
        ``ip6_gl``."""
        return await self._call("station_set", **addresses)

    async def dns(self) -> Any:
        return await self._call("dns")

    async def dns_set(
        self,
        name: str,
        address: str | None = None,
        *,
        addresses: list[str] | None = None,
        nxdomain: bool | None = None,
        no_answer: bool | None = None,
    ) -> Any:
        """``name`` resolves to ``address``/``addresses``, or NXDOMAIN, or nothing."""
        return await self._call(
            "dns_set",
            name=name,
            address=address,
            addresses=addresses,
            nxdomain=nxdomain,
            no_answer=no_answer,
        )

    async def dns_clear(self, name: str | None = None) -> Any:
        return await self._call("dns_clear", name=name)

    async def sntp_shift(self, seconds: float, sync_now: bool | None = None) -> Any:
        return await self._call("sntp_shift", seconds=seconds, sync_now=sync_now)

    async def link_fault(self, type: str, **params: Any) -> Any:
        """A link fault: ``link=ID`` / ``remote="host:port"`` / ``next=True``, ``stream``,
        ``toxicity``, ``duration`` and the type's parameters (see `w800at.control.models`).
        Returns the fault (its ``id`` removes it)."""
        return await self._call("link_fault", type=type, **params)

    async def faults(self) -> Any:
        return await self._call("faults")

    async def fault_remove(self, id: int) -> Any:
        return await self._call("fault_remove", id=id)

    async def faults_clear(self) -> Any:
        return await self._call("faults_clear")

    async def uart_fault(self, type: str, **params: Any) -> Any:
        """A host-port fault: corrupt/drop/duplicate (``rate``, ``stream``), delay
        (``seconds``), hang (``seconds``), dead, reset."""
        return await self._call("uart_fault", type=type, **params)

    async def uart_busy(self, count: int = 1) -> Any:
        return await self._call("uart_busy", count=count)

    async def uart_inject(self, **what: Any) -> Any:
        """``data`` (escaped), ``urc`` (a line) or ``garbage`` (a count); ``stream``."""
        return await self._call("uart_inject", **what)

    async def uart_clear(self) -> Any:
        return await self._call("uart_clear")

    async def power_reset(self) -> Any:
        return await self._call("power_reset")

    async def power_cycle(self, off: float | None = None) -> Any:
        return await self._call("power_cycle", off=off)

    async def seed(self, seed: int) -> Any:
        return await self._call("seed", seed=seed)

    async def scenario(self) -> Any:
        return await self._call("scenario")

    async def scenario_clear(self) -> Any:
        return await self._call("scenario_clear")

    async def load_scenario(self, source: str | dict[str, Any]) -> Any:
        """A scenario (TOML text, or its data): its rules replace any before."""
        from .scenario import parse_scenario

        scenario = parse_scenario(source)
        return self.module.call(self._start_scenario, scenario)

    # --- world events

    def _world(self, event: WorldEvent, text: str, area: str = "wifi") -> None:
        rt = self.runtime
        try:
            self.engine.apply_world(event, rt.now())
        except WorldError as exc:
            raise ControlError(str(exc)) from None
        self.report(f"fault {area} {text}", {"area": area})

    def _find_ap(self, ssid: str) -> AccessPoint | None:
        eng = self.engine
        ap = next((a for a in eng.options.access_points if a.ssid == ssid), None)
        if ap is None and eng.station.ap is not None and eng.station.ap.ssid == ssid:
            ap = eng.station.ap
        return ap

    def _op_wifi_drop(self, req: M.WifiDrop) -> dict[str, Any]:
        eng = self.engine
        ssid = req.ssid
        if ssid is None:
            joined = eng.station.state in (WifiState.CONNECTED_NO_IP, WifiState.GOT_IP)
            if eng.station.ap is None or not joined:
                raise ControlError("the station is not on an access point")
            ssid = eng.station.ap.ssid
        ap = self._find_ap(ssid)
        if ap is None and not (eng.world.any_ssid and ssid not in eng.world.gone):
            raise ControlError(f"no access point {ssid!r}", 404)
        back = f", back in {req.duration:g} s" if req.duration else ""
        self._world(ApVanish(ssid), f"drop: AP {ssid!r} gone{back}")
        if req.duration:
            ap = ap or AccessPoint(ssid=ssid)
            self._later(req.duration, lambda: self._ap_back(ap))
        return {"ssid": ssid, "back_in": req.duration}

    def _ap_back(self, ap: AccessPoint) -> None:
        self._world(ApAppear(ap), f"ap {ap.ssid!r} back")
        self.runtime.pump()

    def _later(self, seconds: float, fn: Callable[[], None]) -> None:
        rt = self.runtime
        ctx = self.module.context

        def fire() -> None:
            if rt.closing:
                return
            try:
                fn()
            except ControlError as exc:
                log.info("scheduled change not applied: %s", exc)

        if ctx is not None:
            rt.loop.call_later(seconds, fire, context=ctx.copy())
        else:
            rt.loop.call_later(seconds, fire)

    def _op_aps(self, req: M.NoArgs) -> list[dict[str, Any]]:
        eng = self.engine
        aps = [dataclasses.asdict(a) for a in eng.options.access_points]
        for a in aps:
            a["password"] = "***" if a["password"] is not None else None
        return aps

    def _op_ap_add(self, req: M.ApAdd) -> dict[str, Any]:
        ap = AccessPoint(
            ssid=req.ssid,
            password=req.password,
            bssid=req.bssid or "",  # "": derived from the SSID, as for a configured AP
            channel=req.channel,
            rssi=req.rssi,
            ecn=req.ecn,
            ipv6=req.ipv6,
        )
        self._world(ApAppear(ap), f"ap {req.ssid!r} up (channel {req.channel}, {req.rssi} dBm)")
        return {"ssid": req.ssid}

    def _op_ap_change(self, req: M.ApChange) -> dict[str, Any]:
        changes = {k: v for k, v in req.model_dump().items() if k != "ssid" and v is not None}
        shown = ", ".join(f"{k} {'***' if k == 'password' else v}" for k, v in changes.items())
        self._world(
            ApChange(req.ssid, req.rssi, req.password, req.channel, req.ecn),
            f"ap {req.ssid!r} changes: {shown}",
        )
        return {"ssid": req.ssid, **{k: v for k, v in changes.items() if k != "password"}}

    def _op_ap_remove(self, req: M.ApRemove) -> dict[str, Any]:
        self._world(ApVanish(req.ssid), f"ap {req.ssid!r} gone")
        return {"ssid": req.ssid}

    def _op_next_join(self, req: M.NextJoin) -> dict[str, Any]:
        n = f" x{req.count}" if req.count > 1 else ""
        self._world(
            NextJoin(JoinOutcome(req.outcome), req.count, req.delay),
            f"next join{n}: {req.outcome}",
        )
        return {"outcome": req.outcome, "count": req.count}

    def _op_station_set(self, req: M.StationSet) -> dict[str, Any]:
        old = self.engine.options.addresses
        new = StationAddresses(
            ip=req.ip or old.ip,
            gateway=req.gateway or old.gateway,
            netmask=req.netmask or old.netmask,
            ip6_ll=req.ip6_ll or old.ip6_ll,
            ip6_gl=req.ip6_gl or old.ip6_gl,
            mac=old.mac,
        )
        given = ", ".join(f"{k} {v}" for k, v in req.model_dump().items() if v is not None)
        self._world(StationChange(new), f"new addresses: {given}", "station")
        return {k: v for k, v in dataclasses.asdict(new).items() if k != "mac"}

    def _op_sntp_shift(self, req: M.SntpShift) -> dict[str, Any]:
        self._world(
            ClockShift(req.seconds, req.sync_now),
            f"clock shifted by {req.seconds:+g} s" + (", sync now" if req.sync_now else ""),
            "sntp",
        )
        return {"offset": self.engine.world.sntp_offset}

    # --- DNS (the runtime resolves every name through `ModuleOptions.dns`)

    def _op_dns(self, req: M.NoArgs) -> dict[str, Any]:
        return {name: _dns_view(ans) for name, ans in self.engine.options.dns.items()}

    def _op_dns_set(self, req: M.DnsSet) -> dict[str, Any]:
        eng = self.engine
        answer = DnsAnswer(req.all_addresses, req.nxdomain, req.no_answer)
        eng.options = dataclasses.replace(eng.options, dns={**eng.options.dns, req.name: answer})
        view = _dns_view(answer)
        self.report(f"fault dns {req.name} -> {view}", {"area": "dns", "name": req.name})
        return {"name": req.name, "answer": view}

    def _op_dns_clear(self, req: M.DnsClear) -> dict[str, Any]:
        eng = self.engine
        if req.name is None:
            dns: dict[str, DnsAnswer] = {}
        else:
            if req.name not in eng.options.dns:
                raise ControlError(f"no DNS override for {req.name!r}", 404)
            dns = {k: v for k, v in eng.options.dns.items() if k != req.name}
        eng.options = dataclasses.replace(eng.options, dns=dns)
        self.report(f"fault dns cleared: {req.name or 'all names'}", {"area": "dns"})
        return {"cleared": req.name or "all"}

    # --- link faults (the per-link seam)

    def _book(self) -> FaultBook:
        rt = self.runtime
        if rt.link_faults is None:
            rt.link_faults = FaultBook(lambda: rt.net.links, self.rng, self.report, rt.loop)
        return rt.link_faults

    def _op_link_fault(self, req: Any) -> dict[str, Any]:
        rt = self.runtime
        params = req.model_dump(exclude={"remote", "duration"})
        remote = None
        if req.remote is not None:
            host, _, port = req.remote.rpartition(":")
            remote = (host, int(port))
        fault = LinkFault(
            id=self._new_id(),
            remote=remote,
            expires=rt.loop.time() + req.duration if req.duration else None,
            **params,
        )
        if fault.link is not None:
            sock = rt.net.links.get(fault.link)
            if sock is not None and not hasattr(sock, "fault_reset") and fault.type in ENDING_TYPES:
                raise ControlError(f"link {fault.link} is UDP: {fault.type} needs a connection")
        if fault.link is not None and fault.link >= self.engine.profile.max_links:
            raise ControlError(
                f"link {fault.link}: IDs are 0 to {self.engine.profile.max_links - 1}", 400
            )
        self.report(
            f"fault installed: {fault.describe()} on {fault.target} (fault {fault.id})",
            {"area": "link", "fault": fault.id, "installed": True},
        )
        self._book().install(fault)
        return fault.as_dict()

    def _all_faults(self) -> list[dict[str, Any]]:
        out = []
        rt = self.runtime
        if rt.link_faults is not None:
            out += [f.as_dict() for f in rt.link_faults.faults.values()]
        if self.port is not None:
            out += [f.as_dict() for f in self.port.faults.values()]
        return sorted(out, key=lambda f: int(f["id"]))

    def _op_faults(self, req: M.NoArgs) -> list[dict[str, Any]]:
        return self._all_faults()

    def _op_fault_remove(self, req: M.FaultRemove) -> dict[str, Any]:
        rt = self.runtime
        removed: LinkFault | UartFault | None = None
        if rt.link_faults is not None:
            removed = rt.link_faults.remove(req.id)
        if removed is None and self.port is not None:
            removed = self.port.remove(req.id)
        if removed is None:
            raise ControlError(f"no fault {req.id}", 404)
        self.report(f"fault {req.id} removed ({removed.describe()})", {"area": "fault"})
        return removed.as_dict()

    def _op_faults_clear(self, req: M.NoArgs) -> dict[str, Any]:
        rt = self.runtime
        n = len(rt.link_faults.clear()) if rt.link_faults is not None else 0
        if self.port is not None:
            n += len(self.port.clear())
        self.report(f"fault all removed ({n})", {"area": "fault"})
        return {"removed": n}

    # --- the host port

    def _need_port(self) -> ControlChannel:
        if self.port is None:
            raise ControlError("this module was built without the test bench's port wrapper")
        return self.port

    def _op_uart_fault(self, req: Any) -> dict[str, Any]:
        if req.type == "reset":
            self._op_power_reset(M.NoArgs(), why="uart reset (spontaneous)")
            return {"type": "reset"}
        port = self._need_port()
        now = self.runtime.loop.time()
        fault = UartFault(
            id=self._new_id(),
            type=req.type,
            stream=getattr(req, "stream", "downstream"),
            rate=getattr(req, "rate", 0.0),
            seconds=getattr(req, "seconds", 0.0),
            expires=now + req.duration if getattr(req, "duration", None) else None,
        )
        port.add(fault)
        self.report(
            f"fault uart {fault.describe()} (fault {fault.id})", {"area": "uart", "fault": fault.id}
        )
        return fault.as_dict()

    def _op_uart_busy(self, req: M.UartBusy) -> dict[str, Any]:
        eng = self.engine
        eng.forced_busy += req.count
        self.report(
            f"fault uart busy: the next {eng.forced_busy} command lines get busy p...",
            {"area": "uart", "type": "busy", "count": eng.forced_busy},
        )
        return {"busy_lines": eng.forced_busy}

    def _op_uart_inject(self, req: M.UartInject) -> dict[str, Any]:
        port = self._need_port()
        data = req.payload(self.rng.randbytes)
        from ..trace import escape_bytes

        shown = escape_bytes(data[:40]) + ("..." if len(data) > 40 else "")
        self.report(
            f"fault uart inject {len(data)} bytes {req.stream}: {shown}",
            {"area": "uart", "type": "inject", "stream": req.stream, "bytes": len(data)},
        )
        if req.stream == "downstream":
            port.inject_down(data)
        else:
            port.inject_up(data)
        return {"bytes": len(data), "stream": req.stream}

    def _op_uart_clear(self, req: M.NoArgs) -> dict[str, Any]:
        port = self._need_port()
        n = len(port.clear())
        busy, self.engine.forced_busy = self.engine.forced_busy, 0
        self.report(f"fault uart cleared ({n} faults)", {"area": "uart"})
        return {"removed": n, "busy_lines_dropped": busy}

    # --- power

    def _need_power(self) -> Runtime:
        rt = self.runtime
        if not rt.powered:
            raise ControlError("the module is not powered yet (no host has opened its port)")
        return rt

    def _op_power_reset(self, req: M.NoArgs, why: str = "power reset") -> dict[str, Any]:
        self._need_power()
        if self.port is not None:
            self.port.power_lost()
        self.report(f"fault {why}: links gone, ready again", {"area": "power", "type": "reset"})
        if self.sink is not None:
            self.sink.note("reset")
        self.engine.reset()
        return {"reset": True}

    def _op_power_cycle(self, req: M.PowerCycle) -> dict[str, Any]:
        rt = self._need_power()
        if self.port is not None:
            self.port.power_lost()
        self.report(
            f"fault power cycle: off for {req.off:g} s, links gone",
            {"area": "power", "type": "cycle", "off": req.off},
        )
        if self.sink is not None:
            self.sink.note("reset")
        eng = self.engine
        eng.power_off(rt.now())

        def on() -> None:
            if eng is self._engine:
                eng.power_on(rt.now())
                rt.pump()

        self._later(req.off, on)
        return {"off": req.off}

    def _op_seed(self, req: M.Seed) -> dict[str, Any]:
        self.rng.seed(req.seed)
        self.report(f"fault seed {req.seed}", {"area": "seed"})
        return {"seed": req.seed}

    # --- status

    def _op_status(self, req: M.NoArgs) -> dict[str, Any]:
        eng, rt = self.engine, self.runtime
        st = eng.station
        addr = st.addr
        wifi: dict[str, Any] = {
            "state": st.state.name.lower(),
            "code": int(st.state),
            "ssid": st.ap.ssid if st.ap is not None else (st.target or None),
        }
        if addr is not None:
            wifi.update(ip=addr.ip, gateway=addr.gateway, netmask=addr.netmask)
            if addr.ip6_ll:
                wifi["ip6_ll"] = addr.ip6_ll
            if addr.ip6_gl:
                wifi["ip6_gl"] = addr.ip6_gl
        links = []
        for lid, link in sorted(eng.links.links.items()):
            sock = rt.net.links.get(lid)
            links.append(
                {
                    "id": lid,
                    "type": link.kind,
                    "state": link.state.value,
                    "remote": f"{link.remote_ip}:{link.remote_port}",
                    "local_port": link.local_port,
                    "server": link.server,
                    "bytes_up": sock.bytes_up if sock is not None else 0,
                    "bytes_down": sock.bytes_down if sock is not None else 0,
                    "faulted": sock is not None and sock.faults is not None,
                }
            )
        server = eng.server
        return {
            "name": self.module.name,
            "profile": eng.profile.name,
            "powered": rt.powered,
            "mode": eng.mode.value,
            "busy": eng.busy,
            "passthrough": eng.links.passthrough is not None,
            "wifi": wifi,
            "links": links,
            "server": None if server is None else {"port": server.port, "type": server.kind},
            "faults": self._all_faults(),
            "busy_lines": eng.forced_busy,
            "uart": None
            if self.port is None
            else {
                "dead": self.port.dead,
                "hung": self.port.hang_until is not None,
                "delay": self.port.delay,
                "host_bytes_lost": self.port.lost_in,
                "module_bytes_dropped": self.port.dropped_out,
            },
            "dns": self._op_dns(M.NoArgs()),
            "sntp_offset": eng.world.sntp_offset,
            "scenario": None if self.scenario_runner is None else self.scenario_runner.summary(),
            "events": self.bus.seq,
            "subscribers": self.bus.subscribers,
        }

    # --- scenarios

    def _start_scenario(self, scenario: Any) -> dict[str, Any]:
        from .scenario import ScenarioRunner

        if self._rt is None:  # not started: the scenario starts with the module
            self._pending_scenario = scenario
            return {"rules": len(scenario.rules), "pending": True}
        if self.scenario_runner is not None:
            self.scenario_runner.stop()
        self.scenario_runner = ScenarioRunner(self, scenario)
        self.scenario_runner.start()
        return self.scenario_runner.summary()

    def load_scenario_now(self, scenario: Any) -> dict[str, Any]:
        """A parsed scenario (`parse_scenario`), started now (or with the module)."""
        return self.module.call(self._start_scenario, scenario)

    def _op_scenario(self, req: M.NoArgs) -> dict[str, Any] | None:
        if self.scenario_runner is None:
            return None
        return self.scenario_runner.summary()

    def _op_scenario_clear(self, req: M.NoArgs) -> dict[str, Any]:
        runner, self.scenario_runner = self.scenario_runner, None
        if runner is None:
            return {"cleared": False}
        runner.stop()
        return {"cleared": True}


def _dns_view(answer: DnsAnswer) -> Any:
    if answer.nxdomain:
        return "NXDOMAIN"
    if answer.no_answer:
        return "no answer"
    return list(answer.addresses)


__all__ = ["OPS", "Control", "ControlError", "Op", "ValidationError"]

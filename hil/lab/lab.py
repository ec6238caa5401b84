"""A lab started from its environment file (hil/lab/env.py): the broker it asks for, the
DSP on its store, the fleet runner for the emulated hubs and a bridge for each bridged
hub, all in this process on their own MQTT connections.

    async with Lab(load_lab_env(path)) as lab:
        hub = lab.hub("rig")                       # or lab.hubs
        async with lab.client() as user:            # every lab user's responses and alerts
            user.send(user.request(lab.users["supplier"], Srv.READ_FIRMWARE, esme_id, {}))
        await lab.smi(esme_id)                      # the SMI record, from the DSP's store
        lab.inject_fault("smets2", rule)            # emulated hubs only
        await lab.set_mp105(False)                  # the DSP restarted with the switch off
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from bus.mosquitto import running_mosquitto
from contract.ids import to_bytes, to_duis
from contract.topics import Topics
from contract.vocabulary import Device
from dsp_core.model import JournalEntry
from dsp_core.service import DspService
from dsp_core.store import MemoryStore, SqlStore, Store
from emulators.errors import ConfigError
from emulators.faults import FaultPlan, FaultRule
from emulators.fleet import FleetBuild, ImageKey, build_fleet
from emulators.fleetspec import FleetSpec, load_fleet_spec
from emulators.journal import FleetJournal
from emulators.runner import FleetRunner
from gbcs.keystore import KeyStore
from gbcs.ota import OtaImage
from hil.errors import LabError
from hil.keys import lab_security, with_certificates
from hil.taskgroups import unwrap_body_error

from .client import Counters, LabClient, client_link
from .env import HubPlan, LabEnv, plan_hubs
from .hubs import HUB_STARTERS, BridgedHub, HubContext
from .stack import Stack, StackConfig, seed_store

log = logging.getLogger(__name__)


class Lab:
    """`async with Lab(env) as lab:`; everything it started stops with it."""

    def __init__(self, env: LabEnv, *, journal_dir: Path | None = None) -> None:
        self.env = env
        self.journal_dir = journal_dir
        self.run_id = f"{env.name}-{uuid.uuid4().hex[:8]}"
        self.spec, self.fault_plan, self.build = _load_fleet(env)
        self.hubs: list[HubPlan] = plan_hubs(env, self.spec, self.build)
        self.bridged: dict[str, BridgedHub] = {}
        self.journal = FleetJournal(journal_dir / "fleet.jsonl" if journal_dir else None)
        self.users = _users(env, self.spec)
        self._keys: KeyStore | None = None
        self._stack: Stack | None = None
        self._exit = AsyncExitStack()
        self._folder = Path()
        self._url = ""
        self._clients = 0
        self.counters = Counters(int(time.time() * 1000))

    # ---- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._exit.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise unwrap_body_error(group, exc) from None

    async def _start(self) -> None:
        exit_stack = self._exit
        exit_stack.callback(self.journal.close)
        self._folder = Path(exit_stack.enter_context(tempfile.TemporaryDirectory(prefix="lab-")))
        if self.journal_dir is not None:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
        self._url, version = await self._broker()
        store = await self._store()
        config = StackConfig(
            self._url,
            ClockSetting.starting_now(
                self.env.epoch(datetime.now(UTC)), self.env.clock.scale, time.time()
            ),
            topics=Topics(self.env.topic_root),
            mqtt_version=version,
            core=self.env.dsp.core_config(),
            run_id=self.run_id,
        )
        emulated = self._build_for({h.ch_id for h in self.hubs if not h.bridged})
        if self.keys is not None:  # the DSP MACs for a physical device with its certificate
            emulated = replace(emulated, keys=self.keys)
        self._stack = await exit_stack.enter_async_context(
            Stack(config, emulated, store, self.journal)
        )
        for plan in self.hubs:
            if plan.bridged:
                starter = HUB_STARTERS[plan.kind]
                self.bridged[plan.name] = await starter(self._hub_context(), plan, exit_stack)
        log.info("lab %s: %d hubs, %d bridged", self.run_id, len(self.hubs), len(self.bridged))

    async def _broker(self) -> tuple[str, str]:
        broker = self.env.broker
        try:
            if broker == "embedded":
                embedded = await self._exit.enter_async_context(EmbeddedBroker())
                return embedded.url, "3.1.1"
            if broker == "mosquitto":
                return self._exit.enter_context(running_mosquitto(self._folder)).url, "auto"
        except BusError as exc:
            raise LabError(f"lab {self.env.name}: broker {broker}: {exc}") from exc
        return self.env.broker_url(), "auto"

    async def _store(self) -> Store:
        url = self.env.store
        if url == "memory":
            store: Store = MemoryStore()
        else:
            if url == "sqlite":
                url = f"sqlite:///{self._folder / 'dsp.sqlite'}"
            store = await SqlStore.open(url)
        self._exit.push_async_callback(store.close)
        await seed_store(store, self.build.seed)
        return store

    def _build_for(self, ch_ids: set[str]) -> FleetBuild:
        """A fresh build of the fleet file (the same IDs, seeded) keeping only `ch_ids`,
        so that one premises is run by one part of the lab only."""
        build = build_fleet(self.spec, self.fault_plan)
        for ch_id in list(build.fleet.premises):
            if ch_id.hex().upper() not in ch_ids:
                del build.fleet.premises[ch_id]
        return build

    def _hub_context(self) -> HubContext:
        stack = self.stack
        return HubContext(
            self._url,
            stack.config.mqtt_version,
            stack.config.topics,
            stack.clock(),
            self._folder,
            self.journal_dir,
            self.run_id,
            self._build_for,
            self.build.keys,
            self.build.signers,
        )

    # ---- what a scenario, a test or a report uses ----------------------------------

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise LabError("the lab is not started: use it as `async with Lab(env) as lab`")
        return self._stack

    @property
    def topics(self) -> Topics:
        return self.stack.config.topics

    @property
    def mp105(self) -> bool:
        return self.stack.config.core.mp105

    @property
    def images(self) -> dict[ImageKey, OtaImage]:
        return self.build.images

    def clock(self) -> ScaledClock:
        return self.stack.clock()

    @property
    def url(self) -> str:
        """The broker's URL: the one the environment names, or the one the lab started."""
        if not self._url:
            raise LabError("the lab is not started: use it as `async with Lab(env) as lab`")
        return self._url

    def hub(self, name: str) -> HubPlan:
        for plan in self.hubs:
            if plan.name == name:
                return plan
        raise LabError(
            f"no hub {name} in lab {self.env.name} ({', '.join(h.name for h in self.hubs)})"
        )

    def client(self, users: tuple[str, ...] | None = None) -> LabClient:
        """A service-user connection for `users` (DUIS IDs; default every lab user);
        enter it with `async with`. It takes originator counters from the lab's."""
        self._clients += 1
        wanted = tuple(self.users.values()) if users is None else users
        client_id = f"smetslab-{self.run_id}-client-{self._clients}"
        config = self.stack.config
        link = client_link(self._url, config.topics, wanted, client_id, config.mqtt_version)
        security = lab_security(self.keys)  # None, None: the fleet's security is off
        return LabClient(link, config.topics, self.clock(), self.counters, security)

    @property
    def keys(self) -> KeyStore | None:
        """The lab's GBCS keys (the fleet's `key_store()`) with the physical devices'
        certificates of the environment file added; None with the fleet's security off."""
        if self._keys is None and self.build.keys is not None:
            self._keys = with_certificates(self.build.keys, self.env.certificates)
        return self._keys

    async def smi(self, device_id: str) -> Device:
        """The SMI record of one device, as the DSP's store has it now."""
        wanted = to_duis(device_id)
        for device in await self.stack.store.devices():
            if device.device_id == wanted:
                return device
        raise LabError(f"device {wanted} is not in the SMI")

    async def devices(self, plan: HubPlan) -> tuple[Device, ...]:
        """The SMI records of a hub's devices, now."""
        ids = {d.device_id for d in plan.devices}
        return tuple(d for d in await self.stack.store.devices() if d.device_id in ids)

    async def dsp_journal(self) -> list[JournalEntry]:
        return [entry async for entry in self.stack.store.journal()]

    def inject_fault(self, hub: str, rule: FaultRule) -> None:
        """Add a fault rule to an emulated hub's fleet from now on (R11)."""
        self._emulated(hub, "fault injection").add_fault(rule)

    def remove_fault(self, hub: str, rule: FaultRule) -> None:
        self._emulated(hub, "fault injection").remove_fault(rule)

    def flash(self, hub: str, device_id: str, version: str, image_hash: bytes) -> None:
        """Firmware written on an emulated device outside the DCC."""
        runner = self._emulated(hub, "flashing a device")
        runner.flash(to_bytes(device_id), bytes.fromhex(version), image_hash)

    async def set_mp105(self, on: bool) -> None:
        """Restart the DSP on its store with the MP105 switch `on` (R3)."""
        stack = self.stack
        if stack.config.core.mp105 == on:
            return
        await stack.stop_part("dsp")
        stack.config = replace(stack.config, core=replace(stack.config.core, mp105=on))
        await stack.start_dsp()
        log.info("lab %s: DSP restarted with MP105 %s", self.run_id, "on" if on else "off")

    @property
    def dsp(self) -> LabDsp:
        return LabDsp(self)

    def _emulated(self, name: str, what: str) -> FleetRunner:
        plan = self.hub(name)
        if plan.bridged:
            raise LabError(f"hub {name} is bridged ({plan.kind}): {what} is for emulated hubs only")
        runner = self.stack.fleet
        if runner is None:
            raise LabError(f"lab {self.env.name}: the fleet runner is not running")
        return runner


class LabDsp:
    """The lab's DSP as a test sees it: its SMI and journal, and its MP105 switch."""

    __slots__ = ("_lab",)

    def __init__(self, lab: Lab) -> None:
        self._lab = lab

    @property
    def store(self) -> Store:
        return self._lab.stack.store

    @property
    def service(self) -> DspService | None:
        return self._lab.stack.dsp

    @property
    def mp105(self) -> bool:
        return self._lab.mp105

    async def smi(self, device_id: str) -> Device:
        return await self._lab.smi(device_id)

    async def journal(self) -> list[JournalEntry]:
        return await self._lab.dsp_journal()

    async def set_mp105(self, on: bool) -> None:
        await self._lab.set_mp105(on)


def _load_fleet(env: LabEnv) -> tuple[FleetSpec, FaultPlan, FleetBuild]:
    try:
        spec, plan = load_fleet_spec(env.fleet)
    except ConfigError as exc:
        raise LabError(f"lab {env.name}: {exc}") from exc
    return spec, plan, build_fleet(spec, plan)


def _users(env: LabEnv, spec: FleetSpec) -> dict[str, str]:
    """The lab's users by name (DUIS IDs): the fleet's two, then the environment's."""
    users = {"supplier": spec.users.supplier, "network_operator": spec.users.network_operator}
    users.update(env.users)
    return {name: to_duis(user) for name, user in users.items()}

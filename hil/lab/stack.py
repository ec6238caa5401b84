"""A lab on one broker, in this process: the DSP service and a fleet runner, each on its
own MQTT connection, sharing the clock through `{root}/clock`. `smetslab demo`, the
campaign benchmark and the end-to-end tests start one of these.

    async with Stack(config, build, store) as lab:
        async with lab.user_bus(supplier) as user:   # a service user's connection
            ...
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from contract.ids import to_compact
from contract.topics import Topics
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.keys import secured
from dsp_core.service import DspService, ServiceLimits, dsp_link
from dsp_core.store import Store
from dsp_core.turn import CoreConfig
from emulators.fleet import DspSeed, FleetBuild
from emulators.journal import FleetJournal
from emulators.runner import FleetRunner, fleet_link
from emulators.shards import FleetShard, ShardState
from hil.errors import LabError
from hil.taskgroups import unwrap_body_error

from .processes import DspCommand, DspProcess, FleetCommand, FleetProcess, LabProcess
from .supervisor import NO_RESTART, RestartPolicy, supervise

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StackConfig:
    url: str
    clock: ClockSetting
    topics: Topics = field(default_factory=Topics)
    mqtt_version: str = "auto"
    core: CoreConfig = field(default_factory=CoreConfig)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    run_id: str = "lab"  # client IDs: smetslab-{run_id}-dsp, -fleet, -user-{id}
    # DSP workers in processes of their own (`smetslab dsp`, D18) on `store_url`;
    # 0 runs the DSP in this process on the store given to the stack
    dsp_processes: int = 0
    store_url: str | None = None
    workdir: Path | None = None  # the workers' and shards' logs, ready and state files
    # the fleet as shard processes (`smetslab fleet --shard I/M`, D-S1) of `fleet_file`,
    # which must build the stack's fleet; 0 runs the whole fleet in this process
    fleet_processes: int = 0
    fleet_file: Path | None = None
    # a worker process that dies unasked is started again under its name; a shard
    # process that dies ends the lab (D-S6); None: neither is watched
    restart: RestartPolicy | None = field(default_factory=RestartPolicy)
    # the in-process parts' MQTT sessions outlive a disconnection (the broker keeps what
    # they had not taken); False: clean sessions, gone at disconnect (the demo's default)
    persistent: bool = True
    # GBCS security over the fleet file's `security:` for the worker and shard processes
    # (`--security`); None: as the file says. The in-process parts follow the build.
    security: bool | None = None


async def seed_store(store: Store, seed: DspSeed) -> None:
    """Load a fleet's SMI, CPL, users and registration data into a DSP store."""
    await store.seed(
        devices=seed.devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
    )


class Stack:
    def __init__(
        self,
        config: StackConfig,
        build: FleetBuild,
        store: Store,
        journal: FleetJournal | None = None,
        on_started: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.build = build
        self.store = store
        self.on_started = on_started  # told each process's name once it is ready
        self.journal = journal or FleetJournal()
        self.dsp: DspService | None = None
        self.fleet: FleetRunner | None = None
        self._exit = AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self._running: dict[str, _Running | _Processes[Any]] = {}
        self._workers = _Processes[DspProcess]()
        self._shards = _Processes[FleetProcess]()

    async def __aenter__(self) -> Self:
        self._tasks = await self._exit.enter_async_context(asyncio.TaskGroup())
        try:
            await self.start_dsp()
            await self.start_fleet()
        except BaseException:  # a part that did not start: stop those that did
            await self.__aexit__(None, None, None)  # (the TaskGroup would wrap the error)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name in list(self._running):
            await self.stop_part(name)
        try:
            await self._exit.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:  # the body's own error, not a group of one
            raise unwrap_body_error(group, exc) from None

    async def start_dsp(self, store: Store | None = None) -> DspService | None:
        """Start (or start again) the DSP worker, on `store` if given; or the DSP
        worker processes when the config asks for them (then None)."""
        config = self.config
        self.store = store or self.store
        if config.dsp_processes:
            await self._start_dsp_processes()
            return None
        link = dsp_link(config.url, config.topics, self._client("dsp"), config.mqtt_version)
        link = replace(link, persistent=config.persistent)
        part = await self._start_part("dsp", link)
        part.bus.publish(config.topics.clock, config.clock.to_json(), retain=True)
        driver = CoreDriver(DspCore(secured(config.core, self.build.keys)), self.store)
        self.dsp = DspService(driver, part.bus, config.topics, self.clock(), config.limits)
        part.run(self._tasks_or_fail(), self.dsp.run(part.stop), "lab-dsp")
        return self.dsp

    async def start_fleet(self) -> FleetRunner | None:
        """Start the fleet runner; or its shard processes when the config asks for
        them (then None: their final states are in `shard_states` once stopped)."""
        config = self.config
        if config.fleet_processes:
            await self._start_fleet_processes()
            return None
        link = fleet_link(config.url, config.topics, self._client("fleet"), config.mqtt_version)
        link = replace(link, persistent=config.persistent)
        part = await self._start_part("fleet", link)
        self.fleet = FleetRunner(
            self.build.fleet, part.bus, config.topics, self.clock(), self.journal
        )
        part.run(self._tasks_or_fail(), self.fleet.run(part.stop), "lab-fleet")
        return self.fleet

    async def stop_processes(self) -> dict[str, int]:
        """Stop the worker processes, then the shard processes, each with SIGTERM, their
        supervisors first; the exit code of each, by name (= client ID)."""
        for name in ("dsp", "fleet"):
            if name in self._running:
                await self.stop_part(name)
        return self._workers.exit_codes | self._shards.exit_codes

    async def stop_part(self, name: str) -> None:
        """Stop one part as SIGTERM would: finish the message in hand, wait for what it
        published to be acknowledged, disconnect (its session stays on the broker)."""
        await self._running.pop(name).close()

    @property
    def workers(self) -> list[DspProcess]:
        """The DSP worker processes, when the DSP runs in its own processes."""
        return self._workers.processes

    async def _start_dsp_processes(self) -> None:
        config = self.config
        if config.store_url is None or config.workdir is None:
            raise LabError("DSP worker processes need the stack's store_url and workdir")
        async with MqttAdapter(self._control_link()) as control:
            await control.wait_connected()
            control.publish(config.topics.clock, config.clock.to_json(), retain=True)
            await control.drain()
        part = self._workers = _Processes[DspProcess]()
        self._running["dsp"] = part
        for index in range(config.dsp_processes):
            command = DspCommand(
                config.url,
                config.store_url,
                config.topics,
                self._client(f"dsp-{index}"),
                config.core,
                config.limits,
                config.mqtt_version,
                requests=index == 0,  # one worker takes the requests, in order (D-W3)
                # the fleet's keys, only when its security is on (D-SEC10)
                pki=None if self.build.keys is None else config.fleet_file,
                security=config.security,
            )
            worker = DspProcess(command, config.workdir)
            await part.start(worker, config.restart, self._tasks_or_fail())
            self._started(worker.name)

    @property
    def shards(self) -> list[FleetProcess]:
        """The fleet shard processes, when the fleet runs in its own processes."""
        return self._shards.processes

    def shard_states(self) -> list[ShardState]:
        """What each shard process wrote as it stopped (`LabError` if one wrote none)."""
        return [shard.state() for shard in self.shards]

    async def _start_fleet_processes(self) -> None:
        config = self.config
        if config.fleet_file is None or config.workdir is None:
            raise LabError("fleet shard processes need the stack's fleet_file and workdir")
        part = self._shards = _Processes[FleetProcess]()
        self._running["fleet"] = part
        count = config.fleet_processes
        for index in range(count):
            command = FleetCommand(
                config.url,
                config.fleet_file,
                config.topics,
                self._client(f"fleet-{index}"),
                FleetShard(index, count),
                config.mqtt_version,
                config.security,
            )
            policy = None if config.restart is None else NO_RESTART
            shard = FleetProcess(command, config.workdir)
            await part.start(shard, policy, self._tasks_or_fail())
            self._started(shard.name)

    def _started(self, name: str) -> None:
        if self.on_started is not None:
            self.on_started(name)

    def _control_link(self) -> LinkConfig:
        return LinkConfig(
            self.config.url, self._client("control"), (), mqtt_version=self.config.mqtt_version
        )

    def user_link(self, user_id: str, name: str = "user") -> LinkConfig:
        """A service user's connection: its responses and alerts, and CPL results."""
        topics, user = self.config.topics, to_compact(user_id)
        return LinkConfig(
            self.config.url,
            self._client(f"{name}-{user}"),
            (topics.responses(user), topics.alerts(user), topics.cpl_results),
            mqtt_version=self.config.mqtt_version,
            persistent=self.config.persistent,
        )

    async def user_bus(self, user_id: str, name: str = "user") -> MqttAdapter:
        """A connected service user, closed with the stack."""
        bus = await self._exit.enter_async_context(MqttAdapter(self.user_link(user_id, name)))
        await bus.wait_connected()
        return bus

    def clock(self) -> ScaledClock:
        return ScaledClock(self.config.clock)

    async def _start_part(self, name: str, link: LinkConfig) -> _Running:
        exit_stack = AsyncExitStack()
        bus = await exit_stack.enter_async_context(MqttAdapter(link))
        await bus.wait_connected()
        part = _Running(bus, exit_stack)
        self._running[name] = part
        return part

    def _tasks_or_fail(self) -> asyncio.TaskGroup:
        if self._tasks is None:
            raise RuntimeError("Stack: enter it (async with) before starting parts")
        return self._tasks

    def _client(self, role: str) -> str:
        return f"smetslab-{self.config.run_id}-{role}"


class _Running:
    """One part of the lab: its connection, its stop event and its task."""

    __slots__ = ("bus", "exit", "stop", "task")

    def __init__(self, bus: MqttAdapter, exit_stack: AsyncExitStack) -> None:
        self.bus = bus
        self.exit = exit_stack
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def run(self, tasks: asyncio.TaskGroup, work: Coroutine[Any, Any, None], name: str) -> None:
        self.task = tasks.create_task(work, name=name)

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.exit.aclose()


P = TypeVar("P", bound=LabProcess)


class _Processes(Generic[P]):
    """Parts of the lab in processes of their own, each watched by a supervisor task
    (D-S6); closed by cancelling the supervisors, then stopping each with SIGTERM in
    turn (a shard writes its final state as it goes)."""

    __slots__ = ("_supervisors", "exit_codes", "processes")

    def __init__(self) -> None:
        self.processes: list[P] = []
        self.exit_codes: dict[str, int] = {}  # by name, once closed
        self._supervisors: list[asyncio.Task[None]] = []

    async def start(
        self, process: P, policy: RestartPolicy | None, tasks: asyncio.TaskGroup
    ) -> None:
        self.processes.append(process)
        await process.start()
        if policy is not None:
            watching = supervise(process, policy)
            self._supervisors.append(tasks.create_task(watching, name=f"supervise-{process.name}"))

    async def close(self) -> None:
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)
        for process in self.processes:
            code = self.exit_codes[process.name] = await process.stop()
            if code not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                log.warning("%s %s ended with code %d", process.role, process.name, code)

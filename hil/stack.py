"""A lab on one broker, in this process: the DSP service and a fleet runner, each on its
own MQTT connection, sharing the clock through `{root}/clock`. `smetslab demo`, the
campaign benchmark and the end-to-end tests start one of these.

    async with LabStack(config, build, store) as lab:
        async with lab.user_bus(supplier) as user:   # a service user's connection
            ...
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.topics import Topics
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.ids import to_compact
from dsp_core.service import DspService, ServiceLimits, dsp_link
from dsp_core.store import Store
from dsp_core.turn import CoreConfig
from emulators.fleet import FleetBuild
from emulators.journal import FleetJournal
from emulators.runner import FleetRunner, fleet_link


@dataclass(frozen=True, slots=True)
class StackConfig:
    url: str
    clock: ClockSetting
    topics: Topics = field(default_factory=Topics)
    mqtt_version: str = "auto"
    core: CoreConfig = field(default_factory=CoreConfig)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    run_id: str = "lab"  # client IDs: smetslab-{run_id}-dsp, -fleet, -user-{id}


class LabStack:
    def __init__(
        self,
        config: StackConfig,
        build: FleetBuild,
        store: Store,
        journal: FleetJournal | None = None,
    ) -> None:
        self.config = config
        self.build = build
        self.store = store
        self.journal = journal or FleetJournal()
        self.stop = asyncio.Event()
        self._exit = AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self.dsp: DspService | None = None
        self.fleet: FleetRunner | None = None

    async def __aenter__(self) -> Self:
        config = self.config
        dsp_bus = await self._connect(
            dsp_link(config.url, config.topics, self._client("dsp"), config.mqtt_version)
        )
        fleet_bus = await self._connect(
            fleet_link(config.url, config.topics, self._client("fleet"), config.mqtt_version)
        )
        dsp_bus.publish(config.topics.clock, config.clock.to_json(), retain=True)
        driver = CoreDriver(DspCore(config.core), self.store)
        self.dsp = DspService(
            driver, dsp_bus, config.topics, ScaledClock(config.clock), config.limits
        )
        self.fleet = FleetRunner(
            self.build.fleet, fleet_bus, config.topics, ScaledClock(config.clock), self.journal
        )
        self._tasks = await self._exit.enter_async_context(asyncio.TaskGroup())
        self._tasks.create_task(self.dsp.run(self.stop), name="lab-dsp")
        self._tasks.create_task(self.fleet.run(self.stop), name="lab-fleet")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        await self._exit.__aexit__(exc_type, exc, tb)

    def user_link(self, user_id: str, name: str = "user") -> LinkConfig:
        """A service user's connection: its responses and alerts, and CPL results."""
        topics, user = self.config.topics, to_compact(user_id)
        return LinkConfig(
            self.config.url,
            self._client(f"{name}-{user}"),
            (topics.responses(user), topics.alerts(user), topics.cpl_results),
            mqtt_version=self.config.mqtt_version,
        )

    async def user_bus(self, user_id: str, name: str = "user") -> MqttAdapter:
        """A connected service user, closed with the stack."""
        return await self._connect(self.user_link(user_id, name))

    def clock(self) -> ScaledClock:
        return ScaledClock(self.config.clock)

    async def _connect(self, link: LinkConfig) -> MqttAdapter:
        bus = await self._exit.enter_async_context(MqttAdapter(link))
        await bus.wait_connected()
        return bus

    def _client(self, role: str) -> str:
        return f"smetslab-{self.config.run_id}-{role}"

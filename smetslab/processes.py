"""Wiring of the long-running commands: `smetslab dsp`, `fleet` and `campaign`.

Each runs until its work is done or SIGINT/SIGTERM; on a signal it finishes the message
in hand, waits for what it published to be acknowledged, and disconnects, so nothing is
lost: what it had not taken is delivered again to its next session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.shared_clock import fetch_clock
from contract.ids import to_compact
from contract.times import iso
from contract.topics import Topics
from contract.vocabulary import DeviceType
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.keys import secured
from dsp_core.service import DspService, ServiceLimits, dsp_link
from dsp_core.store import SqlStore
from dsp_core.turn import CoreConfig
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import load_fleet_spec
from emulators.journal import FleetJournal
from emulators.runner import FleetRunner, fleet_link
from emulators.shards import FleetShard, ShardState
from hil.campaign.model import CampaignModel
from hil.campaign.plan import CampaignPlan
from hil.campaign.report import CampaignReport
from hil.campaign.runner import CampaignRunner
from hil.demo import targets
from hil.keys import lab_security
from hil.lab.stack import seed_store


@dataclass(frozen=True, slots=True)
class BusOptions:
    broker: str
    topic_root: str
    client_id: str
    mqtt_version: str = "auto"
    connect_timeout: float = 30.0  # seconds for the broker before `BrokerUnavailableError`


async def _connected(
    stack: AsyncExitStack, link: LinkConfig, stop: asyncio.Event, timeout: float = 30.0
) -> MqttAdapter | None:
    """The link, once connected; None if `stop` came first (a signal while connecting)."""
    bus = await stack.enter_async_context(MqttAdapter(link))
    return bus if await bus.wait_connected(timeout, stop) else None


@dataclass(frozen=True, slots=True)
class DspOptions:
    store_url: str
    fleet: Path | None = None  # seed the store from this fleet file first
    core: CoreConfig = field(default_factory=CoreConfig)
    scale: float | None = None  # publish the shared clock at this scale
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    ready_file: Path | None = None  # written once connected and subscribed
    requests: bool = True  # off: device messages only (D-W3)
    pki: Path | None = None  # take the GBCS keys of this fleet file, without seeding
    security: bool | None = None  # over the fleet file's `security:` (None: as it says)


async def run_dsp(options: BusOptions, how: DspOptions, stop: asyncio.Event) -> None:
    topics = Topics(options.topic_root)
    keys_of = how.pki or how.fleet
    keys = None if keys_of is None else load_build(keys_of, how.security).keys
    core = secured(how.core, keys)
    store = await SqlStore.open(how.store_url)
    try:
        if how.fleet is not None:
            await seed_store(store, load_build(how.fleet).seed)
        async with AsyncExitStack() as stack:
            link = dsp_link(
                options.broker,
                topics,
                options.client_id,
                options.mqtt_version,
                requests=how.requests,
            )
            bus = await _connected(stack, link, stop, options.connect_timeout)
            if bus is None:
                return
            if how.scale is None:
                clock = await _shared_clock(options, topics, bus.version)
            else:  # this process publishes the lab's clock
                clock = ScaledClock(
                    ClockSetting.starting_now(datetime.now(UTC), how.scale, time.time())
                )
                bus.publish(topics.clock, clock.setting.to_json(), retain=True)
            driver = CoreDriver(DspCore(core), store)
            service = DspService(driver, bus, topics, clock, how.limits)
            _write_ready(how.ready_file)
            await service.run(stop)
    finally:
        await store.close()


async def dead_letter_lines(store_url: str) -> list[str]:
    """`smetslab dsp --dead-letters`: each message the DSP set aside (D-P1) as one JSON
    line: time, topic, reason and the payload in base64."""
    store = await SqlStore.open(store_url)
    try:
        letters = await store.dead_letters()
    finally:
        await store.close()
    return [
        json.dumps(
            {
                "at": iso(letter.at),
                "topic": letter.topic,
                "reason": letter.reason,
                "payload": base64.b64encode(letter.payload).decode("ascii"),
            }
        )
        for letter in letters
    ]


@dataclass(frozen=True, slots=True)
class FleetOptions:
    fleet: Path
    journal: Path | None = None  # append device events here (JSONL)
    shard: FleetShard = field(default_factory=FleetShard)  # the partition of hubs run (D-S1)
    ready_file: Path | None = None  # written once connected and subscribed
    state_file: Path | None = None  # the shard's final state (ShardState), written at the end
    security: bool | None = None  # over the fleet file's `security:` (None: as it says)


async def run_fleet(options: BusOptions, how: FleetOptions, stop: asyncio.Event) -> FleetJournal:
    build = load_build(how.fleet, how.security)
    fleet = how.shard.keep(build.fleet)
    record = FleetJournal(how.journal)
    topics = Topics(options.topic_root)
    try:
        async with AsyncExitStack() as stack:
            link = fleet_link(options.broker, topics, options.client_id, options.mqtt_version)
            bus = await _connected(stack, link, stop, options.connect_timeout)
            if bus is None:
                return record
            clock = await _shared_clock(options, topics, bus.version)
            runner = FleetRunner(fleet, bus, topics, clock, record, shard=how.shard)
            _write_ready(how.ready_file)
            await runner.run(stop)
    finally:
        record.close()
        if how.state_file is not None:
            state = ShardState.of(how.shard, fleet, record)
            how.state_file.write_text(state.model_dump_json(indent=1) + "\n")
    return record


async def _shared_clock(options: BusOptions, topics: Topics, version: str) -> ScaledClock:
    """The lab's clock as retained on the broker, taken before any message the process's
    connected bus holds is handled (D-W5), on the MQTT version that bus found; real time
    when none is retained."""
    found = await fetch_clock(options.broker, topics, options.client_id, version)
    return ScaledClock.real_time() if found is None else ScaledClock(found)


def _write_ready(path: Path | None) -> None:
    if path is not None:
        path.write_text(f"{os.getpid()}\n")


@dataclass(frozen=True, slots=True)
class CampaignOptions:
    future_dated: timedelta | None
    max_retries: int
    first_counter: int
    read_gpfs: bool


async def run_campaign(
    options: BusOptions,
    fleet: Path,
    how: CampaignOptions,
    stop: asyncio.Event,
    on_progress: Callable[[CampaignModel], None] | None = None,
) -> CampaignReport | None:
    build = load_build(fleet)
    supplier = build.seed.users[0].user_id
    topics = Topics(options.topic_root)
    plan = CampaignPlan(
        user_id=supplier,
        targets=targets(build),
        execution_delay=how.future_dated,
        max_retries=how.max_retries,
        read_gpfs=how.read_gpfs,
        gpf_ids=tuple(d.device_id for d in build.seed.devices if d.device_type is DeviceType.GPF),
        first_counter=how.first_counter,
    )
    link = LinkConfig(
        options.broker,
        options.client_id,
        (topics.responses(to_compact(supplier)), topics.alerts(to_compact(supplier)), topics.clock),
        mqtt_version=options.mqtt_version,
    )
    async with AsyncExitStack() as stack:
        bus = await _connected(stack, link, stop, options.connect_timeout)
        if bus is None:
            return None
        clock = ScaledClock.real_time()
        # with the fleet's security on, pre-commands are signed and device messages judged
        model = CampaignModel(plan, *lab_security(build.keys))
        runner = CampaignRunner(model, bus, topics, clock, on_progress)
        return await runner.run(stop)


def load_build(fleet: Path, security: bool | None = None) -> FleetBuild:
    """The fleet of a fleet file; `security` on or off over the file's (None: as it says)."""
    spec, plan = load_fleet_spec(fleet)
    if security is not None:
        spec = spec.model_copy(update={"security": security})
    return build_fleet(spec, plan)

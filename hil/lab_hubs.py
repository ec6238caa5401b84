"""Bridged hubs of a lab: each kind of hub has a starter that puts its premises on the
bus and returns when the hub is online (or raises `LabError` naming it).

`serial`: bridge/serial_bridge.py on the hub's port, or, with `simulated: true`, on the
pty of bridge/rig_simulator.py running the fleet file's premises. `zigbee`: not in this
build; its starter raises (the ZigBee bridge plugs in here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bridge.rig_simulator import RigSimulator
from bridge.serial_bridge import BridgeConfig, SerialBridge, bridge_link
from bridge.serial_link import PortSettings
from bus.adapter import MqttAdapter
from bus.clock import ScaledClock
from bus.topics import Topics
from emulators.fleet import FleetBuild
from emulators.journal import FleetJournal

from .errors import LabError
from .lab_env import HubKind, HubPlan

log = logging.getLogger(__name__)

ONLINE_WITHIN = 30.0  # wall seconds for a bridged hub to come online at start


@dataclass(frozen=True, slots=True)
class HubContext:
    """What a hub starter may use of the lab."""

    url: str
    mqtt_version: str
    topics: Topics
    clock: ScaledClock
    folder: Path  # the lab's temporary folder (ptys' links)
    journal_dir: Path | None
    run_id: str
    build_for: Callable[[set[str]], FleetBuild]  # a fresh fleet build of these hubs only


@dataclass(slots=True)
class BridgedHub:
    """A running bridged hub: its bridge, and its simulated rig when there is one."""

    plan: HubPlan
    bridge: SerialBridge | None = None
    rig: RigSimulator | None = None
    journal: FleetJournal | None = None
    counts: dict[str, int] = field(default_factory=dict)


HubStarter = Callable[[HubContext, HubPlan, AsyncExitStack], Awaitable[BridgedHub]]


async def start_serial(context: HubContext, plan: HubPlan, stack: AsyncExitStack) -> BridgedHub:
    """A SerialBridge on the hub's port, or on a simulated rig's pty."""
    assert plan.spec is not None
    settings = plan.spec.serial
    assert settings is not None
    hub = BridgedHub(plan)
    port = settings.port
    if settings.simulated:
        hub.rig, hub.journal = await _start_rig(context, plan, stack)
        port = hub.rig.path
    assert port is not None
    hub.bridge = await _start_bridge(context, plan, PortSettings(port, settings.baudrate), stack)
    return hub


async def start_zigbee(context: HubContext, plan: HubPlan, stack: AsyncExitStack) -> BridgedHub:
    raise LabError(
        f"hub {plan.name}: zigbee hubs are not available in this build "
        "(bridge/zigbee is integrated later); make it emulated or serial"
    )


HUB_STARTERS: dict[HubKind, HubStarter] = {
    HubKind.SERIAL: start_serial,
    HubKind.ZIGBEE: start_zigbee,
}


async def _start_rig(
    context: HubContext, plan: HubPlan, stack: AsyncExitStack
) -> tuple[RigSimulator, FleetJournal]:
    journal_path = None
    if context.journal_dir is not None:
        journal_path = context.journal_dir / f"rig-{plan.name}.jsonl"
    journal = FleetJournal(journal_path)
    stack.callback(journal.close)
    rig = RigSimulator(
        context.build_for({plan.ch_id}),
        context.clock,
        ch_id=plan.ch_id,
        link=context.folder / f"rig-{plan.name}",
        journal=journal,
    )
    await stack.enter_async_context(rig)
    log.info("hub %s: simulated rig on %s", plan.name, rig.path)
    return rig, journal


async def _start_bridge(
    context: HubContext, plan: HubPlan, port: PortSettings, stack: AsyncExitStack
) -> SerialBridge:
    client = f"smetslab-{context.run_id}-bridge-{plan.name}"
    link = bridge_link(context.url, context.topics, plan.ch_id, client, context.mqtt_version)
    bus = await stack.enter_async_context(MqttAdapter(link))
    await bus.wait_connected()
    bridge = SerialBridge(BridgeConfig(plan.ch_id, port), bus, context.topics)
    stop = asyncio.Event()
    tasks = await stack.enter_async_context(asyncio.TaskGroup())
    stack.callback(stop.set)  # runs before the task group waits for the bridge
    tasks.create_task(bridge.run(stop), name=f"lab-bridge {plan.name}")
    await _online(bridge, plan)
    return bridge


async def _online(bridge: SerialBridge, plan: HubPlan) -> None:
    try:
        async with asyncio.timeout(ONLINE_WITHIN):
            while not bridge.status.online:
                bridge.changed.clear()
                await bridge.changed.wait()
    except TimeoutError as exc:
        raise LabError(
            f"hub {plan.name} ({plan.ch_id}): not online within {ONLINE_WITHIN:.0f} s "
            f"(link {bridge.status.link}, {bridge.status.reason})"
        ) from exc
    log.info("hub %s: online through its serial bridge", plan.name)

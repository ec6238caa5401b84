"""Bridged hubs of a lab: each kind of hub has a starter that puts its premises on the
bus and returns when the hub is online (or raises `LabError` naming it).

`serial`: bridge/serial_bridge.py on the hub's port, or, with `simulated: true`, on the
pty of bridge/simulators/rig.py running the fleet file's premises. `zigbee`:
bridge/zigbee on a radio (bellows or zigpy-znp, with a device map), or, with `radio:
emulated`, on zigpy without a radio, the premises' devices emulated behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import BridgeError
from bridge.serial_bridge import BridgeConfig, SerialBridge, bridge_link
from bridge.serial_link import PortSettings
from bridge.simulators.rig import RigSimulator
from bridge.simulators.zigbee_radio import EmulatedNetwork, emulated_factory
from bridge.zigbee.bridge import ZigbeeBridge, ZigbeeBridgeConfig, zigbee_bridge_link
from bridge.zigbee.devicemap import DeviceMap, load_device_map
from bridge.zigbee.radios import AppFactory, RadioKind, radio_config, radio_factory
from bridge.zigbee.translate import TranslatorConfig
from bus.adapter import MqttAdapter
from bus.clock import ScaledClock
from contract.topics import Topics
from emulators.errors import ConfigError
from emulators.fleet import FleetBuild
from emulators.journal import FleetJournal
from gbcs.keystore import KeyStore
from hil.errors import LabError

from .env import HubKind, HubPlan, ZigbeeHubSpec

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
    # the fleet's GBCS keys and trusted signers, for a bridge that speaks for its
    # devices (None: security off; docs/security.md D-SEC18)
    keys: KeyStore | None = None
    signers: frozenset[bytes] = frozenset()


@dataclass(slots=True)
class BridgedHub:
    """A running bridged hub: its bridge, and its simulated rig when there is one."""

    plan: HubPlan
    bridge: SerialBridge | None = None
    rig: RigSimulator | None = None
    zigbee: ZigbeeBridge | None = None
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
    """A ZigbeeBridge on the hub's radio, or on zigpy without one (emulated devices)."""
    assert plan.spec is not None
    settings = plan.spec.zigbee
    assert settings is not None
    hub = BridgedHub(plan)
    network: EmulatedNetwork | None = None
    try:
        if settings.radio == "emulated":
            hub.journal = _journal(context, plan, stack, "zigbee")
            build = context.build_for({plan.ch_id})
            network = EmulatedNetwork.from_fleet(build, context.clock, plan.ch_id, hub.journal)
            device_map, factory = network.device_map(), emulated_factory(network, plan.ch_id)
        else:
            device_map, factory = _radio(context, plan, settings)
    except (BridgeError, ConfigError) as exc:
        raise LabError(f"hub {plan.name}: {exc}") from exc
    translator = TranslatorConfig.of_fleet(context.keys, context.signers)
    config = ZigbeeBridgeConfig(device_map, radio=settings.radio, translator=translator)
    hub.zigbee = await _start_zigbee_bridge(
        context, plan, config, factory, network=network, stack=stack
    )
    return hub


HUB_STARTERS: dict[HubKind, HubStarter] = {
    HubKind.SERIAL: start_serial,
    HubKind.ZIGBEE: start_zigbee,
}


def _journal(context: HubContext, plan: HubPlan, stack: AsyncExitStack, kind: str) -> FleetJournal:
    journal_path = None
    if context.journal_dir is not None:
        journal_path = context.journal_dir / f"{kind}-{plan.name}.jsonl"
    journal = FleetJournal(journal_path)
    stack.callback(journal.close)
    return journal


def _radio(
    context: HubContext, plan: HubPlan, settings: ZigbeeHubSpec
) -> tuple[DeviceMap, AppFactory]:
    assert settings.port is not None
    assert settings.devices is not None
    device_map = load_device_map(settings.devices)
    if device_map.ch_id != plan.ch_id:
        raise LabError(f"hub {plan.name}: {settings.devices} is the map of hub {device_map.ch_id}")
    kind = RadioKind(settings.radio)
    database = settings.database or context.folder / f"zigbee-{plan.name}.db"
    config = radio_config(kind, settings.port, baudrate=settings.baudrate, database=database)
    return device_map, radio_factory(kind, config)


async def _start_zigbee_bridge(
    context: HubContext,
    plan: HubPlan,
    config: ZigbeeBridgeConfig,
    factory: AppFactory,
    *,
    network: EmulatedNetwork | None,
    stack: AsyncExitStack,
) -> ZigbeeBridge:
    client = f"smetslab-{context.run_id}-zigbee-{plan.name}"
    link = zigbee_bridge_link(context.url, context.topics, plan.ch_id, client, context.mqtt_version)
    bus = await stack.enter_async_context(MqttAdapter(link))
    await bus.wait_connected()
    bridge = ZigbeeBridge(config, bus, context.topics, factory, clock=context.clock)
    stop = asyncio.Event()
    tasks = await stack.enter_async_context(asyncio.TaskGroup())
    stack.callback(stop.set)  # runs before the task group waits for the bridge
    if network is not None:
        tasks.create_task(network.run(stop), name=f"lab-zigbee-devices {plan.name}")
    tasks.create_task(bridge.run(stop), name=f"lab-zigbee {plan.name}")
    await _online(bridge, plan)
    return bridge


async def _start_rig(
    context: HubContext, plan: HubPlan, stack: AsyncExitStack
) -> tuple[RigSimulator, FleetJournal]:
    journal = _journal(context, plan, stack, "rig")
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


async def _online(bridge: SerialBridge | ZigbeeBridge, plan: HubPlan) -> None:
    try:
        async with asyncio.timeout(ONLINE_WITHIN):
            while not bridge.hub.status.online:
                bridge.hub.changed.clear()
                await bridge.hub.changed.wait()
    except TimeoutError as exc:
        raise LabError(
            f"hub {plan.name} ({plan.ch_id}): not online within {ONLINE_WITHIN:.0f} s "
            f"(link {bridge.hub.status.link}, {bridge.hub.status.reason})"
        ) from exc
    # The online status with the broker, so queued for the DSP before any request the
    # lab sends next: a DSP still holding the starting status would answer E20 (D-E1).
    await bridge.hub.bus.drain()
    log.info("hub %s: online through its %s bridge", plan.name, plan.kind)

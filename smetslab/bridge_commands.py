"""`smetslab bridge serial`, `smetslab bridge zigbee` and `smetslab rig simulate`: options
in, one call out.

Each runs until SIGINT/SIGTERM. A bridge then closes its port (or radio), publishes the
hub offline and waits for the broker to have everything it published.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from bridge.serial_bridge import BridgeConfig, SerialBridge, bridge_link
from bridge.serial_link import PortSettings
from bridge.simulators.rig import RigSimulator
from bridge.simulators.zigbee_radio import EmulatedNetwork, emulated_factory
from bridge.zigbee.bridge import ZigbeeBridge, ZigbeeBridgeConfig, zigbee_bridge_link
from bridge.zigbee.devicemap import DeviceMap, load_device_map
from bridge.zigbee.radios import AppFactory, RadioKind, radio_config, radio_factory
from bridge.zigbee.translate import TranslatorConfig
from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from contract.errors import TopicError
from contract.ids import check_eui64
from contract.topics import Topics
from emulators.errors import ConfigError
from emulators.journal import FleetJournal

from .broker_options import BROKER_HELP, BrokerCa, BrokerCert, BrokerKey, PasswordFile, broker_url
from .logs import setup_logging
from .processes import load_build
from .signals import run_command

bridge_app = typer.Typer(no_args_is_help=True, help="Put physical comms-hub rigs on the bus.")
rig_app = typer.Typer(no_args_is_help=True, help="A simulated rig, to try the bridge without one.")
LOCAL = "mqtt://127.0.0.1:1883"
Root = Annotated[str, typer.Option("--topic-root", help="topic root of the contract")]


def register_bridge(app: typer.Typer) -> None:
    app.add_typer(bridge_app, name="bridge")
    app.add_typer(rig_app, name="rig")


def _hub(value: str) -> str:
    try:
        return check_eui64(value.replace("-", "").upper(), "comms hub ID")
    except TopicError as exc:
        raise typer.BadParameter(str(exc)) from exc


@bridge_app.command("serial")
def serial(
    *,
    port: Annotated[
        str, typer.Option(help="/dev/ttyUSB0, a pty, socket://host:port or rfc2217://host:port")
    ],
    ch_id: Annotated[str, typer.Option(help="the rig's comms hub ID (EUI-64)", parser=_hub)],
    broker: Annotated[str, typer.Option(help=BROKER_HELP)] = LOCAL,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    topic_root: Root = "smetslab",
    baudrate: Annotated[int, typer.Option(min=1)] = 115200,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client ID (default smetslab-bridge-{ch_id})")
    ] = None,
) -> None:
    """The rig's comms hub on {root}/ch/{ch_id}/down and /up, as an emulated one."""
    setup_logging(logging.INFO)
    config = BridgeConfig(ch_id, PortSettings(port, baudrate))
    client = client_id or f"smetslab-bridge-{ch_id}"
    broker = broker_url(broker, password_file, broker_ca, broker_cert, broker_key)
    run_command(partial(run_serial_bridge, config, broker, Topics(topic_root), client))


async def run_serial_bridge(
    config: BridgeConfig, broker: str, topics: Topics, client: str, stop: asyncio.Event
) -> None:
    async with MqttAdapter(bridge_link(broker, topics, config.ch_id, client)) as bus:
        if await bus.wait_connected(30, stop):
            await SerialBridge(config, bus, topics).run(stop)


@bridge_app.command("zigbee")
def zigbee(
    *,
    radio: Annotated[
        RadioKind, typer.Option(help="ezsp (bellows), znp (zigpy-znp), or emulated (no radio)")
    ],
    port: Annotated[
        str | None, typer.Option(help="the radio: /dev/ttyUSB0, socket://host:port, ...")
    ] = None,
    devices: Annotated[
        Path | None, typer.Option(help="device map (YAML): the hub and its ZigBee devices")
    ] = None,
    fleet_file: Annotated[
        Path | None, typer.Option("--fleet", help="emulated: the fleet file to emulate")
    ] = None,
    ch_id: Annotated[
        str | None,
        typer.Option(help="the hub's ID (EUI-64); default: the device map's", parser=_hub),
    ] = None,
    broker: Annotated[str, typer.Option(help=BROKER_HELP)] = LOCAL,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    topic_root: Root = "smetslab",
    baudrate: Annotated[int | None, typer.Option(min=1)] = None,
    flow_control: Annotated[str | None, typer.Option(help="hardware or software")] = None,
    database: Annotated[
        Path | None,
        typer.Option(help="zigpy's database of joined devices (default zigbee-{ch_id}.db)"),
    ] = None,
    permit_join: Annotated[
        int, typer.Option(min=0, max=254, help="seconds joining is open after each start")
    ] = 0,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client ID (default smetslab-zigbee-{ch_id})")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="emulated: append device events here (JSONL)")
    ] = None,
) -> None:
    """The hub's ZigBee devices on {root}/ch/{ch_id}/down and /up, as an emulated hub's."""
    setup_logging(logging.INFO)
    clock = ScaledClock.real_time()
    record = FleetJournal(journal)
    try:
        translator = TranslatorConfig()
        if radio is RadioKind.EMULATED:
            network, device_map, translator = _emulated(fleet_file, devices, ch_id, clock, record)
            factory = emulated_factory(network, device_map.ch_id)
        else:
            network, device_map = None, _device_map(devices, ch_id)
            database = database or Path(f"zigbee-{device_map.ch_id}.db")
            config = radio_config(
                radio, _port(port), baudrate=baudrate, flow_control=flow_control, database=database
            )
            factory = radio_factory(radio, config)
        settings = ZigbeeBridgeConfig(
            device_map, radio=str(radio), permit_join=permit_join, translator=translator
        )
        client = client_id or f"smetslab-zigbee-{device_map.ch_id}"
        run = partial(
            run_zigbee_bridge,
            settings,
            factory,
            network=network,
            clock=clock,
            broker=broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
            topics=Topics(topic_root),
            client=client,
        )
        run_command(run)
    finally:
        record.close()


def _port(port: str | None) -> str:
    if port is None:
        raise typer.BadParameter("a radio needs its port", param_hint="--port")
    return port


def _device_map(path: Path | None, ch_id: str | None) -> DeviceMap:
    if path is None:
        raise typer.BadParameter(
            "a radio's devices are named by a device map", param_hint="--devices"
        )
    device_map = load_device_map(path)
    if ch_id is not None and ch_id != device_map.ch_id:
        raise typer.BadParameter(
            f"{ch_id} is not the hub of {path} ({device_map.ch_id})", param_hint="--ch-id"
        )
    return device_map


def _emulated(
    fleet_file: Path | None,
    devices: Path | None,
    ch_id: str | None,
    clock: ScaledClock,
    record: FleetJournal,
) -> tuple[EmulatedNetwork, DeviceMap, TranslatorConfig]:
    """The emulated devices of a fleet file, and the translator speaking for them with
    the fleet's keys when its security is on (D-SEC18)."""
    if fleet_file is None:
        raise typer.BadParameter(
            "the emulated radio's devices come from a fleet", param_hint="--fleet"
        )
    try:
        build = load_build(fleet_file)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fleet") from exc
    network = EmulatedNetwork.from_fleet(build, clock, ch_id, record)
    device_map = network.device_map() if devices is None else _device_map(devices, ch_id)
    return network, device_map, TranslatorConfig.of_fleet(build.keys, build.signers)


async def run_zigbee_bridge(
    config: ZigbeeBridgeConfig,
    factory: AppFactory,
    stop: asyncio.Event,
    *,
    network: EmulatedNetwork | None,
    clock: ScaledClock,
    broker: str,
    topics: Topics,
    client: str,
) -> None:
    async with MqttAdapter(zigbee_bridge_link(broker, topics, config.ch_id, client)) as bus:
        if not await bus.wait_connected(30, stop):
            return
        bridge = ZigbeeBridge(config, bus, topics, factory, clock=clock)
        async with asyncio.TaskGroup() as tasks:
            if network is not None:
                tasks.create_task(network.run(stop), name="zigbee-emulated-devices")
            tasks.create_task(bridge.run(stop), name=f"zigbee-bridge {config.ch_id}")


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{value!r}: use HOST:PORT", param_hint="--listen")
    return host, int(port)


@rig_app.command("simulate")
def simulate(
    *,
    fleet_file: Annotated[Path, typer.Option("--fleet", help="a fleet file (one premises)")],
    ch_id: Annotated[
        str | None, typer.Option(help="which premises, when the fleet has several", parser=_hub)
    ] = None,
    link: Annotated[
        Path | None, typer.Option(help="also name the pty by this symbolic link")
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(help="HOST:PORT: serve the line on TCP (socket://) instead of a pty"),
    ] = None,
    broker: Annotated[
        str | None, typer.Option(help="follow the shared clock on this broker")
    ] = None,
    topic_root: Root = "smetslab",
    journal: Annotated[Path | None, typer.Option(help="append device events here (JSONL)")] = None,
) -> None:
    """Emulated premises behind the rig link on a pty; prints the port path for the bridge."""
    setup_logging(logging.INFO)
    try:
        build = load_build(fleet_file)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fleet") from exc
    record = FleetJournal(journal)
    try:
        rig = RigSimulator(
            build,
            ScaledClock.real_time(),
            ch_id=ch_id,
            link=link,
            listen=None if listen is None else _address(listen),
            journal=record,
        )
        run_command(partial(run_rig, rig, broker, Topics(topic_root)))
    finally:
        record.close()


async def run_rig(
    rig: RigSimulator, broker: str | None, topics: Topics, stop: asyncio.Event
) -> None:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(rig)
        typer.echo(f"{rig.path} {rig.ch_id}")
        sys.stdout.flush()
        if broker is not None:
            link = LinkConfig(broker, f"smetslab-rig-{rig.ch_id}", (topics.clock,))
            bus = await stack.enter_async_context(MqttAdapter(link))
            await _follow_clock(bus, rig, stop)
        await stop.wait()


async def _follow_clock(bus: MqttAdapter, rig: RigSimulator, stop: asyncio.Event) -> None:
    """The shared clock (DESIGN §6), so device time agrees with the DSP's."""
    clock = rig.clock
    assert isinstance(clock, ScaledClock)
    while (message := await bus.next_message(stop)) is not None:
        bus.ack(message)
        try:
            clock.update(ClockSetting.from_json(message.payload))
        except BusError as exc:
            logging.getLogger(__name__).warning("clock message refused: %s", exc)

"""`smetslab bridge serial` and `smetslab rig simulate`: options in, one call out.

Both run until SIGINT/SIGTERM. The bridge then closes its port, publishes the hub
offline and waits for the broker to have everything it published.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import typer

from bridge.errors import BridgeError
from bridge.rig_simulator import RigSimulator
from bridge.serial_bridge import BridgeConfig, SerialBridge, bridge_link
from bridge.serial_link import PortSettings
from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError, TopicError
from bus.topics import Topics, check_eui64
from emulators.errors import ConfigError
from emulators.journal import FleetJournal

from .processes import load_build, stop_on_signals

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
    broker: Annotated[str, typer.Option(help="the MQTT broker, mqtt://host:port")] = LOCAL,
    topic_root: Root = "smetslab",
    baudrate: Annotated[int, typer.Option(min=1)] = 115200,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client ID (default smetslab-bridge-{ch_id})")
    ] = None,
) -> None:
    """The rig's comms hub on {root}/ch/{ch_id}/down and /up, as an emulated one."""
    logging.basicConfig(level=logging.INFO)
    config = BridgeConfig(ch_id, PortSettings(port, baudrate))
    client = client_id or f"smetslab-bridge-{ch_id}"
    asyncio.run(run_serial_bridge(config, broker, Topics(topic_root), client))


async def run_serial_bridge(config: BridgeConfig, broker: str, topics: Topics, client: str) -> None:
    async with MqttAdapter(bridge_link(broker, topics, config.ch_id, client)) as bus:
        await bus.wait_connected(30)
        await SerialBridge(config, bus, topics).run(stop_on_signals())


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
    logging.basicConfig(level=logging.INFO)
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
        asyncio.run(run_rig(rig, broker, Topics(topic_root)))
    except BridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        record.close()


async def run_rig(rig: RigSimulator, broker: str | None, topics: Topics) -> None:
    stop = stop_on_signals()
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

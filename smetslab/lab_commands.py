"""`smetslab lab up`: options in, one call out (the logic is hil/lab/up.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bus.identity import mask_url
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.lab.env import load_lab_env, plan_hubs
from hil.lab.up import LabUp, LabUpInfo, LabUpOptions
from hil.shipped import shipped

from .broker_options import BrokerCa, BrokerCert, BrokerKey, PasswordFile, broker_url
from .commands import Security, security_override
from .logs import setup_logging
from .progress import ProgressView, wanted
from .signals import run_command

lab_app = typer.Typer(no_args_is_help=True, help="A whole lab on this machine.")
# lab up stops its processes one after the other, each within its own 2 s
LAB_GRACE = 15.0
DEFAULT_FLEET = shipped("fleet.yaml")


def register_lab(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")


@lab_app.command("up")
def up(
    *,
    workers: Annotated[int, typer.Option(min=1, help="DSP worker processes")] = 1,
    shards: Annotated[int, typer.Option(min=1, help="fleet shard processes")] = 1,
    fleet_file: Annotated[
        Path, typer.Option("--fleet", help="the fleet file (seeds the store, runs the shards)")
    ] = DEFAULT_FLEET,
    broker: Annotated[
        str | None,
        typer.Option(help="mqtt(s)://[user[:password]@]host:port (default: a private mosquitto)"),
    ] = None,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    store: Annotated[
        str | None,
        typer.Option(help="sqlite:///file or postgresql://... (default: WORKDIR/dsp.sqlite)"),
    ] = None,
    scale: Annotated[float, typer.Option(min=0.001, help="device seconds per wall second")] = 1.0,
    workdir: Annotated[
        Path, typer.Option(help="logs, ready and state files, the default store and broker")
    ] = Path("smetslab-lab"),
    topic_root: Annotated[str, typer.Option(help="topic root of the contract")] = "smetslab",
    name: Annotated[str, typer.Option(help="client IDs are smetslab-NAME-dsp-I, -fleet-I")] = "lab",
    security: Security = None,
) -> None:
    """Start N DSP workers and M fleet shards on one broker and one store; print where
    everything is (one JSON line on standard output); stop them all on SIGINT or SIGTERM
    and print their exit codes (a second JSON line). Exit 1 if one did not stop cleanly.

    A worker that dies is started again under its name (5 times a minute at most); a
    shard that dies, or a worker past that limit, stops the lab with an error (D-S6)."""
    setup_logging(logging.WARNING)
    options = LabUpOptions(
        fleet_file,
        workdir.resolve(),
        workers,
        shards,
        None
        if broker is None
        else broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
        store,
        scale,
        topic_root,
        name,
        security=security_override(security),
    )
    clean: list[bool] = []
    total = workers + shards
    started: list[str] = []
    view = ProgressView(wanted(), "lab up: starting", total)

    def ready(name: str) -> None:
        started.append(name)
        view.update(len(started), total, f"lab up: {name} ready")
        if len(started) == total:
            view.close()

    try:
        with view:
            run_command(partial(_run, LabUp(options, on_started=ready), clean), grace=LAB_GRACE)
    except typer.Exit as stopped:  # a signal: its code, or 1 if a part did not stop cleanly
        raise typer.Exit(code=1 if clean == [False] else stopped.exit_code) from None
    if clean == [False]:
        raise typer.Exit(code=1)


async def _run(up: LabUp, clean: list[bool], stop: asyncio.Event) -> None:
    result = await up.run(stop, _show)
    _show(result)
    clean.append(result.clean)


def _show(info: LabUpInfo) -> None:
    typer.echo(json.dumps(info.to_json()), nl=True)
    console = Console(stderr=True)
    table = Table(
        title=f"lab: {info.premises} premises on {mask_url(info.broker)}, store {info.store_url}"
    )
    for column in ("process", "name", "pid", "restarts", "exit", "log"):
        table.add_column(column)
    for part in info.parts:
        exit_code = "" if part.exit_code is None else str(part.exit_code)
        pid, restarts, log = str(part.pid), str(part.restarts), str(part.log or "")
        table.add_row(part.role, part.name, pid, restarts, exit_code, log)
    console.print(table)


@lab_app.command("devices")
def devices(
    env: Annotated[Path, typer.Option(help="the lab environment file")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a device")] = False,
) -> None:
    """List a lab's devices: ID, type, SMETS, firmware, SMI status, and the hub each is
    behind (its name, kind and ID), as the lab of ENV would run them."""
    lab_env = load_lab_env(env)
    spec, plan = load_fleet_spec(lab_env.fleet)
    rows = [
        {
            "device_id": device.device_id,
            "device_type": str(device.device_type),
            "smets": device.smets,
            "firmware_version": device.firmware_version,
            "status": str(device.status),
            "hub": hub.name,
            "hub_kind": str(hub.kind),
            "ch_id": hub.ch_id,
        }
        for hub in plan_hubs(lab_env, spec, build_fleet(spec, plan))
        for device in hub.devices
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(title=f"lab {lab_env.name}: {len(rows)} devices")
    for column in ("device_id", "device_type", "smets", "firmware_version", "status", "hub"):
        table.add_column(column)
    for row in rows:
        hub = f"{row['hub']} ({row['hub_kind']}, {row['ch_id']})"
        cells = [str(row[key]) for key in ("device_id", "device_type", "smets")]
        table.add_row(*cells, str(row["firmware_version"]), str(row["status"]), hub)
    Console().print(table)

"""`smetslab demo`, `dsp`, `fleet` and `campaign`: options in, one call out."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dsp_core.service import ServiceLimits
from dsp_core.turn import CoreConfig
from emulators.errors import ConfigError
from emulators.shards import FleetShard
from hil.campaign.report import CampaignReport
from hil.demo import DEMO_FLEET, DemoOptions, DemoRun, DemoSummary

from .broker_options import BROKER_HELP, BrokerCa, BrokerCert, BrokerKey, PasswordFile, broker_url
from .logs import setup_logging
from .processes import (
    BusOptions,
    CampaignOptions,
    DspOptions,
    FleetOptions,
    dead_letter_lines,
    run_campaign,
    run_dsp,
    run_fleet,
)
from .progress import ProgressView, wanted
from .signals import Stopped, run_command

Broker = Annotated[str, typer.Option(help=BROKER_HELP)]
Root = Annotated[str, typer.Option("--topic-root", help="topic root of the contract")]
Fleet = Annotated[Path, typer.Option("--fleet", help="a fleet file (configs/fleet.yaml)")]
Security = Annotated[
    str | None,
    typer.Option(help="GBCS security on or off, over the fleet file's `security:` (D-SEC10)"),
]
LOCAL = "mqtt://127.0.0.1:1883"
SWITCH = {"on": True, "off": False}
MQTT_VERSIONS = ("auto", "5", "3.1.1")
DEFAULT_CORE = CoreConfig()
DEFAULT_LIMITS = ServiceLimits()


def _mqtt_version(value: str) -> str:
    if value not in MQTT_VERSIONS:
        raise typer.BadParameter(f"{value!r}: use one of {', '.join(MQTT_VERSIONS)}")
    return value


def _switch(value: str) -> bool:
    if value not in SWITCH:
        raise typer.BadParameter(f"{value!r}: use on or off")
    return SWITCH[value]


def security_override(value: str | None) -> bool | None:
    """An on/off switch that may be left to the fleet file (None)."""
    return None if value is None else _switch(value)


def register_processes(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("dsp")(dsp)
    app.command("fleet")(fleet)
    app.command("campaign")(campaign)


def demo(
    *,
    broker: Annotated[
        str | None, typer.Option(help="an external broker (default: an embedded one)")
    ] = None,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    mp105: Annotated[str, typer.Option(help="on, or off for the behaviour before MP105")] = "on",
    premises: Annotated[int, typer.Option(min=1, help="premises in the fleet")] = 200,
    loss: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of 11.3 responses lost")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the fleet and the faults")] = 105,
    scale: Annotated[float, typer.Option(min=1.0, help="device seconds per wall second")] = 120.0,
    future_dated: Annotated[
        float | None, typer.Option(help="activate this many device seconds after sending")
    ] = None,
    fleet_file: Annotated[Path, typer.Option("--fleet", help="the fleet file")] = DEMO_FLEET,
    dsp_workers: Annotated[
        int, typer.Option(min=0, help="run the DSP as this many `smetslab dsp` processes")
    ] = 0,
    response_timeout: Annotated[
        float, typer.Option(min=1.0, help="device seconds before E21 (R8; a GSME: 900)")
    ] = DEFAULT_CORE.response_timeout.total_seconds(),
    topic_root: Annotated[
        str | None, typer.Option(help="the topic root (default: one of this run's own)")
    ] = None,
    persistent_sessions: Annotated[
        bool, typer.Option(help="keep the MQTT sessions across disconnections (D-O3)")
    ] = False,
    security: Security = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """The MP105 story end to end: CPL removal, suspension, a campaign with lost 11.3
    responses, recovery by retry and by 11.2, a stale GPF mirror; then the summary."""
    options = DemoOptions(
        premises=premises,
        loss=loss,
        seed=seed,
        mp105=_switch(mp105),
        broker=None
        if broker is None
        else broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
        scale=scale,
        fleet_file=fleet_file,
        future_dated=None if future_dated is None else timedelta(seconds=future_dated),
        dsp_processes=dsp_workers,
        response_timeout=timedelta(seconds=response_timeout),
        topic_root=topic_root,
        persistent_sessions=persistent_sessions,
        security=security_override(security),
    )
    console = Console(stderr=True, log_path=False)
    started = time.monotonic()

    def say(line: str) -> None:
        if not as_json:
            console.log(f"[{time.monotonic() - started:6.1f} s] {line}")

    setup_logging(logging.WARNING)
    with ProgressView(wanted(as_json), "demo", console=console) as view:
        run = DemoRun(options, say, progress=view.campaign)
        summary = run_command(lambda _stop: run.run())
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
    else:
        _console().print(summary_table(summary))
    if summary.smi_mismatches:
        raise typer.Exit(code=2)


# every device in exactly one of these rows (DemoSummary.outcomes)
OUTCOME_ROWS = (
    ("first_try", "devices: activated at the first 11.3"),
    ("retry", "devices: recovered by 11.3 retry"),
    ("read", "devices: recovered by 11.2"),
    ("inventory", "devices: confirmed by the inventory only"),
    ("not_recovered", "devices: not recovered"),
    ("skipped", "devices: skipped (a DSPUpdateFirmwareWarning)"),
    ("not_in_campaign", "devices: not in the campaign (not suspended)"),
)


def summary_table(summary: DemoSummary) -> Table:
    switch = "on" if summary.mp105 else "off"
    table = Table(title=f"MP105 demo (switch {switch})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    alerts, outcomes = summary.alerts, summary.outcomes
    rows = [
        ("premises", summary.premises),
        ("devices", summary.devices),
        ("suspended by the CPL removal (R4)", summary.suspended),
        ("activated (running the new version)", summary.activated),
        *((f"  {label}", outcomes.get(key, 0)) for key, label in OUTCOME_ROWS),
        ("11.3 responses lost (messages)", summary.responses_lost),
        ("still Suspended", summary.still_suspended),
        *((f"alerts {code}", alerts.get(code, 0)) for code in ("N28", "N29", "N50", "N51", "N52")),
        ("SMI vs device mismatches, SMETS2", summary.smi_mismatches),
        ("SMI vs device mismatches, SMETS1", summary.smets1_mismatches),
        *_security_rows(summary),
        ("wall time", f"{summary.wall_s:.1f} s"),
        ("device time", f"{summary.device_s / 3600:.2f} h"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _security_rows(summary: DemoSummary) -> list[tuple[str, object]]:
    """GBCS security (docs/security.md): the campaign's signatures and its verdicts on
    what the devices sent; one row saying it was off otherwise."""
    counts = summary.to_json().get("security")
    if counts is None:
        return [("GBCS security", "off")]
    return [
        ("11.3 pre-commands signed (CV 5)", counts["pre_commands_signed"]),
        ("device answers checked (signature or MAC)", counts["messages_checked"]),
        ("  valid", counts["messages_valid"]),
        ("  not valid", counts["messages_invalid"]),
        ("  not checked (no key)", counts["messages_unchecked"]),
    ]


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 120)


ConnectTimeout = Annotated[
    float, typer.Option(min=0.1, help="seconds to wait for the broker before giving up")
]


def dsp(
    *,
    broker: Broker = LOCAL,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    store: Annotated[str, typer.Option(help="sqlite:///file or postgresql://...")] = (
        "sqlite:///smetslab-dsp.sqlite"
    ),
    fleet_file: Annotated[
        Path | None, typer.Option("--fleet", help="seed the SMI, CPL and users from a fleet file")
    ] = None,
    mp105: Annotated[str, typer.Option(help="on, or off for the behaviour before MP105")] = "on",
    scale: Annotated[
        float | None, typer.Option(help="publish the shared clock at this scale")
    ] = None,
    response_timeout: Annotated[
        float, typer.Option(min=1.0, help="device seconds before E21 (R8)")
    ] = DEFAULT_CORE.response_timeout.total_seconds(),
    gsme_response_timeout: Annotated[
        float, typer.Option(min=1.0, help="device seconds before E21 for a GSME")
    ] = DEFAULT_CORE.gsme_response_timeout.total_seconds(),
    batch: Annotated[
        int, typer.Option(min=1, help="waiting messages committed in one transaction")
    ] = DEFAULT_LIMITS.batch,
    topic_root: Root = "smetslab",
    client_id: Annotated[
        str, typer.Option(help="MQTT client ID (one per worker)")
    ] = "smetslab-dsp",
    mqtt_version: Annotated[str, typer.Option(help="auto, 5 or 3.1.1")] = "auto",
    connect_timeout: ConnectTimeout = 30.0,
    ready_file: Annotated[
        Path | None, typer.Option(help="written once the DSP is connected and subscribed")
    ] = None,
    requests: Annotated[
        str, typer.Option(help="on, or off for a worker taking device messages only (D-W3)")
    ] = "on",
    pki: Annotated[
        Path | None,
        typer.Option(
            help="use the GBCS keys of this fleet file (its emulated PKI and key store) "
            "without seeding from it; --fleet does both"
        ),
    ] = None,
    security: Security = None,
    dead_letters: Annotated[
        bool,
        typer.Option(
            "--dead-letters",
            help="print the messages the DSP could not handle (one JSON line each) and exit",
        ),
    ] = False,
) -> None:
    """The DSP: authorises service requests, keeps the SMI and CPL, raises alerts. With a
    fleet whose security is on it MACs every command and takes Critical SRs as signed
    pre-commands (docs/security.md)."""
    setup_logging(logging.INFO)
    if dead_letters:
        for line in asyncio.run(dead_letter_lines(store)):
            print(line)
        return
    core = CoreConfig(
        mp105=_switch(mp105),
        response_timeout=timedelta(seconds=response_timeout),
        gsme_response_timeout=timedelta(seconds=gsme_response_timeout),
    )
    bus = BusOptions(
        broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
        topic_root,
        client_id,
        _mqtt_version(mqtt_version),
        connect_timeout,
    )
    limits = ServiceLimits(batch=batch)
    how = DspOptions(
        store,
        fleet_file,
        core,
        scale,
        limits,
        ready_file,
        _switch(requests),
        pki,
        security_override(security),
    )
    run_command(partial(run_dsp, bus, how))


def fleet(
    *,
    fleet_file: Fleet,
    broker: Broker = LOCAL,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    journal: Annotated[Path | None, typer.Option(help="append device events here (JSONL)")] = None,
    shard: Annotated[
        str, typer.Option(help="run partition I of M of the comms hubs, written I/M (0/2, 1/2)")
    ] = "0/1",
    topic_root: Root = "smetslab",
    client_id: Annotated[
        str, typer.Option(help="MQTT client ID (one per shard)")
    ] = "smetslab-fleet",
    mqtt_version: Annotated[str, typer.Option(help="auto, 5 or 3.1.1")] = "auto",
    connect_timeout: ConnectTimeout = 30.0,
    ready_file: Annotated[
        Path | None, typer.Option(help="written once the fleet is connected and subscribed")
    ] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(help="write what every device runs and the journal's counts here at the end"),
    ] = None,
    security: Security = None,
) -> None:
    """Every premises of a fleet file (or of one shard of it) on one connection and one
    scheduler."""
    setup_logging(logging.INFO)
    try:
        partition = FleetShard.parse(shard)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shard") from exc
    bus = BusOptions(
        broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
        topic_root,
        client_id,
        _mqtt_version(mqtt_version),
        connect_timeout,
    )
    how = FleetOptions(
        fleet_file, journal, partition, ready_file, state_file, security_override(security)
    )
    run_command(partial(run_fleet, bus, how))


def campaign(
    *,
    fleet_file: Fleet,
    broker: Broker = LOCAL,
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    future_dated: Annotated[
        float | None, typer.Option(help="activate this many device seconds after sending")
    ] = None,
    max_retries: Annotated[int, typer.Option(min=0, help="11.3 retries after E21")] = 3,
    first_counter: Annotated[
        int | None, typer.Option(help="first originator counter (default: unix ms)")
    ] = None,
    read_gpfs: Annotated[bool, typer.Option(help="read the GPFs at the end (N52)")] = True,
    topic_root: Root = "smetslab",
    client_id: Annotated[str, typer.Option(help="MQTT client ID")] = "smetslab-campaign",
    connect_timeout: ConnectTimeout = 30.0,
) -> None:
    """A supplier's firmware campaign over a fleet; prints, per device, what happened."""
    setup_logging(logging.INFO)
    how = CampaignOptions(
        future_dated=None if future_dated is None else timedelta(seconds=future_dated),
        max_retries=max_retries,
        first_counter=first_counter or int(time.time() * 1000),
        read_gpfs=read_gpfs,
    )
    bus = BusOptions(
        broker_url(broker, password_file, broker_ca, broker_cert, broker_key),
        topic_root,
        client_id,
        connect_timeout=connect_timeout,
    )
    try:
        with ProgressView(wanted(), "campaign") as view:
            run = partial(run_campaign, bus, fleet_file, how, on_progress=view.campaign)
            report = run_command(run)
    except Stopped as stopped:  # the report so far, then 128 + the signal
        if isinstance(stopped.result, CampaignReport):
            typer.echo(json.dumps(stopped.result.to_json(), indent=2))
        raise
    if report is not None:  # None: stopped while connecting (run_command exits first)
        typer.echo(json.dumps(report.to_json(), indent=2))

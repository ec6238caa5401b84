"""`smetslab hil conform`: the firmware-activation conformance checks against one
device; JUnit XML and an HTML report.

With `--env lab.yaml` the lab of that environment file is started for the run and gives
the broker, topic root, supplier and firmware images; without it the run joins a lab
already running on `--broker`, as `--user`, with the images given. Wiring only: options
in, one run, the reports written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contract.ids import to_duis
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from gbcs.keystore import KeyStore
from hil.conformance import (
    ConformanceOptions,
    ConformanceReport,
    ConformanceRunner,
    ConformanceTarget,
    FirmwareImage,
    TargetError,
    Verdict,
    write_html,
    write_junit,
)
from hil.conformance.on_lab import conform_on_lab
from hil.conformance.report import RunInfo
from hil.errors import SigningError
from hil.keys import lab_security, load_keys
from hil.lab.env import LabEnv, load_lab_env, plan_hubs
from hil.security import Signer, Verifier

from .inputs import ota_bytes
from .logs import setup_logging
from .signals import run_command
from .version import describe

EXIT_FAILED = 2  # a check failed
STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.SKIPPED: "dim"}


@dataclass(frozen=True, slots=True)
class ReportPaths:
    junit: Path | None
    html: Path | None


def register_conform(app: typer.Typer, name: str = "conform") -> None:
    """Attach the command to `app` (the `hil` sub-app)."""
    app.command(name)(conform)


def conform(
    *,
    device: Annotated[str, typer.Option(help="the device under test (EUI-64)")],
    env: Annotated[
        Path | None,
        typer.Option(help="start this lab environment for the run; it gives the rest"),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="the supplier user ID the run acts as (without --env)")
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="OTA file activated at once; distributed by SR 11.1")
    ] = None,
    held: Annotated[
        str | None,
        typer.Option(help="VERSION:SHA256 of an image the device already holds, instead"),
    ] = None,
    second_image: Annotated[
        str | None, typer.Option(help="OTA file activated future-dated, then repeated")
    ] = None,
    second_held: Annotated[
        str | None, typer.Option(help="VERSION:SHA256 of a second image the device holds")
    ] = None,
    broker: Annotated[str, typer.Option(help="the lab's broker, mqtt://host:port")] = (
        "mqtt://127.0.0.1:1883"
    ),
    topic_root: Annotated[str, typer.Option("--topic-root", help="topic root")] = "smetslab",
    future_delay: Annotated[
        float, typer.Option(min=1.0, help="device seconds to the future-dated execution")
    ] = 120.0,
    tolerance: Annotated[
        float, typer.Option(min=0.001, help="device seconds the 0x00CA alert may be off by")
    ] = 30.0,
    answer_wait: Annotated[
        float, typer.Option(min=1.0, help="device seconds to wait for each final answer")
    ] = 600.0,
    first_counter: Annotated[
        int | None, typer.Option(min=1, help="first originator counter (default: unix ms)")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = Path(
        "conformance.xml"
    ),
    html: Annotated[Path | None, typer.Option(help="write the HTML report here")] = Path(
        "conformance.html"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="without --env: a GBCS key store (keystore.json or PEM folder) to sign "
            "11.3s and check the device's signatures and MACs with"
        ),
    ] = None,
) -> None:
    """Run the firmware-activation conformance checks against one device (exit 2 if any
    check fails, 1 if the run cannot start)."""
    paths = ReportPaths(junit, html)
    options = ConformanceOptions(
        future_delay=timedelta(seconds=future_delay),
        tolerance=timedelta(seconds=tolerance),
        answer_wait=timedelta(seconds=answer_wait),
        first_counter=first_counter,
    )
    if env is not None:
        if user or image or held or second_image or second_held or keys:
            raise TargetError("--env gives the user and the images (and the keys): leave those out")
        lab_env = load_lab_env(env)
        where = (str(env), _hub_kind(lab_env, device))
        _conclude(_report(conform_on_lab(lab_env, device, options), where), paths, as_json)
        return
    if user is None:
        raise TargetError("give --env, or --user with --image or --held")
    target = ConformanceTarget(
        broker,
        user,
        device,
        _firmware("image", image, "held", held),
        _second(second_image, second_held),
        topic_root=topic_root,
    )
    security = (None, None) if keys is None else lab_security(_keys(keys))
    run_conform(target, options, paths, as_json=as_json, security=security)


def _keys(path: Path) -> KeyStore:
    try:
        return load_keys(path)
    except SigningError as exc:
        raise TargetError(f"--keys: {exc}") from exc


def run_conform(
    target: ConformanceTarget,
    options: ConformanceOptions,
    paths: ReportPaths,
    *,
    as_json: bool = False,
    security: tuple[Signer | None, Verifier | None] = (None, None),
) -> ConformanceReport:
    """One run on a lab already running, its reports written and its verdict as the
    exit code; `security` signs and judges when the lab's security is on (D-SEC25)."""
    where = (target.broker, "unknown: a lab already running")
    runner = ConformanceRunner(target, options, security)
    return _conclude(_report(runner.run(), where), paths, as_json)


def _report(
    run: Coroutine[Any, Any, ConformanceReport], where: tuple[str, str]
) -> ConformanceReport:
    """The run, with what a test lead files beside it: wall-clock times, this smetslab,
    the lab and the kind of hub the device is behind."""
    setup_logging(logging.WARNING)
    started = datetime.now(UTC)
    report = run_command(lambda _stop: run)
    lab, hub = where
    info = RunInfo(started, datetime.now(UTC), describe(), lab, hub)
    return report.with_info(info)


def _hub_kind(lab_env: LabEnv, device: str) -> str:
    """emulated, serial or zigbee: the kind of the hub `device` is behind in the lab."""
    spec, plan = load_fleet_spec(lab_env.fleet)
    wanted = to_duis(device)
    for hub in plan_hubs(lab_env, spec, build_fleet(spec, plan)):
        if any(d.device_id == wanted for d in hub.devices):
            return f"{hub.kind} ({hub.name})"
    return "not in the lab's fleet"


def _conclude(report: ConformanceReport, paths: ReportPaths, as_json: bool) -> ConformanceReport:
    if paths.junit is not None:
        write_junit(report, paths.junit)
    if paths.html is not None:
        write_html(report, paths.html)
    reports = (("JUnit XML", paths.junit), ("HTML", paths.html))
    written = [f"{kind} {path}" for kind, path in reports if path is not None]
    if written:
        typer.echo(f"reports: {'; '.join(written)}", err=True)
    if as_json:
        typer.echo(json.dumps(report.summary()))
    else:
        Console().print(_table(report))
    if not report.passed:
        raise typer.Exit(code=EXIT_FAILED)
    return report


def _firmware(
    image_option: str, image: str | None, held_option: str, held: str | None
) -> FirmwareImage:
    if (image is None) == (held is None):
        raise TargetError(f"give exactly one of --{image_option} and --{held_option}")
    if image is not None:
        if not Path(image).is_file():
            raise TargetError(f"--{image_option} {image}: no such file")
        return FirmwareImage.from_image(ota_bytes(image), image)
    assert held is not None
    version, _, image_hash = held.partition(":")
    return FirmwareImage.held(version, image_hash)


def _second(image: str | None, held: str | None) -> FirmwareImage | None:
    if image is None and held is None:
        return None
    return _firmware("second-image", image, "second-held", held)


def _table(report: ConformanceReport) -> Table:
    recording = report.recording
    table = Table(title=f"conformance of {recording.device_id}")
    for column in ("check", "verdict", "rules", "reason"):
        table.add_column(column)
    for result in report.results:
        check, outcome = result.check, result.outcome
        verdict = Text(str(outcome.verdict), style=STYLE[outcome.verdict])
        table.add_row(Text(check.id), verdict, Text(", ".join(check.rules)), Text(outcome.reason))
    return table

"""`smetslab hil run`, `hil diff` (and `hil conform`): options in, one call out.

The `hil` sub-app lives here so that other `hil` commands (`hil conform`) join it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hil.lab.env import load_lab_env
from hil.scenarios.file import load_scenario
from hil.scenarios.runner import ScenarioResult, run_scenarios
from hil.scenarios.transcript import diff_transcripts, format_diff, load_transcript

from .conform_command import register_conform
from .logs import setup_logging
from .progress import ProgressView, wanted
from .signals import run_command

hil_app = typer.Typer(no_args_is_help=True, help="Scenarios on a lab, emulated or bridged.")


def register_hil(app: typer.Typer) -> None:
    register_conform(hil_app)
    app.add_typer(hil_app, name="hil")


@hil_app.command("run")
def run(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario files (YAML)")],
    env: Annotated[Path, typer.Option(help="the lab environment file")],
    hub: Annotated[
        str | None, typer.Option(help="run on this hub (default: the first that fits)")
    ] = None,
    transcripts: Annotated[
        Path | None, typer.Option(help="write each run's transcript here as NAME.jsonl")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="write the fleet's and rigs' device journals here")
    ] = None,
) -> None:
    """Run scenarios, each on a fresh lab of the environment; exit 1 if any fails."""
    setup_logging(logging.WARNING)
    lab_env = load_lab_env(env)
    loaded = [load_scenario(path) for path in scenarios]
    finished: list[ScenarioResult] = []
    with ProgressView(wanted(), "scenarios", len(loaded)) as view:

        def ended(result: ScenarioResult) -> None:
            finished.append(result)
            outcome = "passed" if result.passed else "failed"
            view.update(len(finished), len(loaded), f"scenarios: {result.scenario} {outcome}")

        run = run_scenarios(
            lab_env, loaded, hub=hub, transcripts=transcripts, journal_dir=journal, on_result=ended
        )
        results = run_command(lambda _stop: run)
    _console().print(results_table(results))
    for result in results:
        if result.failure is not None:
            typer.echo(f"FAILED {result.failure}", err=True)
    if any(not result.passed for result in results):
        raise typer.Exit(code=1)


def results_table(results: list[ScenarioResult]) -> Table:
    table = Table(title="scenarios")
    for column in ("scenario", "hub", "result", "device time", "wall time"):
        table.add_column(column)
    for result in results:
        failure = result.failure
        outcome = "[green]passed" if failure is None else f"[red]failed at step {failure.step}"
        table.add_row(
            result.scenario,
            result.hub,
            outcome,
            f"{result.device_s:.0f} s",
            f"{result.wall_s:.1f} s",
        )
    return table


@hil_app.command("diff")
def diff(
    first: Annotated[Path, typer.Argument(help="a scenario transcript (JSONL)")],
    second: Annotated[Path, typer.Argument(help="the same scenario's on another hub")],
) -> None:
    """Compare two transcripts of one scenario step by step; exit 1 if they differ."""
    differences = diff_transcripts(load_transcript(first), load_transcript(second))
    if not differences:
        typer.echo("no differences")
        return
    typer.echo(format_diff(differences, str(first), str(second)))
    raise typer.Exit(code=1)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 120)

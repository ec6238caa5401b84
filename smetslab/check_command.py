"""`smetslab check FILE...`: fleet files, lab environments and scenario files validated
as the commands would load them, each named with its kind or with what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from contract.errors import SmetslabError
from emulators.fleetspec import load_fleet_spec
from hil.lab.env import load_lab_env
from hil.scenarios.file import load_scenario

from .errors import EXIT_ERROR


def check(
    files: Annotated[list[Path], typer.Argument(help="fleet, lab environment or scenario files")],
) -> None:
    """Validate fleet, lab environment and scenario files; exit 1 if one is not right."""
    bad = 0
    for path in files:
        try:
            kind = _check(path)
        except (SmetslabError, OSError, yaml.YAMLError) as exc:
            bad += 1
            typer.echo(
                f"error: {exc}" if str(path) in str(exc) else f"error: {path}: {exc}", err=True
            )
            continue
        typer.echo(f"ok: {path}: {kind}")
    if bad:
        raise typer.Exit(code=EXIT_ERROR)


def _check(path: Path) -> str:
    """Load `path` as what its keys say it is; the kind, or the loader's error."""
    data: Any = yaml.safe_load(path.read_text())
    keys = set(data) if isinstance(data, dict) else set()
    if "steps" in keys:
        scenario = load_scenario(path)
        return f"scenario {scenario.name}, {len(scenario.steps)} steps"
    if "fleet" in keys or "hubs" in keys:
        env = load_lab_env(path)
        load_fleet_spec(env.fleet)
        return f"lab environment {env.name}, fleet {env.fleet.name}"
    spec, _ = load_fleet_spec(path)
    premises = sum(template.count for template in spec.templates)
    return f"fleet file, {premises} premises"

"""`smetslab check FILE...` and `smetslab lab devices --env FILE` (issue: operations)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.shipped import shipped, shipped_scenarios
from smetslab.cli import app


def test_check_names_each_files_kind_and_every_shipped_file_passes() -> None:
    files = [shipped("fleet.yaml"), shipped("lab-emulated.yaml"), *shipped_scenarios()]
    result = CliRunner().invoke(app, ["check", *map(str, files)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(files)
    assert lines[0].endswith("fleet file, 40 premises")
    assert "lab environment emulated" in lines[1]
    assert all(": scenario " in line for line in lines[2:])


def test_check_gives_one_line_per_bad_file_and_exit_1(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("seed: 1\ntemplatez: []\n")
    step = tmp_path / "step.yaml"
    step.write_text("name: s\nsteps:\n  - send: {srv: '11.2'}\n")
    result = CliRunner().invoke(app, ["check", str(shipped("rig.yaml")), str(typo), str(step)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert str(typo) in errors[0]
    assert "templatez" in errors[0]
    assert str(step) in errors[1]
    assert "step 1" in errors[1]


def test_lab_devices_lists_every_device_of_the_lab_with_its_hub() -> None:
    env = shipped("lab-emulated.yaml")
    result = CliRunner().invoke(app, ["lab", "devices", "--env", str(env), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    build = build_fleet(*load_fleet_spec(shipped("lab-fleet.yaml")))
    assert sorted(r["device_id"] for r in rows) == sorted(d.device_id for d in build.seed.devices)
    assert {r["hub"] for r in rows} == {"smets2", "smets1"}
    assert {r["hub_kind"] for r in rows} == {"emulated"}

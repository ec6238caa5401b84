"""`smetslab init DIR`: a starter lab from the shipped files, whose every file loads."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from emulators.fleetspec import load_fleet_spec
from hil.lab.env import load_lab_env
from hil.scenarios.file import load_scenario
from hil.shipped import shipped, shipped_scenarios
from smetslab.cli import app


def test_init_writes_a_lab_whose_files_all_load(tmp_path: Path) -> None:
    lab = tmp_path / "my-lab"
    result = CliRunner().invoke(app, ["init", str(lab)])
    assert result.exit_code == 0, result.output
    env = load_lab_env(lab / "lab-emulated.yaml")
    assert env.fleet == lab / "lab-fleet.yaml"  # beside the environment, not the shipped one
    load_fleet_spec(lab / "fleet.yaml")  # with its fault plan, faults.yaml beside it
    written = sorted(p.name for p in (lab / "scenarios").glob("*.yaml"))
    assert written == [p.name for p in shipped_scenarios()]
    assert all(load_scenario(p) for p in (lab / "scenarios").glob("*.yaml"))
    assert (lab / "fleet.yaml").read_text() == shipped("fleet.yaml").read_text()
    assert "smetslab_env = lab-emulated.yaml" in (lab / "pytest.ini").read_text()
    compile((lab / "test_lab.py").read_text(), "test_lab.py", "exec")


def test_init_keeps_what_is_there_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text("mine")
    refused = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert refused.exit_code == 1
    assert "fleet.yaml" in refused.output
    assert "--force" in refused.output
    assert (tmp_path / "fleet.yaml").read_text() == "mine"
    forced = CliRunner().invoke(app, ["init", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "fleet.yaml").read_text() == shipped("fleet.yaml").read_text()

"""`smetslab fleet --shard` and `smetslab lab up`: bad input refused by name before any
process, broker or store starts (a lab that runs is in tests/e2e/test_scale_out.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hil.errors import LabError
from hil.lab.up import LabUpOptions
from smetslab.cli import app
from tests.support.paths import ROOT

runner = CliRunner()
FLEET = str(ROOT / "configs" / "fleet.yaml")


@pytest.mark.parametrize(
    ("shard", "says"), [("2/2", "index must be 0 to 1"), ("half", "write it I/M")]
)
def test_fleet_refuses_a_shard_it_cannot_run(shard: str, says: str) -> None:
    result = runner.invoke(app, ["fleet", "--fleet", FLEET, "--shard", shard])
    assert result.exit_code == 2
    assert says in result.output


def test_lab_up_refuses_a_fleet_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = runner.invoke(
        app, ["lab", "up", "--fleet", str(missing), "--workdir", str(tmp_path / "lab")]
    )
    assert result.exit_code == 1
    assert f"error: {missing}: cannot read YAML" in result.output
    assert not (tmp_path / "lab").exists()  # nothing started, nothing made


def test_lab_up_refuses_zero_workers() -> None:
    result = runner.invoke(app, ["lab", "up", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output


def test_lab_up_options_need_a_worker_and_a_shard(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="at least one DSP worker and one fleet shard, not 1 and 0"):
        LabUpOptions(Path(FLEET), tmp_path, workers=1, shards=0)

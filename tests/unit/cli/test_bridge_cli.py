"""`smetslab bridge serial` and `smetslab rig simulate`: refusals before anything runs
(the commands themselves run in tests/e2e/test_serial_cli.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from smetslab.cli import app
from tests.conftest import ROOT

runner = CliRunner()


def test_a_hub_id_that_is_not_an_eui64_is_refused() -> None:
    result = runner.invoke(app, ["bridge", "serial", "--port", "/dev/null", "--ch-id", "00-DB"])
    assert result.exit_code == 2
    assert "'00DB' is not an EUI-64" in result.output


def test_a_fleet_of_many_premises_needs_a_hub_named() -> None:
    fleet = str(ROOT / "configs" / "fleet.yaml")
    result = runner.invoke(app, ["rig", "simulate", "--fleet", fleet])
    assert result.exit_code == 1
    assert "a rig holds one premises; the fleet has 40: name a hub" in result.output
    result = runner.invoke(
        app, ["rig", "simulate", "--fleet", fleet, "--ch-id", "00DB120000000000"]
    )
    assert result.exit_code == 1
    assert "no comms hub 00DB120000000000 in the fleet" in result.output

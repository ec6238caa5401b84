"""`smetslab bridge serial`, `bridge zigbee` and `rig simulate`: refusals before anything
runs (the commands themselves run in tests/e2e/test_serial_cli.py and test_zigbee_cli.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from smetslab.cli import app
from tests.support.paths import ROOT

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


# ---- smetslab bridge zigbee --------------------------------------------------------------

ZIGBEE_MAP = str(ROOT / "configs" / "zigbee-devices.yaml")


def test_a_zigbee_radio_needs_its_port_and_a_device_map() -> None:
    result = runner.invoke(app, ["bridge", "zigbee", "--radio", "ezsp", "--devices", ZIGBEE_MAP])
    assert result.exit_code == 2
    assert "a radio needs its port" in result.output
    result = runner.invoke(app, ["bridge", "zigbee", "--radio", "znp", "--port", "/dev/null"])
    assert result.exit_code == 2
    assert "a radio's devices are named by a device map" in result.output


def test_a_hub_id_other_than_the_device_maps_is_refused() -> None:
    args = ["bridge", "zigbee", "--radio", "ezsp", "--port", "/dev/null", "--devices", ZIGBEE_MAP]
    result = runner.invoke(app, [*args, "--ch-id", "00DB120000000000"])
    assert result.exit_code == 2
    assert "00DB120000000000 is not the hub of" in result.output


def test_a_device_map_that_cannot_be_used_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "map.yaml"
    bad.write_text("ch_id: 00DB12BD3A096533\ndevices: [{device_id: nope}]\n")
    args = ["bridge", "zigbee", "--radio", "znp", "--port", "/dev/null", "--devices", str(bad)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert f"{bad}: devices.0.device_id" in result.output


def test_the_emulated_radio_needs_a_fleet_and_one_premises() -> None:
    result = runner.invoke(app, ["bridge", "zigbee", "--radio", "emulated"])
    assert result.exit_code == 2
    assert "the emulated radio's devices come from a fleet" in result.output
    fleet = str(ROOT / "configs" / "fleet.yaml")
    result = runner.invoke(app, ["bridge", "zigbee", "--radio", "emulated", "--fleet", fleet])
    assert result.exit_code == 1
    assert "an emulated hub is one premises; the fleet has 40: name a hub" in result.output

"""Lab environment files: the shipped ones load; which premises each hub is; a bad file
is refused naming the file and the field; a zigbee hub is in the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.errors import LabError
from hil.lab.env import HubKind, LabEnv, load_lab_env, plan_hubs
from tests.support.paths import ROOT

CONFIGS = ROOT / "configs"


def write_env(tmp_path: Path, **fields: Any) -> Path:
    data = {"fleet": str(CONFIGS / "lab-fleet.yaml"), **fields}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def hubs_of(env: LabEnv) -> list[tuple[str, HubKind, str]]:
    spec, plan = load_fleet_spec(env.fleet)
    return [(h.name, h.kind, h.template) for h in plan_hubs(env, spec, build_fleet(spec, plan))]


def test_the_shipped_emulated_lab_names_its_two_hubs() -> None:
    env = load_lab_env(CONFIGS / "lab-emulated.yaml")
    assert env.fleet == (CONFIGS / "lab-fleet.yaml").resolve()
    assert (env.broker, env.store, env.clock.scale, env.dsp.gsme_response_timeout) == (
        "embedded",
        "sqlite",
        240,
        900,
    )
    assert hubs_of(env) == [
        ("smets2", HubKind.EMULATED, "smets2"),
        ("smets1", HubKind.EMULATED, "smets1"),
    ]
    assert env.bridged == []


def test_the_shipped_serial_lab_bridges_its_one_premises_through_a_simulated_rig() -> None:
    env = load_lab_env(CONFIGS / "lab-serial-sim.yaml")
    (rig,) = env.bridged
    assert rig.serial is not None
    assert (rig.name, rig.kind, rig.serial.simulated) == ("rig", HubKind.SERIAL, True)
    assert hubs_of(env) == [("rig", HubKind.SERIAL, "rig")]
    assert hubs_of(env.all_emulated()) == [("rig", HubKind.EMULATED, "rig")]


def test_premises_no_hub_names_are_emulated_under_their_template_and_index(tmp_path: Path) -> None:
    env = load_lab_env(write_env(tmp_path, hubs=[{"name": "one", "template": "smets1"}]))
    assert hubs_of(env) == [
        ("one", HubKind.EMULATED, "smets1"),
        ("smets2-0", HubKind.EMULATED, "smets2"),
    ]


def test_a_hub_named_by_its_ch_id_gets_that_premises_and_its_devices(tmp_path: Path) -> None:
    spec, plan = load_fleet_spec(CONFIGS / "lab-fleet.yaml")
    build = build_fleet(spec, plan)
    ch_id = list(build.fleet.premises)[1].hex().upper()
    env = load_lab_env(write_env(tmp_path, hubs=[{"name": "gas", "ch_id": ch_id}]))
    (gas, _) = plan_hubs(env, spec, build)
    assert (gas.name, gas.ch_id, gas.template, gas.smets) == ("gas", ch_id, "smets1", 1)
    assert {d.device_type for d in gas.devices} == {DeviceType.CHF, DeviceType.ESME}


def test_a_zigbee_hub_is_part_of_the_schema(tmp_path: Path) -> None:
    hub = {
        "name": "radio",
        "template": "smets2",
        "kind": "zigbee",
        "zigbee": {"radio": "ezsp", "port": "/dev/ttyUSB1", "devices": "map.yaml"},
    }
    env = load_lab_env(write_env(tmp_path, hubs=[hub]))
    zigbee = env.bridged[0].zigbee
    assert zigbee is not None
    assert zigbee.radio == "ezsp"
    assert zigbee.devices == (tmp_path / "map.yaml").resolve()  # relative to the file


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"broker": "amqp://x"}, "broker: Value error, 'amqp://x': use embedded, mosquitto"),
        ({"store": "mysql://x"}, "store: Value error"),
        ({"clock": {"scale": 0}}, "clock.scale: Input should be greater than 0"),
        ({"users": {"auditor": "12"}}, "users: Value error, an EUI-64 has 16 hex digits"),
        ({"hubs": [{"name": "a"}]}, "give template \\(and index\\) or ch_id"),
        (
            {"hubs": [{"name": "a", "template": "smets2", "kind": "serial"}]},
            "the `serial` settings go with kind serial",
        ),
        (
            {
                "hubs": [
                    {
                        "name": "a",
                        "template": "smets2",
                        "kind": "serial",
                        "serial": {"port": "/dev/x", "simulated": True},
                    }
                ]
            },
            "give a port, or simulated: true",
        ),
        (
            {
                "hubs": [
                    {
                        "name": "a",
                        "template": "smets2",
                        "kind": "zigbee",
                        "zigbee": {"radio": "znp"},
                    }
                ]
            },
            "a znp radio needs a port and a device map",
        ),
        (
            {"hubs": [{"name": "a", "template": "smets2"}, {"name": "a", "template": "smets1"}]},
            "hub names must be unique: a",
        ),
        ({"hubs": [{"name": "bad name", "template": "smets2"}]}, "hubs.0.name"),
        ({"dsp": {"mp105": "perhaps"}}, "dsp.mp105"),
        ({"colour": "red"}, "colour: Extra inputs"),
        ({"broker": "amqp://u:pw@x"}, "'amqp://u:\\*\\*\\*@x': use embedded"),
        ({"broker_ca": "ca.pem"}, "broker_\\* files need an external broker"),
        ({"broker": "mqtt://x", "broker_ca": "ca.pem"}, "ca, cert and key need mqtts://"),
    ],
)
def test_a_bad_environment_is_refused_naming_the_file_and_field(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    path = write_env(tmp_path, **fields)
    with pytest.raises(LabError, match=message) as caught:
        load_lab_env(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("hubs", "message"),
    [
        (
            [{"name": "x", "template": "smets3"}],
            "hub x: the fleet has no premises 0 of template smets3",
        ),
        ([{"name": "x", "template": "smets2", "index": 1}], "no premises 1 of template smets2"),
        (
            [{"name": "x", "ch_id": "00DB0700000000FF"}],
            "hub x: no premises with comms hub 00DB0700000000FF",
        ),
        (
            [{"name": "x", "template": "smets2"}, {"name": "y", "template": "smets2"}],
            "premises .* is named by two hubs",
        ),
    ],
)
def test_a_hub_that_is_no_premises_of_the_fleet_is_refused(
    tmp_path: Path, hubs: list[dict[str, Any]], message: str
) -> None:
    env = load_lab_env(write_env(tmp_path, hubs=hubs))
    with pytest.raises(LabError, match=message):
        hubs_of(env)


def test_a_missing_environment_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"nowhere\.yaml: cannot read YAML"):
        load_lab_env(tmp_path / "nowhere.yaml")


def test_broker_identity_files_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        broker="mqtts://lab@broker.lab:8883",
        broker_password_file="secrets/password",
        broker_ca="pki/ca.pem",
    )
    env = load_lab_env(path)
    assert env.broker_password_file == (tmp_path / "secrets/password").resolve()
    assert env.broker_ca == (tmp_path / "pki/ca.pem").resolve()
    url = env.broker_url()
    assert url.startswith("mqtts://lab@broker.lab:8883?")
    assert "ca=" in url
    assert "password_file=" in url

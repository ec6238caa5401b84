"""The fleet file builds the emulated premises and the DSP seed data together, so that
they agree; device IDs follow from the seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.vocabulary import CplStatus, DeviceType, Role, SmiStatus
from emulators.errors import ConfigError
from emulators.faults import FaultKind
from emulators.fleet import FleetBuild, _mpan, build_fleet
from emulators.fleetspec import FleetSpec, load_fleet_spec
from emulators.models import GpfModel, GsmeModel, Smets1EsmeModel
from gbcs import format_entity_id
from tests.support.paths import ROOT

FLEET_FILE = ROOT / "configs" / "fleet.yaml"


@pytest.fixture(scope="module")
def shipped() -> FleetBuild:
    spec, plan = load_fleet_spec(FLEET_FILE)
    return build_fleet(spec, plan)


def _spec(**changes: Any) -> FleetSpec:
    spec, _ = load_fleet_spec(FLEET_FILE)
    return spec.model_copy(update=changes)


def test_the_shipped_fleet_file_builds(shipped: FleetBuild) -> None:
    assert len(shipped.fleet.premises) == 40
    counts = Counter(d.device_type for d in shipped.seed.devices)
    assert counts == {
        DeviceType.CHF: 40,
        DeviceType.ESME: 40,
        DeviceType.GPF: 30,
        DeviceType.GSME: 35,
        DeviceType.PPMID: 30,
        DeviceType.HCALCS: 5,
    }
    assert any(isinstance(d, Smets1EsmeModel) for d in shipped.fleet.devices())
    assert shipped.fleet.faults.plan.seed == 7
    assert {rule.kind for rule in shipped.fleet.faults.plan.rules} >= {FaultKind.DROP}


def test_device_ids_are_unique_eui64s_fixed_by_the_seed(shipped: FleetBuild) -> None:
    ids = [d.device_id for d in shipped.fleet.devices()]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 8 and i[:3] == bytes.fromhex("00DB12") for i in ids)
    again = build_fleet(_spec(fault_plan=None))
    assert [d.device_id for d in again.fleet.devices()] == ids
    other = build_fleet(_spec(seed=1, fault_plan=None))
    assert not {d.device_id for d in other.fleet.devices()} & set(ids)


def test_smi_matches_the_emulated_devices(shipped: FleetBuild) -> None:
    smi = {d.device_id: d for d in shipped.seed.devices}
    assert len(smi) == sum(1 for _ in shipped.fleet.devices())
    for ch_id, premises in shipped.fleet.premises.items():
        for model in premises.devices.values():
            record = smi[format_entity_id(model.device_id)]
            assert record.device_type is model.profile.device_type
            assert record.smets == model.profile.smets
            assert record.firmware_version == model.running_version.hex().upper()
            assert (record.manufacturer, record.model) == (
                model.profile.manufacturer,
                model.profile.model,
            )
            assert record.comms_hub_id == format_entity_id(ch_id)
            assert record.status is SmiStatus.COMMISSIONED


def test_cpl_holds_every_version_in_use_with_the_image_hash(shipped: FleetBuild) -> None:
    cpl = {(e.manufacturer, e.model, e.firmware_version): e for e in shipped.seed.cpl}
    assert all(e.status is CplStatus.CURRENT for e in cpl.values())
    for model in shipped.fleet.devices():
        profile = model.profile
        key = (profile.manufacturer, profile.model, model.running_version.hex().upper())
        assert cpl[key].image_hash == model.running_hash.hex().upper()
        assert shipped.images[key].sha256 == model.running_hash
    assert ("LANDIS", "E470", "0123ABCF") in cpl  # an upgrade version is on offer too
    for key, image in shipped.images.items():
        assert image.header.file_version == int(key[2], 16)


def test_registrations_and_users(shipped: FleetBuild) -> None:
    supplier, operator = shipped.seed.users
    assert supplier.user_id == "90-B3-D5-1F-30-01-00-00"
    assert supplier.roles == {Role.IMPORT_SUPPLIER, Role.GAS_SUPPLIER}
    assert operator.roles == {Role.ELECTRICITY_DISTRIBUTOR, Role.GAS_TRANSPORTER}
    registered = {r.mpxn: r for r in shipped.seed.registrations}
    assert len(registered) == len(shipped.seed.registrations)  # one per MPxN
    for device in shipped.seed.devices:
        registration = registered[device.mpxn]
        assert (registration.supplier_id, registration.network_operator_id) == (
            supplier.user_id,
            operator.user_id,
        )
    by_type = {(d.comms_hub_id, d.device_type): d.mpxn for d in shipped.seed.devices}
    for (hub, device_type), mpxn in by_type.items():
        if device_type is DeviceType.GPF:
            assert mpxn == by_type[hub, DeviceType.GSME]  # gas devices share the MPRN
        if device_type is DeviceType.CHF:
            assert mpxn == by_type[hub, DeviceType.ESME]


def test_gpf_mirror_starts_with_its_gsme_version(shipped: FleetBuild) -> None:
    for premises in shipped.fleet.premises.values():
        if isinstance(premises.gpf, GpfModel):
            assert isinstance(premises.gsme, GsmeModel)
            assert premises.gpf.mirror_version == premises.gsme.running_version


def test_version_picks_follow_the_seed(shipped: FleetBuild) -> None:
    versions = Counter(d.firmware_version for d in shipped.seed.devices if d.model == "E470")
    assert set(versions) == {"0123ABCD", "0123ABCE"}  # two versions listed, both used


# 1*3 + 2*5 + 3*7 + 4*13 + 5*17 + 6*19 + 7*23 + 8*29 + 9*31 + 0*37 + 1*41 + 2*43 = 1084;
# 1084 mod 11 = 6, mod 10 = 6
@pytest.mark.parametrize(
    ("serial", "mpan"), [(0, "0000000000000"), (123456789012, "1234567890126")]
)
def test_mpan_check_digit(serial: int, mpan: str) -> None:
    assert _mpan(serial) == mpan


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            {"devices": [{"type": "ESME", "model": "E", "firmware_versions": ["00000001"]}]},
            "one CHF",
        ),
        (
            {
                "devices": [
                    {"type": "CHF", "model": "C", "firmware_versions": ["00000001"]},
                    {"type": "GSME", "model": "G", "firmware_versions": ["00000001"]},
                ]
            },
            "needs a GPF",
        ),
        (
            {
                "smets": 1,
                "devices": [
                    {"type": "CHF", "model": "C", "firmware_versions": ["00000001"]},
                    {"type": "HCALCS", "model": "H", "firmware_versions": ["00000001"]},
                ],
            },
            "SMETS1 premises",
        ),
        (
            {"devices": [{"type": "CHF", "model": "C", "firmware_versions": ["123"]}]},
            "8 hex digits",
        ),
    ],
)
def test_invalid_templates_are_refused(
    tmp_path: Path, template: dict[str, Any], message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"templates": [{"name": "t", "count": 1, **template}]}))
    with pytest.raises(ConfigError, match=message):
        load_fleet_spec(path)

"""One lab with every kind of hub (configs/lab-mixed.yaml): two emulated premises, one
behind the simulated serial rig and one behind the ZigBee bridge on zigpy without a
radio. The MP105 story of a Suspended ESME (CPL removal, R4; 11.1 distribution with its
receipt, R9; a future-dated 11.3, 0x8F66, R7; the SMI restored, R5) runs on each
bridged hub and on an emulated one in the same lab, and every ESME ends with the SMI
version it really runs (issue 6: one premises behind each bridge, the final SMI). The
three ESMEs are of three models, so that one run's CPL change leaves the others alone."""

from __future__ import annotations

import pytest

from contract.vocabulary import DeviceType, SmiStatus
from hil.lab.env import HubKind, load_lab_env
from hil.lab.lab import Lab
from hil.scenarios.file import load_scenario
from hil.scenarios.runner import run_scenario
from tests.support.labs import patient, sooner
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
MIXED = ROOT / "configs" / "lab-mixed.yaml"
STORY = ROOT / "configs" / "scenarios" / "future-dated-8f66.yaml"
# at the lab's scale 120: the execution 2 s of wall time after the 11.3 (the file: 600 s,
# 5 s), and 5 s of wall time before an E21 (the lab: 120 s, 1 s), for each of three runs
EXECUTE_IN, RESPONSE_TIMEOUT = 240.0, 600.0


async def test_the_story_on_a_serial_rig_a_zigbee_hub_and_an_emulated_one_in_one_lab() -> None:
    scenario = sooner(load_scenario(STORY), EXECUTE_IN)
    env = patient(load_lab_env(MIXED), scenario, RESPONSE_TIMEOUT)
    kinds = {hub.name: hub.kind for hub in env.hubs}
    assert kinds == {
        "smets2": HubKind.EMULATED,
        "smets1": HubKind.EMULATED,
        "rig": HubKind.SERIAL,
        "radio": HubKind.ZIGBEE,
    }
    async with Lab(env) as lab:
        for hub in ("rig", "radio", "smets2"):
            result = await run_scenario(lab, scenario, hub=hub)
            result.raise_for_failure()
        for hub in ("rig", "radio", "smets2"):
            esme = next(
                d for d in await lab.devices(lab.hub(hub)) if d.device_type is DeviceType.ESME
            )
            assert (esme.status, esme.firmware_version) == (SmiStatus.COMMISSIONED, "0123ABCE"), hub
        rig = lab.bridged["rig"]
        assert rig.rig is not None
        running = {m.hex_id: m.running_version.hex().upper() for m in rig.rig.fleet.devices()}
        rig_esme = next(d for d in lab.hub("rig").devices if d.device_type is DeviceType.ESME)
        assert running[rig_esme.device_id.replace("-", "")] == "0123ABCE"  # the rig's own device

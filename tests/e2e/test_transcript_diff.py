"""The transcript diff (issue 7): one scenario run on a premises behind the simulated
serial rig (bridge/simulators/rig.py on a pty, the serial bridge, the rig-link protocol)
and on the same premises emulated gives the same steps; a transcript that did see
something else is reported at its step (`smetslab hil diff`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emulators.faults import FaultKind, FaultRule
from hil.errors import LabError, ScenarioError
from hil.lab.env import HubKind, LabEnv, ZigbeeHubSpec, load_lab_env
from hil.lab.lab import Lab
from hil.scenarios.file import Scenario, load_scenario
from hil.scenarios.runner import run_scenario
from hil.scenarios.transcript import diff_transcripts, load_transcript, normalise
from smetslab.cli import app
from tests.support.labs import patient, sooner
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
SERIAL_SIM = ROOT / "configs" / "lab-serial-sim.yaml"
ZIGBEE = ROOT / "configs" / "lab-zigbee.yaml"
SCENARIOS = ROOT / "configs" / "scenarios"
# at the labs' scale 120: the execution 2 s of wall time after the 11.3 (the file: 600 s,
# 5 s), and 5 s of wall time before an E21 (the labs: 60 s, 0.5 s)
EXECUTE_IN, RESPONSE_TIMEOUT = 240.0, 600.0


def future_dated() -> Scenario:
    return sooner(load_scenario(SCENARIOS / "future-dated-8f66.yaml"), EXECUTE_IN)


async def run_on(env: LabEnv, scenario: Scenario, transcript: Path) -> dict[str, int]:
    """Run a scenario; return the rig bridge's counts (empty when emulated)."""
    async with Lab(patient(env, scenario, RESPONSE_TIMEOUT)) as lab:
        result = await run_scenario(lab, scenario, transcript=transcript)
        counts = dict(lab.bridged["rig"].bridge.hub.counts) if lab.bridged else {}  # type: ignore[union-attr]
    result.raise_for_failure()
    return counts


async def test_r7_future_dated_activation_gives_the_same_steps_bridged_and_emulated(
    tmp_path: Path,
) -> None:
    bridged_env = load_lab_env(SERIAL_SIM)
    assert [hub.kind for hub in bridged_env.hubs] == [HubKind.SERIAL]
    counts = await run_on(bridged_env, future_dated(), tmp_path / "bridged.jsonl")
    assert counts["commands"] == 2  # the 11.1 image and the 11.3, through the rig link
    assert counts["uplinks"] >= 3  # the receipt, the acceptance, the 0x8F66
    await run_on(bridged_env.all_emulated(), future_dated(), tmp_path / "emulated.jsonl")
    bridged = load_transcript(tmp_path / "bridged.jsonl")
    emulated = load_transcript(tmp_path / "emulated.jsonl")
    assert (bridged.header["hub_kind"], emulated.header["hub_kind"]) == ("serial", "emulated")
    assert diff_transcripts(bridged, emulated) == []
    steps = normalise(bridged)
    assert any('"alert_code": "8F66"' in line and '"observed"' in line for line in steps[9])
    assert any('"status-change"' in line for line in steps[9])  # the DSP restored it there

    result = CliRunner().invoke(
        app, ["hil", "diff", str(tmp_path / "bridged.jsonl"), str(tmp_path / "emulated.jsonl")]
    )
    assert (result.exit_code, result.output) == (0, "no differences\n")
    tampered = tmp_path / "tampered.jsonl"
    lines = (tmp_path / "emulated.jsonl").read_text().splitlines()
    kept = [
        line for line in lines if '"alert_code": "8F66"' not in line or '"observed"' not in line
    ]
    tampered.write_text("\n".join(kept) + "\n")
    result = CliRunner().invoke(
        app, ["hil", "diff", str(tmp_path / "bridged.jsonl"), str(tampered)]
    )
    assert result.exit_code == 1
    assert result.output.startswith("step 9 (expect_alert):\n  - only in ")
    assert '"8F66"' in result.output


async def test_r11_faults_and_flashing_are_refused_on_a_bridged_hub() -> None:
    scenario = load_scenario(SCENARIOS / "lost-11.3-recovered-by-retry.yaml")
    async with Lab(load_lab_env(SERIAL_SIM)) as lab:
        with pytest.raises(
            ScenarioError,
            match=r"no hub of the lab fits: step 7 \(inject_fault\) needs an emulated hub, hub rig",
        ):
            await run_scenario(lab, scenario)
        rule = FaultRule(FaultKind.DROP, count=1)
        with pytest.raises(LabError, match=r"hub rig is bridged \(serial\): fault injection is"):
            lab.inject_fault("rig", rule)
        esme = next(d for d in lab.hub("rig").devices if d.device_type == "ESME")
        with pytest.raises(LabError, match="flashing a device is for emulated hubs only"):
            lab.flash("rig", esme.device_id, "0123DEAD", bytes(32))


async def test_r7_the_same_steps_behind_the_zigbee_bridge_and_emulated(tmp_path: Path) -> None:
    """Issue 6 and 7: the ESME of zigbee.yaml behind the ZigBee bridge (zigpy without a
    radio; the 11.1 image served by zigpy's OTA code, the future-dated 11.3 carried as an
    Upgrade End Response with its UpgradeTime) shows the DSP the same steps as the same
    premises emulated: the receipt, the acceptance, the 0x8F66, the restore (R5, R7)."""
    zigbee_env = load_lab_env(ZIGBEE)
    assert [hub.kind for hub in zigbee_env.hubs] == [HubKind.ZIGBEE]
    scenario = future_dated()
    async with Lab(patient(zigbee_env, scenario, RESPONSE_TIMEOUT)) as lab:
        result = await run_scenario(lab, scenario, transcript=tmp_path / "zigbee.jsonl")
        bridge = lab.bridged["radio"].zigbee
        assert bridge is not None
        assert bridge.hub.status.online
    result.raise_for_failure()
    await run_on(zigbee_env.all_emulated(), scenario, tmp_path / "emulated.jsonl")
    bridged = load_transcript(tmp_path / "zigbee.jsonl")
    emulated = load_transcript(tmp_path / "emulated.jsonl")
    assert (bridged.header["hub_kind"], emulated.header["hub_kind"]) == ("zigbee", "emulated")
    assert diff_transcripts(bridged, emulated) == []


async def test_a_radio_whose_device_map_is_of_another_hub_is_refused_naming_both() -> None:
    """A real radio's devices are named by its device map (D-ZB1); the map of the
    ZigBee premises is not the map of the rig's hub, and the lab says so before it opens
    the radio's port."""
    env = load_lab_env(SERIAL_SIM)
    spec = ZigbeeHubSpec(
        radio="ezsp", port="/dev/null", devices=ROOT / "configs" / "zigbee-devices.yaml"
    )
    radio = env.hubs[0].model_copy(
        update={"name": "radio", "kind": HubKind.ZIGBEE, "serial": None, "zigbee": spec}
    )
    with pytest.raises(LabError, match=r"hub radio: .*zigbee-devices.yaml is the map of hub 00DB"):
        async with Lab(env.model_copy(update={"hubs": [radio]})):
            pass

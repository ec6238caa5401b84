"""Every shipped scenario (configs/scenarios, the MP105 cases) passes on the shipped
emulated lab (configs/lab-emulated.yaml): embedded broker, DSP on a SQLite file, fleet
runner; and a scenario whose expectation the lab does not meet fails at that step."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hil.lab.env import LabEnv, load_lab_env
from hil.lab.lab import Lab
from hil.scenarios.file import ExpectResponseStep, Scenario, load_scenario
from hil.scenarios.runner import run_scenario
from hil.scenarios.transcript import load_transcript
from smetslab.cli import app
from tests.support.brokers import Mosquitto, require_mosquitto
from tests.support.labs import patient
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
SCENARIOS = sorted((ROOT / "configs" / "scenarios").glob("*.yaml"))
EMULATED = ROOT / "configs" / "lab-emulated.yaml"


def emulated(**changes: object) -> LabEnv:
    return load_lab_env(EMULATED).model_copy(update=changes)


def expects_e21(scenario: Scenario) -> bool:
    return any(isinstance(s, ExpectResponseStep) and "E21" in s.code for s in scenario.steps)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_a_shipped_scenario_passes_on_the_emulated_lab(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    env = emulated()
    if not expects_e21(scenario):  # 2 s of wall time before an E21, not 0.5 s (R8)
        env = patient(env, scenario, 4 * env.dsp.response_timeout)
    async with Lab(env) as lab:
        result = await run_scenario(lab, scenario, transcript=tmp_path / "run.jsonl")
    result.raise_for_failure()
    transcript = load_transcript(tmp_path / "run.jsonl")
    results = [line for line in transcript.lines if line["kind"] == "result"]
    assert [line["step"] for line in results] == list(range(1, len(scenario.steps) + 1))
    assert [line["outcome"] for line in transcript.lines if line["kind"] == "end"] == ["passed"]
    assert any(line["kind"] == "dsp" for line in transcript.lines)  # the DSP's side is in


async def test_r3_with_the_mp105_switch_off_recovery_by_11_2_fails_at_its_read() -> None:
    """The scenario's 11.2 to the Suspended ESME meets E5 on a DSP before MP105."""
    before_mp105 = emulated(dsp=emulated().dsp.model_copy(update={"mp105": False}))
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "lost-11.3-recovered-by-11.2.yaml")
    async with Lab(before_mp105) as lab:
        result = await run_scenario(lab, scenario)
    failure = result.failure
    assert failure is not None
    assert (failure.step, failure.action) == (11, "expect_response")
    assert "expected I0, saw E5" in failure.detail


async def test_r3_r11_a_run_puts_back_the_switch_and_takes_out_its_faults() -> None:
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "mp105-off-11.2-rejected-e5.yaml")
    async with Lab(emulated()) as lab:
        (await run_scenario(lab, scenario)).raise_for_failure()
        assert lab.mp105 is True
        assert lab.stack.fleet is not None
        assert lab.stack.fleet.fleet.faults.plan.rules == ()


async def test_a_scenario_runs_the_same_on_mosquitto(mosquitto_broker: Mosquitto) -> None:
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "lost-11.3-recovered-by-retry.yaml")
    async with Lab(emulated(broker=mosquitto_broker.url)) as lab:
        (await run_scenario(lab, scenario)).raise_for_failure()


async def test_a_lab_can_start_its_own_mosquitto() -> None:
    require_mosquitto()
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "cpl-removed-n50.yaml")
    async with Lab(emulated(broker="mosquitto")) as lab:
        assert lab.stack.config.url.startswith("mqtt://127.0.0.1:")
        (await run_scenario(lab, scenario)).raise_for_failure()


def test_smetslab_hil_run_prints_the_results_and_writes_transcripts(tmp_path: Path) -> None:
    scenarios = [
        str(SCENARIOS[0]),
        str(ROOT / "configs" / "scenarios" / "unknown-version-n51.yaml"),
    ]
    result = CliRunner().invoke(
        app, ["hil", "run", "--env", str(EMULATED), "--transcripts", str(tmp_path), *scenarios]
    )
    assert result.exit_code == 0, result.output
    assert "cpl-removed-n50" in result.output
    assert result.output.count("passed") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cpl-removed-n50.jsonl",
        "unknown-version-n51.jsonl",
    ]


def test_smetslab_hil_run_exits_1_and_names_the_failed_step(tmp_path: Path) -> None:
    failing = tmp_path / "wrong.yaml"
    failing.write_text(
        'rules: [R5]\nsteps:\n  - send: {srv: "11.2", to: ESME}\n  - expect_response: {code: E21}\n'
    )
    result = CliRunner().invoke(app, ["hil", "run", "--env", str(EMULATED), str(failing)])
    assert result.exit_code == 1
    assert "FAILED scenario wrong, step 2 (expect_response): expected E21, saw I0" in result.output


@pytest.mark.parametrize(
    "name", ["future-dated-8f66", "lost-11.3-recovered-by-retry", "smets1-single-step"]
)
async def test_with_the_fleets_security_on_a_scenario_signs_its_11_3s(
    name: str, tmp_path: Path
) -> None:
    """The same scenario files, on the lab's fleet with `security: true` (issue 17): the
    lab client signs each 11.3's pre-command and the steps pass unchanged."""
    fleet = tmp_path / "secured-fleet.yaml"
    data = yaml.safe_load((ROOT / "configs" / "lab-fleet.yaml").read_text())
    fleet.write_text(yaml.safe_dump({**data, "security": True}))
    scenario = load_scenario(ROOT / "configs" / "scenarios" / f"{name}.yaml")
    env = emulated(fleet=fleet)
    if not expects_e21(scenario):
        env = patient(env, scenario, 4 * env.dsp.response_timeout)
    async with Lab(env) as lab:
        assert lab.keys is not None
        result = await run_scenario(lab, scenario, transcript=tmp_path / "run.jsonl")
    result.raise_for_failure()
    transcript = load_transcript(tmp_path / "run.jsonl")
    seen = [line.get("type") for line in transcript.lines if line["kind"] == "observed"]
    assert "pre_command" in seen  # the DSP asked for a signature, and the client gave it

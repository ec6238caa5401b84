"""Scenario files: every shipped one validates, and a bad one is refused with the file,
the step and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.faults import FaultKind
from hil.errors import ScenarioError
from hil.scenarios.file import InjectFaultStep, SendStep, WaitStep, load_scenario
from tests.support.paths import ROOT

SCENARIOS = sorted((ROOT / "configs" / "scenarios").glob("*.yaml"))
MP105_CASES = {
    "lost-11.3-recovered-by-retry",
    "lost-11.3-recovered-by-11.2",
    "mp105-off-11.2-rejected-e5",
    "cpl-removed-n50",
    "unknown-version-n51",
    "gpf-mismatch-n52",
    "future-dated-8f66",
    "future-dated-8f67",
    "future-dated-cancelled",
    "smets1-single-step",
}


def test_the_mp105_cases_of_the_issue_are_shipped() -> None:
    assert {path.stem for path in SCENARIOS} == MP105_CASES


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_shipped_scenario_validates_and_cites_its_rules(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.rules
    assert all(rule.startswith("R") for rule in scenario.rules)
    assert scenario.description


def test_the_short_forms_become_tagged_steps(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(
        "steps:\n"
        "  - wait: 30\n"
        '  - send: {srv: "11.3", to: ESME, execute_in: 60, as: network_operator}\n'
        "  - inject_fault: {fault: drop, device: ESME, message_code: 0x0012, count: 1}\n"
    )
    wait, send, fault = load_scenario(path).steps
    assert wait == WaitStep(action="wait", seconds=30)
    assert isinstance(send, SendStep)
    assert (send.user, send.execute_in) == ("network_operator", 60)
    assert isinstance(fault, InjectFaultStep)
    assert (fault.fault, fault.device, fault.message_code) == (FaultKind.DROP, "ESME", 0x12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: []", "steps: List should have at least 1 item"),
        ("steps:\n  - explode: {}", r"step 1 \(explode\): step: Input tag 'explode'"),
        (
            'steps:\n  - send: {srv: "11.2"}',
            r"step 1 \(send\): step: Value error, SR 11.2 goes to a device",
        ),
        ('steps:\n  - send: {srv: "11.9", to: ESME}', r"step 1 \(send\): srv: Input should be"),
        ('steps:\n  - send: {srv: "11.2", to: ESME, cancel: true}', "for SR 11.3"),
        (
            "steps:\n  - wait: 1\n  - set_cpl: {device: ESME, status: Gone}",
            r"step 2 \(set_cpl\): status",
        ),
        ("steps:\n  - assert_smi: {device: ESME, firmware_version: 123}", "firmware_version"),
        ("steps:\n  - flash: {device: ESME, version: latest}", "use running, upgrade or 8 hex"),
        (
            "steps:\n  - inject_fault: {fault: drop, count: 1, probability: 0.5}",
            r"step 1 \(inject_fault\): step: Value error, give exactly one of probability",
        ),
        (
            "steps:\n  - wait: {seconds: 0}",
            r"step 1 \(wait\): seconds: Input should be greater than 0",
        ),
        ("colour: red\nsteps:\n  - wait: 1", "colour: Extra inputs are not permitted"),
        ("- wait: 1", "a scenario is a mapping, not list"),
        ("steps: [", "cannot read YAML"),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_file_step_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)

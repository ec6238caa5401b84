"""`smetslab hil run` and `smetslab hil diff`: refusals before any lab starts, and the
diff's output and exit code (a run on a lab is in tests/e2e/test_scenarios.py)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from smetslab.cli import app
from tests.support.paths import ROOT

runner = CliRunner()
ENV = str(ROOT / "configs" / "lab-emulated.yaml")
HEADER = {"kind": "run", "scenario": "s", "devices": {"ESME": "00-DB-07-00-00-00-00-02"}}


def transcript(path: Path, code: str) -> str:
    lines = [
        HEADER,
        {"kind": "step", "step": 1, "action": "expect_response"},
        {"kind": "observed", "step": 1, "type": "response", "content": {"response_code": code}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_hil_diff_says_no_differences_and_exits_0(tmp_path: Path) -> None:
    a, b = transcript(tmp_path / "a.jsonl", "I0"), transcript(tmp_path / "b.jsonl", "I0")
    result = runner.invoke(app, ["hil", "diff", a, b])
    assert (result.exit_code, result.output) == (0, "no differences\n")


def test_hil_diff_prints_the_step_that_differs_and_exits_1(tmp_path: Path) -> None:
    a, b = transcript(tmp_path / "a.jsonl", "I0"), transcript(tmp_path / "b.jsonl", "E21")
    result = runner.invoke(app, ["hil", "diff", a, b])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "step 1 (expect_response):"
    assert lines[1].startswith(f"  - only in {a}: ")
    assert '"I0"' in lines[1]
    assert lines[2].startswith(f"  + only in {b}: ")
    assert '"E21"' in lines[2]


def test_hil_diff_refuses_a_file_that_is_no_transcript(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "run"}\n{"kind": "observed"}\n')
    result = runner.invoke(app, ["hil", "diff", str(bad), str(bad)])
    assert result.exit_code == 1
    assert f"error: {bad}, line 2: a observed line with no step" in result.output


def test_hil_run_refuses_a_bad_scenario_before_starting_a_lab(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('steps:\n  - send: {srv: "11.2"}\n')
    result = runner.invoke(app, ["hil", "run", "--env", ENV, str(bad)])
    assert result.exit_code == 1
    assert "step 1 (send): step: Value error, SR 11.2 goes to a device" in result.output


def test_hil_run_refuses_a_bad_environment(tmp_path: Path) -> None:
    env = tmp_path / "lab.yaml"
    env.write_text("fleet: nowhere.yaml\nhubs: [{name: x}]\n")
    scenario = str(ROOT / "configs" / "scenarios" / "cpl-removed-n50.yaml")
    result = runner.invoke(app, ["hil", "run", "--env", str(env), scenario])
    assert result.exit_code == 1
    assert "invalid lab environment: hubs.0: Value error, hub x: give template" in result.output

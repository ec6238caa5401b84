"""`--security on|off` reaches every process of a lab (D-SEC10): the worker and shard
command lines carry it, and `load_build` applies it over the fleet file's `security:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.topics import Topics
from hil.lab.processes import DspCommand, FleetCommand
from smetslab.processes import load_build

FLEET = Path(__file__).resolve().parents[3] / "configs" / "fleet.yaml"


def _after(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


@pytest.mark.parametrize(("security", "said"), [(None, None), (True, "on"), (False, "off")])
def test_worker_and_shard_command_lines_carry_the_switch(
    security: bool | None, said: str | None, tmp_path: Path
) -> None:
    dsp = DspCommand("mqtt://h:1", "sqlite://", Topics(), "d", pki=FLEET, security=security)
    shard = FleetCommand("mqtt://h:1", FLEET, Topics(), "f", security=security)
    assert _after(dsp.argv(tmp_path / "r"), "--security") == said
    assert _after(shard.argv(tmp_path / "r", tmp_path / "s", None), "--security") == said


def test_a_worker_without_keys_is_told_nothing_of_security(tmp_path: Path) -> None:
    dsp = DspCommand("mqtt://h:1", "sqlite://", Topics(), "d", security=True)
    assert "--security" not in dsp.argv(tmp_path / "r")
    assert "--pki" not in dsp.argv(tmp_path / "r")


def test_load_build_applies_the_switch_over_the_file() -> None:
    from_file = load_build(FLEET)
    assert (load_build(FLEET, True).keys is not None) is True
    assert load_build(FLEET, False).keys is None
    assert (load_build(FLEET, None).keys is None) is (from_file.keys is None)

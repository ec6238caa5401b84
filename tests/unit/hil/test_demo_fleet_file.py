"""The demo's fleet as a file (D-S3): fleet shard processes build their fleet from it, so
it must build exactly the demo's fleet: the same premises, devices, versions and plan,
the 11.3 loss rule included."""

from __future__ import annotations

from pathlib import Path

from emulators.faults import FaultKind
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.demo import CS06, DemoOptions, DemoRun, write_fleet_file


def test_the_written_fleet_file_builds_the_demo_fleet(tmp_path: Path) -> None:
    run = DemoRun(DemoOptions(premises=30, seed=12, loss=0.3))
    path = write_fleet_file(run.spec, tmp_path / "fleet.yaml")
    spec, plan = load_fleet_spec(path)
    again = build_fleet(spec, plan)
    assert again.seed == run.build.seed
    assert plan == run.build.fleet.faults.plan
    loss = plan.rules[0]
    assert (loss.kind, loss.message_code, loss.probability) == (FaultKind.DROP, CS06, 0.3)
    assert plan.seed == 12
    assert len(plan.rules) == 2  # the loss, then the demo fleet's stale GPF mirrors
    assert len(again.fleet.premises) == 30


def test_without_loss_the_plan_is_the_fleet_files() -> None:
    run = DemoRun(DemoOptions(premises=10, loss=0.0))
    assert [r.kind for r in run.build.fleet.faults.plan.rules] == [FaultKind.STALE_GPF_MIRROR]


def test_security_given_on_the_command_line_wins_over_the_fleet_files(tmp_path: Path) -> None:
    """D-SEC10: `--security on|off` overrides the fleet file's `security:`, and the
    written file carries the choice to the shard and worker processes."""
    for wanted in (True, False):
        run = DemoRun(DemoOptions(premises=4, security=wanted))
        assert (run.build.keys is not None) is wanted
        spec, _ = load_fleet_spec(write_fleet_file(run.spec, tmp_path / f"{wanted}.yaml"))
        assert spec.security is wanted
    as_file = DemoRun(DemoOptions(premises=4))
    assert as_file.spec.security is load_fleet_spec(as_file.options.fleet_file)[0].security

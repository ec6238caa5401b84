"""Fault plans (R11): validated YAML; one seeded RNG, so the same seed fires the same
faults and another seed others; each fault that fires is reported; link faults act on
the messages they name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contract.vocabulary import DeviceType
from emulators.actions import Output
from emulators.errors import ConfigError
from emulators.faults import (
    Direction,
    FaultInjector,
    FaultKind,
    FaultPlan,
    FaultRule,
    fault_plan_from_data,
    load_fault_plan,
)
from emulators.fleet import FleetBuild
from emulators.models import PendingImage
from gbcs import ActivateFirmwareOutcome, MessageCode, ReadEsmeFirmwareVersionResponse
from tests.support.emulators import (
    NEW,
    T0,
    cs06,
    device,
    down,
    ecs52,
    faults_fired,
    image,
    one_premises,
    uplink_times,
    uplinks,
)
from tests.support.paths import ROOT

ECS52 = MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION
CS06 = MessageCode.CS06_ACTIVATE_FIRMWARE
ESME_ID = bytes.fromhex("00DB1234567890A0")


def test_the_shipped_fault_plan_loads() -> None:
    plan = load_fault_plan(ROOT / "configs" / "faults.yaml")
    # every kind but the extras: read failures, and the conformance device defect
    extras = {FaultKind.READ_FAILURE, FaultKind.ALERT_COUNTER_MISMATCH}
    assert {rule.kind for rule in plan.rules} == set(FaultKind) - extras
    assert plan.seed == 7


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"fault": "drop"}, "exactly one of probability and count"),
        ({"fault": "drop", "probability": 0.5, "count": 1}, "exactly one of probability and count"),
        ({"fault": "drop", "probability": 1.5}, "less than or equal to 1"),
        ({"fault": "explode", "count": 1}, "fault"),
        ({"fault": "drop", "count": 1, "device": "00DB12"}, "16 hex digits"),
        ({"fault": "corrupt_block", "count": 1, "direction": "down"}, "link faults only"),
        ({"fault": "activation_failure", "count": 1, "code": 4}, "less than or equal to 3"),
        ({"fault": "delay", "count": 1, "seconds": -1}, "clock_skew only"),
        ({"fault": "drop", "count": 1, "colour": "red"}, "Extra inputs"),
    ],
)
def test_r11_invalid_rules_are_refused_with_the_reason(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fault_plan_from_data({"rules": [rule]}, "plan.yaml")


def test_r11_rule_fields_reach_the_plan() -> None:
    data = {
        "seed": 3,
        "pending_on_power_loss": "resume",
        "rules": [
            {"fault": "reorder", "device": "00-DB-12-34-56-78-90-A0", "count": 2},
            {
                "fault": "activation_failure",
                "device_type": "HCALCS",
                "message_code": 0x12,
                "probability": 0.5,
                "code": 2,
            },
        ],
    }
    plan = fault_plan_from_data(data, "inline")
    reorder, failure = plan.rules
    assert (reorder.device_id, reorder.count, reorder.seconds) == (ESME_ID, 2, 60.0)
    assert (failure.device_type, failure.message_code, failure.code) == (DeviceType.HCALCS, 0x12, 2)
    assert plan.resumes(None) is True
    assert plan.seed == 3


def test_r11_a_rule_matches_its_device_type_id_and_code() -> None:
    injector = FaultInjector(
        FaultPlan(
            (
                FaultRule(FaultKind.DROP, device_type=DeviceType.GSME, count=5),
                FaultRule(FaultKind.DROP, device_id=ESME_ID, message_code=CS06, count=5),
            )
        )
    )
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, ECS52) is None
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, CS06) is not None
    assert injector.fire(FaultKind.DROP, bytes(8), DeviceType.ESME, CS06) is None
    assert injector.fire(FaultKind.DROP, bytes(8), DeviceType.GSME, CS06) is not None
    assert injector.fire(FaultKind.DROP, bytes(8), DeviceType.GSME, CS06, Direction.DOWN) is None
    assert injector.fire(FaultKind.DELAY, bytes(8), DeviceType.GSME, CS06) is None


def test_r11_a_count_rule_fires_exactly_count_times() -> None:
    injector = FaultInjector(FaultPlan((FaultRule(FaultKind.DROP, count=3),)))
    fired = [injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, ECS52) for _ in range(10)]
    assert [rule is not None for rule in fired] == [True] * 3 + [False] * 7


RANDOM_RULES = (
    FaultRule(FaultKind.DROP, probability=0.3),
    FaultRule(FaultKind.DELAY, probability=0.3, seconds=10),
    FaultRule(FaultKind.DUPLICATE, probability=0.2, seconds=1),
    FaultRule(FaultKind.ACTIVATION_FAILURE, probability=0.5),
)
IMAGE = image()


def _scenario(plan_seed: int) -> list[tuple[str, FaultKind, int | None, str]]:
    """A fixed sequence of reads and activations under a probabilistic plan."""
    build = one_premises(plan=FaultPlan(RANDOM_RULES, plan_seed))
    out: list[Output] = []
    for step in range(30):
        now = T0 + timedelta(seconds=10 * step)
        for device_type in (DeviceType.ESME, DeviceType.CHF, DeviceType.HCALCS):
            target = device(build, device_type)
            target.hold_image(PendingImage(IMAGE.sha256, NEW))
            out += down(build, cs06(target.device_id, IMAGE.sha256, step), now)
        out += build.fleet.tick(now)
    return [(f.device_id, f.fault, f.message_code, f.at.isoformat()) for f in faults_fired(out)]


def test_r11_same_seed_same_faults_other_seed_others() -> None:
    first = _scenario(11)
    assert len(first) > 20
    assert {kind for _, kind, _, _ in first} == {rule.kind for rule in RANDOM_RULES}
    assert _scenario(11) == first
    assert _scenario(12) != first


def _esme_read(build: FleetBuild, at_second: int = 0) -> list[Output]:
    esme = device(build, DeviceType.ESME)
    return down(
        build, ecs52(esme.device_id, invoke_id=at_second), T0 + timedelta(seconds=at_second)
    )


def test_r11_drop_loses_the_response_and_reports_it() -> None:
    build = one_premises([FaultRule(FaultKind.DROP, message_code=ECS52, count=1)])
    out = _esme_read(build)
    assert uplinks(out) == []
    (fired,) = faults_fired(out)
    assert (fired.fault, fired.message_code) == (FaultKind.DROP, ECS52)
    assert fired.device_id == device(build, DeviceType.ESME).hex_id
    assert len(uplinks(_esme_read(build, 1))) == 1


def test_r11_drop_down_never_reaches_the_device() -> None:
    rule = FaultRule(FaultKind.DROP, message_code=CS06, count=1, direction=Direction.DOWN)
    build = one_premises([rule])
    esme = device(build, DeviceType.ESME)
    esme.hold_image(PendingImage(IMAGE.sha256, NEW))
    out = down(build, cs06(esme.device_id, IMAGE.sha256))
    assert uplinks(out) == []
    assert esme.running_version != NEW


def test_r11_delay_sends_later() -> None:
    build = one_premises([FaultRule(FaultKind.DELAY, count=1, seconds=30)])
    assert uplinks(_esme_read(build)) == []
    assert uplinks(build.fleet.tick(T0 + timedelta(seconds=29))) == []
    out = build.fleet.tick(T0 + timedelta(seconds=30))
    assert uplink_times(out) == [T0 + timedelta(seconds=30)]


def test_r11_duplicate_sends_twice() -> None:
    build = one_premises([FaultRule(FaultKind.DUPLICATE, count=1, seconds=5)])
    first = uplinks(_esme_read(build))
    second = uplinks(build.fleet.tick(T0 + timedelta(seconds=5)))
    assert len(first) == len(second) == 1
    assert first[0] == second[0]


def test_r11_reorder_lets_the_next_message_pass_first() -> None:
    build = one_premises([FaultRule(FaultKind.REORDER, count=1, seconds=60)])
    assert uplinks(_esme_read(build, 0)) == []
    passed, held = uplinks(_esme_read(build, 1))
    assert isinstance(passed.payload, ReadEsmeFirmwareVersionResponse)
    assert isinstance(held.payload, ReadEsmeFirmwareVersionResponse)
    assert (passed.payload.invoke_id, held.payload.invoke_id) == (1, 0)
    assert uplinks(build.fleet.tick(T0 + timedelta(minutes=5))) == []  # released once only


def test_r11_reorder_releases_after_its_hold_time_when_nothing_follows() -> None:
    build = one_premises([FaultRule(FaultKind.REORDER, count=1, seconds=60)])
    _esme_read(build)
    assert uplinks(build.fleet.tick(T0 + timedelta(seconds=59))) == []
    assert uplink_times(build.fleet.tick(T0 + timedelta(seconds=60))) == [
        T0 + timedelta(seconds=60)
    ]


def test_r11_clock_skew_moves_the_device_clock() -> None:
    build = one_premises([FaultRule(FaultKind.CLOCK_SKEW, count=1, seconds=-90)])
    esme = device(build, DeviceType.ESME)
    out = down(build, cs06(esme.device_id, bytes(32)))
    assert [f.fault for f in faults_fired(out)] == [FaultKind.CLOCK_SKEW]
    (response,) = uplinks(out)
    assert isinstance(response.payload, ActivateFirmwareOutcome)
    assert response.header.date_time is not None
    assert response.header.date_time.to_datetime() == T0 - timedelta(seconds=90)
    # a future-dated activation runs when the device's slow clock reaches the time
    esme.hold_image(PendingImage(IMAGE.sha256, NEW))
    when = T0 + timedelta(hours=1)
    down(build, cs06(esme.device_id, IMAGE.sha256, 1001, when))
    assert uplinks(build.fleet.tick(when + timedelta(seconds=89))) == []
    assert len(uplinks(build.fleet.tick(when + timedelta(seconds=90)))) == 1


def test_r11_reorder_holds_one_message_at_a_time() -> None:
    build = one_premises([FaultRule(FaultKind.REORDER, count=2, seconds=60)])
    out = _esme_read(build, 0) + _esme_read(build, 1)
    assert len(faults_fired(out)) == 1  # the rule is not consulted while one is held
    assert len(uplinks(out)) == 2
    third = _esme_read(build, 2)
    assert (uplinks(third), len(faults_fired(third))) == ([], 1)


# ---- rules added while a fleet runs (a scenario's inject_fault, hil/lab/lab.py) ------


def test_r11_a_rule_added_at_run_time_fires_after_the_plans_rules() -> None:
    plan_rule = FaultRule(FaultKind.DROP, message_code=ECS52, count=1)
    injector = FaultInjector(FaultPlan((plan_rule,)))
    added = FaultRule(FaultKind.DROP, device_id=ESME_ID, count=2)
    injector.add(added)
    fired = [injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, ECS52) for _ in range(4)]
    assert fired == [plan_rule, added, added, None]  # the plan's first, then the budget of 2
    assert injector.plan.rules == (plan_rule, added)


def test_r11_a_removed_rule_no_longer_fires_and_the_others_keep_their_budgets() -> None:
    first = FaultRule(FaultKind.DROP, message_code=CS06, count=2)
    injector = FaultInjector(FaultPlan((first,)))
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, CS06) is first
    added = FaultRule(FaultKind.DROP, message_code=ECS52, probability=1.0)
    injector.add(added)
    injector.remove(added)
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, ECS52) is None
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, CS06) is first  # 1 left
    assert injector.fire(FaultKind.DROP, ESME_ID, DeviceType.ESME, CS06) is None
    with pytest.raises(ValueError, match="no fault rule"):
        injector.remove(added)


def test_r11_a_rule_added_to_a_fleet_reaches_every_premises_device() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    build.fleet.faults.add(FaultRule(FaultKind.DROP, device_id=esme.device_id, count=1))
    out = down(build, ecs52(esme.device_id))
    assert uplinks(out) == []
    assert [f.fault for f in faults_fired(out)] == [FaultKind.DROP]
    assert len(uplinks(down(build, ecs52(esme.device_id, counter=1001)))) == 1  # spent

"""The scenario interpreter alone (sans-IO): hand-made observations in, instructions out.
Test names cite the rules a step checks: R3 (E5), R4 (CPL removal), R5 (reports), R7
(future-dated), R8 (lost responses), R11 (faults)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from contract.errors import IllegalTransitionError
from contract.vocabulary import CplStatus, DeviceType, SmiStatus
from emulators.faults import FaultKind
from hil.errors import ScenarioError
from hil.lab.env import HubKind
from hil.scenarios.file import load_scenario
from hil.scenarios.model import (
    AddFault,
    ChangeCpl,
    Flash,
    Publish,
    ReadSmi,
    RunState,
    ScenarioModel,
    SwitchMp105,
)
from hil.scenarios.target import WRONG_HASH, choose_hub
from tests.support.paths import ROOT
from tests.support.scenario_bench import BUILD, HUBS, USERS, Bench, device, scenario, target

ESME = device(DeviceType.ESME)
RUNNING, UPGRADE = "0123ABCD", "0123ABCE"
UPGRADE_IMAGE = BUILD.images["LANDIS", "E470", UPGRADE]
SUSPENDED = replace(ESME, status=SmiStatus.SUSPENDED)


def test_r4_r5_r8_the_shipped_retry_scenario_runs_to_the_end_on_the_dsps_answers() -> None:
    path = ROOT / "configs" / "scenarios" / "lost-11.3-recovered-by-retry.yaml"
    bench = Bench(ScenarioModel(load_scenario(path), target(), first_counter=1000))
    (change,) = bench.start()
    assert change == ChangeCpl(
        replace(
            BUILD.seed.cpl[0],
            manufacturer="LANDIS",
            model="E470",
            firmware_version=RUNNING,
            status=CplStatus.REMOVED,
            image_hash=BUILD.images["LANDIS", "E470", RUNNING].sha256.hex().upper(),
        )
    )
    assert bench.cpl_applied(change.entry) == []
    assert bench.alert("N28", ESME) == [ReadSmi(ESME.device_id)]
    (distribution,) = bench.smi(SUSPENDED)
    assert isinstance(distribution, Publish)
    body = distribution.request.payload["body"]
    assert (body["firmware_version"], body["device_ids"]) == (UPGRADE, [ESME.device_id])
    assert base64.b64decode(body["firmware_image"]) == UPGRADE_IMAGE.to_bytes()
    assert distribution.request.request_id.endswith(":90-B3-D5-1F-30-00-00-02:1001")
    bench.respond("I99")
    bench.respond("I0")
    fault, activation = bench.alert("FirmwareReceipt", ESME, hash_matches=True)
    assert isinstance(fault, AddFault)
    assert (fault.rule.kind, fault.rule.device_id, fault.rule.message_code, fault.rule.count) == (
        FaultKind.DROP,
        bytes.fromhex(ESME.device_id.replace("-", "")),
        0x0012,
        1,
    )
    assert isinstance(activation, Publish)
    assert activation.request.payload["body"] == {
        "firmware_hash": UPGRADE_IMAGE.sha256.hex().upper()
    }
    assert activation.request.request_id == f"{USERS['supplier']}:{ESME.device_id}:1002"
    assert bench.respond("E21") == [ReadSmi(ESME.device_id)]
    (retry,) = bench.smi(SUSPENDED)
    assert isinstance(retry, Publish)
    assert retry.request.request_id.endswith(":1003")
    bench.respond("I0", {"firmware_version": UPGRADE, "activate_image_response_code": 1})
    bench.alert("N29", ESME)
    assert bench.alert("N29", ESME, USERS["network_operator"]) == [ReadSmi(ESME.device_id)]
    restored = replace(ESME, firmware_version=UPGRADE)
    assert bench.smi(restored) == []
    assert bench.state() is RunState.PASSED
    assert bench.run.failure is None
    assert bench.run.last_counter == 1003


def test_r5_a_response_with_the_wrong_code_fails_naming_the_step_and_what_was_seen() -> None:
    bench = Bench.of(
        {"send": {"srv": "11.2", "to": "ESME"}},
        {"expect_response": {"code": "I0", "firmware_version": "upgrade"}},
    )
    bench.start()
    bench.respond("I99")
    assert bench.state() is RunState.WAITING  # I99 is not the answer waited for
    bench.respond("E5", {"reason": "device status Suspended"})
    failure = bench.run.failure
    assert failure is not None
    assert (failure.scenario, failure.step, failure.action) == ("bench", 2, "expect_response")
    assert "expected I0, saw E5 (device status Suspended)" in str(failure)
    assert bench.run.finished
    assert bench.run.next_due() is None


def test_r5_a_response_with_the_wrong_version_fails_with_both_versions() -> None:
    bench = Bench.of(
        {"send": {"srv": "11.2", "to": "ESME"}},
        {"expect_response": {"code": "I0", "firmware_version": "upgrade"}},
    )
    bench.start()
    bench.respond("I0", {"firmware_version": RUNNING})
    assert bench.run.failure is not None
    assert f"firmware_version {UPGRADE} expected, saw {RUNNING}" in bench.run.failure.detail


def test_r10_firmware_version_none_wants_an_answer_without_a_version() -> None:
    bench = Bench.of(
        {"send": {"srv": "11.3", "to": "ESME"}},
        {"expect_response": {"code": "I0", "firmware_version": "none"}},
    )
    bench.start()
    bench.respond("I0", {"firmware_version": UPGRADE})
    assert bench.run.failure is not None
    assert f"no firmware_version expected, saw {UPGRADE}" in bench.run.failure.detail


def test_r8_nothing_within_the_time_fails_at_the_deadline_and_says_what_is_waited_for() -> None:
    bench = Bench.of({"expect_alert": {"code": "N29", "device": "ESME", "within": 60}})
    assert bench.start() == []
    assert bench.run.next_due() == bench.now.replace(minute=1)
    bench.alert("N28", ESME)  # another alert: kept for later steps, not a failure
    bench.later(59)
    assert bench.run.failure is None
    bench.later(1)
    failure = bench.run.failure
    assert failure is not None
    assert failure.step == 1
    assert "nothing within 60 s: no N29 alert about ESME" in failure.detail
    assert f"alert N28 about {ESME.device_id}" in failure.detail


def test_r5_an_alert_that_comes_before_the_response_waits_for_its_step() -> None:
    bench = Bench.of(
        {"send": {"srv": "11.2", "to": "ESME"}},
        {"expect_response": {"code": "I0"}},
        {"expect_alert": {"code": "N29", "device": "ESME", "user": "supplier"}},
    )
    bench.start()
    bench.alert("N29", ESME, USERS["network_operator"])  # not the user waited for
    bench.alert("N29", ESME)
    assert bench.state() is RunState.WAITING
    bench.respond("I0")
    assert bench.state() is RunState.PASSED
    assert len(bench.run.pending) == 1  # the network operator's N29, never taken


@pytest.mark.parametrize("during", [0, 30])
def test_r5_assert_no_alert_fails_on_an_alert_already_seen(during: int) -> None:
    bench = Bench.of(
        {"send": {"srv": "11.2", "to": "ESME"}},
        {"expect_response": {"code": "I0"}},
        {"assert_no_alert": {"code": "N29", "device": "ESME", "for": during}},
    )
    bench.start()
    bench.alert("N29", ESME)
    bench.respond("I0")
    assert bench.run.failure is not None
    assert (
        f"expected no N29 alert, saw alert N29 about {ESME.device_id}" in bench.run.failure.detail
    )


def test_r5_assert_no_alert_fails_on_one_that_comes_during_its_time_and_passes_after() -> None:
    bench = Bench.of({"assert_no_alert": {"code": "N29", "for": 30}})
    bench.start()
    bench.later(29)
    bench.alert("N28", ESME)
    assert bench.state() is RunState.WAITING
    bench.later(1)
    assert bench.state() is RunState.PASSED
    failing = Bench.of({"assert_no_alert": {"code": "N29", "for": 30}})
    failing.start()
    failing.later(10)
    failing.alert("N29", ESME)
    assert failing.run.failure is not None


def test_r7_execution_times_are_whole_seconds_in_the_future_and_cancel_is_3000() -> None:
    bench = Bench.of(
        {"send": {"srv": "11.3", "to": "ESME", "execute_in": 600}},
        {"send": {"srv": "11.3", "to": "ESME", "cancel": True}},
        {"send": {"srv": "11.3", "to": "ESME", "wrong_hash": True}},
    )
    bench.now = bench.now.replace(microsecond=500_000)
    future, cancel, wrong = bench.start()
    assert isinstance(future, Publish)
    assert isinstance(cancel, Publish)
    assert isinstance(wrong, Publish)
    assert future.request.payload["body"]["execution_datetime"] == "2031-01-01T00:10:01Z"
    assert cancel.request.payload["body"]["execution_datetime"] == "3000-12-31T00:00:00Z"
    assert wrong.request.payload["body"] == {"firmware_hash": WRONG_HASH}
    assert future.request.payload["command_variant"] == 4


def test_r3_set_dsp_and_flash_and_smi_reads_are_instructions_in_order() -> None:
    bench = Bench.of(
        {"set_dsp": {"mp105": False}},
        {"flash": {"device": "ESME", "version": "0123dead"}},
        {"assert_smi": {"device": "ESME", "status": "Suspended", "firmware_version": "running"}},
    )
    switch, flash, read = bench.start()
    assert switch == SwitchMp105(False)
    expected_hash = hashlib.sha256(b"flashed E470 0123DEAD").digest()
    assert flash == Flash(ESME.device_id, "0123DEAD", expected_hash)
    assert read == ReadSmi(ESME.device_id)
    bench.smi(ESME)
    assert bench.run.failure is not None
    assert "status Suspended expected, SMI has Commissioned" in bench.run.failure.detail


def test_a_smi_answer_nobody_asked_for_is_an_illegal_transition() -> None:
    bench = Bench.of({"wait": 10})
    bench.start()
    with pytest.raises(IllegalTransitionError, match="event smi is not allowed in state waiting"):
        bench.run.on_smi(ESME, bench.now)


def test_the_transcript_puts_each_observation_under_the_step_running() -> None:
    bench = Bench.of({"send": {"srv": "11.2", "to": "ESME"}}, {"expect_response": {"code": "I0"}})
    bench.start()
    bench.respond("I0")
    header, *lines = bench.run.transcript
    assert [(line["kind"], line["step"]) for line in lines] == [
        ("step", 1),
        ("sent", 1),
        ("result", 1),
        ("step", 2),
        ("observed", 2),
        ("result", 2),
        ("end", 2),
    ]
    assert header["kind"] == "run"
    assert header["devices"]["ESME"] == ESME.device_id
    assert header["versions"]["upgrade:ESME"] == UPGRADE
    assert [line["step"] for line in bench.run.transcript if line["kind"] == "observed"] == [2]


# ---- names are checked before anything is sent -------------------------------------


@pytest.mark.parametrize(
    ("steps", "hub", "message"),
    [
        (
            [{"send": {"srv": "11.2", "to": "GPF"}}],
            "smets1",
            r"step 1 \(send\): no device GPF on hub smets1",
        ),
        (
            [{"expect_response": {"code": "I0"}}],
            "smets2",
            r"step 1 \(expect_response\): .*none sent before",
        ),
        (
            [{"send": {"srv": "11.1", "devices": ["GPF"]}}],
            "smets2",
            r"step 1 \(send\): the lab has no upgrade image for GPF TOSHIBA CH-2-GPF",
        ),
        ([{"send": {"srv": "11.2", "to": "ESME", "as": "auditor"}}], "smets2", "no user auditor"),
        (
            [
                {"send": {"srv": "11.2", "to": "ESME"}},
                {"expect_response": {"code": "I0", "request": "x"}},
            ],
            "smets2",
            r"step 2 .*a response to x, none sent before",
        ),
        (
            [{"expect_alert": {"code": "N29", "firmware_version": "upgrade"}}],
            "smets2",
            "of which device",
        ),
    ],
)
def test_a_name_the_lab_does_not_have_is_refused_before_the_run(
    steps: list[dict[str, object]], hub: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        ScenarioModel(scenario(*steps), target(hub), first_counter=0)


def test_choose_hub_takes_the_first_that_fits_or_says_why_none_does() -> None:
    smets1 = scenario({"wait": 1}, premises={"smets": 1, "devices": ["ESME"]})
    assert choose_hub(HUBS, smets1).name == "smets1"
    assert choose_hub(HUBS, scenario({"wait": 1})).name == "smets2"
    with pytest.raises(
        ScenarioError, match="needs a SMETS1 premises with ESME, hub smets2 is a SMETS2"
    ):
        choose_hub(HUBS, smets1, "smets2")
    with pytest.raises(ScenarioError, match="no hub rig in the lab"):
        choose_hub(HUBS, smets1, "rig")
    gas = scenario({"wait": 1}, premises={"smets": 1, "devices": ["GPF"]})
    with pytest.raises(
        ScenarioError, match="no hub of the lab fits: it needs a SMETS1 premises with GPF"
    ):
        choose_hub(HUBS, gas)


def test_r11_a_scenario_that_injects_faults_is_refused_on_a_bridged_hub() -> None:
    bridged = [replace(HUBS[0], kind=HubKind.SERIAL)]
    faulty = scenario(
        {"wait": 1}, {"inject_fault": {"fault": "drop", "device": "ESME", "count": 1}}
    )
    with pytest.raises(
        ScenarioError,
        match=r"step 2 \(inject_fault\) needs an emulated hub, hub smets2 is bridged \(serial\)",
    ):
        choose_hub(bridged, faulty, "smets2")
    assert choose_hub(bridged, scenario({"wait": 1})).name == "smets2"
    spare = replace(HUBS[0], name="spare")
    assert choose_hub([*bridged, spare], faulty).name == "spare"  # the emulated one fits

"""Two-step firmware on SMETS2 devices: distribution into the pending slot (R9), CS06
activation with every response code, future-dated activation and cancellation (R7),
the repeated CS06 and power cycles (R10)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from contract.vocabulary import DeviceType
from emulators.actions import EventKind
from emulators.faults import FaultKind, FaultPlan, FaultRule
from emulators.fleet import FleetBuild
from gbcs import (
    CANCELLATION_DATETIME,
    ActivateFirmwareAccepted,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    CraFlag,
    FirmwareActivationAlert,
    FirmwareReceiptAlert,
    MessageCode,
)
from tests.support.emulators import (
    ACB,
    NEW,
    OLD,
    SUPPLIER,
    T0,
    cs06,
    device,
    distribution,
    down,
    download_done,
    events,
    faults_fired,
    image,
    one_premises,
    uplink_times,
    uplinks,
)

Code = ActivateImageResponseCode
IMAGE = image()
TWO_STEP = [DeviceType.ESME, DeviceType.CHF, DeviceType.HCALCS]


def _distribute(build: FleetBuild, device_type: DeviceType, data: bytes = IMAGE.to_bytes()) -> None:
    target = device(build, device_type).device_id
    down(build, distribution(target, data))
    download_done(build)


def _outcome(
    build: FleetBuild, device_type: DeviceType, image_hash: bytes
) -> ActivateFirmwareOutcome:
    target = device(build, device_type).device_id
    (response,) = uplinks(down(build, cs06(target, image_hash), T0 + timedelta(minutes=5)))
    assert isinstance(response.payload, ActivateFirmwareOutcome)
    return response.payload


# case -> (distribute first, hash in the CS06, fault rules, expected code, expected version)
CS06_CASES = {
    "success": (True, IMAGE.sha256, (), Code.SUCCESS, NEW),
    "no_image_held": (False, IMAGE.sha256, (), Code.NO_IMAGE_HELD, OLD),
    "hash_mismatch": (True, bytes(32), (), Code.HASH_MISMATCH, OLD),
    "activation_failure": (
        True,
        IMAGE.sha256,
        (FaultRule(FaultKind.ACTIVATION_FAILURE, count=1),),
        Code.ACTIVATION_FAILURE,
        OLD,
    ),
    "activation_failure_code_2": (
        True,
        IMAGE.sha256,
        (FaultRule(FaultKind.ACTIVATION_FAILURE, count=1, code=Code.HASH_MISMATCH),),
        Code.HASH_MISMATCH,
        OLD,
    ),
}


@pytest.mark.parametrize("device_type", TWO_STEP)
@pytest.mark.parametrize("case", CS06_CASES)
def test_r10_cs06_response_codes(device_type: DeviceType, case: str) -> None:
    distribute, image_hash, rules, code, version = CS06_CASES[case]
    build = one_premises(rules)
    if distribute:
        _distribute(build, device_type)
    outcome = _outcome(build, device_type, image_hash)
    assert (outcome.response_code, outcome.firmware_version) == (code, version)
    assert device(build, device_type).running_version == version


def test_r10_cs06_during_download_is_no_image_held() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    down(build, distribution(esme.device_id, IMAGE.to_bytes()))
    (response,) = uplinks(
        down(build, cs06(esme.device_id, IMAGE.sha256), T0 + timedelta(seconds=1))
    )
    assert response.payload == ActivateFirmwareOutcome(Code.NO_IMAGE_HELD, OLD)


def test_r10_an_image_without_an_ota_header_fails_activation() -> None:
    build = one_premises()
    junk = b"not an OTA file" * 4
    _distribute(build, DeviceType.ESME, junk)
    outcome = _outcome(build, DeviceType.ESME, hashlib.sha256(junk).digest())
    assert outcome == ActivateFirmwareOutcome(Code.ACTIVATION_FAILURE, OLD)


def test_r10_cs06_response_header_echoes_the_command() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    (response,) = uplinks(down(build, cs06(esme.device_id, IMAGE.sha256, counter=4242)))
    header = response.header
    assert header.cra_flag is CraFlag.RESPONSE
    assert (header.originator_id, header.recipient_id) == (esme.device_id, SUPPLIER)
    assert header.originator_counter == 4242
    assert header.date_time is not None
    assert header.date_time.to_datetime() == T0


def test_r9_receipt_after_the_blocks_with_the_image_sha256() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    data = IMAGE.to_bytes()  # 256 bytes: 4 blocks of 64 at 1 s each
    assert uplinks(down(build, distribution(esme.device_id, data, counter=77))) == []
    assert uplinks(build.fleet.tick(T0 + timedelta(seconds=3.9))) == []
    out = build.fleet.tick(T0 + timedelta(seconds=4))
    (receipt,) = uplinks(out)
    assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256, None)
    header = receipt.header
    assert header.cra_flag is CraFlag.ALERT
    assert header.message_code == MessageCode.SMETSLAB_FIRMWARE_RECEIPT
    assert (header.originator_id, header.recipient_id) == (esme.device_id, ACB)
    assert header.supplementary_remote_party_id == SUPPLIER
    assert header.supplementary_originator_counter == 77
    assert uplink_times(out) == [T0 + timedelta(seconds=4)]


def test_r7_future_dated_activation_accepted_then_alert_8f66() -> None:
    build = one_premises()
    _distribute(build, DeviceType.ESME)
    esme = device(build, DeviceType.ESME)
    esme.alert_counter = 2000
    when = T0 + timedelta(hours=1)
    (accepted,) = uplinks(
        down(build, cs06(esme.device_id, IMAGE.sha256, 1001, when), T0 + timedelta(minutes=1))
    )
    assert accepted.payload == ActivateFirmwareAccepted()
    assert uplinks(build.fleet.tick(when - timedelta(seconds=1))) == []
    assert esme.running_version == OLD
    (alert,) = uplinks(build.fleet.tick(when))
    assert alert.payload == FirmwareActivationAlert(
        AlertCode.FUTURE_DATED_EXECUTION_SUCCESS, when, 1001, Code.SUCCESS, NEW
    )
    assert alert.header.message_code == MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT
    assert (alert.header.originator_counter, alert.header.recipient_id) == (2000, SUPPLIER)
    assert esme.running_version == NEW


def test_r7_future_dated_failure_raises_8f67_with_the_code() -> None:
    build = one_premises()
    _distribute(build, DeviceType.ESME)
    esme = device(build, DeviceType.ESME)
    when = T0 + timedelta(hours=1)
    down(build, cs06(esme.device_id, bytes(32), 1004, when), T0 + timedelta(minutes=1))
    (alert,) = uplinks(build.fleet.tick(when))
    assert alert.payload == FirmwareActivationAlert(
        AlertCode.FUTURE_DATED_EXECUTION_FAILURE, when, 1004, Code.HASH_MISMATCH, OLD
    )


@pytest.mark.parametrize("count", [0, 1])
def test_r7_an_alert_counter_mismatch_fault_puts_the_wrong_counter_in_0x8f66(count: int) -> None:
    """A device defect for conformance tests (docs/conformance.md): off by one, and only
    where the plan says; without it the alert carries the command's counter (R7)."""
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=count)] if count else []
    build = one_premises(rules)
    _distribute(build, DeviceType.ESME)
    esme = device(build, DeviceType.ESME)
    when = T0 + timedelta(hours=1)
    down(build, cs06(esme.device_id, IMAGE.sha256, 1001, when), T0 + timedelta(minutes=1))
    out = build.fleet.tick(when)
    (alert,) = uplinks(out)
    assert isinstance(alert.payload, FirmwareActivationAlert)
    assert alert.payload.originator_counter == 1001 + count
    assert alert.payload.alert_code is AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
    assert [f.fault for f in faults_fired(out)] == [FaultKind.ALERT_COUNTER_MISMATCH] * count
    assert esme.running_version == NEW


def test_r7_cancellation_stops_the_pending_activation() -> None:
    build = one_premises()
    _distribute(build, DeviceType.ESME)
    esme = device(build, DeviceType.ESME)
    when = T0 + timedelta(hours=1)
    down(build, cs06(esme.device_id, IMAGE.sha256, 1001, when), T0 + timedelta(minutes=1))
    out = down(
        build,
        cs06(esme.device_id, IMAGE.sha256, 1002, CANCELLATION_DATETIME),
        T0 + timedelta(minutes=2),
    )
    (accepted,) = uplinks(out)
    assert accepted.payload == ActivateFirmwareAccepted()
    assert accepted.header.originator_counter == 1002
    assert len(events(out, EventKind.ACTIVATION_CANCELLED)) == 1
    assert uplinks(build.fleet.tick(when + timedelta(hours=1))) == []
    assert esme.running_version == OLD
    # the image is still held: an immediate CS06 activates it
    assert _outcome(build, DeviceType.ESME, IMAGE.sha256) == ActivateFirmwareOutcome(
        Code.SUCCESS, NEW
    )


@pytest.mark.parametrize(("configured", "expected"), [(1, Code.NO_IMAGE_HELD), (0, Code.SUCCESS)])
def test_r10_repeated_cs06_returns_the_running_version(configured: int, expected: Code) -> None:
    build = one_premises(repeat_activation_code=configured)
    _distribute(build, DeviceType.ESME)
    assert _outcome(build, DeviceType.ESME, IMAGE.sha256).response_code is Code.SUCCESS
    assert _outcome(build, DeviceType.ESME, IMAGE.sha256) == ActivateFirmwareOutcome(expected, NEW)


def test_r10_another_image_after_activation_is_still_no_image_held() -> None:
    build = one_premises(repeat_activation_code=0)
    _distribute(build, DeviceType.ESME)
    _outcome(build, DeviceType.ESME, IMAGE.sha256)
    assert _outcome(build, DeviceType.ESME, bytes(32)) == ActivateFirmwareOutcome(
        Code.NO_IMAGE_HELD, NEW
    )


@pytest.mark.parametrize(
    ("policy", "code"), [("resume", Code.SUCCESS), ("lose", Code.NO_IMAGE_HELD)]
)
def test_r10_power_cycle_keeps_running_version_pending_slot_per_plan(
    policy: str, code: Code
) -> None:
    build = one_premises(plan=FaultPlan(pending_on_power_loss=policy))  # type: ignore[arg-type]
    premises_esme = device(build, DeviceType.ESME)
    _distribute(build, DeviceType.ESME)
    _outcome(build, DeviceType.ESME, IMAGE.sha256)  # now running NEW
    second = image(0x0123ABD0)
    _distribute(build, DeviceType.ESME, second.to_bytes())
    build.fleet.premises_of(premises_esme.device_id).power_cycle(premises_esme.device_id, T0)
    assert premises_esme.running_version == NEW
    outcome = _outcome(build, DeviceType.ESME, second.sha256)
    assert outcome.response_code is code


@pytest.mark.parametrize("resume", [True, False])
def test_r10_power_loss_during_download_loses_or_resumes(resume: bool) -> None:
    rule = FaultRule(FaultKind.POWER_LOSS_DURING_DOWNLOAD, count=1, resume=resume, seconds=30)
    build = one_premises([rule])
    esme = device(build, DeviceType.ESME)
    out = down(build, distribution(esme.device_id, IMAGE.to_bytes()))
    assert [f.fault for f in faults_fired(out)] == [FaultKind.POWER_LOSS_DURING_DOWNLOAD]
    out = build.fleet.tick(T0 + timedelta(seconds=10))
    assert uplinks(out) == []  # the 4 s download did not finish
    out += build.fleet.tick(T0 + timedelta(seconds=40))
    if resume:
        (receipt,) = uplinks(out)
        assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256, None)
        assert uplink_times(out) == [T0 + timedelta(seconds=34)]
        assert _outcome(build, DeviceType.ESME, IMAGE.sha256).response_code is Code.SUCCESS
    else:
        assert uplinks(out) == []
        assert len(events(out, EventKind.DOWNLOAD_LOST)) == 1
        assert _outcome(build, DeviceType.ESME, IMAGE.sha256).response_code is Code.NO_IMAGE_HELD


def test_r9_corrupted_block_gives_another_hash_and_hash_mismatch() -> None:
    build = one_premises([FaultRule(FaultKind.CORRUPT_BLOCK, count=1)])
    esme = device(build, DeviceType.ESME)
    out = down(build, distribution(esme.device_id, IMAGE.to_bytes()))
    assert [f.fault for f in faults_fired(out)] == [FaultKind.CORRUPT_BLOCK]
    (receipt,) = uplinks(download_done(build))
    assert isinstance(receipt.payload, FirmwareReceiptAlert)
    assert receipt.payload.image_hash != IMAGE.sha256
    assert _outcome(build, DeviceType.ESME, IMAGE.sha256).response_code is Code.HASH_MISMATCH


def test_r10_a_new_distribution_replaces_the_held_image() -> None:
    build = one_premises()
    _distribute(build, DeviceType.ESME)
    second = image(0x0123ABD0)
    _distribute(build, DeviceType.ESME, second.to_bytes())
    assert _outcome(build, DeviceType.ESME, IMAGE.sha256).response_code is Code.HASH_MISMATCH
    outcome = _outcome(build, DeviceType.ESME, second.sha256)
    assert outcome == ActivateFirmwareOutcome(Code.SUCCESS, bytes.fromhex("0123ABD0"))


def test_r10_ppmid_activates_on_receipt_and_reports_the_new_version() -> None:
    build = one_premises()
    ppmid = device(build, DeviceType.PPMID)
    down(build, distribution(ppmid.device_id, IMAGE.to_bytes(), activate=True))
    (receipt,) = uplinks(download_done(build))
    assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256, NEW)
    assert ppmid.running_version == NEW


def test_r10_activate_flag_is_ignored_by_two_step_devices() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    down(build, distribution(esme.device_id, IMAGE.to_bytes(), activate=True))
    (receipt,) = uplinks(download_done(build))
    assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256, None)
    assert esme.running_version == OLD

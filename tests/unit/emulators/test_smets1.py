"""SMETS1 ESME and GSME: single-step firmware (R10). 0xFF05 only stages the image; CS06
downloads and activates over `activation_seconds`; a retried CS06 may carry no version."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contract.vocabulary import DeviceType
from emulators.actions import EventKind
from emulators.faults import FaultKind, FaultRule
from emulators.fleet import FleetBuild
from gbcs import (
    ActivateFirmwareAccepted,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    FirmwareActivationAlert,
    FirmwareReceiptAlert,
    ReadEsmeFirmwareVersionResponse,
    ReadGsmeFirmwareVersionResponse,
)
from tests.support.emulators import (
    NEW,
    OLD,
    T0,
    cs06,
    device,
    distribution,
    down,
    ecs52,
    events,
    gcs38,
    image,
    one_premises,
    uplink_times,
    uplinks,
)

Code = ActivateImageResponseCode
IMAGE = image()
ACTIVATION = timedelta(seconds=300)
METERS = [DeviceType.ESME, DeviceType.GSME]


def _staged(
    device_type: DeviceType, rules: tuple[FaultRule, ...] = (), **overrides: Any
) -> FleetBuild:
    build = one_premises(rules, smets=1, **overrides)
    meter = device(build, device_type)
    (receipt,) = uplinks(down(build, distribution(meter.device_id, IMAGE.to_bytes())))
    assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256)  # staged at once, no blocks
    return build


@pytest.mark.parametrize("device_type", METERS)
def test_r10_smets1_cs06_downloads_and_activates_then_answers(device_type: DeviceType) -> None:
    build = _staged(device_type)
    meter = device(build, device_type)
    out = down(build, cs06(meter.device_id, IMAGE.sha256, 1000))
    assert uplinks(out) == []
    assert len(events(out, EventKind.ACTIVATION_STARTED)) == 1
    assert uplinks(build.fleet.tick(T0 + ACTIVATION - timedelta(seconds=1))) == []
    assert meter.running_version == OLD
    out = build.fleet.tick(T0 + ACTIVATION)
    (response,) = uplinks(out)
    assert response.payload == ActivateFirmwareOutcome(Code.SUCCESS, NEW)
    assert response.header.originator_counter == 1000
    assert uplink_times(out) == [T0 + ACTIVATION]
    assert meter.running_version == NEW


@pytest.mark.parametrize("device_type", METERS)
def test_r10_smets1_retry_during_activation_answers_without_version(
    device_type: DeviceType,
) -> None:
    build = _staged(device_type)
    meter = device(build, device_type)
    down(build, cs06(meter.device_id, IMAGE.sha256, 1000))
    down(build, cs06(meter.device_id, IMAGE.sha256, 1001), T0 + timedelta(seconds=60))
    first, retry = uplinks(build.fleet.tick(T0 + ACTIVATION))
    assert first.payload == ActivateFirmwareOutcome(Code.SUCCESS, NEW)
    assert retry.payload == ActivateFirmwareOutcome(Code.SUCCESS, None)
    assert retry.header.originator_counter == 1001


@pytest.mark.parametrize(("omit", "version"), [(True, None), (False, NEW)])
def test_r10_smets1_retry_after_activation(omit: bool, version: bytes | None) -> None:
    build = _staged(DeviceType.ESME, retry_omits_version=omit)
    meter = device(build, DeviceType.ESME)
    down(build, cs06(meter.device_id, IMAGE.sha256, 1000))
    build.fleet.tick(T0 + ACTIVATION)
    (retry,) = uplinks(down(build, cs06(meter.device_id, IMAGE.sha256, 1001), T0 + 2 * ACTIVATION))
    assert retry.payload == ActivateFirmwareOutcome(Code.NO_IMAGE_HELD, version)


@pytest.mark.parametrize(
    ("stage", "image_hash", "code"),
    [(False, IMAGE.sha256, Code.NO_IMAGE_HELD), (True, bytes(32), Code.HASH_MISMATCH)],
)
def test_r10_smets1_failures_before_download_answer_at_once(
    stage: bool, image_hash: bytes, code: Code
) -> None:
    build = _staged(DeviceType.ESME) if stage else one_premises(smets=1)
    meter = device(build, DeviceType.ESME)
    (response,) = uplinks(down(build, cs06(meter.device_id, image_hash)))
    assert response.payload == ActivateFirmwareOutcome(code, OLD)


def test_r10_smets1_activation_failure_keeps_the_staged_image() -> None:
    build = _staged(DeviceType.ESME, (FaultRule(FaultKind.ACTIVATION_FAILURE, count=1),))
    meter = device(build, DeviceType.ESME)
    down(build, cs06(meter.device_id, IMAGE.sha256, 1000))
    (response,) = uplinks(build.fleet.tick(T0 + ACTIVATION))
    assert response.payload == ActivateFirmwareOutcome(Code.ACTIVATION_FAILURE, OLD)
    down(build, cs06(meter.device_id, IMAGE.sha256, 1001), T0 + 2 * ACTIVATION)
    (second,) = uplinks(build.fleet.tick(T0 + 3 * ACTIVATION))
    assert second.payload == ActivateFirmwareOutcome(Code.SUCCESS, NEW)


def test_r7_smets1_future_dated_alert_after_execution_and_activation() -> None:
    build = _staged(DeviceType.ESME)
    meter = device(build, DeviceType.ESME)
    when = T0 + timedelta(hours=1)
    (accepted,) = uplinks(down(build, cs06(meter.device_id, IMAGE.sha256, 1001, when)))
    assert accepted.payload == ActivateFirmwareAccepted()
    assert uplinks(build.fleet.tick(when)) == []
    (alert,) = uplinks(build.fleet.tick(when + ACTIVATION))
    assert alert.payload == FirmwareActivationAlert(
        AlertCode.FUTURE_DATED_EXECUTION_SUCCESS, when, 1001, Code.SUCCESS, NEW
    )


def test_r10_smets1_reads_the_version_by_ecs52_and_gcs38_at_once() -> None:
    build = one_premises(smets=1)
    esme, gsme = device(build, DeviceType.ESME), device(build, DeviceType.GSME)
    (esme_read,) = uplinks(down(build, ecs52(esme.device_id, invoke_id=5)))
    (gsme_read,) = uplinks(down(build, gcs38(gsme.device_id, sequence=6)))
    assert isinstance(esme_read.payload, ReadEsmeFirmwareVersionResponse)
    assert esme_read.payload.firmware_version == OLD
    assert isinstance(gsme_read.payload, ReadGsmeFirmwareVersionResponse)
    assert gsme_read.payload.firmware_version == OLD


def test_r10_smets1_new_image_while_activating_is_rejected() -> None:
    build = _staged(DeviceType.ESME)
    meter = device(build, DeviceType.ESME)
    down(build, cs06(meter.device_id, IMAGE.sha256, 1000))
    out = down(
        build,
        distribution(meter.device_id, image(0x0123ABD0).to_bytes()),
        T0 + timedelta(seconds=1),
    )
    (rejected,) = events(out, EventKind.COMMAND_REJECTED)
    assert "SMETS1 ESME" in rejected.detail
    assert "ACTIVATING" in rejected.detail
    assert "STAGE" in rejected.detail
    assert uplinks(out) == []

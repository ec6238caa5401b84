"""The SMETS2 GSME wakes and takes its queued commands from the GPF (R10); the GPF
answers SR 11.2 from its mirror of the GSME, which can be stale (R6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract.vocabulary import DeviceType
from emulators.actions import EventKind
from emulators.faults import FaultKind, FaultRule
from emulators.fleet import FleetBuild
from emulators.models import PendingImage
from emulators.models.gsme import next_wake
from gbcs import (
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    FirmwareActivationAlert,
    FirmwareReceiptAlert,
    ReadGsmeFirmwareVersionResponse,
    ZclStatus,
)
from tests.support.emulators import (
    NEW,
    OLD,
    T0,
    WAKE_SECONDS,
    cs06,
    device,
    distribution,
    down,
    events,
    faults_fired,
    gcs38,
    image,
    one_premises,
    uplink_times,
    uplinks,
)

IMAGE = image()


def _wake_after(build: FleetBuild, now: datetime) -> datetime:
    gsme = device(build, DeviceType.GSME)
    return next_wake(gsme.device_id, WAKE_SECONDS, now)


@pytest.mark.parametrize(
    "now",
    [T0, T0 + timedelta(seconds=1), datetime(2031, 6, 7, 8, 9, 10, 11, tzinfo=UTC)],
)
@pytest.mark.parametrize("device_id", [bytes(8), bytes.fromhex("00DB1234567890A1")])
def test_r10_next_wake_is_the_first_wake_at_or_after_now(device_id: bytes, now: datetime) -> None:
    wake = next_wake(device_id, WAKE_SECONDS, now)
    assert now <= wake < now + timedelta(seconds=WAKE_SECONDS)
    assert next_wake(device_id, WAKE_SECONDS, wake) == wake  # a wake time is its own next wake
    later = next_wake(device_id, WAKE_SECONDS, wake + timedelta(microseconds=1))
    assert later == wake + timedelta(seconds=WAKE_SECONDS)


def test_r10_gsme_answers_only_when_it_wakes() -> None:
    build = one_premises()
    gsme = device(build, DeviceType.GSME)
    now = T0 + timedelta(seconds=5)
    out = down(build, gcs38(gsme.device_id, 1000, sequence=9), now)
    assert uplinks(out) == []
    assert len(events(out, EventKind.COMMAND_QUEUED)) == 1
    wake = _wake_after(build, now)
    assert uplinks(build.fleet.tick(wake - timedelta(microseconds=1))) == []
    out = build.fleet.tick(wake)
    (response,) = uplinks(out)
    assert response.payload == ReadGsmeFirmwareVersionResponse(
        ZclStatus.SUCCESS, OLD, zcl_sequence=9
    )
    assert uplink_times(out) == [wake]
    assert len(events(out, EventKind.GSME_WOKE)) == 1


def test_r10_gsme_takes_all_queued_commands_in_order_at_one_wake() -> None:
    build = one_premises()
    gsme = device(build, DeviceType.GSME)
    down(build, distribution(gsme.device_id, IMAGE.to_bytes()), T0)
    wake = _wake_after(build, T0)
    build.fleet.tick(wake + timedelta(seconds=30))  # download ran after the wake
    down(build, gcs38(gsme.device_id, 1, sequence=1), wake + timedelta(seconds=31))
    down(build, cs06(gsme.device_id, IMAGE.sha256, 2), wake + timedelta(seconds=32))
    down(build, gcs38(gsme.device_id, 3, sequence=3), wake + timedelta(seconds=33))
    receipt, *responses = uplinks(build.fleet.tick(wake + timedelta(seconds=WAKE_SECONDS)))
    assert receipt.payload == FirmwareReceiptAlert(IMAGE.sha256)  # finished asleep, sent at wake
    assert [r.header.originator_counter for r in responses] == [1, 2, 3]
    assert responses[0].payload == ReadGsmeFirmwareVersionResponse(
        ZclStatus.SUCCESS, OLD, zcl_sequence=1
    )
    assert responses[1].payload == ActivateFirmwareOutcome(ActivateImageResponseCode.SUCCESS, NEW)
    assert responses[2].payload == ReadGsmeFirmwareVersionResponse(
        ZclStatus.SUCCESS, NEW, zcl_sequence=3
    )


def _gsme_activated(rules: tuple[FaultRule, ...] = ()) -> tuple[FleetBuild, datetime]:
    """A GSME that activated NEW at a wake; returns the build and that wake time."""
    build = one_premises(rules)
    gsme = device(build, DeviceType.GSME)
    gsme.hold_image(pending_for_test())
    down(build, cs06(gsme.device_id, IMAGE.sha256), T0)
    wake = _wake_after(build, T0)
    build.fleet.tick(wake)
    assert gsme.running_version == NEW
    return build, wake


def pending_for_test() -> PendingImage:
    return PendingImage(IMAGE.sha256, NEW)


def _gpf_version(build: FleetBuild, now: datetime) -> bytes | None:
    gpf = device(build, DeviceType.GPF)
    (response,) = uplinks(down(build, gcs38(gpf.device_id, 77), now))  # the GPF answers at once
    assert isinstance(response.payload, ReadGsmeFirmwareVersionResponse)
    assert response.header.originator_id == gpf.device_id
    return response.payload.firmware_version


def test_r6_gpf_answers_from_its_mirror_refreshed_at_the_gsme_sync() -> None:
    build, wake = _gsme_activated()
    assert _gpf_version(build, wake + timedelta(seconds=1)) == NEW


def test_r6_stale_gpf_mirror_reports_a_version_other_than_the_gsme() -> None:
    build, wake = _gsme_activated((FaultRule(FaultKind.STALE_GPF_MIRROR, count=1),))
    gsme = device(build, DeviceType.GSME)
    assert _gpf_version(build, wake + timedelta(seconds=1)) == OLD
    assert gsme.running_version == NEW
    # SR 11.2 to the GSME itself wakes it; that sync refreshes the mirror (count spent)
    down(build, gcs38(gsme.device_id, 78), wake + timedelta(seconds=2))
    out = build.fleet.tick(wake + timedelta(seconds=WAKE_SECONDS))
    (response,) = uplinks(out)
    assert isinstance(response.payload, ReadGsmeFirmwareVersionResponse)
    assert response.payload.firmware_version == NEW
    assert len(events(out, EventKind.MIRROR_SYNCED)) == 1
    assert _gpf_version(build, wake + timedelta(seconds=WAKE_SECONDS + 1)) == NEW


def test_r6_stale_mirror_fault_is_reported() -> None:
    build = one_premises([FaultRule(FaultKind.STALE_GPF_MIRROR, count=1)])
    gsme = device(build, DeviceType.GSME)
    gsme.hold_image(pending_for_test())
    down(build, cs06(gsme.device_id, IMAGE.sha256), T0)
    out = build.fleet.tick(_wake_after(build, T0))
    assert [f.fault for f in faults_fired(out)] == [FaultKind.STALE_GPF_MIRROR]
    assert events(out, EventKind.MIRROR_SYNCED) == []


def test_r7_gsme_future_dated_alert_waits_for_the_next_wake() -> None:
    build = one_premises()
    gsme = device(build, DeviceType.GSME)
    gsme.hold_image(pending_for_test())
    first_wake = _wake_after(build, T0)
    execution = first_wake + timedelta(seconds=100)  # between two wakes
    down(build, cs06(gsme.device_id, IMAGE.sha256, 1001, execution), T0)
    out = build.fleet.tick(first_wake)
    assert len(uplinks(out)) == 1  # the accepted response
    out = build.fleet.tick(execution)
    assert uplinks(out) == []
    assert gsme.running_version == NEW  # it activated on its own clock
    second_wake = first_wake + timedelta(seconds=WAKE_SECONDS)
    out = build.fleet.tick(second_wake)
    (alert,) = uplinks(out)
    assert alert.payload == FirmwareActivationAlert(
        AlertCode.FUTURE_DATED_EXECUTION_SUCCESS,
        execution,
        1001,
        ActivateImageResponseCode.SUCCESS,
        NEW,
    )
    assert uplink_times(out) == [second_wake]
    assert _gpf_version(build, second_wake) == NEW

"""SR 11.2 answers by device type (D8): ECS52 (ESME, CHF), GCS38 (GSME, GPF), CS08
(PPMID, HCALCS), each echoing the command, and the error answers of a read_failure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.vocabulary import DeviceType
from emulators.actions import EventKind
from emulators.faults import FaultKind, FaultRule
from emulators.models import GpfModel
from gbcs import (
    CraFlag,
    DataAccessResult,
    ReadDeviceFirmwareVersionResponse,
    ReadEsmeFirmwareVersionResponse,
    ReadFirmwareResponseCode,
)
from tests.support.emulators import (
    ACB,
    OLD,
    SUPPLIER,
    T0,
    WAKE_SECONDS,
    cs08,
    device,
    down,
    ecs52,
    events,
    faults_fired,
    one_premises,
    premises_of,
    uplinks,
)


@pytest.mark.parametrize("device_type", [DeviceType.ESME, DeviceType.CHF])
def test_ecs52_echoes_invoke_id_and_counter(device_type: DeviceType) -> None:
    build = one_premises()
    target = device(build, device_type)
    (response,) = uplinks(down(build, ecs52(target.device_id, 1234, invoke_id=0x200003EA)))
    assert response.payload == ReadEsmeFirmwareVersionResponse(
        0x200003EA, DataAccessResult.SUCCESS, OLD
    )
    header = response.header
    assert (header.cra_flag, header.originator_counter) == (CraFlag.RESPONSE, 1234)
    assert (header.originator_id, header.recipient_id) == (target.device_id, SUPPLIER)
    assert header.date_time is None
    assert response.ciphering is not None  # read responses travel in General Ciphering


@pytest.mark.parametrize("device_type", [DeviceType.PPMID, DeviceType.HCALCS])
def test_cs08_keeps_the_supplementary_remote_party(device_type: DeviceType) -> None:
    build = one_premises()
    target = device(build, device_type)
    (response,) = uplinks(down(build, cs08(target.device_id, 1300, user_counter=1000)))
    assert response.payload == ReadDeviceFirmwareVersionResponse(
        OLD, ReadFirmwareResponseCode.READ_SUCCESS
    )
    header = response.header
    assert (header.recipient_id, header.originator_counter) == (ACB, 1300)
    assert (header.supplementary_remote_party_id, header.supplementary_remote_party_counter) == (
        SUPPLIER,
        1000,
    )


def test_read_failure_fault_gives_the_error_answers() -> None:
    build = one_premises([FaultRule(FaultKind.READ_FAILURE, count=2)])
    esme, ppmid = device(build, DeviceType.ESME), device(build, DeviceType.PPMID)
    out = down(build, ecs52(esme.device_id, invoke_id=7)) + down(build, cs08(ppmid.device_id))
    esme_read, ppmid_read = uplinks(out)
    assert esme_read.payload == ReadEsmeFirmwareVersionResponse(
        7, DataAccessResult.HARDWARE_FAULT, None
    )
    assert ppmid_read.payload == ReadDeviceFirmwareVersionResponse(
        bytes(4), ReadFirmwareResponseCode.READ_FAILURE
    )
    assert [f.fault for f in faults_fired(out)] == [FaultKind.READ_FAILURE] * 2
    (third,) = uplinks(down(build, ecs52(esme.device_id, invoke_id=8)))
    assert third.payload == ReadEsmeFirmwareVersionResponse(8, DataAccessResult.SUCCESS, OLD)


def test_r5_a_device_flashed_outside_the_dcc_reports_its_new_version() -> None:
    """hil's `flash` step (N51): the device runs what was written; its 11.2 says so, and
    a GSME's GPF mirror follows at the next sync (R6)."""
    build = one_premises()
    premises = premises_of(build)
    esme = device(build, DeviceType.ESME)
    out = premises.flash(esme.device_id, bytes.fromhex("0123DEAD"), bytes(32), T0)
    assert [e.detail for e in events(out, EventKind.FLASHED)] == ["0123ABCD -> 0123DEAD"]
    (response,) = uplinks(down(build, ecs52(esme.device_id)))
    assert isinstance(response.payload, ReadEsmeFirmwareVersionResponse)
    assert response.payload.firmware_version == bytes.fromhex("0123DEAD")
    with pytest.raises(ValueError, match="4 bytes"):
        premises.flash(esme.device_id, b"\x01", bytes(32), T0)


def test_r6_a_flashed_gsme_reaches_the_gpf_mirror_at_its_next_wake() -> None:
    build = one_premises()
    premises = premises_of(build)
    gsme, gpf = device(build, DeviceType.GSME), device(build, DeviceType.GPF)
    before = gsme.running_version
    premises.flash(gsme.device_id, bytes.fromhex("0200DEAD"), bytes(32), T0)
    assert isinstance(gpf, GpfModel)
    assert gpf.mirror_version == before
    out = build.fleet.tick(T0 + timedelta(seconds=WAKE_SECONDS))
    assert events(out, EventKind.MIRROR_SYNCED)
    assert gpf.mirror_version == bytes.fromhex("0200DEAD")

"""Emulated bytes are real GBCS (issue 4): each RTDS response and alert vector is rebuilt
by a device model, fed the RTDS command itself, with the RTDS device IDs, counters and
times, and compared field by field (signatures and MACs aside: they are placeholders)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import gbcs
from contract.vocabulary import DeviceType
from emulators.actions import Action, Send, Timer
from emulators.faults import FaultInjector, FaultKind, FaultPlan, FaultRule
from emulators.models import (
    EsmeModel,
    FirmwareDeviceModel,
    GsmeModel,
    HcalcsModel,
    PendingImage,
    PpmidModel,
)
from emulators.models.base import DeviceProfile
from tests.support.paths import RTDS_DIR, read_hex

RTDS_NOW = datetime(2015, 1, 1, tzinfo=UTC)  # the date-time in the RTDS CS06 responses
RTDS_HASH = bytes.fromhex("AA758690730934FF0685AA758690730934FF0685657788990011223344556677")
V_CD, V_CE, V_CF = (bytes.fromhex(v) for v in ("0123ABCD", "0123ABCE", "0123ABCF"))
ESME, GSME = bytes.fromhex("00DB1234567890A0"), bytes.fromhex("00DB1234567890A1")
PPMID, HCALCS = bytes.fromhex("00DB1234567890A4"), bytes.fromhex("00DB1234567890A5")
MODELS: dict[DeviceType, type[FirmwareDeviceModel]] = {
    DeviceType.ESME: EsmeModel,
    DeviceType.GSME: GsmeModel,
    DeviceType.PPMID: PpmidModel,
    DeviceType.HCALCS: HcalcsModel,
}


def _vector(name: str) -> bytes:
    (path,) = RTDS_DIR.rglob(f"{name}_GBCS.HEX")
    return read_hex(path)


def _fields(data: bytes) -> dict[str, Any]:
    fields = gbcs.message_fields(gbcs.decode(data))
    fields.pop("signature_hex")
    fields.pop("mac_hex", None)
    return fields


def _device(
    device_type: DeviceType,
    device_id: bytes,
    running: bytes,
    pending: PendingImage | None = None,
    *,
    alert_counter: int = 0,
    read_failure: bool = False,
) -> FirmwareDeviceModel:
    rules = (FaultRule(FaultKind.READ_FAILURE, count=1),) if read_failure else ()
    model = MODELS[device_type](
        device_id,
        DeviceProfile(device_type),
        FaultInjector(FaultPlan(rules)),
        running_version=running,
        running_hash=bytes(32),
        alert_counter=alert_counter,
    )
    if pending is not None:
        model.hold_image(pending)
    return model


def _sent(actions: list[Action]) -> list[bytes]:
    return [action.data for action in actions if isinstance(action, Send)]


def _answer(model: FirmwareDeviceModel, command: str) -> list[Action]:
    return model.handle(gbcs.decode(_vector(command)), RTDS_NOW)


def _fire_timers(model: FirmwareDeviceModel, actions: list[Action]) -> list[bytes]:
    timers = [action for action in actions if isinstance(action, Timer)]
    return [data for t in timers for data in _sent(model.on_timer(t, t.at))]


HELD_RTDS = PendingImage(RTDS_HASH, V_CF)
HELD_OTHER = PendingImage(bytes(32), V_CF)

# response vector -> (command vector, device type, ID, running version, pending image, read failure)
RESPONSES: dict[str, tuple[str, DeviceType, bytes, bytes, PendingImage | None, bool]] = {
    "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE": (
        "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CD,
        PendingImage(RTDS_HASH, V_CE),
        False,
    ),
    "CS06_11.3_IMMEDIATE_ERROR_RESPONSE": (
        "CS06_11.3_IMMEDIATE_ERROR_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CF,
        None,
        False,
    ),
    "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE": (
        "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CD,
        HELD_RTDS,
        False,
    ),
    "CS06_11.3_FUTURE_DATED_ERROR_RESPONSE": (
        "CS06_11.3_FUTURE_DATED_ERROR_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CF,
        HELD_OTHER,
        False,
    ),
    "CS06_11.3_CANCELLATION_SUCCESS_RESPONSE": (
        "CS06_11.3_CANCELLATION_SUCCESS_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CF,
        None,
        False,
    ),
    "ECS52_11.2_SUCCESS_RESPONSE": (
        "ECS52_11.2_SUCCESS_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CD,
        None,
        False,
    ),
    "ECS52_11.2_ERROR_RESPONSE": (
        "ECS52_11.2_ERROR_COMMAND",
        DeviceType.ESME,
        ESME,
        V_CD,
        None,
        True,
    ),
    "GCS38_11.2_SUCCESS_RESPONSE": (
        "GCS38_11.2_SUCCESS_COMMAND",
        DeviceType.GSME,
        GSME,
        V_CD,
        None,
        False,
    ),
    "GCS38_11.2_ERROR_RESPONSE": (
        "GCS38_11.2_ERROR_COMMAND",
        DeviceType.GSME,
        GSME,
        V_CD,
        None,
        True,
    ),
    "CS08_11.2_SUCCESS_RESPONSE": (
        "CS08_11.2_SUCCESS_COMMAND",
        DeviceType.PPMID,
        PPMID,
        V_CD,
        None,
        False,
    ),
    "CS08_11.2_ERROR_RESPONSE": (
        "CS08_11.2_ERROR_COMMAND",
        DeviceType.HCALCS,
        HCALCS,
        V_CD,
        None,
        True,
    ),
}


@pytest.mark.parametrize("vector", RESPONSES)
def test_emulated_response_matches_the_rtds_vector(vector: str) -> None:
    command, device_type, device_id, running, pending, read_failure = RESPONSES[vector]
    model = _device(device_type, device_id, running, pending, read_failure=read_failure)
    (sent,) = _sent(_answer(model, command))
    assert _fields(sent) == _fields(_vector(vector))


# alert vector -> (command vector, pending image, running version, the device's alert counter)
ALERTS = {
    "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT": (
        "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND",
        HELD_RTDS,
        V_CD,
        2000,
    ),
    "CS06_11.3_8F67_FUTURE_DATED_ERROR_ALERT": (
        "CS06_11.3_FUTURE_DATED_ERROR_COMMAND",
        HELD_OTHER,
        V_CF,
        2001,
    ),
}


@pytest.mark.parametrize("vector", ALERTS)
def test_emulated_activation_alert_matches_the_rtds_vector(vector: str) -> None:
    command, pending, running, counter = ALERTS[vector]
    model = _device(DeviceType.ESME, ESME, running, pending, alert_counter=counter)
    (alert,) = _fire_timers(model, _answer(model, command))
    assert _fields(alert) == _fields(_vector(vector))
    assert model.alert_counter == counter + 1

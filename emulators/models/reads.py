"""SR 11.2 Read Firmware Version answers (D8): ECS52, GCS38 and CS08.

Each echoes what the command carries (the DLMS invoke ID, the ZCL sequence number) and
reports a version; a `read_failure` fault gives the error answer of the RTDS vectors.
"""

from __future__ import annotations

from datetime import datetime

from emulators.actions import Action
from emulators.faults import FaultKind
from gbcs import (
    DataAccessResult,
    GbcsHeader,
    ReadDeviceFirmwareVersionCommand,
    ReadDeviceFirmwareVersionResponse,
    ReadEsmeFirmwareVersionCommand,
    ReadEsmeFirmwareVersionResponse,
    ReadFirmwareResponseCode,
    ReadGsmeFirmwareVersionCommand,
    ReadGsmeFirmwareVersionResponse,
    ZclStatus,
)

from .base import FIRMWARE_VERSION_SIZE, DeviceModel

UNREAD_VERSION = bytes(FIRMWARE_VERSION_SIZE)


def _failed(device: DeviceModel, command: GbcsHeader, now: datetime, actions: list[Action]) -> bool:
    code = command.message_code
    rule = device.fault(FaultKind.READ_FAILURE, code)
    if rule is not None:
        actions.append(device.fired(rule, code, now, "read answers with an error"))
    return rule is not None


def answer_ecs52(
    device: DeviceModel, command: GbcsHeader, body: ReadEsmeFirmwareVersionCommand, now: datetime
) -> list[Action]:
    """ESME and CHF: a DLMS get of the firmware version, echoing the invoke ID."""
    actions: list[Action] = []
    if _failed(device, command, now, actions):
        payload = ReadEsmeFirmwareVersionResponse(
            body.invoke_id, DataAccessResult.HARDWARE_FAULT, None
        )
    else:
        payload = ReadEsmeFirmwareVersionResponse(
            body.invoke_id, DataAccessResult.SUCCESS, device.running_version
        )
    actions.append(device.reply(command, payload, now))
    return actions


def answer_gcs38(
    device: DeviceModel,
    command: GbcsHeader,
    body: ReadGsmeFirmwareVersionCommand,
    version: bytes,
    now: datetime,
) -> list[Action]:
    """GSME (its own version) and GPF (its mirror of the GSME, R6): a ZCL read response."""
    actions: list[Action] = []
    if _failed(device, command, now, actions):
        payload = ReadGsmeFirmwareVersionResponse(
            ZclStatus.HARDWARE_FAILURE, None, zcl_sequence=body.zcl_sequence
        )
    else:
        payload = ReadGsmeFirmwareVersionResponse(
            ZclStatus.SUCCESS, version, zcl_sequence=body.zcl_sequence
        )
    actions.append(device.reply(command, payload, now))
    return actions


ReadCommand = (
    ReadEsmeFirmwareVersionCommand
    | ReadGsmeFirmwareVersionCommand
    | ReadDeviceFirmwareVersionCommand
)


def answer_read(
    device: DeviceModel, command: GbcsHeader, body: ReadCommand, version: bytes, now: datetime
) -> list[Action]:
    """The SR 11.2 answer for whichever read command came: ECS52, GCS38 or CS08."""
    match body:
        case ReadEsmeFirmwareVersionCommand():
            return answer_ecs52(device, command, body, now)
        case ReadGsmeFirmwareVersionCommand():
            return answer_gcs38(device, command, body, version, now)
        case ReadDeviceFirmwareVersionCommand():
            return answer_cs08(device, command, now)


def answer_cs08(device: DeviceModel, command: GbcsHeader, now: datetime) -> list[Action]:
    """PPMID and HCALCS: the version and a read response code."""
    actions: list[Action] = []
    if _failed(device, command, now, actions):
        payload = ReadDeviceFirmwareVersionResponse(
            UNREAD_VERSION, ReadFirmwareResponseCode.READ_FAILURE
        )
    else:
        payload = ReadDeviceFirmwareVersionResponse(
            device.running_version, ReadFirmwareResponseCode.READ_SUCCESS
        )
    actions.append(device.reply(command, payload, now))
    return actions

"""The GBCS bytes a ZigBee device's results become (docs/zigbee-bridge.md §4).

Built with the same codecs and header rules as the emulated devices' (`gbcs.replies`), so
the DSP decodes a bridged device's answers exactly as an emulated one's: SR 11.2 by the
command's own use case (ECS52, GCS38 or CS08), CS06 outcomes and acceptances, the 0xFF06
receipt and the 0x00CA activation alerts (0x8F66, 0x8F67). With the fleet's security on
the bridge speaks for its devices with their keys: each function takes the device's
`sealer` (its `gbcs.device_keys.DeviceKeys`) and signs or MACs as the device would
(docs/security.md D-SEC18); None keeps the placeholders.
"""

from __future__ import annotations

import re
from datetime import datetime

from gbcs import (
    ActivateFirmwareAccepted,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    DataAccessResult,
    DeviceAlert,
    FirmwareActivationAlert,
    FirmwareReceiptAlert,
    GbcsHeader,
    MessageCode,
    ReadDeviceFirmwareVersionCommand,
    ReadDeviceFirmwareVersionResponse,
    ReadEsmeFirmwareVersionCommand,
    ReadEsmeFirmwareVersionResponse,
    ReadFirmwareResponseCode,
    ReadGsmeFirmwareVersionCommand,
    ReadGsmeFirmwareVersionResponse,
    ZclStatus,
)
from gbcs.device_keys import DeviceSecurityError
from gbcs.payloads import Payload
from gbcs.replies import Sealer, alert, response

from .actions import FirmwareRead

VERSION_SIZE = 4
_HEX_VERSION = re.compile(r"[0-9A-Fa-f]{8}")
ReadCommand = (
    ReadEsmeFirmwareVersionCommand
    | ReadGsmeFirmwareVersionCommand
    | ReadDeviceFirmwareVersionCommand
)


def reported_version(read: FirmwareRead) -> bytes | None:
    """The 4-byte version a read gives: OTA CurrentFileVersion, else a SWBuildID of eight
    hex digits (the form smart-metering firmware versions take); None when neither."""
    if read.ota_version is not None:
        return read.ota_version.to_bytes(VERSION_SIZE, "big")
    build = (read.sw_build_id or "").strip()
    if _HEX_VERSION.fullmatch(build):
        return bytes.fromhex(build)
    return None


def read_answer(
    command: GbcsHeader,
    body: ReadCommand,
    device_id: bytes,
    version: bytes | None,
    now: datetime,
    *,
    sealer: Sealer | None = None,
) -> bytes:
    """SR 11.2's answer in the command's use case; the error form when no version."""
    payload: Payload
    match body:
        case ReadEsmeFirmwareVersionCommand():
            result = DataAccessResult.SUCCESS if version else DataAccessResult.HARDWARE_FAULT
            payload = ReadEsmeFirmwareVersionResponse(body.invoke_id, result, version)
        case ReadGsmeFirmwareVersionCommand():
            status = ZclStatus.SUCCESS if version else ZclStatus.HARDWARE_FAILURE
            payload = ReadGsmeFirmwareVersionResponse(
                status, version, zcl_sequence=body.zcl_sequence
            )
        case ReadDeviceFirmwareVersionCommand():
            code = ReadFirmwareResponseCode.READ_SUCCESS
            if version is None:
                code = ReadFirmwareResponseCode.READ_FAILURE
            payload = ReadDeviceFirmwareVersionResponse(version or bytes(VERSION_SIZE), code)
    return response(command, device_id, payload, now, sealer)


def activation_outcome(
    command: GbcsHeader,
    device_id: bytes,
    code: ActivateImageResponseCode,
    version: bytes | None,
    now: datetime,
    *,
    sealer: Sealer | None = None,
) -> bytes:
    """CS06's immediate response: the code and the version the device runs."""
    return response(command, device_id, ActivateFirmwareOutcome(code, version), now, sealer)


def activation_accepted(
    command: GbcsHeader, device_id: bytes, now: datetime, *, sealer: Sealer | None = None
) -> bytes:
    """CS06 accepted: a future-dated activation scheduled, or one cancelled (R7)."""
    return response(command, device_id, ActivateFirmwareAccepted(), now, sealer)


def receipt_alert(
    command: GbcsHeader,
    device_id: bytes,
    counter: int,
    image_hash: bytes,
    version: bytes | None,
    *,
    sealer: Sealer | None = None,
) -> bytes:
    """The 0xFF06 receipt of a distribution (R9, D8), to the distribution's originator."""
    payload = FirmwareReceiptAlert(image_hash, version)
    return alert(
        device_id,
        recipient_id=command.originator_id,
        counter=counter,
        message_code=MessageCode.SMETSLAB_FIRMWARE_RECEIPT,
        payload=payload,
        command=command,
        sealer=sealer,
    )


def activation_alert(
    command: GbcsHeader,
    device_id: bytes,
    *,
    counter: int,
    execution: datetime,
    code: ActivateImageResponseCode,
    version: bytes | None,
    sealer: Sealer | None = None,
) -> bytes:
    """A future-dated activation's outcome (R7): 0x8F66 with the version, or 0x8F67."""
    success = code is ActivateImageResponseCode.SUCCESS
    alert_code = (
        AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
        if success
        else AlertCode.FUTURE_DATED_EXECUTION_FAILURE
    )
    payload = FirmwareActivationAlert(
        alert_code, execution, command.originator_counter, code, version
    )
    return alert(
        device_id,
        recipient_id=command.originator_id,
        counter=counter,
        message_code=MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT,
        payload=payload,
        sealer=sealer,
    )


def refusal_alert(
    command: GbcsHeader,
    device_id: bytes,
    counter: int,
    error: DeviceSecurityError,
    *,
    now: datetime,
    sealer: Sealer,
) -> bytes:
    """The signed alert of a command the device refuses for its MAC or signature
    (0x8F53, or 0x8F30 for an untrusted signer; docs/security.md D-SEC13), as an
    emulated device raises it."""
    payload = DeviceAlert(error.alert_code, now.replace(microsecond=0))
    return alert(
        device_id,
        recipient_id=command.originator_id,
        counter=counter,
        message_code=MessageCode.GENERIC_CRITICAL_ALERT,
        payload=payload,
        command=command,
        sealer=sealer,
    )

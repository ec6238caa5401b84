"""Use-case payloads, chosen by (message code, CRA flag) from one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from contract.records import record
from gbcs.codes import CraFlag, MessageCode
from gbcs.reader import ByteReader

from . import alerts, cs05, cs06, cs08, ecs52, gcs38
from .alerts import DeviceAlert
from .cs05 import FirmwareDistributionCommand, FirmwareReceiptAlert
from .cs06 import (
    CANCELLATION_DATETIME,
    ActivateFirmwareAccepted,
    ActivateFirmwareCommand,
    ActivateFirmwareOutcome,
    FirmwareActivationAlert,
)
from .cs08 import ReadDeviceFirmwareVersionCommand, ReadDeviceFirmwareVersionResponse
from .ecs52 import CosemAttribute, ReadEsmeFirmwareVersionCommand, ReadEsmeFirmwareVersionResponse
from .gcs38 import ReadGsmeFirmwareVersionCommand, ReadGsmeFirmwareVersionResponse, ZclStatus
from .raw import RawPayload


class PayloadModel(Protocol):
    def to_bytes(self) -> bytes: ...

    def fields(self) -> dict[str, Any]: ...


Payload = (
    RawPayload
    | ActivateFirmwareCommand
    | ActivateFirmwareAccepted
    | ActivateFirmwareOutcome
    | FirmwareActivationAlert
    | ReadEsmeFirmwareVersionCommand
    | ReadEsmeFirmwareVersionResponse
    | ReadGsmeFirmwareVersionCommand
    | ReadGsmeFirmwareVersionResponse
    | ReadDeviceFirmwareVersionCommand
    | ReadDeviceFirmwareVersionResponse
    | FirmwareDistributionCommand
    | FirmwareReceiptAlert
    | DeviceAlert
)


@record
class PayloadCodec:
    """How one (message code, CRA flag) payload is read, and which types may be written."""

    read: Callable[[ByteReader], Payload]
    types: tuple[type, ...]


_CS06 = MessageCode.CS06_ACTIVATE_FIRMWARE
_ECS52 = MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION
_GCS38 = MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION
_CS08 = MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION
_ALERT = MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT
_DISTRIBUTION = MessageCode.SMETSLAB_FIRMWARE_DISTRIBUTION
_RECEIPT = MessageCode.SMETSLAB_FIRMWARE_RECEIPT

PAYLOAD_CODECS: dict[tuple[int, CraFlag], PayloadCodec] = {
    (_CS06, CraFlag.COMMAND): PayloadCodec(cs06.read_command, (ActivateFirmwareCommand,)),
    (_CS06, CraFlag.RESPONSE): PayloadCodec(
        cs06.read_response, (ActivateFirmwareAccepted, ActivateFirmwareOutcome)
    ),
    (_ALERT, CraFlag.ALERT): PayloadCodec(cs06.read_alert, (FirmwareActivationAlert,)),
    (_ECS52, CraFlag.COMMAND): PayloadCodec(ecs52.read_command, (ReadEsmeFirmwareVersionCommand,)),
    (_ECS52, CraFlag.RESPONSE): PayloadCodec(
        ecs52.read_response, (ReadEsmeFirmwareVersionResponse,)
    ),
    (_GCS38, CraFlag.COMMAND): PayloadCodec(gcs38.read_command, (ReadGsmeFirmwareVersionCommand,)),
    (_GCS38, CraFlag.RESPONSE): PayloadCodec(
        gcs38.read_response, (ReadGsmeFirmwareVersionResponse,)
    ),
    (_CS08, CraFlag.COMMAND): PayloadCodec(cs08.read_command, (ReadDeviceFirmwareVersionCommand,)),
    (_CS08, CraFlag.RESPONSE): PayloadCodec(
        cs08.read_response, (ReadDeviceFirmwareVersionResponse,)
    ),
    (_DISTRIBUTION, CraFlag.COMMAND): PayloadCodec(
        cs05.read_distribution, (FirmwareDistributionCommand,)
    ),
    (_RECEIPT, CraFlag.ALERT): PayloadCodec(cs05.read_receipt, (FirmwareReceiptAlert,)),
    **{
        (code, CraFlag.ALERT): PayloadCodec(alerts.read_alert, (DeviceAlert,))
        for code in (MessageCode.GENERIC_CRITICAL_ALERT, MessageCode.GENERIC_NON_CRITICAL_ALERT)
    },
}

__all__ = [
    "CANCELLATION_DATETIME",
    "PAYLOAD_CODECS",
    "ActivateFirmwareAccepted",
    "ActivateFirmwareCommand",
    "ActivateFirmwareOutcome",
    "CosemAttribute",
    "DeviceAlert",
    "FirmwareActivationAlert",
    "FirmwareDistributionCommand",
    "FirmwareReceiptAlert",
    "Payload",
    "PayloadCodec",
    "PayloadModel",
    "RawPayload",
    "ReadDeviceFirmwareVersionCommand",
    "ReadDeviceFirmwareVersionResponse",
    "ReadEsmeFirmwareVersionCommand",
    "ReadEsmeFirmwareVersionResponse",
    "ReadGsmeFirmwareVersionCommand",
    "ReadGsmeFirmwareVersionResponse",
    "ZclStatus",
]

"""The DCC alerts the DSP raises (R4, R5, R6): one table of codes and recipients."""

from __future__ import annotations

from enum import StrEnum

from contract.codes import UserAlertCode
from contract.records import record


class Recipient(StrEnum):
    SUPPLIER = "supplier"  # the responsible supplier by registration data (IS or GS)
    NETWORK_OPERATOR = "network-operator"  # the registered network operator (ED or GT)
    REQUESTER = "requester"  # the service user whose request produced the report


@record
class DccAlertType:
    code: UserAlertCode
    name: str
    recipients: tuple[Recipient, ...]


_S, _N, _R = Recipient.SUPPLIER, Recipient.NETWORK_OPERATOR, Recipient.REQUESTER

# R4: the seeds do not name the N-code of DeviceStatusChangeEvent/DeviceSuspended; N28
# is our choice (*model*, contract/codes.py).
_A = UserAlertCode
DEVICE_SUSPENDED = DccAlertType(
    _A.DEVICE_SUSPENDED, "DeviceStatusChangeEvent/DeviceSuspended", (_S,)
)
DEVICE_RESTORED = DccAlertType(_A.DEVICE_RESTORED, "Device Restored from Suspension", (_S, _N))
REMOVED_FIRMWARE_REPORTED = DccAlertType(
    _A.REMOVED_FIRMWARE_REPORTED, "Firmware Version on Removed CPL Entry", (_S,)
)
UNKNOWN_FIRMWARE_REPORTED = DccAlertType(
    _A.UNKNOWN_FIRMWARE_REPORTED, "Firmware Version not on the CPL", (_S,)
)
FIRMWARE_VERSION_MISMATCH = DccAlertType(
    _A.FIRMWARE_VERSION_MISMATCH, "FirmwareVersionMismatch", (_R,)
)

DCC_ALERTS = {
    alert.code: alert
    for alert in (
        DEVICE_SUSPENDED,
        DEVICE_RESTORED,
        REMOVED_FIRMWARE_REPORTED,
        UNKNOWN_FIRMWARE_REPORTED,
        FIRMWARE_VERSION_MISMATCH,
    )
}

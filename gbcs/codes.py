"""Wire codes of the GBCS firmware use cases, as IntEnums."""

from __future__ import annotations

from enum import IntEnum


class CraFlag(IntEnum):
    """Command, Response or Alert: the first octet of the transaction ID."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


class MessageCode(IntEnum):
    """The GBCS message codes this codec knows by name (the header carries any 16-bit code)."""

    CS06_ACTIVATE_FIRMWARE = 0x0012
    ECS52_READ_ESME_CH_FIRMWARE_VERSION = 0x0059
    GCS38_READ_GSME_FIRMWARE_VERSION = 0x0084
    FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT = 0x00CA
    FUTURE_DATED_UPDATE_SECURITY_CREDENTIALS_ALERT = 0x00CB
    FUTURE_DATED_EXECUTION_ALERT_DLMS = 0x00CC
    FUTURE_DATED_EXECUTION_ALERT_GBZ = 0x00CD
    FIRMWARE_DISTRIBUTION_RECEIPT_ALERT_ESME = 0x00CE
    FIRMWARE_DISTRIBUTION_RECEIPT_ALERT_GSME = 0x00CF
    CCS08_FIRMWARE_TRANSFER_ALERT = 0x0128
    CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION = 0x0129
    # The alerts of no use case, by whether they are critical (gbcs-parser src/util.ts
    # and Wireshark's epan/dissectors/packet-gbcs.c name both).
    GENERIC_CRITICAL_ALERT = 0x1000
    GENERIC_NON_CRITICAL_ALERT = 0x1001
    # smetslab's own codes for the image transfer the DCC does outside GBCS (D8).
    SMETSLAB_FIRMWARE_DISTRIBUTION = 0xFF05
    SMETSLAB_FIRMWARE_RECEIPT = 0xFF06


_M = MessageCode
MESSAGE_NAMES: dict[int, str] = {
    _M.CS06_ACTIVATE_FIRMWARE: "CS06 Activate Firmware",
    _M.ECS52_READ_ESME_CH_FIRMWARE_VERSION: "ECS52 Read ESME/Comms Hub Firmware Version",
    _M.GCS38_READ_GSME_FIRMWARE_VERSION: "GCS38 Read GSME Firmware Version",
    _M.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT: "Future-Dated Firmware Activation Alert",
    _M.FUTURE_DATED_UPDATE_SECURITY_CREDENTIALS_ALERT: "Future-Dated Security Credentials Alert",
    _M.FUTURE_DATED_EXECUTION_ALERT_DLMS: "Future-Dated Execution Alert (DLMS COSEM)",
    _M.FUTURE_DATED_EXECUTION_ALERT_GBZ: "Future-Dated Execution Alert (GBZ)",
    _M.FIRMWARE_DISTRIBUTION_RECEIPT_ALERT_ESME: "Firmware Distribution Receipt Alert (ESME)",
    _M.FIRMWARE_DISTRIBUTION_RECEIPT_ALERT_GSME: "Firmware Distribution Receipt Alert (GSME)",
    _M.CCS08_FIRMWARE_TRANSFER_ALERT: "CCS08 Firmware Transfer Alert",
    _M.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION: "CS08 Read PPMID/HCALCS Firmware Version",
    _M.GENERIC_CRITICAL_ALERT: "Generic Critical Alert",
    _M.GENERIC_NON_CRITICAL_ALERT: "Generic Non Critical Alert",
    _M.SMETSLAB_FIRMWARE_DISTRIBUTION: "Firmware Distribution (smetslab)",
    _M.SMETSLAB_FIRMWARE_RECEIPT: "Firmware Receipt Alert (smetslab)",
}


def message_name(code: int) -> str:
    return MESSAGE_NAMES.get(code, f"message code 0x{code:04X}")


# The GBCS use case each known message code belongs to (0x00CA is CS06's alert).
USE_CASES: dict[int, str] = {
    _M.CS06_ACTIVATE_FIRMWARE: "CS06",
    _M.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT: "CS06",
    _M.ECS52_READ_ESME_CH_FIRMWARE_VERSION: "ECS52",
    _M.GCS38_READ_GSME_FIRMWARE_VERSION: "GCS38",
    _M.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION: "CS08",
    _M.CCS08_FIRMWARE_TRANSFER_ALERT: "CCS08",
    _M.SMETSLAB_FIRMWARE_DISTRIBUTION: "CS05",
    _M.SMETSLAB_FIRMWARE_RECEIPT: "CS05",
}


def use_case(code: int) -> str:
    return USE_CASES.get(code, f"0x{code:04X}")


class AlertCode(IntEnum):
    """Device alert codes carried in future-dated execution alerts."""

    FUTURE_DATED_EXECUTION_SUCCESS = 0x8F66
    FUTURE_DATED_EXECUTION_FAILURE = 0x8F67


class SecurityAlertCode(IntEnum):
    """Alert codes a device raises when it refuses a command it cannot authenticate or
    that its originator may not send (docs/security.md D-SEC13). Named as GBCS names
    them in SmartDCCInnovation/gbcs-parser `src/util.ts` (`alertCodes`) and Wireshark's
    GBCS dissector `epan/dissectors/packet-gbcs.c` (GBCS_GBZ_ALERT_...)."""

    SOURCE_NOT_AUTHORISED = 0x8F30  # Source Does not have Authority for Command
    # Failed Authentication or Authorisation not covered by other codes
    AUTHENTICATION_FAILED = 0x8F53


class ActivateImageResponseCode(IntEnum):
    """CS06 ActivateImageResponseCode (R10)."""

    SUCCESS = 0
    NO_IMAGE_HELD = 1
    HASH_MISMATCH = 2
    ACTIVATION_FAILURE = 3


class ReadFirmwareResponseCode(IntEnum):
    """CS08 read response code."""

    READ_SUCCESS = 0
    READ_FAILURE = 1


class DataAccessResult(IntEnum):
    """DLMS COSEM Data-Access-Result, the result of an ECS52 read."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250

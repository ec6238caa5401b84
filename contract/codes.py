"""The codes of the contract (DESIGN §3): what `response_code` and `alert_code` say.

`ResponseCode` holds the DUIS response codes the DSP answers with, and the S-codes of
our own (docs/decisions.md D7, D9). `UserAlertCode` holds the `alert_code`s a service user
receives: the DCC alerts the DSP raises (N-codes; R4 to R6) and the device alerts it
forwards (R7, R9: the GBCS alert code in hex, or `FirmwareReceipt`).
"""

from __future__ import annotations

from enum import StrEnum


class ResponseCode(StrEnum):
    """DUIS response codes (DESIGN §3), plus S-codes of our own (docs/decisions.md D7, D9)."""

    I0 = "I0"
    I99 = "I99"
    E1 = "E1"
    E2 = "E2"
    E3 = "E3"
    E4 = "E4"
    E5 = "E5"
    E11 = "E11"
    E12 = "E12"
    E19 = "E19"
    E20 = "E20"
    E21 = "E21"
    E30 = "E30"
    S1_SRV_NOT_SUPPORTED = "S1"
    S2_NOT_CARRIED = "S2"
    S3_REPLAYED_REQUEST = "S3"
    S4_INVALID_REQUEST = "S4"
    # Signed pre-commands (CV 5 to 7, docs/decisions.md D-SEC8): the public DUIS material
    # names no codes for these refusals, so they are ours.
    S5_NO_PRE_COMMAND = "S5"  # no pre-command was issued under this request ID, or it expired
    S6_PRE_COMMAND_MISMATCH = "S6"  # the signed pre-command is not the one issued
    S7_SIGNATURE_INVALID = "S7"  # its signature does not verify with the user's certificate
    S8_NO_DEVICE_KEY = "S8"  # the DSP holds no key-agreement key of the device to MAC with
    # An originator counter too far past the last one accepted (docs/decisions.md D-P6):
    # taken, it would leave the user no counter to go on with.
    S9_COUNTER_JUMP = "S9"


class UserAlertCode(StrEnum):
    """`alert_code` on `{root}/users/{user_id}/alerts`. Which user gets which DCC alert
    is the DSP's table (`dsp_core/alerts.py`)."""

    # DCC alerts (N-codes). R4: the seeds do not name the N-code of
    # DeviceStatusChangeEvent/DeviceSuspended; N28 is our choice (*model*).
    DEVICE_SUSPENDED = "N28"
    DEVICE_RESTORED = "N29"  # Device Restored from Suspension (R5)
    REMOVED_FIRMWARE_REPORTED = "N50"  # Firmware Version on Removed CPL Entry (R5)
    UNKNOWN_FIRMWARE_REPORTED = "N51"  # Firmware Version not on the CPL (R5)
    FIRMWARE_VERSION_MISMATCH = "N52"  # FirmwareVersionMismatch, from a GPF (R6)
    # Device alerts forwarded (R7, R9, D8)
    FIRMWARE_ACTIVATED = "8F66"  # future-dated activation succeeded (R7)
    FIRMWARE_ACTIVATION_FAILED = "8F67"  # future-dated activation failed (R7)
    FIRMWARE_RECEIPT = "FirmwareReceipt"  # a distributed image received (R9)

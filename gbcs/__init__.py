"""Sans-IO GBCS codec for the firmware use cases, and the ZigBee OTA image file format.

`decode(bytes)` gives a typed `GbcsMessage`; `encode(message)` gives the bytes back.
Every GBCS header decodes; payloads outside the firmware use cases stay raw bytes.
Signatures and MACs are `gbcs.security`'s, keys and certificates `gbcs.keystore`'s
(imported from there, so that `import gbcs` does not load `cryptography`).
"""

from .codes import (
    ActivateImageResponseCode,
    AlertCode,
    CraFlag,
    DataAccessResult,
    MessageCode,
    ReadFirmwareResponseCode,
    SecurityAlertCode,
    message_name,
    use_case,
)
from .datetimes import DlmsDateTime
from .envelope import GbcsHeader, GeneralCiphering
from .errors import GbcsDecodeError, GbcsEncodeError, GbcsError, GbcsSecurityError, KeyStoreError
from .messages import (
    GbcsMessage,
    decode,
    decode_header,
    encode,
    format_entity_id,
    message_fields,
)
from .payloads import (
    CANCELLATION_DATETIME,
    ActivateFirmwareAccepted,
    ActivateFirmwareCommand,
    ActivateFirmwareOutcome,
    CosemAttribute,
    DeviceAlert,
    FirmwareActivationAlert,
    FirmwareDistributionCommand,
    FirmwareReceiptAlert,
    Payload,
    RawPayload,
    ReadDeviceFirmwareVersionCommand,
    ReadDeviceFirmwareVersionResponse,
    ReadEsmeFirmwareVersionCommand,
    ReadEsmeFirmwareVersionResponse,
    ReadGsmeFirmwareVersionCommand,
    ReadGsmeFirmwareVersionResponse,
    ZclStatus,
)

__all__ = [
    "CANCELLATION_DATETIME",
    "ActivateFirmwareAccepted",
    "ActivateFirmwareCommand",
    "ActivateFirmwareOutcome",
    "ActivateImageResponseCode",
    "AlertCode",
    "CosemAttribute",
    "CraFlag",
    "DataAccessResult",
    "DeviceAlert",
    "DlmsDateTime",
    "FirmwareActivationAlert",
    "FirmwareDistributionCommand",
    "FirmwareReceiptAlert",
    "GbcsDecodeError",
    "GbcsEncodeError",
    "GbcsError",
    "GbcsSecurityError",
    "GbcsHeader",
    "GbcsMessage",
    "GeneralCiphering",
    "KeyStoreError",
    "MessageCode",
    "Payload",
    "RawPayload",
    "ReadDeviceFirmwareVersionCommand",
    "ReadDeviceFirmwareVersionResponse",
    "ReadEsmeFirmwareVersionCommand",
    "ReadEsmeFirmwareVersionResponse",
    "ReadFirmwareResponseCode",
    "ReadGsmeFirmwareVersionCommand",
    "ReadGsmeFirmwareVersionResponse",
    "SecurityAlertCode",
    "ZclStatus",
    "decode",
    "decode_header",
    "encode",
    "format_entity_id",
    "message_fields",
    "message_name",
    "use_case",
]

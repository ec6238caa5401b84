"""What the DSP publishes to a service user (DESIGN §3), read into frozen records.

Only the fields the campaign uses are read; anything missing or of the wrong type
raises `MalformedMessageError`, which the campaign records as unexpected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MalformedMessageError

ACK = "I99"
SUCCESS = "I0"
NO_RESPONSE = "E21"  # R8
EXECUTION_TIMEOUT = "E30"  # R7
REPLAY = "S3"  # D9
RECEIPT_ALERT = "FirmwareReceipt"  # R9, D8
ACTIVATED_ALERT = "8F66"  # R7
ACTIVATION_FAILED_ALERT = "8F67"  # R7
SUSPENDED_STATUS = "Suspended"  # R1


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    request_id: str
    code: str
    srv: str | None
    body: Mapping[str, Any]

    @property
    def late(self) -> bool:
        """R8, D10: a device's answer that came after the DSP had answered E21."""
        return self.body.get("late") is True

    @property
    def command_accepted(self) -> bool:
        """R7: the immediate answer to a future-dated 11.3."""
        return self.body.get("command_accepted") is True


@dataclass(frozen=True, slots=True)
class AlertMessage:
    alert_code: str
    device_id: str | None
    body: Mapping[str, Any]

    @property
    def request_id(self) -> str | None:
        found = self.body.get("request_id")
        return found if isinstance(found, str) else None


def read_response(message: Mapping[str, Any]) -> ResponseMessage:
    request_id = _text(message, "request_id")
    srv = message.get("service_reference_variant")
    return ResponseMessage(
        request_id,
        _text(message, "response_code"),
        srv if isinstance(srv, str) else None,
        _body(message),
    )


def read_alert(message: Mapping[str, Any]) -> AlertMessage:
    code = _text(message, "alert_code")
    device_id = message.get("device_id")
    return AlertMessage(code, device_id if isinstance(device_id, str) else None, _body(message))


def firmware_version(body: Mapping[str, Any]) -> str | None:
    """The 8-hex-digit version a device reported, upper case; None when absent (R5)."""
    found = body.get("firmware_version")
    return found.upper() if isinstance(found, str) else None


def activation_code(body: Mapping[str, Any]) -> int | None:
    """The ActivateImageResponseCode of an 11.3 answer or 0x00CA alert.

    The core sends it as `response_code` (the decoded GBCS field); DESIGN §3 calls it
    `activate_image_response_code`: either is read.
    """
    for key in ("activate_image_response_code", "response_code"):
        found = body.get(key)
        if isinstance(found, int) and not isinstance(found, bool):
            return found
    return None


def _text(message: Mapping[str, Any], key: str) -> str:
    found = message.get(key) if isinstance(message, Mapping) else None
    if not isinstance(found, str) or not found:
        raise MalformedMessageError(f"{key} missing or not a string")
    return found


def _body(message: Mapping[str, Any]) -> Mapping[str, Any]:
    body = message.get("body", {})
    if not isinstance(body, Mapping):
        raise MalformedMessageError("body is not an object")
    return body

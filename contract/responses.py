"""What the DSP publishes to a service user (DESIGN §3): responses and alerts.

Writing (the DSP): `Response` and `Alert` records and their JSON. Reading (a service
user: the campaign, scenarios, conformance): `read_response` and `read_alert` take the
decoded JSON into frozen records; only the fields a reader uses are read, and anything
missing or of the wrong type raises `MalformedMessageError` (recorded as unexpected,
never fatal).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .codes import ResponseCode
from .errors import MalformedMessageError
from .records import record
from .times import iso

# ---- writing (the DSP) --------------------------------------------------------


@record
class Response:
    request_id: str | None
    response_id: str
    response_code: ResponseCode
    response_datetime: datetime
    service_reference_variant: str | None
    body: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "response_id": self.response_id,
            "response_code": str(self.response_code),
            "response_datetime": iso(self.response_datetime),
            "service_reference_variant": self.service_reference_variant,
            "body": dict(self.body),
        }


@record
class Alert:
    """A DCC alert (N-code) or a device alert forwarded (its hex alert code, e.g. 8F66)."""

    alert_code: str
    device_id: str
    datetime: datetime
    body: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_code": self.alert_code,
            "device_id": self.device_id,
            "datetime": iso(self.datetime),
            "body": dict(self.body),
        }


# ---- reading (a service user) ------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class PreCommand:
    """The pre-command the DSP answers a Critical SR's CV 4 with (D-SEC8): the GBCS
    General Signing APDU for the user to sign and send back as CV 5."""

    data: bytes
    device_id: str | None
    expires: str | None


def read_pre_command(body: Mapping[str, Any]) -> PreCommand | None:
    """The pre-command of an I0 answer to a CV 4; None when the body carries none (the
    answer of a DSP whose security is off). Not base64: `MalformedMessageError`."""
    found = body.get("pre_command")
    if found is None:
        return None
    if not isinstance(found, str) or not found:
        raise MalformedMessageError("pre_command is not a base64 string")
    try:
        data = base64.b64decode(found, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessageError(f"pre_command is not base64: {exc}") from exc
    device_id, expires = body.get("device_id"), body.get("expires")
    return PreCommand(
        data,
        device_id if isinstance(device_id, str) else None,
        expires if isinstance(expires, str) else None,
    )


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

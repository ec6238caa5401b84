"""Service requests on the bus (DESIGN §3): the JSON a service user writes, and the
DSP's reading of it.

Writing: `build_request` and the body helpers give a `SendRequest` (DUIS-shaped JSON:
request ID, SRV, command variant, body) for 11.1, 11.2, 11.3, 11.4 and 8.2, each SRV
with its command variant (a test checks them against the DSP's table).

Reading: `parse_request` turns the bytes of one request into a `ParsedRequest`, or
raises `InvalidRequestError` naming the field that is wrong (answered with S4, D9);
pydantic at this edge only.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    AwareDatetime,
    Base64Bytes,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from .errors import InvalidRequestError
from .ids import DCC_ACCESS_CONTROL_BROKER, RequestId, to_duis
from .records import record
from .times import iso
from .validation import describe
from .vocabulary import Role

# ---- writing a request (a service user) ----------------------------------------


class Srv(StrEnum):
    UPDATE_FIRMWARE = "11.1"
    READ_FIRMWARE = "11.2"
    ACTIVATE_FIRMWARE = "11.3"
    UPDATE_PPMID_FIRMWARE = "11.4"
    READ_INVENTORY = "8.2"


# DUIS command variants: 8 for a non-device SR, 4 for a Critical SR to the device (the DSP
# answers with the pre-command), 1 for a Non-Critical SR to the device (D7). The signed
# pre-command goes back as CV 5 (`signed_pre_command_request`, D-SEC8).
SEND_SIGNED_CV = 5
SIGNED_PRE_COMMAND_CVS = frozenset({5, 6, 7})
COMMAND_VARIANTS: dict[Srv, int] = {
    Srv.UPDATE_FIRMWARE: 8,
    Srv.UPDATE_PPMID_FIRMWARE: 8,
    Srv.READ_INVENTORY: 8,
    Srv.ACTIVATE_FIRMWARE: 4,
    Srv.READ_FIRMWARE: 1,
}
NON_DEVICE = frozenset({Srv.UPDATE_FIRMWARE, Srv.UPDATE_PPMID_FIRMWARE, Srv.READ_INVENTORY})


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Publish `payload` (JSON) on `{root}/dsp/requests/{user_id}`."""

    user_id: str
    payload: dict[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.payload["request_id"])

    @property
    def srv(self) -> str:
        return str(self.payload["service_reference_variant"])

    def to_bytes(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


def request_id(user_id: str, target: str, counter: int) -> str:
    """`BusinessOriginatorID:BusinessTargetID:OriginatorCounter`."""
    return f"{user_id}:{target}:{counter}"


def build(user_id: str, srv: Srv, target: str, counter: int, body: dict[str, Any]) -> SendRequest:
    return SendRequest(
        user_id,
        {
            "request_id": request_id(user_id, target, counter),
            "service_reference_variant": str(srv),
            "command_variant": COMMAND_VARIANTS[srv],
            "body": body,
        },
    )


def build_request(
    user_id: str,
    srv: Srv,
    target: str | None,
    counter: int,
    body: dict[str, Any],
    *,
    command_variant: int | None = None,
) -> SendRequest:
    """Any of the SRVs above; a non-device SR goes to the DCC whatever `target` says, and
    `command_variant` overrides the SRV's own (to see E12)."""
    request = build(
        user_id, srv, DCC_ACCESS_CONTROL_BROKER if srv in NON_DEVICE else str(target), counter, body
    )
    if command_variant is None:
        return request
    return SendRequest(user_id, {**request.payload, "command_variant": command_variant})


def signed_pre_command_request(
    user_id: str, srv: Srv, target: str, counter: int, signed: bytes
) -> SendRequest:
    """CV 5 for a Critical SR: the pre-command the DSP returned to a CV 4 under the same
    request ID, signed by the user (D-SEC8)."""
    return signed_pre_command_reply(user_id, srv, request_id(user_id, target, counter), signed)


def signed_pre_command_reply(user_id: str, srv: Srv, cv4_id: str, signed: bytes) -> SendRequest:
    """`signed_pre_command_request` for a CV 4 known by its request ID, kept as it is
    (`InvalidRequestError` when it is not one)."""
    RequestId.parse(cv4_id)
    return SendRequest(
        user_id,
        {
            "request_id": cv4_id,
            "service_reference_variant": str(srv),
            "command_variant": SEND_SIGNED_CV,
            "body": {"signed_pre_command": base64.b64encode(signed).decode("ascii")},
        },
    )


def update_firmware_body(image: bytes, version: str, device_ids: tuple[str, ...]) -> dict[str, Any]:
    """SR 11.1 and 11.4 (R9)."""
    return {
        "firmware_image": base64.b64encode(image).decode("ascii"),
        "firmware_version": version,
        "device_ids": list(device_ids),
    }


def activate_body(image_hash: str, execution: datetime | None) -> dict[str, Any]:
    """SR 11.3; an execution time makes it future-dated (R7)."""
    body: dict[str, Any] = {"firmware_hash": image_hash.upper()}
    if execution is not None:
        body["execution_datetime"] = iso(execution)
    return body


def inventory_body(device_ids: tuple[str, ...]) -> dict[str, Any]:
    return {"device_ids": list(device_ids)}


# ---- reading a request (the DSP) ----------------------------------------------


# DUIS's value for "cancel the pending future-dated activation" (R7, D4).
DUIS_CANCELLATION = datetime(3000, 12, 31, tzinfo=UTC)

_HEX64 = r"^[0-9A-Fa-f]{64}$"
_HEX8 = r"^[0-9A-Fa-f]{8}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestMessage(_Strict):
    request_id: str
    service_reference_variant: str
    command_variant: int
    role: Role | None = None
    body: dict[str, Any] = Field(default_factory=dict)


class NoBody(_Strict):
    pass


class AnyBody(BaseModel):
    """The body of an SRV whose payload smetslab does not model (2.2, 6.23, 12.1)."""

    model_config = ConfigDict(extra="allow", frozen=True)


def _device_ids(values: list[str]) -> list[str]:
    return [to_duis(value) for value in values]


class DeviceListBody(_Strict):
    device_ids: list[str] = Field(min_length=1)

    _ids = field_validator("device_ids")(_device_ids)


class UpdateFirmwareBody(DeviceListBody):
    """SR 11.1 and 11.4: the OTA file, the version it carries, the devices."""

    firmware_image: Base64Bytes
    firmware_version: str = Field(pattern=_HEX8)


class ActivateFirmwareBody(_Strict):
    """SR 11.3: the image hash, and an execution time for a future-dated activation."""

    firmware_hash: str = Field(pattern=_HEX64)
    execution_datetime: AwareDatetime | None = None

    @field_validator("execution_datetime")
    @classmethod
    def _gbcs_time(cls, value: datetime | None) -> datetime | None:
        """GBCS sends it as a UTC GeneralizedTime in whole seconds (R7, D4)."""
        if value is None:
            return None
        if value.microsecond:
            raise ValueError("GBCS execution times are whole seconds")
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-01:00 (issue 18)
            raise ValueError("is out of range: after 9999-12-31 in UTC") from None
        if utc > DUIS_CANCELLATION:
            # leaves the DSP room for its grace periods (issue 18, D-P3)
            raise ValueError(f"is after {iso(DUIS_CANCELLATION)}, DUIS's cancellation value")
        return utc

    @property
    def is_cancellation(self) -> bool:
        return self.execution_datetime == DUIS_CANCELLATION


class SignedPreCommandBody(_Strict):
    """CV 5 to 7: the GBCS pre-command the DSP issued for a CV 4, with the user's
    General Signing signature appended (D-SEC8)."""

    signed_pre_command: Base64Bytes = Field(min_length=1)


Body = (
    NoBody
    | AnyBody
    | DeviceListBody
    | UpdateFirmwareBody
    | ActivateFirmwareBody
    | SignedPreCommandBody
)

BODY_MODELS: dict[str, type[Body]] = {
    "11.1": UpdateFirmwareBody,
    "11.2": NoBody,
    "11.3": ActivateFirmwareBody,
    "11.4": UpdateFirmwareBody,
    "8.2": DeviceListBody,
}


@record
class ParsedRequest:
    request_id: RequestId
    srv: str
    command_variant: int
    role: Role | None
    body: Body
    text_id: str  # str(request_id), the form every answer and journal entry carries


# Validators built once (a TypeAdapter skips BaseModel's per-call wrapper).
_REQUEST = TypeAdapter(RequestMessage)
_BODIES = {srv: TypeAdapter(model) for srv, model in BODY_MODELS.items()}
_ANY_BODY = TypeAdapter(AnyBody)
_SIGNED_BODY = TypeAdapter(SignedPreCommandBody)


def parse_request(payload: bytes) -> ParsedRequest:
    try:
        message = _REQUEST.validate_json(payload)
        if message.command_variant in SIGNED_PRE_COMMAND_CVS:
            body_adapter: TypeAdapter[Any] = _SIGNED_BODY
        else:
            body_adapter = _BODIES.get(message.service_reference_variant, _ANY_BODY)
        body = body_adapter.validate_python(message.body)
    except ValidationError as exc:
        raise InvalidRequestError(describe(exc, "request")) from exc
    except RecursionError as exc:  # nested too deep for a validator (issue 18)
        raise InvalidRequestError("request: nested too deep") from exc
    request_id = RequestId.parse(message.request_id)
    return ParsedRequest(
        request_id,
        message.service_reference_variant,
        message.command_variant,
        message.role,
        body,
        str(request_id),
    )


def readable_request_id(payload: bytes) -> str | None:
    """The request ID of a request that did not parse, when it can still be read."""
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):  # JSON nested thousands deep (issue 18)
        return None
    found = value.get("request_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None

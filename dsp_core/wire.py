"""The request JSON on the bus (DESIGN §3), validated with pydantic: the core's edge.

`parse_request` turns the bytes of one request into a `ParsedRequest`, or raises
`InvalidRequestError` naming the field that is wrong (answered with S4, D9).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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

from gbcs.records import record

from .errors import InvalidRequestError
from .ids import RequestId, to_duis
from .model import Role

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
        if value is not None and value.microsecond:
            raise ValueError("GBCS execution times are whole seconds")
        return None if value is None else value.astimezone(UTC)

    @property
    def is_cancellation(self) -> bool:
        return self.execution_datetime == DUIS_CANCELLATION


Body = NoBody | AnyBody | DeviceListBody | UpdateFirmwareBody | ActivateFirmwareBody

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


def parse_request(payload: bytes) -> ParsedRequest:
    try:
        message = _REQUEST.validate_json(payload)
        body = _BODIES.get(message.service_reference_variant, _ANY_BODY).validate_python(
            message.body
        )
    except ValidationError as exc:
        raise InvalidRequestError(_describe(exc)) from exc
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
    except ValueError:
        return None
    found = value.get("request_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "request"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)

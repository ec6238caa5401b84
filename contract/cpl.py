"""CPL changes on the bus (`{root}/dsp/cpl`, D11): the DCC's side of the CPL, which
DESIGN §3 leaves out. Written by a lab (`cpl_change_json`), read by the DSP
(`parse_cpl_change`); pydantic at the edge, and a bad change names its field."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidCplChangeError
from .validation import describe
from .vocabulary import CplEntry, CplStatus


class CplMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manufacturer: str = Field(min_length=1)
    model: str = Field(min_length=1)
    firmware_version: str = Field(pattern=r"^[0-9A-Fa-f]{8}$")
    status: CplStatus
    image_hash: str = Field(pattern=r"^[0-9A-Fa-f]{64}$")


def parse_cpl_change(payload: bytes) -> CplEntry:
    try:
        message = CplMessage.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidCplChangeError(f"CPL change: {describe(exc, first=True)}") from exc
    return CplEntry(
        message.manufacturer,
        message.model,
        message.firmware_version.upper(),
        message.status,
        message.image_hash.upper(),
    )


def cpl_change_json(entry: CplEntry) -> bytes:
    return json.dumps(cpl_entry_fields(entry)).encode()


def cpl_entry_fields(entry: CplEntry) -> dict[str, Any]:
    return {
        "manufacturer": entry.manufacturer,
        "model": entry.model,
        "firmware_version": entry.firmware_version,
        "status": str(entry.status),
        "image_hash": entry.image_hash,
    }

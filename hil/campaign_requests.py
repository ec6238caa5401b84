"""The requests a campaign sends: DUIS-shaped JSON (DESIGN §3) for 11.1, 11.4, 11.3,
11.2 and 8.2, each with its command variant (dsp_core/srv.py; a test checks them)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# The DCC Access Control Broker: the target of every non-device SR (D10).
DCC = "90-B3-D5-1F-30-00-00-02"


class Srv(StrEnum):
    UPDATE_FIRMWARE = "11.1"
    READ_FIRMWARE = "11.2"
    ACTIVATE_FIRMWARE = "11.3"
    UPDATE_PPMID_FIRMWARE = "11.4"
    READ_INVENTORY = "8.2"


# DUIS command variants: 8 for a non-device SR, 4 for a Critical SR to the device, 1 for
# a Non-Critical SR to the device (D7).
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
    request = build(user_id, srv, DCC if srv in NON_DEVICE else str(target), counter, body)
    if command_variant is None:
        return request
    return SendRequest(user_id, {**request.payload, "command_variant": command_variant})


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


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def batches(ids: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]

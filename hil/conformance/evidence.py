"""Reading a recording: the answers, alerts and SMI records of its steps, and the GBCS
decoding of the bytes they carry. Pure functions; the checks and the reports use them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import gbcs
from contract.codes import ResponseCode
from contract.vocabulary import DeviceType

from .recording import ConformanceStep, Entry, Recording, Source

# What a service user is told (DESIGN §3, D9), for the reasons a check gives.
CODE_MEANINGS = {
    "E1": "invalid user or role",
    "E2": "role not permitted for the SRV",
    "E3": "user status",
    "E4": "user not eligible for the device",
    "E5": "device status incompatible with the SRV",
    "E11": "SRV not valid for the device type",
    "E12": "invalid command variant",
    "E19": "device does not exist",
    "E20": "unable to communicate with the device",
    "E21": "no response received from the device (R8)",
    "E30": "time-out of a future-dated command: no 0x00CA alert matched it (R7)",
    "S1": "SRV not served",
    "S2": "SRV not carried to devices",
    "S3": "originator counter not greater than the last accepted (replay)",
    "S4": "malformed request",
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """GBCS bytes decoded, or why they do not decode."""

    message: gbcs.GbcsMessage | None
    error: str | None = None

    @property
    def fields(self) -> dict[str, Any] | None:
        return None if self.message is None else gbcs.message_fields(self.message)


def decode(data: bytes) -> Decoded:
    try:
        return Decoded(gbcs.decode(data))
    except gbcs.GbcsError as exc:
        return Decoded(None, str(exc))


def final_answer(recording: Recording, step: ConformanceStep) -> Entry | None:
    """The step's final answer: its first I0, late ones included (R8: an I0 after E21
    carries what the device said), else its first answer other than I99. The I0 that
    carries a Critical SR's pre-command (security on) is the DSP's, not the device's
    answer: it is passed over (D-SEC24)."""
    run = recording.step(step)
    if run is None or run.request_id is None:
        return None
    answers = [
        e
        for e in recording.entries
        if e.source is Source.RESPONSE
        and e.request_id == run.request_id
        and e.code != ResponseCode.I99
        and "pre_command" not in e.body
    ]
    return next((e for e in answers if e.code == ResponseCode.I0), answers[0] if answers else None)


def device_alerts(
    recording: Recording, codes: frozenset[str], after: datetime | None = None
) -> list[Entry]:
    """The alerts about the device with one of `codes`, from `after` on."""
    return [
        e
        for e in recording.entries
        if e.source is Source.ALERT
        and e.device_id == recording.device_id
        and e.code in codes
        and (after is None or e.at >= after)
    ]


def smi_record(recording: Recording, step: ConformanceStep) -> Mapping[str, Any] | None:
    """The device's SMI record in an 8.2 step's answer (R1's fields)."""
    answer = final_answer(recording, step)
    devices = answer.body.get("devices") if answer is not None else None
    for record in devices if isinstance(devices, list) else []:
        if isinstance(record, Mapping) and record.get("device_id") == recording.device_id:
            return record
    return None


def describe_code(code: str | None, body: Mapping[str, Any]) -> str:
    meaning = CODE_MEANINGS.get(code or "", "")
    reason = body.get("reason")
    parts = [f"{code}" + (f" ({meaning})" if meaning else "")]
    if isinstance(reason, str):
        parts.append(reason)
    return ": ".join(parts)


def device_type_of(record: Mapping[str, Any] | None) -> DeviceType | None:
    """The device type an 8.2 record names; None when absent or not one of R1's."""
    found = None if record is None else record.get("device_type")
    try:
        return None if found is None else DeviceType(str(found))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the reports say of the device under test, from the SMI before and after
    (R1's fields); None where the SMI did not say. The SMI holds no hardware version."""

    device_type: str | None
    manufacturer: str | None
    model: str | None
    firmware_before: str | None
    firmware_after: str | None


def device_facts(recording: Recording) -> DeviceFacts:
    before = smi_record(recording, ConformanceStep.INVENTORY_BEFORE) or {}
    after = smi_record(recording, ConformanceStep.INVENTORY_AFTER) or {}

    def text(record: Mapping[str, Any], key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) else None

    return DeviceFacts(
        text(before, "device_type") or text(after, "device_type"),
        text(before, "manufacturer") or text(after, "manufacturer"),
        text(before, "model") or text(after, "model"),
        text(before, "firmware_version"),
        text(after, "firmware_version"),
    )

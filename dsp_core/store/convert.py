"""Records to table rows and back, field by field (no `dataclasses.asdict`: it deep-
copies every value, and these run for every row an event loads or writes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from contract.vocabulary import (
    CplEntry,
    CplStatus,
    Device,
    DeviceType,
    Registration,
    Role,
    SmiStatus,
    User,
    UserStatus,
)
from dsp_core.model import HubStatus, JournalEntry, JournalKind
from dsp_core.tracking import Phase, Tracked


def device_row(device: Device) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "device_type": device.device_type.value,
        "smets": device.smets,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "firmware_version": device.firmware_version,
        "status": device.status.value,
        "comms_hub_id": device.comms_hub_id,
        "mpxn": device.mpxn,
        "status_before_suspension": _value(device.status_before_suspension),
        "status_before_recovery": _value(device.status_before_recovery),
    }


def device(row: Row[Any]) -> Device:
    return Device(
        row.device_id,
        DeviceType(row.device_type),
        row.smets,
        row.manufacturer,
        row.model,
        row.firmware_version,
        SmiStatus(row.status),
        row.comms_hub_id,
        row.mpxn,
        _status(row.status_before_suspension),
        _status(row.status_before_recovery),
    )


def registration_row(registration: Registration) -> dict[str, Any]:
    return {
        "mpxn": registration.mpxn,
        "supplier_id": registration.supplier_id,
        "network_operator_id": registration.network_operator_id,
    }


def user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "roles": ",".join(sorted(user.roles)),
        "status": user.status.value,
    }


def user(row: Row[Any]) -> User:
    roles = frozenset(Role(r) for r in row.roles.split(",") if r)
    return User(row.user_id, roles, UserStatus(row.status))


def cpl_row(entry: CplEntry) -> dict[str, Any]:
    return {
        "manufacturer": entry.manufacturer,
        "model": entry.model,
        "firmware_version": entry.firmware_version,
        "status": entry.status.value,
        "image_hash": entry.image_hash,
    }


def cpl_entry(row: Row[Any]) -> CplEntry:
    return CplEntry(
        row.manufacturer, row.model, row.firmware_version, CplStatus(row.status), row.image_hash
    )


def tracked_row(tracked: Tracked) -> dict[str, Any]:
    originator, counter = tracked.key
    return {
        "originator": originator,
        "counter": counter,
        "request_id": tracked.request_id,
        "user_id": tracked.user_id,
        "srv": tracked.srv,
        "device_id": tracked.device_id,
        "ch_id": tracked.ch_id,
        "message_code": tracked.message_code,
        "phase": tracked.phase.value,
        "deadline": tracked.deadline,
        "sent_at": tracked.sent_at,
        "execution": tracked.execution,
        "cancellation": tracked.cancellation,
        "image_hash": tracked.image_hash,
        "pre_command": tracked.pre_command,
    }


def tracked(row: Row[Any]) -> Tracked:
    return Tracked(
        (row.originator, row.counter),
        row.request_id,
        row.user_id,
        row.srv,
        row.device_id,
        row.ch_id,
        row.message_code,
        Phase(row.phase),
        row.deadline,
        row.sent_at,
        row.execution,
        row.cancellation,
        row.image_hash,
        row.pre_command,
    )


def journal_row(entry: JournalEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "kind": entry.kind.value,
        "device_id": entry.device_id,
        "user_id": entry.user_id,
        "request_id": entry.request_id,
        "code": entry.code,
        "detail": dict(entry.detail),
    }


def journal_entry(row: Row[Any]) -> JournalEntry:
    return JournalEntry(
        row.at,
        JournalKind(row.kind),
        row.device_id,
        row.user_id,
        row.request_id,
        row.code,
        row.detail,
    )


def hub_row(hub: HubStatus) -> dict[str, Any]:
    return {
        "ch_id": hub.ch_id,
        "online": hub.online,
        "reason": hub.reason,
        "since": hub.since,
        "reported_at": hub.reported_at,
    }


def hub_status(row: Row[Any]) -> HubStatus:
    return HubStatus(row.ch_id, row.online, row.reason, row.since, row.reported_at)


def _value(status: SmiStatus | None) -> str | None:
    return None if status is None else status.value


def _status(value: str | None) -> SmiStatus | None:
    return None if value is None else SmiStatus(value)

"""The MP105 firmware rules: CPL removal (R4), reported versions (R5), the GPF (R6)."""

from __future__ import annotations

import logging
from dataclasses import replace

from contract.vocabulary import COMMUNICABLE, CplEntry, CplStatus, Device, DeviceType, SmiStatus

from .alerts import (
    DEVICE_RESTORED,
    DEVICE_SUSPENDED,
    FIRMWARE_VERSION_MISMATCH,
    REMOVED_FIRMWARE_REPORTED,
    UNKNOWN_FIRMWARE_REPORTED,
)
from .model import JournalKind
from .state import cpl_key
from .turn import Turn

log = logging.getLogger(__name__)

# R4: statuses a device is suspended from (*model*: Decommissioned, Withdrawn, Recovery
# and Suspended devices are left as they are).
SUSPENDABLE = COMMUNICABLE
# R5: an 11.2 response is a firmware report from these types; a GPF's is R6.
READ_REPORT_TYPES = frozenset({DeviceType.ESME, DeviceType.GSME, DeviceType.CHF})


def on_cpl_changed(turn: Turn, entry: CplEntry) -> None:
    old = turn.state.cpl.get(cpl_key(entry))
    turn.state.put_cpl(entry)
    turn.journal(
        JournalKind.CPL_CHANGE,
        detail={
            "manufacturer": entry.manufacturer,
            "model": entry.model,
            "firmware_version": entry.firmware_version,
            "status": str(entry.status),
            "previous": None if old is None else str(old.status),
        },
    )
    if entry.status is CplStatus.REMOVED and (old is None or old.status is CplStatus.CURRENT):
        for device in turn.state.devices_with_version(cpl_key(entry)):
            if device.status in SUSPENDABLE:
                suspend(turn, device, entry)


def suspend(turn: Turn, device: Device, entry: CplEntry) -> None:
    """R4: suspend, keep the status held, tell the responsible supplier (N28)."""
    suspended = replace(device, status=SmiStatus.SUSPENDED, status_before_suspension=device.status)
    _set_status(turn, device, suspended, reason=f"CPL entry {entry.firmware_version} removed")
    turn.dcc_alert(
        DEVICE_SUSPENDED,
        suspended,
        {"firmware_version": entry.firmware_version, "status_before": str(device.status)},
    )


def apply_report(
    turn: Turn, device: Device, version: str | None, source: str, requester: str | None = None
) -> None:
    """R5: process a firmware version reported by a device (the response code is no
    criterion); `source` names the report for the journal."""
    if version is None:
        turn.journal(
            JournalKind.FIRMWARE_CHANGE,
            device_id=device.device_id,
            detail={"source": source, "outcome": "no version reported: nothing changes"},
        )
        return
    if version != device.firmware_version:
        device = _record_version(turn, device, version, source, requester)
    # Whatever was reported, a Suspended device whose SMI version is on a Current
    # entry is restored ("on any such report").
    entry = turn.state.cpl_entry(device, device.firmware_version)
    if entry is not None and entry.status is CplStatus.CURRENT:
        _restore_if_suspended(turn, device, source)


def _record_version(
    turn: Turn, device: Device, version: str, source: str, requester: str | None
) -> Device:
    """R5's three outcomes for a version that differs from the SMI."""
    body = {"firmware_version": version, "smi_firmware_version": device.firmware_version}
    entry = turn.state.cpl_entry(device, version)
    if entry is None:
        turn.dcc_alert(UNKNOWN_FIRMWARE_REPORTED, device, {**body, "source": source}, requester)
        return device
    updated = _set_version(turn, device, version, source)
    if entry.status is CplStatus.REMOVED:
        turn.dcc_alert(REMOVED_FIRMWARE_REPORTED, updated, {**body, "source": source}, requester)
    return updated


def check_gpf_mirror(turn: Turn, gpf: Device, version: str | None, requester: str) -> None:
    """R6: compare the GSME version a GPF holds with the SMI; N52 on a difference.
    Never updates the SMI, never restores."""
    gsmes = [
        d for d in turn.state.devices_on_hub(gpf.comms_hub_id) if d.device_type is DeviceType.GSME
    ]
    if version is None or not gsmes:
        turn.journal(
            JournalKind.FIRMWARE_CHANGE,
            device_id=gpf.device_id,
            detail={"source": "11.2 response (GPF)", "outcome": "no version or no GSME on the hub"},
        )
        return
    for gsme in gsmes:
        if gsme.firmware_version != version:
            body = {
                "gsme_id": gsme.device_id,
                "device_type": str(gsme.device_type),
                "smi_firmware_version": gsme.firmware_version,
                "gpf_firmware_version": version,
                "gpf_id": gpf.device_id,
            }
            turn.dcc_alert(FIRMWARE_VERSION_MISMATCH, gsme, body, requester)


def _restore_if_suspended(turn: Turn, device: Device, source: str) -> None:
    if device.status is not SmiStatus.SUSPENDED:
        return
    previous = device.status_before_suspension or SmiStatus.COMMISSIONED
    restored = replace(device, status=previous, status_before_suspension=None)
    _set_status(turn, device, restored, reason=f"restored on {source}")
    turn.dcc_alert(
        DEVICE_RESTORED,
        restored,
        {"firmware_version": restored.firmware_version, "status": str(previous), "source": source},
    )


def _set_version(turn: Turn, device: Device, version: str, source: str) -> Device:
    updated = device.with_firmware_version(version)
    turn.state.put_device(updated)
    turn.journal(
        JournalKind.FIRMWARE_CHANGE,
        device_id=device.device_id,
        detail={"from": device.firmware_version, "to": version, "source": source},
    )
    log.info(
        "device %s: SMI firmware %s -> %s (%s)",
        device.device_id,
        device.firmware_version,
        version,
        source,
    )
    return updated


def _set_status(turn: Turn, old: Device, new: Device, reason: str) -> None:
    turn.state.put_device(new)
    turn.journal(
        JournalKind.STATUS_CHANGE,
        device_id=new.device_id,
        detail={"from": str(old.status), "to": str(new.status), "reason": reason},
    )
    log.info("device %s: %s -> %s (%s)", new.device_id, old.status, new.status, reason)

"""Service requests: validation, replay protection, authorisation (R2, R3), then each
SRV's handling: 11.2 and 11.3 to a device, 11.1/11.4 distribution (R9), 8.2 inventory."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from contract.codes import ResponseCode
from contract.errors import InvalidRequestError
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_duis
from contract.records import record
from contract.requests import (
    ActivateFirmwareBody,
    DeviceListBody,
    ParsedRequest,
    UpdateFirmwareBody,
)
from contract.vocabulary import COMMUNICABLE, CplStatus, Device, DeviceType, SmiStatus
from gbcs import CANCELLATION_DATETIME, GbcsError
from gbcs.ota import parse_ota_image

from . import commands
from .authorisation import AccessRequest, Refused, authorise
from .hubs import offline_hub, unable_to_communicate
from .model import JournalKind
from .srv import SRVS
from .tracking import Phase, Tracked
from .turn import Turn

log = logging.getLogger(__name__)


@record
class Accepted:
    """A request that passed validation, replay protection and authorisation."""

    user_id: str
    request: ParsedRequest
    device: Device | None

    @property
    def request_id(self) -> str:
        return self.request.text_id

    @property
    def srv(self) -> str:
        return self.request.srv


def on_invalid(turn: Turn, user_id: str, request_id: str | None, reason: str) -> None:
    turn.journal(
        JournalKind.REJECTED, user_id=user_id, request_id=request_id, detail={"reason": reason}
    )
    turn.respond(user_id, request_id, None, ResponseCode.S4_INVALID_REQUEST, {"reason": reason})


def on_request(turn: Turn, topic_user: str, request: ParsedRequest) -> None:
    user_id = to_duis(topic_user)
    rid, srv = request.text_id, request.srv
    turn.journal(
        JournalKind.REQUEST,
        user_id=user_id,
        request_id=rid,
        detail={"srv": srv, "cv": request.command_variant},
    )
    refusal = _check_origin(turn, user_id, request)
    if refusal is not None:
        turn.respond(user_id, rid, srv, refusal.code, {"reason": refusal.reason})
        return
    accepted = _authorise(turn, user_id, request)
    if isinstance(accepted, Refused):
        turn.respond(user_id, rid, srv, accepted.code, {"reason": accepted.reason})
        return
    turn.respond(user_id, rid, srv, ResponseCode.I99)
    HANDLERS.get(srv, _not_carried)(turn, accepted)


def _check_origin(turn: Turn, user_id: str, request: ParsedRequest) -> Refused | None:
    """The request ID's originator is the user on the topic, and its counter is new."""
    request_id = request.request_id
    if request_id.originator != user_id:
        return Refused(
            ResponseCode.E1,
            f"request originator {request_id.originator} is not the user {user_id} it came from",
        )
    last = turn.state.counters.get(user_id)
    if last is not None and request_id.counter <= last:
        return Refused(
            ResponseCode.S3_REPLAYED_REQUEST,
            f"originator counter {request_id.counter} is not greater than {last}, "
            f"the last accepted from {user_id}",
        )
    turn.state.put_counter(user_id, request_id.counter)
    return None


def _authorise(turn: Turn, user_id: str, request: ParsedRequest) -> Accepted | Refused:
    srv = SRVS.get(request.srv)
    target = request.request_id.target
    if srv is not None and srv.non_device and target != DCC_ACCESS_CONTROL_BROKER:
        return Refused(
            ResponseCode.S4_INVALID_REQUEST,
            f"SRV {srv.srv} is a non-device SR: its target must be "
            f"{DCC_ACCESS_CONTROL_BROKER}, not {target}",
        )
    device = turn.state.device(target)
    access = AccessRequest(
        request.srv,
        request.command_variant,
        turn.state.users.get(user_id),
        request.role,
        device,
        turn.state.registration_of(device) if device else None,
    )
    decision = authorise(access, mp105=turn.config.mp105)
    if isinstance(decision, Refused):
        return decision
    return Accepted(user_id, request, device)


# ---- device SRs --------------------------------------------------------------------


def _read_firmware(turn: Turn, accepted: Accepted) -> None:
    device = _device(accepted)
    if _hub_is_offline(turn, accepted, device):
        return
    sender = _sender(accepted)
    if commands.signs_itself(device):
        sender = sender.on_behalf(turn.next_dsp_counter())
    _send_tracked(turn, accepted, device, commands.read_firmware(device, sender))


def _activate_firmware(turn: Turn, accepted: Accepted) -> None:
    device = _device(accepted)
    body = accepted.request.body
    assert isinstance(body, ActivateFirmwareBody)
    execution = body.execution_datetime
    if body.is_cancellation:
        execution = CANCELLATION_DATETIME
    elif execution is not None and execution <= turn.at:
        _final(
            turn,
            accepted,
            ResponseCode.S4_INVALID_REQUEST,
            {"reason": f"execution_datetime {execution.isoformat()} is not in the future (R7)"},
        )
        return
    if _hub_is_offline(turn, accepted, device):
        return
    image_hash = bytes.fromhex(body.firmware_hash)
    command = commands.activate_firmware(device, _sender(accepted), image_hash, execution)
    _send_tracked(
        turn,
        accepted,
        device,
        command,
        execution=None if body.is_cancellation else execution,
        cancellation=body.is_cancellation,
    )


def _hub_is_offline(turn: Turn, accepted: Accepted, device: Device) -> bool:
    """E20 at once, no command, for a device behind a hub recorded offline (D-E1)."""
    hub = offline_hub(turn, device)
    if hub is not None:
        _final(turn, accepted, ResponseCode.E20, unable_to_communicate(hub, device))
    return hub is not None


def _sender(accepted: Accepted) -> commands.Sender:
    return commands.Sender(accepted.user_id, accepted.request.request_id.counter)


def _send_tracked(
    turn: Turn,
    accepted: Accepted,
    device: Device,
    command: commands.Command,
    *,
    phase: Phase = Phase.AWAITING_RESPONSE,
    timeout: timedelta | None = None,
    execution: datetime | None = None,
    cancellation: bool = False,
    image_hash: str | None = None,
) -> None:
    """Send a command and track what it waits for (a response by default, R8)."""
    tracked = Tracked(
        command.key,
        accepted.request_id,
        accepted.user_id,
        accepted.srv,
        device.device_id,
        device.comms_hub_id,
        command.message_code,
        phase,
        turn.at + (timeout or turn.config.timeout_for(device)),
        turn.at,
        execution,
        cancellation,
        image_hash,
    )
    turn.state.put_request(tracked)
    turn.send(device, command.data, accepted.request_id, accepted.user_id)


def _not_carried(turn: Turn, accepted: Accepted) -> None:
    _final(
        turn,
        accepted,
        ResponseCode.S2_NOT_CARRIED,
        {"reason": f"authorised, but smetslab does not carry SRV {accepted.srv} to devices (D9)"},
    )


def _final(turn: Turn, accepted: Accepted, code: ResponseCode, body: dict[str, Any]) -> None:
    turn.respond(accepted.user_id, accepted.request_id, accepted.srv, code, body)


def _device(accepted: Accepted) -> Device:
    if accepted.device is None:  # authorise() answers E19 first
        raise InvalidRequestError(
            f"request {accepted.request_id} reached its handler without a device"
        )
    return accepted.device


# ---- non-device SRs ----------------------------------------------------------------


def _read_inventory(turn: Turn, accepted: Accepted) -> None:
    body = accepted.request.body
    assert isinstance(body, DeviceListBody)
    found = [d for i in body.device_ids if (d := turn.state.device(i)) is not None]
    unknown = [i for i in body.device_ids if turn.state.device(i) is None]
    _final(
        turn,
        accepted,
        ResponseCode.I0,
        {"devices": [inventory_record(d) for d in found], "unknown_device_ids": unknown},
    )


def inventory_record(device: Device) -> dict[str, Any]:
    """One SMI record as 8.2 returns it (R1's fields)."""
    return {
        "device_id": device.device_id,
        "device_type": str(device.device_type),
        "smets": device.smets,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "firmware_version": device.firmware_version,
        "status": str(device.status),
        "status_before_suspension": None
        if device.status_before_suspension is None
        else str(device.status_before_suspension),
        "comms_hub_id": device.comms_hub_id,
        "mpxn": device.mpxn,
    }


WARNING_LISTS = (
    "invalid_device_ids",
    "not_commissioned",
    "not_applicable_firmware",
    "other_request_in_progress",
    "unable_to_communicate",  # behind a comms hub recorded offline (E20, D-E1)
)


def _update_firmware(turn: Turn, accepted: Accepted) -> None:
    """R9: warn per device (DSPUpdateFirmwareWarning), distribute to the others."""
    body = accepted.request.body
    assert isinstance(body, UpdateFirmwareBody)
    image = body.firmware_image
    problem = _image_problem(image, body.firmware_version)
    if problem is not None:
        _final(turn, accepted, ResponseCode.S4_INVALID_REQUEST, {"reason": problem})
        return
    image_hash = hashlib.sha256(image).hexdigest().upper()
    warnings: dict[str, list[str]] = {name: [] for name in WARNING_LISTS}
    distributed = []
    for device_id in body.device_ids:
        device = turn.state.device(device_id)
        warning = _distribution_warning(
            turn, accepted.srv, device, body.firmware_version, image_hash
        )
        if warning is not None:
            warnings[warning].append(device_id)
            continue
        assert device is not None
        _distribute(turn, accepted, device, image, image_hash)
        distributed.append(device_id)
    _final(
        turn,
        accepted,
        ResponseCode.I0,
        {
            "DSPUpdateFirmwareWarning": warnings,
            "distributed": distributed,
            "image_hash": image_hash,
        },
    )


def _image_problem(image: bytes, version: str) -> str | None:
    try:
        ota = parse_ota_image(image)
    except GbcsError as exc:
        return f"firmware_image is not a ZigBee OTA file: {exc}"
    carried = f"{ota.header.file_version:08X}"
    if carried != version.upper():
        return (
            f"firmware_version {version.upper()} differs from the OTA header's "
            f"file version {carried}"
        )
    return None


def _distribution_warning(
    turn: Turn, srv: str, device: Device | None, version: str, image_hash: str
) -> str | None:
    if device is None:
        return "invalid_device_ids"
    if device.status not in COMMUNICABLE and device.status is not SmiStatus.SUSPENDED:
        return "not_commissioned"
    entry = turn.state.cpl_entry(device, version.upper())
    wrong_type = (device.device_type is DeviceType.PPMID) != (
        srv == "11.4"
    ) or device.device_type not in SRVS[srv].device_types
    if (
        wrong_type
        or entry is None
        or entry.status is not CplStatus.CURRENT
        or entry.image_hash.upper() != image_hash
    ):
        return "not_applicable_firmware"
    if turn.state.open_requests_for(device.device_id):
        return "other_request_in_progress"
    if offline_hub(turn, device) is not None:
        return "unable_to_communicate"
    return None


def _distribute(
    turn: Turn, accepted: Accepted, device: Device, image: bytes, image_hash: str
) -> None:
    sender = _sender(accepted).on_behalf(turn.next_dsp_counter())
    command = commands.distribute_firmware(device, sender, image, activate=accepted.srv == "11.4")
    _send_tracked(
        turn,
        accepted,
        device,
        command,
        phase=Phase.AWAITING_RECEIPT,
        timeout=turn.config.receipt_timeout,
        image_hash=image_hash,
    )


HANDLERS: dict[str, Callable[[Turn, Accepted], None]] = {
    "11.1": _update_firmware,
    "11.2": _read_firmware,
    "11.3": _activate_firmware,
    "11.4": _update_firmware,
    "8.2": _read_inventory,
}

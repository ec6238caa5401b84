"""Service requests: validation, replay protection, authorisation (R2, R3), then each
SRV's handling: 11.2 and 11.3 to a device, 11.1/11.4 distribution (R9), 8.2 inventory."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from contract.codes import ResponseCode
from contract.errors import InvalidRequestError
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_duis
from contract.records import record
from contract.requests import (
    SEND_SIGNED_CV,
    SIGNED_PRE_COMMAND_CVS,
    ActivateFirmwareBody,
    DeviceListBody,
    ParsedRequest,
    SignedPreCommandBody,
    UpdateFirmwareBody,
)
from contract.times import iso
from contract.vocabulary import COMMUNICABLE, CplStatus, Device, DeviceType, SmiStatus
from gbcs import CANCELLATION_DATETIME, GbcsError, GbcsSecurityError
from gbcs.ota import parse_ota_image
from gbcs.security import SIGNATURE_SIZE

from . import commands
from .authorisation import AccessRequest, Refused, authorise
from .hubs import offline_hub, unable_to_communicate
from .model import JournalKind
from .srv import SRVS
from .tracking import Phase, Step, Tracked
from .turn import Turn

log = logging.getLogger(__name__)
LOCAL_DELIVERY_SIGNED_CV = 6


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
    missing = _missing_key(turn, accepted)
    if missing is not None:
        turn.respond(user_id, rid, srv, ResponseCode.S8_NO_DEVICE_KEY, {"reason": missing})
        return
    turn.respond(user_id, rid, srv, ResponseCode.I99)
    HANDLERS.get(srv, _not_carried)(turn, accepted)


def _missing_key(turn: Turn, accepted: Accepted) -> str | None:
    """S8 for a device SR when security is on and the DSP cannot MAC for the device."""
    security = turn.config.security
    if security is None or accepted.device is None or accepted.srv not in HANDLERS:
        return None
    return security.missing_key(accepted.device.device_id)


def _check_origin(turn: Turn, user_id: str, request: ParsedRequest) -> Refused | None:
    """The request ID's originator is the user on the topic, and its counter is new."""
    request_id = request.request_id
    if request_id.originator != user_id:
        return Refused(
            ResponseCode.E1,
            f"request originator {request_id.originator} is not the user {user_id} it came from",
        )
    if request.command_variant in SIGNED_PRE_COMMAND_CVS:
        # A CV 5 reuses its CV 4's request ID and counter (D-SEC8).
        if pending_pre_command(turn, user_id, request) is not None:
            return None
        return Refused(
            ResponseCode.S5_NO_PRE_COMMAND,
            f"no pre-command is waiting for a signature under {request.text_id} "
            "(never issued, already used, or expired)",
        )
    last = turn.state.counters.get(user_id)
    if last is not None and request_id.counter <= last:
        return Refused(
            ResponseCode.S3_REPLAYED_REQUEST,
            f"originator counter {request_id.counter} is not greater than {last}, "
            f"the last accepted from {user_id}",
        )
    window, base = turn.config.counter_window, 0 if last is None else last
    if request_id.counter - base > window:  # a user's first request counts from 0
        return Refused(
            ResponseCode.S9_COUNTER_JUMP,
            f"originator counter {request_id.counter} jumps more than {window} past {base}, "
            f"the last accepted from {user_id} (0 before the first)",
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
    """11.3: CV 4 is transformed into a CS06 pre-command for the user to sign (sent
    at once, unsigned, when security is off); CV 5 and 6 carry it signed (D-SEC8)."""
    if accepted.request.command_variant in SIGNED_PRE_COMMAND_CVS:
        _signed_pre_command(turn, accepted)
        return
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
    tracked = _tracked(
        turn,
        accepted,
        device,
        command,
        execution=None if body.is_cancellation else execution,
        cancellation=body.is_cancellation,
    )
    if turn.config.security is None:
        turn.state.put_request(tracked)
        turn.send(device, commands.unsigned(command.data), accepted.request_id, accepted.user_id)
        return
    _issue_pre_command(turn, accepted, tracked, command.data)


def _issue_pre_command(turn: Turn, accepted: Accepted, tracked: Tracked, pre: bytes) -> None:
    """CV 4: answer with the pre-command and keep it, for its CV 5 to be checked against."""
    expires = turn.at + turn.config.pre_command_validity
    waiting = replace(tracked, phase=Phase.AWAITING_SIGNATURE, deadline=expires, pre_command=pre)
    turn.state.put_request(waiting)
    _final(
        turn,
        accepted,
        ResponseCode.I0,
        {
            "pre_command": base64.b64encode(pre).decode("ascii"),
            "device_id": tracked.device_id,
            "expires": iso(expires),
        },
    )


def _signed_pre_command(turn: Turn, accepted: Accepted) -> None:
    """CV 5 (send) or 6 (return for local delivery): the pre-command issued under this
    request ID, signed by the user, is checked (S5, S6, S7) and MACed (D-SEC8)."""
    body = accepted.request.body
    assert isinstance(body, SignedPreCommandBody)
    device = _device(accepted)
    issued = pending_pre_command(turn, accepted.user_id, accepted.request)
    if issued is None or issued.device_id != device.device_id or issued.srv != accepted.srv:
        _final(
            turn,
            accepted,
            ResponseCode.S5_NO_PRE_COMMAND,
            {"reason": f"no pre-command is waiting for a signature under {accepted.request_id}"},
        )
        return
    refusal = _signature_refusal(turn, accepted, issued, body.signed_pre_command)
    if refusal is not None:
        turn.journal(
            JournalKind.REJECTED,
            device_id=device.device_id,
            user_id=accepted.user_id,
            request_id=accepted.request_id,
            detail={"reason": refusal.reason},
        )
        _final(turn, accepted, refusal.code, {"reason": refusal.reason})
        return
    _deliver_signed(turn, accepted, device, issued, body.signed_pre_command)


def _deliver_signed(
    turn: Turn, accepted: Accepted, device: Device, issued: Tracked, signed: bytes
) -> None:
    variant = accepted.request.command_variant
    if variant == LOCAL_DELIVERY_SIGNED_CV:
        assert turn.config.security is not None
        command = turn.config.security.protect(signed, device.device_id)
        turn.state.put_request(issued.advance(Step.RETURNED))
        _final(
            turn,
            accepted,
            ResponseCode.I0,
            {"command": base64.b64encode(command).decode("ascii"), "device_id": device.device_id},
        )
        return
    if variant != SEND_SIGNED_CV:
        _not_carried(turn, accepted, f"command variant {variant} (send and return a copy)")
        return
    if _hub_is_offline(turn, accepted, device):
        return  # the pre-command stays issued: the same CV 5 may be sent again
    deadline = turn.at + turn.config.timeout_for(device)
    turn.state.put_request(issued.advance(Step.SIGNED, deadline))
    turn.send(device, signed, accepted.request_id, accepted.user_id)


def pending_pre_command(turn: Turn, user_id: str, request: ParsedRequest) -> Tracked | None:
    """The pre-command issued for a CV 4 with this request ID, still unsigned."""
    tracked = turn.state.requests.get((user_id, request.request_id.counter))
    if tracked is None or tracked.phase is not Phase.AWAITING_SIGNATURE:
        return None
    return tracked


def _signature_refusal(
    turn: Turn, accepted: Accepted, issued: Tracked, signed: bytes
) -> Refused | None:
    pre = issued.pre_command or b""
    mismatch = pre_command_mismatch(pre, signed)
    if mismatch is not None:
        return Refused(ResponseCode.S6_PRE_COMMAND_MISMATCH, mismatch)
    assert turn.config.security is not None  # pre-commands are issued only with security on
    try:
        turn.config.security.check_user_signature(signed, accepted.user_id, turn.at)
    except GbcsSecurityError as exc:
        return Refused(ResponseCode.S7_SIGNATURE_INVALID, str(exc))
    return None


def pre_command_mismatch(pre: bytes, signed: bytes) -> str | None:
    """Why `signed` is not `pre` with a General Signing signature appended, or None."""
    differs = next((i for i, (a, b) in enumerate(zip(pre, signed, strict=False)) if a != b), None)
    if differs is None and len(signed) < len(pre):
        differs = len(signed)
    if differs is not None:
        return (
            f"the signed pre-command differs from the pre-command issued at byte {differs} "
            f"(of {len(pre)})"
        )
    trailer = signed[len(pre) :]
    if len(trailer) != 1 + SIGNATURE_SIZE or trailer[0] != SIGNATURE_SIZE:
        return (
            f"the signed pre-command should end in the issued pre-command and a "
            f"{SIGNATURE_SIZE}-byte signature field; it has {len(trailer)} bytes after it"
        )
    return None


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
    **tracking: Any,
) -> None:
    """Send a command and track what it waits for (a response by default, R8)."""
    turn.state.put_request(_tracked(turn, accepted, device, command, **tracking))
    turn.send(device, command.data, accepted.request_id, accepted.user_id)


def _tracked(
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
) -> Tracked:
    return Tracked(
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


def _not_carried(turn: Turn, accepted: Accepted, what: str | None = None) -> None:
    what = what or f"SRV {accepted.srv}"
    _final(
        turn,
        accepted,
        ResponseCode.S2_NOT_CARRIED,
        {"reason": f"authorised, but smetslab does not carry {what} to devices (D9)"},
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
NO_DEVICE_KEY = "no_device_key"  # with security on: no key to MAC the command with (D-SEC7)


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
    lists = WARNING_LISTS + ((NO_DEVICE_KEY,) if turn.config.security else ())
    warnings: dict[str, list[str]] = {name: [] for name in lists}
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
    if any(t.was_sent for t in turn.state.open_requests_for(device.device_id)):
        return "other_request_in_progress"
    return _unreachable(turn, device)


def _unreachable(turn: Turn, device: Device) -> str | None:
    """Behind an offline hub (D-E1), or no key to MAC with (D-SEC7)."""
    if offline_hub(turn, device) is not None:
        return "unable_to_communicate"
    security = turn.config.security
    if security is not None and security.missing_key(device.device_id) is not None:
        return NO_DEVICE_KEY
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

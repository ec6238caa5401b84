"""GBCS from comms hubs: responses, the 0x00CA activation alert and receipts (R5 to R9).

Each report is applied once (its key is recorded); a response after its time-out is
still processed (R8); a response nobody is waiting for is still a device's report.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import gbcs
from contract.codes import ResponseCode, UserAlertCode
from contract.vocabulary import Device, DeviceType
from gbcs import CraFlag, GbcsMessage, MessageCode, format_entity_id

from .alerts import Recipient
from .commands import reported_version
from .firmware import READ_REPORT_TYPES, apply_report, check_gpf_mirror
from .model import JournalKind
from .state import ReportKey
from .tracking import Phase, Step, Tracked
from .turn import Turn

log = logging.getLogger(__name__)


def report_key(message: GbcsMessage) -> ReportKey:
    header = message.header
    return (
        format_entity_id(header.originator_id),
        format_entity_id(header.recipient_id),
        int(header.cra_flag),
        header.message_code,
        header.originator_counter,
    )


def request_key(message: GbcsMessage) -> tuple[str, int]:
    """The (command originator, counter) a response or 0x00CA alert answers (D8); a
    refusal alert names the command's counter as its supplementary originator counter
    (D-SEC13)."""
    header = message.header
    recipient = format_entity_id(header.recipient_id)
    if isinstance(message.payload, gbcs.FirmwareActivationAlert):
        return (recipient, message.payload.originator_counter)
    counter = header.supplementary_originator_counter
    if isinstance(message.payload, gbcs.DeviceAlert) and counter is not None:
        return (recipient, counter)
    return (recipient, header.originator_counter)


def on_undecodable(turn: Turn, ch_id: str, data: bytes, error: gbcs.GbcsError) -> None:
    log.warning("hub %s: undecodable GBCS (%s)", ch_id, error)
    turn.journal(
        JournalKind.REJECTED,
        detail={"ch_id": ch_id, "reason": str(error), "gbcs_hex": data.hex().upper()},
    )


def on_device_message(turn: Turn, ch_id: str, data: bytes, message: GbcsMessage) -> None:
    key = report_key(message)
    device_id = key[0]
    fields = _fields(message)
    if key in turn.state.reports:
        turn.journal(JournalKind.DUPLICATE, device_id=device_id, detail={"ch_id": ch_id, **fields})
        return
    turn.state.add_report(key)
    turn.journal(
        JournalKind.DEVICE_MESSAGE,
        device_id=device_id,
        detail={"ch_id": ch_id, "gbcs_hex": data.hex().upper(), **fields},
    )
    device = turn.state.device(device_id)
    if device is None:
        turn.journal(
            JournalKind.REJECTED,
            device_id=device_id,
            detail={"reason": f"device {device_id} is not in the SMI"},
        )
        return
    _dispatch(turn, device, message, data)


def _dispatch(turn: Turn, device: Device, message: GbcsMessage, data: bytes) -> None:
    tracked = turn.state.requests.get(request_key(message))
    if tracked is not None and (tracked.device_id != device.device_id or not tracked.was_sent):
        tracked = None  # another device's, or a pre-command no device has seen (D-SEC8)
    payload = message.payload
    match message.header.cra_flag, payload:
        case CraFlag.RESPONSE, _:
            on_response(turn, device, message, data, tracked)
        case CraFlag.ALERT, gbcs.FirmwareActivationAlert():
            on_activation_alert(turn, device, payload, data, tracked)
        case CraFlag.ALERT, gbcs.FirmwareReceiptAlert():
            on_receipt(turn, device, payload, data)
        case CraFlag.ALERT, gbcs.DeviceAlert():
            on_device_alert(turn, device, payload, data, tracked)
        case _:
            turn.journal(
                JournalKind.REJECTED,
                device_id=device.device_id,
                detail={
                    "reason": f"{gbcs.message_name(message.header.message_code)} "
                    f"{message.kind} is not handled by the DSP"
                },
            )


def on_response(
    turn: Turn, device: Device, message: GbcsMessage, data: bytes, tracked: Tracked | None
) -> None:
    requester = tracked.user_id if tracked else None
    _apply(turn, device, message, requester)
    if tracked is None:
        return
    payload = message.payload
    body = _response_body(message, data)
    if tracked.phase is Phase.TIMED_OUT:
        body["late"] = True
    if isinstance(payload, gbcs.ActivateFirmwareAccepted) and not tracked.cancellation:
        deadline = (tracked.execution or turn.at) + turn.config.execution_grace
        turn.state.put_request(tracked.advance(Step.ACCEPTED_FUTURE_DATED, deadline))
    else:
        if tracked.cancellation:
            body["cancelled_request_ids"] = _cancel_pending(turn, device)
        turn.state.put_request(tracked.advance(Step.RESPONDED))
    turn.respond(tracked.user_id, tracked.request_id, tracked.srv, ResponseCode.I0, body)


def _apply(turn: Turn, device: Device, message: GbcsMessage, requester: str | None) -> None:
    """Route the version a response reports to R5 or R6, by message and device type."""
    payload = message.payload
    version = reported_version(payload)
    code = message.header.message_code
    if code == MessageCode.CS06_ACTIVATE_FIRMWARE:
        if isinstance(payload, gbcs.ActivateFirmwareOutcome):
            _apply_activation(turn, device, payload, version, requester)
        return
    is_mirror_read = code == MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION
    if device.device_type is DeviceType.GPF and is_mirror_read:
        check_gpf_mirror(turn, device, version, requester or "")
    elif device.device_type in READ_REPORT_TYPES:
        apply_report(turn, device, version, "11.2 response", requester)


def _apply_activation(
    turn: Turn,
    device: Device,
    outcome: gbcs.ActivateFirmwareOutcome,
    version: str | None,
    requester: str | None,
) -> None:
    code = int(outcome.response_code)
    source = "11.3 response" if code == 0 else f"11.3 response with code {code}"
    if not turn.config.mp105 and code != 0:
        # Before MP105 the DSP only updated the SMI on a 'success' response.
        turn.journal(
            JournalKind.FIRMWARE_CHANGE,
            device_id=device.device_id,
            detail={"source": source, "outcome": "not applied: MP105 off, code is not 0"},
        )
        return
    apply_report(turn, device, version, source, requester)


def _cancel_pending(turn: Turn, device: Device) -> list[str]:
    cancelled = []
    for other in turn.state.open_requests_for(device.device_id):
        if other.phase is Phase.AWAITING_EXECUTION:
            turn.state.put_request(other.advance(Step.CANCELLED))
            cancelled.append(other.request_id)
    return cancelled


def on_activation_alert(
    turn: Turn,
    device: Device,
    alert: gbcs.FirmwareActivationAlert,
    data: bytes,
    tracked: Tracked | None,
) -> None:
    """R7: 0x8F66 is processed by R5; both codes go to the service user."""
    requester = tracked.user_id if tracked else None
    if alert.alert_code is gbcs.AlertCode.FUTURE_DATED_EXECUTION_SUCCESS:
        apply_report(turn, device, reported_version(alert), "0x8F66 alert", requester)
    if tracked is not None and tracked.phase in (
        Phase.AWAITING_EXECUTION,
        Phase.TIMED_OUT,
        Phase.AWAITING_RESPONSE,
    ):
        turn.state.put_request(tracked.advance(Step.EXECUTED))
    body = {
        "request_id": tracked.request_id if tracked else None,
        **_device_body(alert.fields(), data),
    }
    for user_id in turn.recipients((Recipient.REQUESTER,), device, requester):
        turn.alert(user_id, f"{int(alert.alert_code):04X}", device.device_id, body)


def on_device_alert(
    turn: Turn, device: Device, alert: gbcs.DeviceAlert, data: bytes, tracked: Tracked | None
) -> None:
    """A device's generic alert (0x1000/0x1001), such as 0x8F53 or 0x8F30 for a command
    that failed its MAC or signature check (D-SEC13): forwarded as it is to the user whose
    command it names (else the supplier), as the DCC forwards a device alert. The request
    stays as it is: the device will not answer it, and R8's E21 ends it."""
    requester = tracked.user_id if tracked else None
    body = {
        "request_id": tracked.request_id if tracked else None,
        **_device_body(alert.fields(), data),
    }
    for user_id in turn.recipients((Recipient.REQUESTER,), device, requester):
        turn.alert(user_id, f"{alert.alert_code:04X}", device.device_id, body)


def on_receipt(turn: Turn, device: Device, receipt: gbcs.FirmwareReceiptAlert, data: bytes) -> None:
    """R9: the device's receipt; its hash is checked against the image distributed."""
    tracked = next(
        (
            t
            for t in turn.state.open_requests_for(device.device_id)
            if t.phase is Phase.AWAITING_RECEIPT
        ),
        None,
    )
    reported = receipt.image_hash.hex().upper()
    expected = tracked.image_hash if tracked else None
    requester = tracked.user_id if tracked else None
    if receipt.firmware_version is not None:  # a PPMID activated at once (11.4)
        apply_report(turn, device, reported_version(receipt), "11.4 receipt", requester)
    if tracked is not None:
        turn.state.put_request(tracked.advance(Step.RECEIPT))
    body = {
        "request_id": tracked.request_id if tracked else None,
        "expected_image_hash": expected,
        "hash_matches": reported == expected,
        **_device_body(receipt.fields(), data),
    }
    for user_id in turn.recipients((Recipient.REQUESTER,), device, requester):
        turn.alert(user_id, UserAlertCode.FIRMWARE_RECEIPT, device.device_id, body)


def _response_body(message: GbcsMessage, data: bytes) -> dict[str, Any]:
    return _device_body(message.payload.fields(), data)


def _device_body(fields: dict[str, Any], data: bytes) -> dict[str, Any]:
    body = {"gbcs_payload": base64.b64encode(data).decode("ascii"), **fields}
    if "response_code" in fields:  # the DUIS name of a CS06 outcome's code (DESIGN §3)
        body["activate_image_response_code"] = fields["response_code"]
    return body


def _fields(message: GbcsMessage) -> dict[str, Any]:
    header = message.header
    return {
        "message_code": header.message_code,
        "use_case": gbcs.use_case(header.message_code),
        "kind": message.kind,
        "originator_counter": header.originator_counter,
    }

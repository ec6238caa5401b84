"""One event being handled: the state, the time, the config and the actions so far.

Every response, alert and command goes through here, so each one is journalled in
the same breath as it is emitted (the "every alert has a journal entry" invariant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contract.codes import ResponseCode
from contract.ids import DCC_ACCESS_CONTROL_BROKER
from contract.records import record
from contract.responses import Alert, Response
from contract.vocabulary import Device, DeviceType

from .alerts import DccAlertType, Recipient
from .events import Action, SendAlert, SendCommand, SendResponse
from .model import JournalEntry, JournalKind
from .security import CommandSecurity
from .state import State


@record
class CoreConfig:
    """The DSP's switches and time-outs (device time, on the shared clock)."""

    mp105: bool = True  # R3: off reproduces the behaviour before the modification
    response_timeout: timedelta = timedelta(seconds=60)  # R8
    gsme_response_timeout: timedelta = timedelta(hours=1)  # a GSME answers when it wakes
    execution_grace: timedelta = timedelta(minutes=5)  # R7: alert due by execution + this
    receipt_timeout: timedelta = timedelta(hours=24)  # R9: distribution to receipt
    pre_command_validity: timedelta = timedelta(hours=1)  # CV 4 to its CV 5 (D-SEC8)
    security: CommandSecurity | None = None  # None: commands go unsigned, unMACed (D-SEC7)
    # How far a user's originator counter may jump past the last one accepted, or past 0
    # for the first (S9, D-P6): `smetslab request` counts in wall-clock microseconds,
    # and 2^52 us after 1970 is 2112; 2^63-1 is refused.
    counter_window: int = 1 << 52

    def timeout_for(self, device: Device) -> timedelta:
        if device.device_type is DeviceType.GSME:
            return self.gsme_response_timeout
        return self.response_timeout


@dataclass(slots=True)
class Turn:
    state: State
    config: CoreConfig
    at: datetime
    actions: list[Action] = field(default_factory=list)

    def journal(
        self,
        kind: JournalKind,
        *,
        device_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
        code: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        entry = JournalEntry(
            self.at, kind, device_id, user_id, request_id, code, {} if detail is None else detail
        )
        self.state.journal(entry)

    def respond(
        self,
        user_id: str,
        request_id: str | None,
        srv: str | None,
        code: ResponseCode,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        body = body or {}
        response_id = f"{request_id or 'unreadable'}/{code}"
        response = Response(request_id, response_id, code, self.at, srv, body)
        self.actions.append(SendResponse(user_id, response))
        self.journal(
            JournalKind.RESPONSE,
            user_id=user_id,
            request_id=request_id,
            code=str(code),
            detail=_journal_safe({"srv": srv, **body}),
        )

    def alert(self, user_id: str, code: str, device_id: str, body: Mapping[str, Any]) -> None:
        self.actions.append(SendAlert(user_id, Alert(code, device_id, self.at, body)))
        self.journal(
            JournalKind.ALERT,
            user_id=user_id,
            device_id=device_id,
            code=code,
            request_id=body.get("request_id"),
            detail=_journal_safe(dict(body)),
        )

    def dcc_alert(
        self,
        alert: DccAlertType,
        device: Device,
        body: Mapping[str, Any],
        requester: str | None = None,
    ) -> None:
        """Send a DCC alert to each of its recipients (alerts.py) that can be found."""
        for user_id in self.recipients(alert.recipients, device, requester):
            self.alert(user_id, alert.code, device.device_id, {"name": alert.name, **body})

    def recipients(
        self, wanted: tuple[Recipient, ...], device: Device, requester: str | None
    ) -> list[str]:
        """The user IDs an alert goes to; the requester falls back to the supplier."""
        registration = self.state.registration_of(device)
        supplier = registration.supplier_id if registration else None
        by_recipient = {
            Recipient.SUPPLIER: supplier,
            Recipient.NETWORK_OPERATOR: registration.network_operator_id if registration else None,
            Recipient.REQUESTER: requester or supplier,
        }
        found = [by_recipient[recipient] for recipient in wanted]
        if None in found:
            self.journal(
                JournalKind.REJECTED,
                device_id=device.device_id,
                detail={"reason": f"no registration for MPxN {device.mpxn}: alert not sent"},
            )
        return list(dict.fromkeys(user for user in found if user))

    def send(self, device: Device, data: bytes, request_id: str, user_id: str) -> None:
        """Send a General Signing APDU to the device, MACed by the ACB when security is on."""
        if self.config.security is not None:
            data = self.config.security.protect(data, device.device_id)
        self.actions.append(SendCommand(device.comms_hub_id, device.device_id, data))
        self.journal(
            JournalKind.COMMAND,
            device_id=device.device_id,
            user_id=user_id,
            request_id=request_id,
            detail={"ch_id": device.comms_hub_id, "gbcs_hex": data.hex().upper()},
        )

    def next_dsp_counter(self) -> int:
        counter = self.state.counters.get(DCC_ACCESS_CONTROL_BROKER, 0) + 1
        self.state.put_counter(DCC_ACCESS_CONTROL_BROKER, counter)
        return counter


def _journal_safe(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` without the device's bytes (its device-message entry has them already)."""
    detail.pop("gbcs_payload", None)
    return detail

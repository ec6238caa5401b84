"""`DspCore`: the sans-IO DSP. Events in, actions out; no I/O and no clock inside.

    prepared = core.prepare(event)           # parse once (JSON, GBCS)
    scope = core.scope(prepared)             # what a store must load for it
    actions = core.handle(prepared, state)   # decide; state records its changes

`handle_event(event, state)` does the first and last in one call.
"""

from __future__ import annotations

import logging
from datetime import datetime

import gbcs
from contract.errors import InvalidRequestError
from contract.ids import DCC_ACCESS_CONTROL_BROKER, MAX_COUNTER, to_duis
from contract.records import record
from contract.requests import DeviceListBody, ParsedRequest, parse_request, readable_request_id
from gbcs import GbcsMessage

from .deadlines import on_tick
from .device_messages import on_device_message, on_undecodable, report_key, request_key
from .events import (
    Action,
    ClockTicked,
    CplChanged,
    DeviceMessageReceived,
    Event,
    HubStatusChanged,
    MessageRefused,
    RequestReceived,
)
from .firmware import on_cpl_changed
from .hubs import on_hub_status
from .model import JournalKind
from .service_requests import on_invalid, on_request
from .state import Scope, State, cpl_key
from .turn import CoreConfig, Turn

log = logging.getLogger(__name__)


@record
class PreparedRequest:
    event: RequestReceived
    request: ParsedRequest | None
    error: str | None

    @property
    def at(self) -> datetime:
        return self.event.at


@record
class PreparedMessage:
    event: DeviceMessageReceived
    message: GbcsMessage | None
    error: gbcs.GbcsError | None

    @property
    def at(self) -> datetime:
        return self.event.at


Prepared = (
    PreparedRequest | PreparedMessage | ClockTicked | CplChanged | MessageRefused | HubStatusChanged
)


class DspCore:
    def __init__(self, config: CoreConfig | None = None) -> None:
        self.config = config or CoreConfig()

    def prepare(self, event: Event) -> Prepared:
        match event:
            case RequestReceived():
                try:
                    to_duis(event.user_id)
                    return PreparedRequest(event, parse_request(event.payload), None)
                except InvalidRequestError as exc:
                    return PreparedRequest(event, None, str(exc))
            case DeviceMessageReceived():
                try:
                    return PreparedMessage(event, _storable(gbcs.decode(event.data)), None)
                except gbcs.GbcsError as exc:
                    return PreparedMessage(event, None, exc)
            case _:
                return event

    def scope(self, prepared: Prepared) -> Scope:
        match prepared:
            case PreparedRequest(request=ParsedRequest() as request, event=event):
                return _request_scope(to_duis(event.user_id), request)
            case PreparedMessage(message=GbcsMessage() as message, event=event):
                return _message_scope(event.ch_id, message)
            case ClockTicked(at=at):
                return Scope(due_before=at)
            case CplChanged(entry=entry):
                return Scope(version=cpl_key(entry))
            case HubStatusChanged(ch_id=ch_id):
                return Scope(hubs=frozenset({to_duis_or_raw(ch_id)}))
        return Scope()

    def handle(self, prepared: Prepared, state: State) -> list[Action]:
        turn = Turn(state, self.config, prepared.at)
        match prepared:
            case PreparedRequest():
                _on_request(turn, prepared)
            case PreparedMessage():
                _on_message(turn, prepared)
            case ClockTicked():
                on_tick(turn)
            case CplChanged(entry=entry):
                on_cpl_changed(turn, entry)
            case MessageRefused():
                on_refused(turn, prepared)
            case HubStatusChanged(ch_id=ch_id):
                on_hub_status(turn, to_duis_or_raw(ch_id), prepared)
        return turn.actions

    def handle_event(self, event: Event, state: State) -> list[Action]:
        return self.handle(self.prepare(event), state)


def _storable(message: GbcsMessage) -> GbcsMessage:
    """The message, when the store can hold its counters (signed 64-bit, D-P2): GBCS
    counters are 8 bytes, and one over 2^63-1 overflowed SQLite (issue 18)."""
    header = message.header
    for name in (
        "originator_counter",
        "supplementary_remote_party_counter",
        "supplementary_originator_counter",
    ):
        value = getattr(header, name)
        if value is not None and not 0 <= value <= MAX_COUNTER:
            raise gbcs.GbcsError(f"{name} {value} is over 2^63-1, the largest the DSP stores")
    return message


def _on_request(turn: Turn, prepared: PreparedRequest) -> None:
    event = prepared.event
    if prepared.request is None:
        reason = prepared.error or "unreadable"
        on_invalid(turn, event.user_id, readable_request_id(event.payload), reason)
    else:
        on_request(turn, event.user_id, prepared.request)


def _on_message(turn: Turn, prepared: PreparedMessage) -> None:
    event = prepared.event
    if prepared.message is None:
        assert prepared.error is not None
        on_undecodable(turn, to_duis_or_raw(event.ch_id), event.data, prepared.error)
    else:
        on_device_message(turn, to_duis_or_raw(event.ch_id), event.data, prepared.message)


def on_refused(turn: Turn, refused: MessageRefused) -> None:
    log.warning("refused a message on %s: %s", refused.topic, refused.reason)
    if refused.user_id is not None:
        on_invalid(turn, refused.user_id, refused.request_id, refused.reason)
    else:
        turn.journal(
            JournalKind.REJECTED, detail={"topic": refused.topic, "reason": refused.reason}
        )


def to_duis_or_raw(value: str) -> str:
    try:
        return to_duis(value)
    except InvalidRequestError:
        return value


def _request_scope(user_id: str, request: ParsedRequest) -> Scope:
    devices = {request.request_id.target}
    if isinstance(request.body, DeviceListBody):
        devices.update(request.body.device_ids)
    return Scope(
        user_ids=frozenset({user_id}),
        device_ids=frozenset(devices),
        originators=frozenset({user_id, DCC_ACCESS_CONTROL_BROKER}),
        hubs_of_devices=True,  # E20 for a device behind an offline hub (D-E1)
    )


def _message_scope(ch_id: str, message: GbcsMessage) -> Scope:
    device_id = gbcs.format_entity_id(message.header.originator_id)
    return Scope(
        device_ids=frozenset({device_id}),
        ch_ids=frozenset({to_duis_or_raw(ch_id)}),
        request_keys=frozenset({request_key(message)}),
        report_keys=frozenset({report_key(message)}),
    )

"""Clock ticks: time-outs of device responses (E21, R8), of future-dated activations
(E30, R7) and of distributions without a receipt (R9)."""

from __future__ import annotations

import logging

from contract.codes import ResponseCode

from .model import JournalKind
from .tracking import Phase, Step, Tracked
from .turn import Turn

log = logging.getLogger(__name__)


def on_tick(turn: Turn) -> None:
    for tracked in turn.state.due_requests(turn.at):
        turn.state.put_request(tracked.advance(Step.DEADLINE))
        by = tracked.deadline.isoformat()
        match tracked.phase:
            case Phase.AWAITING_SIGNATURE:
                turn.journal(
                    JournalKind.REJECTED,
                    device_id=tracked.device_id,
                    user_id=tracked.user_id,
                    request_id=tracked.request_id,
                    detail={"reason": f"pre-command not signed by {by}: expired (D-SEC8)"},
                )
            case Phase.AWAITING_RESPONSE:
                log.info("request %s: no response from %s", tracked.request_id, tracked.device_id)
                _answer(turn, tracked, ResponseCode.E21, f"no response from the device by {by}")
            case Phase.AWAITING_EXECUTION:
                _answer(turn, tracked, ResponseCode.E30, f"no activation alert by {by}")
            case Phase.AWAITING_RECEIPT:
                turn.journal(
                    JournalKind.REJECTED,
                    device_id=tracked.device_id,
                    request_id=tracked.request_id,
                    detail={"reason": f"no firmware receipt by {by} (R9)"},
                )


def _answer(turn: Turn, tracked: Tracked, code: ResponseCode, reason: str) -> None:
    body = {"reason": reason, "device_id": tracked.device_id}
    turn.respond(tracked.user_id, tracked.request_id, tracked.srv, code, body)

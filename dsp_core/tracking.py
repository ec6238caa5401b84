"""Request tracking: what the DSP is waiting for from a device (R7, R8, R9).

A `Tracked` record is keyed by the header of the command sent, (originator, counter):
the device's response echoes both (D8). Its phase moves by one table; anything else
raises `IllegalTransitionError`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from contract.records import record
from contract.transitions import TransitionTable


class Phase(StrEnum):
    # CV 4 answered with a pre-command; the user's signed copy (CV 5) not yet in (D-SEC8)
    AWAITING_SIGNATURE = "AwaitingSignedPreCommand"
    AWAITING_RESPONSE = "AwaitingResponse"  # command sent, no response yet
    AWAITING_EXECUTION = "AwaitingExecution"  # future-dated 11.3 accepted (R7)
    AWAITING_RECEIPT = "AwaitingReceipt"  # image distributed, no receipt yet (R9)
    TIMED_OUT = "TimedOut"  # E21/E30 sent; a late report is still processed (R8)
    DONE = "Done"


class Step(StrEnum):
    SIGNED = "signed"  # the signed pre-command checked and sent (D-SEC8)
    RETURNED = "returned"  # the signed pre-command checked and returned (CV 6, D-SEC8)
    RESPONDED = "responded"
    ACCEPTED_FUTURE_DATED = "accepted-future-dated"
    EXECUTED = "executed"
    RECEIPT = "receipt"
    CANCELLED = "cancelled"
    DEADLINE = "deadline"


_P = Phase
TRANSITIONS: TransitionTable[Phase, Step] = TransitionTable(
    {
        (_P.AWAITING_SIGNATURE, Step.SIGNED): _P.AWAITING_RESPONSE,
        (_P.AWAITING_SIGNATURE, Step.RETURNED): _P.DONE,
        (_P.AWAITING_SIGNATURE, Step.DEADLINE): _P.DONE,  # the pre-command expired
        (_P.AWAITING_RESPONSE, Step.RESPONDED): _P.DONE,
        (_P.AWAITING_RESPONSE, Step.ACCEPTED_FUTURE_DATED): _P.AWAITING_EXECUTION,
        (_P.AWAITING_RESPONSE, Step.DEADLINE): _P.TIMED_OUT,
        (_P.AWAITING_RESPONSE, Step.EXECUTED): _P.DONE,  # the alert overtook the acceptance
        (_P.AWAITING_EXECUTION, Step.EXECUTED): _P.DONE,
        (_P.AWAITING_EXECUTION, Step.CANCELLED): _P.DONE,
        (_P.AWAITING_EXECUTION, Step.DEADLINE): _P.TIMED_OUT,
        (_P.AWAITING_RECEIPT, Step.RECEIPT): _P.DONE,
        (_P.AWAITING_RECEIPT, Step.DEADLINE): _P.DONE,
        (_P.TIMED_OUT, Step.RESPONDED): _P.DONE,
        (_P.TIMED_OUT, Step.ACCEPTED_FUTURE_DATED): _P.AWAITING_EXECUTION,
        (_P.TIMED_OUT, Step.EXECUTED): _P.DONE,
        (_P.TIMED_OUT, Step.RECEIPT): _P.DONE,
    }
)

OPEN_PHASES = frozenset(
    {_P.AWAITING_SIGNATURE, _P.AWAITING_RESPONSE, _P.AWAITING_EXECUTION, _P.AWAITING_RECEIPT}
)

RequestKey = tuple[str, int]  # (command originator, originator counter)


@record
class Tracked:
    key: RequestKey
    request_id: str
    user_id: str
    srv: str
    device_id: str
    ch_id: str
    message_code: int
    phase: Phase
    deadline: datetime
    sent_at: datetime
    execution: datetime | None = None  # a future-dated 11.3 (R7)
    cancellation: bool = False  # an 11.3 that cancels (R7)
    image_hash: str | None = None  # 11.1/11.4: what the receipt must report (R9)
    pre_command: bytes | None = None  # a Critical SR's pre-command, issued for CV 4 (D-SEC8)

    @property
    def is_open(self) -> bool:
        return self.phase in OPEN_PHASES

    @property
    def was_sent(self) -> bool:
        """Whether its command went to the device (a pre-command waits for its signature)."""
        return self.phase is not Phase.AWAITING_SIGNATURE

    def advance(self, step: Step, deadline: datetime | None = None) -> Tracked:
        target = TRANSITIONS.next(f"request {self.request_id}", self.phase, step)
        # Spelt out: dataclasses.replace costs twice as much, on every response.
        return Tracked(
            self.key,
            self.request_id,
            self.user_id,
            self.srv,
            self.device_id,
            self.ch_id,
            self.message_code,
            target,
            deadline or self.deadline,
            self.sent_at,
            self.execution,
            self.cancellation,
            self.image_hash,
            self.pre_command,
        )

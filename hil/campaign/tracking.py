"""What the campaign waits for: each request it sent, and each job (a request that may
be sent again after a lost answer). Both move by explicit tables; a step not in a table
raises `IllegalTransitionError` naming role, state and event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contract.requests import Srv
from contract.transitions import TransitionTable


class Purpose(StrEnum):
    DISTRIBUTE = "distribute"  # 11.1 or 11.4 to a batch of one target (R9)
    ACTIVATE = "activate"  # 11.3 to one device
    INVENTORY = "inventory"  # 8.2 to a batch
    READ = "read"  # 11.2 to a Suspended device (R5)
    GPF_READ = "gpf-read"  # 11.2 to a GPF (R6)


# ---- one request, by its request ID ------------------------------------------------


class RequestState(StrEnum):
    OPEN = "Open"  # sent; I99 may have come
    AWAITING_SIGNATURE = "AwaitingSignature"  # CV 4 answered with a pre-command (D-SEC8)
    SIGNED = "Signed"  # the signed pre-command sent back as CV 5 under the same ID
    SCHEDULED = "Scheduled"  # a future-dated 11.3 the device accepted (R7)
    TIMED_OUT = "TimedOut"  # E21/E30, or nothing within response_wait; late answers welcome
    DONE = "Done"


class RequestEvent(StrEnum):
    ACCEPTED = "accepted"  # I0 with command_accepted (R7)
    ANSWERED = "answered"  # a final answer: I0 or a refusal
    NO_RESPONSE = "no-response"  # E21 (R8) or E30 (R7) from the DSP
    EXPIRED = "expired"  # response_wait passed with no final answer
    EXECUTED = "executed"  # 0x8F66/0x8F67 alert (R7)
    PRE_COMMAND = "pre-command"  # I0 to a CV 4 carrying the pre-command to sign
    SIGNED = "signed"  # the campaign signed it and sent the CV 5


_R, _RE = RequestState, RequestEvent
REQUEST_TRANSITIONS: TransitionTable[RequestState, RequestEvent] = TransitionTable(
    {
        (_R.OPEN, _RE.ACCEPTED): _R.SCHEDULED,
        (_R.OPEN, _RE.ANSWERED): _R.DONE,
        (_R.OPEN, _RE.NO_RESPONSE): _R.TIMED_OUT,
        (_R.OPEN, _RE.EXPIRED): _R.TIMED_OUT,
        (_R.OPEN, _RE.EXECUTED): _R.DONE,  # the alert overtook the acceptance
        (_R.SCHEDULED, _RE.ACCEPTED): _R.SCHEDULED,
        (_R.SCHEDULED, _RE.EXECUTED): _R.DONE,
        (_R.SCHEDULED, _RE.NO_RESPONSE): _R.TIMED_OUT,
        (_R.SCHEDULED, _RE.EXPIRED): _R.TIMED_OUT,
        (_R.TIMED_OUT, _RE.ACCEPTED): _R.SCHEDULED,
        (_R.TIMED_OUT, _RE.ANSWERED): _R.DONE,  # R8: late, still a device's report
        (_R.TIMED_OUT, _RE.EXECUTED): _R.DONE,
        (_R.TIMED_OUT, _RE.NO_RESPONSE): _R.TIMED_OUT,  # we gave up waiting before the DSP
        # a Critical SR with security on (D-SEC8, D-SEC21): sign, then as an open request
        (_R.OPEN, _RE.PRE_COMMAND): _R.AWAITING_SIGNATURE,
        (_R.AWAITING_SIGNATURE, _RE.SIGNED): _R.SIGNED,
        (_R.AWAITING_SIGNATURE, _RE.ANSWERED): _R.DONE,  # could not be signed
        (_R.SIGNED, _RE.ACCEPTED): _R.SCHEDULED,
        (_R.SIGNED, _RE.ANSWERED): _R.DONE,
        (_R.SIGNED, _RE.NO_RESPONSE): _R.TIMED_OUT,
        (_R.SIGNED, _RE.EXPIRED): _R.TIMED_OUT,
        (_R.SIGNED, _RE.EXECUTED): _R.DONE,
    }
)


def request_allows(state: RequestState, event: RequestEvent) -> bool:
    return (state, event) in REQUEST_TRANSITIONS


@dataclass(slots=True)
class Outstanding:
    """One request sent: which job and attempt it is, and where it stands."""

    request_id: str
    job: Job
    attempt: int
    sent_at: datetime
    execution: datetime | None = None  # a future-dated 11.3 (R7)
    state: RequestState = RequestState.OPEN
    acknowledged: bool = False  # I99 seen
    final_code: str | None = None

    def step(self, event: RequestEvent) -> None:
        self.state = REQUEST_TRANSITIONS.next(f"request {self.request_id}", self.state, event)


# ---- one job: a request and its retries ----------------------------------------------


class JobState(StrEnum):
    WAITING = "Waiting"  # a request is out
    BACKOFF = "Backoff"  # its answer was lost; the retry is due later
    DONE = "Done"


class JobEvent(StrEnum):
    LOST = "lost"
    GIVE_UP = "give-up"
    RESEND = "resend"
    SETTLED = "settled"


_J, _JE = JobState, JobEvent
JOB_TRANSITIONS: TransitionTable[JobState, JobEvent] = TransitionTable(
    {
        (_J.WAITING, _JE.LOST): _J.BACKOFF,
        (_J.WAITING, _JE.GIVE_UP): _J.DONE,
        (_J.WAITING, _JE.SETTLED): _J.DONE,
        (_J.BACKOFF, _JE.RESEND): _J.WAITING,
        (_J.BACKOFF, _JE.SETTLED): _J.DONE,  # a late answer to an earlier attempt
    }
)


@dataclass(slots=True)
class Job:
    """What is asked (SRV, target, devices) and its attempts; `current` is the request
    whose answer the job waits for."""

    purpose: Purpose
    name: str  # unique within the purpose: a device ID, or a batch name
    srv: Srv
    target: str
    device_ids: tuple[str, ...]
    attempts: int = 0
    current: str | None = None
    state: JobState = JobState.WAITING
    outcome: str | None = None  # the final response code, or "gave-up"

    @property
    def key(self) -> str:
        return f"{self.purpose}:{self.name}"

    @property
    def done(self) -> bool:
        return self.state is JobState.DONE

    def step(self, event: JobEvent) -> None:
        self.state = JOB_TRANSITIONS.next(f"job {self.purpose}:{self.name}", self.state, event)

"""The campaign's bookkeeping, shared by its handlers (the part dsp_core's `Turn` plays):
the phase, every device's progress, the jobs and requests sent, the timers, and what
was counted or did not fit. Nothing here decides what to send next."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contract.errors import IllegalTransitionError
from contract.requests import (
    SendRequest,
    Srv,
    activate_body,
    build,
    inventory_body,
    update_firmware_body,
)
from contract.transitions import TransitionTable
from hil.security import Signer, Verifier

from .device import DeviceProgress, UpgradeEvent, UpgradeState, device_allows
from .plan import CampaignPlan
from .report import (
    CampaignReport,
    Counts,
    GpfRead,
    IntegrityLog,
    Unexpected,
    outcome_of,
    totals_of,
)
from .timers import Timers
from .tracking import Job, JobEvent, JobState, Outstanding, Purpose, RequestEvent, RequestState

log = logging.getLogger(__name__)

GIVEN_UP = "gave-up"


class CampaignPhase(StrEnum):
    IDLE = "Idle"
    UPGRADING = "Upgrading"
    INVENTORY = "Inventory"
    READING = "Reading"
    GPF_READING = "GpfReading"
    FINAL_INVENTORY = "FinalInventory"
    FINISHED = "Finished"


class CampaignPhaseEvent(StrEnum):
    START = "start"
    UPGRADES_SETTLED = "upgrades-settled"
    JOBS_DONE = "jobs-done"


PHASE_TRANSITIONS: TransitionTable[CampaignPhase, CampaignPhaseEvent] = TransitionTable(
    {
        (CampaignPhase.IDLE, CampaignPhaseEvent.START): CampaignPhase.UPGRADING,
        (CampaignPhase.UPGRADING, CampaignPhaseEvent.UPGRADES_SETTLED): CampaignPhase.INVENTORY,
        (CampaignPhase.INVENTORY, CampaignPhaseEvent.JOBS_DONE): CampaignPhase.READING,
        (CampaignPhase.READING, CampaignPhaseEvent.JOBS_DONE): CampaignPhase.GPF_READING,
        (CampaignPhase.GPF_READING, CampaignPhaseEvent.JOBS_DONE): CampaignPhase.FINAL_INVENTORY,
        (CampaignPhase.FINAL_INVENTORY, CampaignPhaseEvent.JOBS_DONE): CampaignPhase.FINISHED,
    }
)


class CampaignTimer(StrEnum):
    ANSWER = "answer"  # response_wait of one request (by request ID)
    RECEIPT = "receipt"  # receipt_wait of one 11.1/11.4 batch (by its request ID)
    RETRY = "retry"  # the back-off of one job (by job key)


TimerKey = tuple[CampaignTimer, str]


class CampaignState:
    __slots__ = (
        "alerts",
        "counter",
        "devices",
        "e21",
        "gpf_reads",
        "integrity",
        "jobs",
        "missing",
        "noise",
        "phase",
        "phase_jobs",
        "plan",
        "requests",
        "signed",
        "signer",
        "timers",
        "unexpected",
        "unsettled",
        "verifier",
    )

    def __init__(
        self, plan: CampaignPlan, signer: Signer | None = None, verifier: Verifier | None = None
    ) -> None:
        self.plan = plan
        self.signer = signer  # None: security off, a pre-command cannot be signed
        self.verifier = verifier  # None: device messages are not judged
        self.integrity = IntegrityLog()
        self.signed = 0  # signed pre-commands sent (CV 5)
        self.phase = CampaignPhase.IDLE
        self.counter = plan.first_counter  # the next originator counter
        self.devices = {
            device_id: DeviceProgress(device_id, target)
            for target in plan.targets
            for device_id in target.device_ids
        }
        self.jobs: dict[str, Job] = {}
        self.requests: dict[str, Outstanding] = {}
        self.timers: Timers[TimerKey] = Timers()
        self.unsettled = set(self.devices)  # devices whose upgrade is not settled
        self.phase_jobs: set[str] = set()  # open jobs the current phase waits for
        self.alerts: Counter[str] = Counter()
        self.unexpected: list[Unexpected] = []
        self.gpf_reads: dict[str, GpfRead] = {}
        self.e21 = self.missing = self.noise = 0

    # ---- phases -------------------------------------------------------------------

    def enter(self, event: CampaignPhaseEvent) -> None:
        target = PHASE_TRANSITIONS.next("campaign", self.phase, event)
        log.info("campaign: %s -> %s", self.phase, target)
        self.phase = target

    @property
    def finished(self) -> bool:
        return self.phase is CampaignPhase.FINISHED

    # ---- requests and jobs ----------------------------------------------------------

    def new_job(
        self, purpose: Purpose, name: str, srv: Srv, target: str, ids: tuple[str, ...]
    ) -> Job:
        job = Job(purpose, name, srv, target, ids)
        if job.key in self.jobs:
            raise IllegalTransitionError(f"job {job.key}", "exists", "create")
        self.jobs[job.key] = job
        return job

    def activation_job(self, device_id: str) -> Job | None:
        return self.jobs.get(f"{Purpose.ACTIVATE}:{device_id}")

    def send(self, job: Job, now: datetime) -> SendRequest:
        """The next attempt of `job`, with the next originator counter (DESIGN §3)."""
        execution = None
        if job.purpose is Purpose.ACTIVATE and self.plan.execution_delay is not None:
            execution = _whole_second(now + self.plan.execution_delay)  # R7
        counter, self.counter = self.counter, self.counter + 1
        body = self._body(job, execution)
        request = build(self.plan.user_id, job.srv, job.target, counter, body)
        job.attempts += 1
        job.current = request.request_id
        sent = Outstanding(request.request_id, job, job.attempts, now, execution)
        self.requests[sent.request_id] = sent
        self.timers.set((CampaignTimer.ANSWER, sent.request_id), now + self.plan.response_wait)
        log.debug("sent %s (%s, attempt %d)", sent.request_id, job.srv, job.attempts)
        return request

    def _body(self, job: Job, execution: datetime | None) -> dict[str, Any]:
        match job.purpose:
            case Purpose.DISTRIBUTE:
                target = self.devices[job.device_ids[0]].target
                return update_firmware_body(target.image, target.version, job.device_ids)
            case Purpose.ACTIVATE:
                return activate_body(self.devices[job.target].target.image_hash, execution)
            case Purpose.INVENTORY:
                return inventory_body(job.device_ids)
            case Purpose.READ | Purpose.GPF_READ:
                return {}

    def step_request(
        self, sent: Outstanding, event: RequestEvent, code: str, now: datetime
    ) -> None:
        """Move a request by its table; its answer timer follows (R7: after acceptance
        the wait runs from the execution time)."""
        sent.step(event)
        key = (CampaignTimer.ANSWER, sent.request_id)
        if sent.state is RequestState.SCHEDULED and not self.finished:
            start = sent.execution if sent.execution is not None else now
            self.timers.set(key, max(start, now) + self.plan.response_wait)
        elif sent.state in (RequestState.DONE, RequestState.TIMED_OUT):
            self.timers.cancel(key)
        if event is not RequestEvent.ACCEPTED:
            sent.final_code = code

    def settle_job(self, job: Job, outcome: str) -> None:
        if job.done:
            return
        job.step(JobEvent.SETTLED)
        job.outcome = outcome
        self.phase_jobs.discard(job.key)
        self.timers.cancel((CampaignTimer.RETRY, job.key))

    def give_up_job(self, job: Job) -> None:
        # a path the campaign plans for (what is still Suspended is read with 11.2 next)
        log.info("%s: every answer lost after %d attempts", job.key, job.attempts)
        job.step(JobEvent.GIVE_UP)
        job.outcome = GIVEN_UP
        self.phase_jobs.discard(job.key)

    # ---- devices ------------------------------------------------------------------

    def device_event(self, progress: DeviceProgress, event: UpgradeEvent, now: datetime) -> bool:
        """Apply what the DSP said about a device; what its state does not allow is
        noise when the device is settled, unexpected otherwise. Never raises."""
        if not device_allows(progress.state, event):
            if progress.settled:
                self.note_noise(f"{event} after {progress.state}", progress.device_id)
            else:
                reason = f"{event} not expected in state {progress.state}"
                self.unexpect(now, "transition", reason, None, progress.device_id)
            return False
        self.device_step(progress, event)
        return True

    def device_step(self, progress: DeviceProgress, event: UpgradeEvent) -> None:
        """A step the campaign takes itself: one its table does not allow raises."""
        progress.step(event)
        if progress.settled:
            self.unsettled.discard(progress.device_id)

    def waiting(self, ids: tuple[str, ...], state: UpgradeState) -> list[DeviceProgress]:
        return [self.devices[i] for i in ids if self.devices[i].state is state]

    # ---- what was counted, and what did not fit ----------------------------------------

    def count_loss(self, job: Job, *, e21: bool, waited_for: bool) -> None:
        """Every E21 counts (R8); a silence only for the attempt the job waited for."""
        if not e21 and not waited_for:
            return
        progress = self.devices.get(job.target)
        if e21:
            self.e21 += 1
            if progress is not None:
                progress.e21 += 1
        else:
            self.missing += 1
            if progress is not None:
                progress.lost += 1

    def unexpect(
        self,
        now: datetime,
        kind: str,
        reason: str,
        request_id: str | None = None,
        device_id: str | None = None,
    ) -> None:
        log.warning(
            "campaign: unexpected %s for device %s (request %s): %s",
            kind,
            device_id,
            request_id,
            reason,
        )
        self.unexpected.append(Unexpected(now, kind, reason, request_id, device_id))

    def note_noise(self, reason: str, subject: str) -> None:
        log.debug("campaign: ignored (%s): %s", subject, reason)
        self.noise += 1

    def report(self) -> CampaignReport:
        outcomes = tuple(outcome_of(progress) for progress in self.devices.values())
        counts = Counts(self.e21, self.missing, len(self.unexpected), self.noise)
        security = None
        if self.verifier is not None or self.signer is not None:
            security = self.integrity.report(self.signed)
        return CampaignReport(
            finished=self.finished,
            phase=str(self.phase),
            devices=outcomes,
            totals=totals_of(outcomes, counts),
            alerts=dict(self.alerts),
            gpf_reads=tuple(self.gpf_reads.values()),
            unexpected=tuple(self.unexpected),
            security=security,
        )


def waits_for(job: Job | None, sent: Outstanding | None) -> bool:
    """Whether `sent` is the attempt `job` is waiting for (not an earlier one, and not
    one whose answer was already given up as lost)."""
    return (
        job is not None
        and sent is not None
        and job.current == sent.request_id
        and job.state is JobState.WAITING
    )


def _whole_second(when: datetime) -> datetime:
    """Rounded up: GBCS carries execution times in whole seconds (GeneralizedTime)."""
    if when.microsecond == 0:
        return when
    return when.replace(microsecond=0) + timedelta(seconds=1)

"""A firmware campaign as a sans-IO state machine: a service user (a supplier) upgrading
a fleet through the DSP, seeing only the DUIS-shaped JSON of DESIGN §3.

    model = CampaignModel(plan)
    sends = model.start(now)                       # publish each SendRequest
    sends = model.on_response(response_json, now)  # from {root}/users/{user}/responses
    sends = model.on_alert(alert_json, now)        # from {root}/users/{user}/alerts
    sends = model.on_tick(now)                     # when model.next_due() comes
    model.finished, model.report()

No clock, no I/O: every time is an argument (h11's shape). The phases:

1. UPGRADING: 11.1 (11.4 for one-step targets) per target in batches; warned devices are
   skipped (R9); each FirmwareReceipt with a matching hash starts that device's 11.3
   (future-dated when the plan says, R7); no receipt within `receipt_wait` activates
   anyway. A lost answer (E21, or nothing within `response_wait`) is retried after a
   doubling back-off (R8); the answer to a retry counts like any other (R5).
2. INVENTORY: 8.2 for every device (and GPF) of the plan.
3. READING: 11.2 to each device the 8.2 shows Suspended (R5: restored on a version on a
   Current CPL entry); then GPF_READING: 11.2 to each GPF when `read_gpfs` (R6, N52).
4. FINAL_INVENTORY: 8.2 again; then FINISHED.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contract.codes import ResponseCode, UserAlertCode
from contract.errors import MalformedMessageError
from contract.ids import DCC_ACCESS_CONTROL_BROKER
from contract.requests import SendRequest, Srv
from contract.responses import (
    AlertMessage,
    PreCommand,
    ResponseMessage,
    firmware_version,
    read_alert,
    read_pre_command,
    read_response,
)
from contract.vocabulary import SmiStatus
from hil.errors import CampaignError
from hil.security import Signer, Verifier

from . import signing, upgrade
from .device import UpgradeState
from .plan import CampaignPlan
from .report import CampaignReport, GpfRead
from .state import (
    GIVEN_UP,
    CampaignPhase,
    CampaignPhaseEvent,
    CampaignState,
    CampaignTimer,
    waits_for,
)
from .tracking import (
    Job,
    JobEvent,
    Outstanding,
    Purpose,
    RequestEvent,
    RequestState,
    request_allows,
)

__all__ = ["CampaignModel", "CampaignPhase"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    """A campaign's progress, for a progress display."""

    phase: str
    settled: int  # devices whose upgrade has come to an end, either way
    devices: int


class CampaignModel:
    """The campaign; see the module docstring for the phases."""

    __slots__ = ("_state",)

    def __init__(
        self, plan: CampaignPlan, signer: Signer | None = None, verifier: Verifier | None = None
    ) -> None:
        """`signer` signs the pre-commands of Critical SRs and `verifier` judges the
        device messages, when the lab's security is on (None, None: off, as before)."""
        self._state = CampaignState(plan, signer, verifier)

    # ---- the interface ------------------------------------------------------------

    @property
    def plan(self) -> CampaignPlan:
        return self._state.plan

    @property
    def phase(self) -> CampaignPhase:
        return self._state.phase

    @property
    def finished(self) -> bool:
        return self._state.finished

    @property
    def last_counter(self) -> int:
        """The highest originator counter used so far (first_counter - 1 before start)."""
        return self._state.counter - 1

    def progress(self) -> CampaignProgress:
        """Where the campaign stands: its phase and how many devices have settled."""
        devices = self._state.devices.values()
        settled = sum(1 for progress in devices if progress.settled)
        return CampaignProgress(str(self.phase), settled, len(self._state.devices))

    def count_in(self, state: UpgradeState) -> int:
        """How many devices are in `state` now (progress displays, tests)."""
        return sum(1 for progress in self._state.devices.values() if progress.state is state)

    def start(self, now: datetime) -> list[SendRequest]:
        state = self._state
        state.enter(CampaignPhaseEvent.START)
        return [
            upgrade.distribute(state, target, number, ids, now)
            for target in state.plan.targets
            for number, ids in enumerate(batches(target.device_ids, state.plan.batch_size))
        ]

    def on_response(self, message: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        """A response JSON dict from `{root}/users/{user_id}/responses`."""
        try:
            response = read_response(message)
        except MalformedMessageError as exc:
            self._state.unexpect(now, "response", f"malformed: {exc}")
            return []
        sent = self._state.requests.get(response.request_id)
        if sent is None:
            self._state.unexpect(now, "response", "unknown request ID", response.request_id)
            return []
        signing.judge_message(
            self._state, ("response", response.request_id), response.body, sent.job.target, now
        )
        return self._on_response(sent, response, now) + self._progress(now)

    def on_alert(self, message: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        """An alert JSON dict from `{root}/users/{user_id}/alerts`."""
        try:
            alert = read_alert(message)
        except MalformedMessageError as exc:
            self._state.unexpect(now, "alert", f"malformed: {exc}")
            return []
        signing.judge_message(
            self._state, ("alert", alert.alert_code), alert.body, alert.device_id, now
        )
        return self._on_alert(alert, now) + self._progress(now)

    def on_tick(self, now: datetime) -> list[SendRequest]:
        sends: list[SendRequest] = []
        while (key := self._state.timers.pop_next(now)) is not None:
            sends += self._on_timer(*key, now)
        return sends + self._progress(now)

    def next_due(self) -> datetime | None:
        return self._state.timers.next_due()

    def report(self) -> CampaignReport:
        return self._state.report()

    # ---- responses ----------------------------------------------------------------

    def _on_response(
        self, sent: Outstanding, response: ResponseMessage, now: datetime
    ) -> list[SendRequest]:
        if response.code == ResponseCode.I99:
            sent.acknowledged = True  # I99: accepted by the DSP; nothing else to do
            return []
        try:
            pre = read_pre_command(response.body) if response.code == ResponseCode.I0 else None
        except MalformedMessageError as exc:
            self._state.unexpect(now, "response", f"malformed: {exc}", sent.request_id)
            return []
        if pre is not None:
            return self._on_pre_command(sent, response, pre, now)
        event = self._request_event(sent, response)
        if event is None:
            return []
        if not request_allows(sent.state, event):
            reason = f"{response.code} not expected for a request in state {sent.state}"
            device_id = sent.job.target if sent.job.target != DCC_ACCESS_CONTROL_BROKER else None
            self._state.unexpect(now, "response", reason, sent.request_id, device_id)
            return []
        self._state.step_request(sent, event, response.code, now)
        return self._dispatch(sent, response, event, now)

    def _on_pre_command(
        self, sent: Outstanding, response: ResponseMessage, pre: PreCommand, now: datetime
    ) -> list[SendRequest]:
        """CV 4 answered with a pre-command: sign it and send CV 5 (D-SEC21); when it
        cannot be signed the request ends as refused (`unsigned`)."""
        state = self._state
        if not signing.may_sign(sent):
            state.note_noise(f"pre-command for a request {sent.state}", sent.request_id)
            return []
        signed = signing.sign_pre_command(state, sent, pre, now)
        if isinstance(signed, SendRequest):
            return [signed]
        state.unexpect(now, "signature", signed, sent.request_id, sent.job.target)
        refusal = signing.unsigned(response)
        state.step_request(sent, RequestEvent.ANSWERED, refusal.code, now)
        return self._dispatch(sent, refusal, RequestEvent.ANSWERED, now)

    def _request_event(self, sent: Outstanding, response: ResponseMessage) -> RequestEvent | None:
        """What an answer means for its request; None for noise (D9's S3 for a request
        already accepted or answered: a replayed copy of it was refused)."""
        code = response.code
        if code == ResponseCode.S3_REPLAYED_REQUEST and (
            sent.acknowledged or sent.state is RequestState.DONE
        ):
            self._state.note_noise("S3 for a request already accepted", sent.request_id)
            return None
        if code in (ResponseCode.E21, ResponseCode.E30):
            return RequestEvent.NO_RESPONSE
        if code == ResponseCode.I0 and response.command_accepted:
            return RequestEvent.ACCEPTED
        return RequestEvent.ANSWERED

    def _dispatch(
        self, sent: Outstanding, response: ResponseMessage, event: RequestEvent, now: datetime
    ) -> list[SendRequest]:
        if response.code == ResponseCode.E21:
            return self._lost(sent, now, e21=True)
        if (
            response.code == ResponseCode.S3_REPLAYED_REQUEST
        ):  # refused as a replay before any answer (C11)
            log.info("%s refused as a replay; sending it again", sent.request_id)
            return self._lost(sent, now, e21=False)
        match sent.job.purpose:
            case Purpose.DISTRIBUTE:
                upgrade.on_distribution(self._state, sent, response, now)
            case Purpose.ACTIVATE:
                upgrade.on_activation(self._state, sent, response, event, now)
            case Purpose.INVENTORY:
                self._on_inventory(sent, response)
            case Purpose.READ | Purpose.GPF_READ:
                self._on_read(sent, response)
        return []

    def _on_inventory(self, sent: Outstanding, response: ResponseMessage) -> None:
        state = self._state
        if sent.job.done:  # a late copy: a newer 8.2 may already have answered
            state.note_noise("answer to an 8.2 already settled", sent.request_id)
            return
        state.settle_job(sent.job, response.code)
        if response.code != ResponseCode.I0:
            log.warning("8.2 %s answered %s", sent.request_id, response.code)
            return
        records = response.body.get("devices")
        for record in records if isinstance(records, list) else []:
            device_id = record.get("device_id") if isinstance(record, Mapping) else None
            progress = state.devices.get(device_id) if isinstance(device_id, str) else None
            if progress is not None:
                progress.inventory = dict(record)
        unknown = response.body.get("unknown_device_ids")
        for device_id in unknown if isinstance(unknown, list) else []:
            if (progress := state.devices.get(device_id)) is not None:
                progress.errors.append("8.2-unknown")

    def _on_read(self, sent: Outstanding, response: ResponseMessage) -> None:
        """R5 (a device's own 11.2) and R6 (a GPF's, whose N52 is counted as an alert)."""
        job = sent.job
        if job.current != sent.request_id and job.done:
            self._state.note_noise("answer to an earlier 11.2", sent.request_id)
            return
        self._state.settle_job(job, response.code)
        version = firmware_version(response.body) if response.code == ResponseCode.I0 else None
        if job.purpose is Purpose.GPF_READ:
            self._state.gpf_reads[job.target] = GpfRead(job.target, response.code, version)
            return
        progress = self._state.devices[job.target]
        progress.read_code, progress.read_version = response.code, version
        if response.code != ResponseCode.I0:
            progress.errors.append(f"11.2-{response.code}")
        log.info("device %s: 11.2 answered %s, version %s", job.target, response.code, version)

    # ---- alerts -------------------------------------------------------------------

    def _on_alert(self, alert: AlertMessage, now: datetime) -> list[SendRequest]:
        state, code = self._state, alert.alert_code
        state.alerts[code] += 1
        progress = state.devices.get(alert.device_id or "")
        if progress is not None:
            progress.alerts.append(code)
        if code not in (
            UserAlertCode.FIRMWARE_RECEIPT,
            UserAlertCode.FIRMWARE_ACTIVATED,
            UserAlertCode.FIRMWARE_ACTIVATION_FAILED,
        ):
            return []  # N28, N29, N50, N51, N52, ...: counted
        if progress is None:
            reason = f"{code} for a device not in the plan"
            state.unexpect(now, "alert", reason, alert.request_id, alert.device_id)
            return []
        if code == UserAlertCode.FIRMWARE_RECEIPT:
            return upgrade.on_receipt(state, alert, progress, now)
        upgrade.on_activation_alert(state, alert, progress, now)
        return []

    # ---- timers and lost answers (R8) -----------------------------------------------

    def _on_timer(self, kind: CampaignTimer, name: str, now: datetime) -> list[SendRequest]:
        state = self._state
        match kind:
            case CampaignTimer.ANSWER:
                sent = state.requests[name]
                sent.step(RequestEvent.EXPIRED)
                log.info("request %s: no answer within response_wait", name)
                return self._lost(sent, now, e21=False)
            case CampaignTimer.RECEIPT:
                return upgrade.receipt_wait_over(state, state.requests[name].job, now)
            case CampaignTimer.RETRY:
                return self._retry(state.jobs[name], now)

    def _lost(self, sent: Outstanding, now: datetime, *, e21: bool) -> list[SendRequest]:
        """An answer lost (E21), or not seen within response_wait: retry after the
        back-off, or give up after max_retries."""
        state, job = self._state, sent.job
        waited_for = waits_for(job, sent)
        state.count_loss(job, e21=e21, waited_for=waited_for)
        if not waited_for:
            return []
        if job.purpose is Purpose.DISTRIBUTE:
            upgrade.distribution_lost(state, sent, now)
        elif job.attempts > state.plan.max_retries:
            self._give_up(job, now)
        else:
            job.step(JobEvent.LOST)
            retry_at = now + state.plan.backoff(job.attempts)
            state.timers.set((CampaignTimer.RETRY, job.key), retry_at)
            if job.purpose is Purpose.ACTIVATE:
                upgrade.activation_lost(state, job, now)
        return []

    def _give_up(self, job: Job, now: datetime) -> None:
        state = self._state
        state.give_up_job(job)
        match job.purpose:
            case Purpose.ACTIVATE:
                upgrade.activation_given_up(state, job, now)
            case Purpose.READ:
                state.devices[job.target].read_code = GIVEN_UP
            case Purpose.GPF_READ:
                state.gpf_reads[job.target] = GpfRead(job.target, GIVEN_UP, None)
            case _:
                pass

    def _retry(self, job: Job, now: datetime) -> list[SendRequest]:
        if job.purpose is Purpose.ACTIVATE:
            return [upgrade.activate(self._state, self._state.devices[job.target], now)]
        job.step(JobEvent.RESEND)
        return [self._state.send(job, now)]

    # ---- phases -------------------------------------------------------------------

    def _progress(self, now: datetime) -> list[SendRequest]:
        """Move on through every phase whose work is done; send what the next needs."""
        sends: list[SendRequest] = []
        while (event := self._phase_done()) is not None:
            self._state.enter(event)
            sends += self._phase_requests(now)
        return sends

    def _phase_done(self) -> CampaignPhaseEvent | None:
        state = self._state
        if state.phase is CampaignPhase.UPGRADING and not state.unsettled:
            return CampaignPhaseEvent.UPGRADES_SETTLED
        if (
            state.phase in (CampaignPhase.IDLE, CampaignPhase.UPGRADING, CampaignPhase.FINISHED)
            or state.phase_jobs
        ):
            return None
        return CampaignPhaseEvent.JOBS_DONE

    def _phase_requests(self, now: datetime) -> list[SendRequest]:
        state = self._state
        match state.phase:
            case CampaignPhase.INVENTORY | CampaignPhase.FINAL_INVENTORY:
                jobs = self._inventory_jobs()
            case CampaignPhase.READING:
                jobs = [self._read_job(Purpose.READ, i) for i in self._suspended()]
            case CampaignPhase.GPF_READING:
                ids = state.plan.gpf_ids if state.plan.read_gpfs else ()
                jobs = [self._read_job(Purpose.GPF_READ, i) for i in ids]
            case CampaignPhase.FINISHED:
                state.timers.clear()
                return []
            case _:
                raise CampaignError(f"campaign: no requests for phase {state.phase}")
        state.phase_jobs = {job.key for job in jobs}
        return [state.send(job, now) for job in jobs]

    def _inventory_jobs(self) -> list[Job]:
        """8.2 for every device of the plan and every GPF named, in batches."""
        state, plan = self._state, self._state.plan
        ids = tuple(dict.fromkeys(plan.device_ids + plan.gpf_ids))
        name = f"{state.phase}#{{}}"
        return [
            state.new_job(
                Purpose.INVENTORY,
                name.format(n),
                Srv.READ_INVENTORY,
                DCC_ACCESS_CONTROL_BROKER,
                batch,
            )
            for n, batch in enumerate(batches(ids, plan.batch_size))
        ]

    def _read_job(self, purpose: Purpose, device_id: str) -> Job:
        srv = Srv.READ_FIRMWARE
        return self._state.new_job(purpose, device_id, srv, device_id, (device_id,))

    def _suspended(self) -> list[str]:
        """R5: the devices the first 8.2 shows Suspended get an SR 11.2 to themselves."""
        return [
            device_id
            for device_id, progress in self._state.devices.items()
            if progress.inventory is not None
            and progress.inventory.get("status") == SmiStatus.SUSPENDED
        ]


def batches(ids: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    """`ids` in runs of at most `size` (one 11.1/11.4/8.2 request each)."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]

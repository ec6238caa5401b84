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
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .campaign_device import DeviceEvent, DeviceProgress, DeviceState, device_allows
from .campaign_messages import (
    ACK,
    ACTIVATED_ALERT,
    ACTIVATION_FAILED_ALERT,
    EXECUTION_TIMEOUT,
    NO_RESPONSE,
    RECEIPT_ALERT,
    REPLAY,
    SUCCESS,
    AlertMessage,
    ResponseMessage,
    activation_code,
    firmware_version,
    read_alert,
    read_response,
)
from .campaign_plan import CampaignPlan, FirmwareTarget
from .campaign_report import (
    CampaignReport,
    Counts,
    GpfRead,
    Unexpected,
    outcome_of,
    totals_of,
)
from .campaign_requests import (
    DCC,
    SendRequest,
    Srv,
    activate_body,
    batches,
    build,
    inventory_body,
    update_firmware_body,
)
from .campaign_tracking import (
    Job,
    JobEvent,
    JobState,
    Outstanding,
    Purpose,
    RequestEvent,
    RequestState,
    request_allows,
)
from .errors import CampaignError, IllegalTransitionError, MalformedMessageError
from .timers import Timers

log = logging.getLogger(__name__)


class Phase(StrEnum):
    IDLE = "Idle"
    UPGRADING = "Upgrading"
    INVENTORY = "Inventory"
    READING = "Reading"
    GPF_READING = "GpfReading"
    FINAL_INVENTORY = "FinalInventory"
    FINISHED = "Finished"


class PhaseEvent(StrEnum):
    START = "start"
    UPGRADES_SETTLED = "upgrades-settled"
    JOBS_DONE = "jobs-done"


PHASE_TRANSITIONS: dict[tuple[Phase, PhaseEvent], Phase] = {
    (Phase.IDLE, PhaseEvent.START): Phase.UPGRADING,
    (Phase.UPGRADING, PhaseEvent.UPGRADES_SETTLED): Phase.INVENTORY,
    (Phase.INVENTORY, PhaseEvent.JOBS_DONE): Phase.READING,
    (Phase.READING, PhaseEvent.JOBS_DONE): Phase.GPF_READING,
    (Phase.GPF_READING, PhaseEvent.JOBS_DONE): Phase.FINAL_INVENTORY,
    (Phase.FINAL_INVENTORY, PhaseEvent.JOBS_DONE): Phase.FINISHED,
}


class TimerKind(StrEnum):
    ANSWER = "answer"  # response_wait of one request (by request ID)
    RECEIPT = "receipt"  # receipt_wait of one 11.1/11.4 batch (by its request ID)
    RETRY = "retry"  # the back-off of one job (by job key)


TimerKey = tuple[TimerKind, str]
GIVEN_UP = "gave-up"
PENDING_RESULTS = frozenset({DeviceEvent.ACCEPTED, DeviceEvent.LOST})


class CampaignModel:
    """The campaign's state; see the module docstring for the phases."""

    def __init__(self, plan: CampaignPlan) -> None:
        self.plan = plan
        self.phase = Phase.IDLE
        self._counter = plan.first_counter
        self._devices = {
            device_id: DeviceProgress(device_id, target)
            for target in plan.targets
            for device_id in target.device_ids
        }
        self._jobs: dict[str, Job] = {}
        self._requests: dict[str, Outstanding] = {}
        self._timers: Timers[TimerKey] = Timers()
        self._unsettled = set(self._devices)
        self._phase_jobs: set[str] = set()
        self._alerts: Counter[str] = Counter()
        self._unexpected: list[Unexpected] = []
        self._gpf_reads: dict[str, GpfRead] = {}
        self._e21 = self._missing = self._noise = 0

    # ---- the interface ------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    @property
    def last_counter(self) -> int:
        """The highest originator counter used so far (first_counter - 1 before start)."""
        return self._counter - 1

    def start(self, now: datetime) -> list[SendRequest]:
        self._enter(PhaseEvent.START)
        sends = []
        for target in self.plan.targets:
            for number, ids in enumerate(batches(target.device_ids, self.plan.batch_size)):
                sends.append(self._distribute(target, number, ids, now))
        return sends

    def on_response(self, message: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        """A response JSON dict from `{root}/users/{user_id}/responses`."""
        try:
            response = read_response(message)
        except MalformedMessageError as exc:
            self._unexpect(now, "response", f"malformed: {exc}")
            return []
        sent = self._requests.get(response.request_id)
        if sent is None:
            self._unexpect(now, "response", "unknown request ID", response.request_id)
            return []
        return self._on_response(sent, response, now) + self._progress(now)

    def on_alert(self, message: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        """An alert JSON dict from `{root}/users/{user_id}/alerts`."""
        try:
            alert = read_alert(message)
        except MalformedMessageError as exc:
            self._unexpect(now, "alert", f"malformed: {exc}")
            return []
        self._alerts[alert.alert_code] += 1
        progress = self._devices.get(alert.device_id or "")
        if progress is not None:
            progress.alerts.append(alert.alert_code)
        return self._on_alert(alert, progress, now) + self._progress(now)

    def on_tick(self, now: datetime) -> list[SendRequest]:
        sends: list[SendRequest] = []
        while (key := self._timers.pop_next(now)) is not None:
            sends += self._on_timer(*key, now)
        return sends + self._progress(now)

    def next_due(self) -> datetime | None:
        return self._timers.next_due()

    def report(self) -> CampaignReport:
        outcomes = tuple(outcome_of(progress) for progress in self._devices.values())
        counts = Counts(self._e21, self._missing, len(self._unexpected), self._noise)
        return CampaignReport(
            finished=self.finished,
            phase=str(self.phase),
            devices=outcomes,
            totals=totals_of(outcomes, counts),
            alerts=dict(self._alerts),
            gpf_reads=tuple(self._gpf_reads.values()),
            unexpected=tuple(self._unexpected),
        )

    # ---- sending ------------------------------------------------------------------

    def _send(self, job: Job, now: datetime) -> SendRequest:
        execution = None
        if job.purpose is Purpose.ACTIVATE and self.plan.execution_delay is not None:
            execution = _whole_second(now + self.plan.execution_delay)  # R7
        counter, self._counter = self._counter, self._counter + 1
        request = build(self.plan.user_id, job.srv, job.target, counter, self._body(job, execution))
        job.attempts += 1
        job.current = request.request_id
        sent = Outstanding(request.request_id, job, job.attempts, now, execution)
        self._requests[sent.request_id] = sent
        self._timers.set((TimerKind.ANSWER, sent.request_id), now + self.plan.response_wait)
        log.debug("sent %s (%s, attempt %d)", sent.request_id, job.srv, job.attempts)
        return request

    def _body(self, job: Job, execution: datetime | None) -> dict[str, Any]:
        match job.purpose:
            case Purpose.DISTRIBUTE:
                target = self._devices[job.device_ids[0]].target
                return update_firmware_body(target.image, target.version, job.device_ids)
            case Purpose.ACTIVATE:
                return activate_body(self._devices[job.target].target.image_hash, execution)
            case Purpose.INVENTORY:
                return inventory_body(job.device_ids)
            case Purpose.READ | Purpose.GPF_READ:
                return {}

    def _new_job(
        self, purpose: Purpose, name: str, srv: Srv, target: str, ids: tuple[str, ...]
    ) -> Job:
        job = Job(purpose, name, srv, target, ids)
        if job.key in self._jobs:
            raise IllegalTransitionError(f"job {job.key}", "exists", "create")
        self._jobs[job.key] = job
        return job

    def _distribute(
        self, target: FirmwareTarget, number: int, ids: tuple[str, ...], now: datetime
    ) -> SendRequest:
        srv = Srv.UPDATE_PPMID_FIRMWARE if target.one_step else Srv.UPDATE_FIRMWARE
        job = self._new_job(Purpose.DISTRIBUTE, f"{target.name}#{number}", srv, DCC, ids)
        request = self._send(job, now)
        for device_id in ids:
            progress = self._devices[device_id]
            progress.step(DeviceEvent.SEND_DISTRIBUTION)
            progress.attempts = 1 if target.one_step else 0  # 11.4 is the activation
            progress.distribution = request.request_id
        return request

    def _activate(self, progress: DeviceProgress, now: datetime) -> SendRequest:
        progress.step(DeviceEvent.SEND_ACTIVATION)
        device_id = progress.device_id
        job = self._jobs.get(f"{Purpose.ACTIVATE}:{device_id}")
        if job is None:
            job = self._new_job(
                Purpose.ACTIVATE, device_id, Srv.ACTIVATE_FIRMWARE, device_id, (device_id,)
            )
        else:
            job.step(JobEvent.RESEND)
        request = self._send(job, now)
        progress.attempts = job.attempts
        log.info("device %s: 11.3 attempt %d (%s)", device_id, job.attempts, request.request_id)
        return request

    def _retry(self, job: Job, now: datetime) -> list[SendRequest]:
        if job.purpose is Purpose.ACTIVATE:
            return [self._activate(self._devices[job.target], now)]
        job.step(JobEvent.RESEND)
        return [self._send(job, now)]

    # ---- responses ----------------------------------------------------------------

    def _on_response(
        self, sent: Outstanding, response: ResponseMessage, now: datetime
    ) -> list[SendRequest]:
        if response.code == ACK:
            sent.acknowledged = True  # I99: accepted by the DSP; nothing else to do
            return []
        event = self._request_event(sent, response)
        if event is None:
            return []
        if not request_allows(sent.state, event):
            self._unexpect(
                now,
                "response",
                f"{response.code} not expected for a request in state {sent.state}",
                sent.request_id,
                _device_of(sent.job),
            )
            return []
        self._step_request(sent, event, response.code, now)
        return self._dispatch(sent, response, event, now)

    def _request_event(self, sent: Outstanding, response: ResponseMessage) -> RequestEvent | None:
        """What a final-or-not answer means for its request; None for noise (D9's S3
        for a request already accepted or answered: a replayed copy was refused)."""
        code = response.code
        if code == REPLAY and (sent.acknowledged or sent.state is RequestState.DONE):
            self._note_noise("S3 for a request already accepted", sent.request_id)
            return None
        if code in (NO_RESPONSE, EXECUTION_TIMEOUT):
            return RequestEvent.NO_RESPONSE
        if code == SUCCESS and response.command_accepted:
            return RequestEvent.ACCEPTED
        return RequestEvent.ANSWERED

    def _step_request(
        self, sent: Outstanding, event: RequestEvent, code: str, now: datetime
    ) -> None:
        sent.step(event)
        key = (TimerKind.ANSWER, sent.request_id)
        if sent.state is RequestState.SCHEDULED and not self.finished:
            start = sent.execution if sent.execution is not None else now
            self._timers.set(key, max(start, now) + self.plan.response_wait)
        elif sent.state in (RequestState.DONE, RequestState.TIMED_OUT):
            self._timers.cancel(key)
        if event is not RequestEvent.ACCEPTED:
            sent.final_code = code

    def _dispatch(
        self, sent: Outstanding, response: ResponseMessage, event: RequestEvent, now: datetime
    ) -> list[SendRequest]:
        if response.code == NO_RESPONSE:
            return self._lost(sent, now, e21=True)
        match sent.job.purpose:
            case Purpose.DISTRIBUTE:
                return self._on_distribution(sent, response, now)
            case Purpose.ACTIVATE:
                self._on_activation(sent, response, event, now)
            case Purpose.INVENTORY:
                self._on_inventory(sent, response)
            case Purpose.READ | Purpose.GPF_READ:
                self._on_read(sent, response)
        return []

    def _on_distribution(
        self, sent: Outstanding, response: ResponseMessage, now: datetime
    ) -> list[SendRequest]:
        """R9: the warnings skip devices; the others wait for their receipts."""
        job = sent.job
        self._settle_job(job, response.code)
        if response.code != SUCCESS:
            for progress in self._waiting(job.device_ids, DeviceState.DISTRIBUTING):
                progress.errors.append(response.code)
                self._device_event(progress, DeviceEvent.REFUSED, now)
            return []
        self._apply_warnings(job, response.body.get("DSPUpdateFirmwareWarning"), now)
        listed = response.body.get("distributed")
        for device_id in listed if isinstance(listed, list) else []:
            self._mark_distributed(job, device_id, now)
        for progress in self._waiting(job.device_ids, DeviceState.DISTRIBUTING):
            reason = "neither distributed nor warned"
            self._unexpect(now, "response", reason, sent.request_id, progress.device_id)
            self._device_event(progress, DeviceEvent.LOST, now)
        self._arm_receipt_wait(sent.request_id, now)
        return []

    def _arm_receipt_wait(self, request_id: str, now: datetime) -> None:
        """R9: receipts are awaited up to receipt_wait; the wait ends early when every
        device of the batch has reported (so a runner is not woken for nothing)."""
        key = (TimerKind.RECEIPT, request_id)
        if self._awaiting_receipt(request_id):
            if key not in self._timers:
                self._timers.set(key, now + self.plan.receipt_wait)
        else:
            self._timers.cancel(key)

    def _awaiting_receipt(self, request_id: str) -> bool:
        ids = self._requests[request_id].job.device_ids
        waiting = (DeviceState.DISTRIBUTING, DeviceState.AWAITING_RECEIPT)
        return any(self._devices[i].state in waiting for i in ids)

    def _apply_warnings(self, job: Job, warnings: object, now: datetime) -> None:
        if not isinstance(warnings, Mapping):
            return
        for name, ids in warnings.items():
            for device_id in ids if isinstance(ids, list) else []:
                progress = self._devices.get(device_id)
                if progress is None or device_id not in job.device_ids:
                    continue
                progress.warning, progress.distributed = str(name), False
                progress.errors.append(str(name))
                log.info("device %s: not distributed (%s, R9)", device_id, name)
                self._device_event(progress, DeviceEvent.WARNED, now)

    def _mark_distributed(self, job: Job, device_id: object, now: datetime) -> None:
        progress = self._devices.get(device_id) if isinstance(device_id, str) else None
        if progress is None or device_id not in job.device_ids:
            reason = f"distributed to {device_id}, not in the batch"
            self._unexpect(now, "response", reason, job.current, str(device_id))
            return
        progress.distributed = True
        if progress.state is DeviceState.DISTRIBUTING:  # else its receipt came first
            progress.step(DeviceEvent.DISTRIBUTED)

    def _on_activation(
        self, sent: Outstanding, response: ResponseMessage, event: RequestEvent, now: datetime
    ) -> None:
        progress = self._devices[sent.job.target]
        if event is RequestEvent.ACCEPTED:
            self._result(sent, progress, DeviceEvent.ACCEPTED, now)
            return
        if response.code != SUCCESS:  # R7's E30, or a refusal (E5, S4, ...)
            self._result(sent, progress, DeviceEvent.REFUSED, now, error=response.code)
            return
        body = response.body
        self._reported(sent, progress, activation_code(body), firmware_version(body), now)

    def _reported(
        self,
        sent: Outstanding | None,
        progress: DeviceProgress,
        code: int | None,
        version: str | None,
        now: datetime,
    ) -> None:
        """A device's report (R5): the target version confirms, whatever the code."""
        error = None
        if version is None:
            event = DeviceEvent.NO_VERSION
        elif version == progress.target.version:
            event = DeviceEvent.CONFIRMED
        else:
            event, error = DeviceEvent.REFUSED, f"activation-code-{code}"
        if self._result(sent, progress, event, now, error=error):
            progress.code, progress.version = code, version

    def _result(
        self,
        sent: Outstanding | None,
        progress: DeviceProgress,
        event: DeviceEvent,
        now: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """Apply one activation outcome (and its error code). ACCEPTED or LOST counts only
        for the attempt the job waits for; for any other it is noted and ignored."""
        job = self._jobs.get(f"{Purpose.ACTIVATE}:{progress.device_id}")
        if event in PENDING_RESULTS and not _waits_for(job, sent):
            self._note_noise(f"{event} for an earlier attempt", progress.device_id)
            return False
        if not self._device_event(progress, event, now):
            return False
        if error is not None:
            progress.errors.append(error)
        if event is DeviceEvent.CONFIRMED:
            progress.confirmed_by = sent.attempt if sent is not None else None
            log.info("device %s: runs %s (R5)", progress.device_id, progress.target.version)
        if progress.settled and job is not None and not job.done:
            self._settle_job(job, "settled")
        return True

    def _on_inventory(self, sent: Outstanding, response: ResponseMessage) -> None:
        if sent.job.done:  # a late copy: a newer 8.2 may already have answered
            self._note_noise("answer to an 8.2 already settled", sent.request_id)
            return
        self._settle_job(sent.job, response.code)
        if response.code != SUCCESS:
            log.warning("8.2 %s answered %s", sent.request_id, response.code)
            return
        records = response.body.get("devices")
        for record in records if isinstance(records, list) else []:
            device_id = record.get("device_id") if isinstance(record, Mapping) else None
            progress = self._devices.get(device_id) if isinstance(device_id, str) else None
            if progress is not None:
                progress.inventory = dict(record)
        unknown = response.body.get("unknown_device_ids")
        for device_id in unknown if isinstance(unknown, list) else []:
            if (progress := self._devices.get(device_id)) is not None:
                progress.errors.append("8.2-unknown")

    def _on_read(self, sent: Outstanding, response: ResponseMessage) -> None:
        job = sent.job
        if job.current != sent.request_id and job.done:
            self._note_noise("answer to an earlier 11.2", sent.request_id)
            return
        self._settle_job(job, response.code)
        version = firmware_version(response.body) if response.code == SUCCESS else None
        if job.purpose is Purpose.GPF_READ:
            self._gpf_reads[job.target] = GpfRead(job.target, response.code, version)
            return
        progress = self._devices[job.target]
        progress.read_code, progress.read_version = response.code, version
        if response.code != SUCCESS:
            progress.errors.append(f"11.2-{response.code}")
        log.info("device %s: 11.2 answered %s, version %s", job.target, response.code, version)

    # ---- alerts -------------------------------------------------------------------

    def _on_alert(
        self, alert: AlertMessage, progress: DeviceProgress | None, now: datetime
    ) -> list[SendRequest]:
        code = alert.alert_code
        if code not in (RECEIPT_ALERT, ACTIVATED_ALERT, ACTIVATION_FAILED_ALERT):
            return []  # N28, N29, N50, N51, N52, ...: counted
        if progress is None:
            self._unexpect(now, "alert", f"{code} for a device not in the plan", alert.request_id)
            return []
        if code == RECEIPT_ALERT:
            return self._on_receipt(alert, progress, now)
        self._on_activation_alert(alert, progress, now)
        return []

    def _on_receipt(
        self, alert: AlertMessage, progress: DeviceProgress, now: datetime
    ) -> list[SendRequest]:
        """R9: the device's hash; a match starts the 11.3 (or, one step, is the result)."""
        hash_ok = alert.body.get("hash_matches") is True
        progress.distributed, progress.receipt_hash_ok = True, hash_ok
        if progress.state not in (DeviceState.DISTRIBUTING, DeviceState.AWAITING_RECEIPT):
            self._note_noise("receipt after the device moved on", progress.device_id)
            return []
        sends = self._after_receipt(alert, progress, hash_ok, now)
        sent = self._requests.get(progress.distribution or "")
        if sent is not None and sent.state is not RequestState.OPEN:  # a wait is armed
            self._arm_receipt_wait(sent.request_id, now)
        return sends

    def _after_receipt(
        self, alert: AlertMessage, progress: DeviceProgress, hash_ok: bool, now: datetime
    ) -> list[SendRequest]:
        if not hash_ok:
            progress.errors.append("hash-mismatch")
            log.warning("device %s: receipt hash does not match (R9)", progress.device_id)
            self._device_event(progress, DeviceEvent.RECEIPT_BAD, now)
            return []
        if progress.target.one_step:
            self._one_step_result(alert, progress, now)
            return []
        return [self._activate(progress, now)]

    def _one_step_result(
        self, alert: AlertMessage, progress: DeviceProgress, now: datetime
    ) -> None:
        version = firmware_version(alert.body)
        if version == progress.target.version:
            progress.confirmed_by, progress.version = 1, version
            self._device_event(progress, DeviceEvent.CONFIRMED, now)
        else:
            progress.errors.append("not-activated-on-receipt")
            self._device_event(progress, DeviceEvent.REFUSED, now)

    def _on_activation_alert(
        self, alert: AlertMessage, progress: DeviceProgress, now: datetime
    ) -> None:
        """R7: 0x8F66 (activated, with the version) or 0x8F67 (failed, with the code)."""
        sent = self._activation_request(alert, progress)
        if sent is None:
            self._unexpect(
                now, "alert", f"{alert.alert_code} with no 11.3 sent", None, progress.device_id
            )
            return
        if request_allows(sent.state, RequestEvent.EXECUTED):
            self._step_request(sent, RequestEvent.EXECUTED, alert.alert_code, now)
        code, version = activation_code(alert.body), firmware_version(alert.body)
        if alert.alert_code == ACTIVATED_ALERT:
            self._reported(sent, progress, code, version, now)
            return
        error = f"8F67-code-{code}"
        if self._result(sent, progress, DeviceEvent.REFUSED, now, error=error):
            progress.code, progress.version = code, version

    def _activation_request(
        self, alert: AlertMessage, progress: DeviceProgress
    ) -> Outstanding | None:
        """The 11.3 an alert answers: its request_id, else the device's current one."""
        sent = self._requests.get(alert.request_id or "")
        if sent is not None and sent.job.key == f"{Purpose.ACTIVATE}:{progress.device_id}":
            return sent
        job = self._jobs.get(f"{Purpose.ACTIVATE}:{progress.device_id}")
        return None if job is None or job.current is None else self._requests[job.current]

    # ---- timers -------------------------------------------------------------------

    def _on_timer(self, kind: TimerKind, name: str, now: datetime) -> list[SendRequest]:
        match kind:
            case TimerKind.ANSWER:
                sent = self._requests[name]
                sent.step(RequestEvent.EXPIRED)
                log.info("request %s: no answer within response_wait", name)
                return self._lost(sent, now, e21=False)
            case TimerKind.RECEIPT:
                return self._receipt_wait_over(self._requests[name].job, now)
            case TimerKind.RETRY:
                return self._retry(self._jobs[name], now)

    def _receipt_wait_over(self, job: Job, now: datetime) -> list[SendRequest]:
        """receipt_wait passed: two-step devices are activated anyway; one-step devices
        stay unconfirmed until the inventory."""
        sends = []
        for progress in self._waiting(job.device_ids, DeviceState.AWAITING_RECEIPT):
            log.info("device %s: no receipt within receipt_wait", progress.device_id)
            if progress.target.one_step:
                progress.step(DeviceEvent.RECEIPT_MISSING)
                self._settled(progress)
            else:
                sends.append(self._activate(progress, now))
        return sends

    def _lost(self, sent: Outstanding, now: datetime, *, e21: bool) -> list[SendRequest]:
        """R8: an answer lost (E21), or not seen within response_wait."""
        job = sent.job
        waited_for = _waits_for(job, sent)
        self._count_loss(job, e21, waited_for)
        if not waited_for:
            return []
        if job.purpose is Purpose.DISTRIBUTE:
            return self._distribution_lost(sent, now)
        if job.attempts > self.plan.max_retries:
            self._give_up(job, now)
            return []
        job.step(JobEvent.LOST)
        self._timers.set((TimerKind.RETRY, job.key), now + self.plan.backoff(job.attempts))
        if job.purpose is Purpose.ACTIVATE:
            self._device_event(self._devices[job.target], DeviceEvent.LOST, now)
        return []

    def _count_loss(self, job: Job, e21: bool, waited_for: bool) -> None:
        """Every E21 counts; a silence only for the attempt the job was waiting for."""
        if not e21 and not waited_for:
            return
        progress = self._devices.get(job.target)
        if e21:
            self._e21 += 1
            if progress is not None:
                progress.e21 += 1
        else:
            self._missing += 1
            if progress is not None:
                progress.lost += 1

    def _distribution_lost(self, sent: Outstanding, now: datetime) -> list[SendRequest]:
        """No 11.1 answer: the devices may have it; their receipts (or the wait) decide."""
        self._settle_job(sent.job, GIVEN_UP)
        for progress in self._waiting(sent.job.device_ids, DeviceState.DISTRIBUTING):
            progress.errors.append("no-answer-to-distribution")
            progress.step(DeviceEvent.LOST)
        self._arm_receipt_wait(sent.request_id, now)
        return []

    def _give_up(self, job: Job, now: datetime) -> None:
        log.warning("%s: every answer lost after %d attempts", job.key, job.attempts)
        job.step(JobEvent.GIVE_UP)
        job.outcome = GIVEN_UP
        self._phase_jobs.discard(job.key)
        match job.purpose:
            case Purpose.ACTIVATE:
                progress = self._devices[job.target]
                progress.errors.append(GIVEN_UP)
                self._device_event(progress, DeviceEvent.GIVE_UP, now)
            case Purpose.READ:
                self._devices[job.target].read_code = GIVEN_UP
            case Purpose.GPF_READ:
                self._gpf_reads[job.target] = GpfRead(job.target, GIVEN_UP, None)
            case _:
                pass

    # ---- devices and jobs ---------------------------------------------------------

    def _device_event(self, progress: DeviceProgress, event: DeviceEvent, now: datetime) -> bool:
        """Apply what the DSP said about a device; what its state does not allow is
        noise when the device is settled, unexpected otherwise. Never raises."""
        if not device_allows(progress.state, event):
            if progress.settled:
                self._note_noise(f"{event} after {progress.state}", progress.device_id)
            else:
                reason = f"{event} not expected in state {progress.state}"
                self._unexpect(now, "transition", reason, None, progress.device_id)
            return False
        progress.step(event)
        self._settled(progress)
        return True

    def _settled(self, progress: DeviceProgress) -> None:
        if progress.settled:
            self._unsettled.discard(progress.device_id)

    def _settle_job(self, job: Job, outcome: str) -> None:
        if job.done:
            return
        job.step(JobEvent.SETTLED)
        job.outcome = outcome
        self._phase_jobs.discard(job.key)
        self._timers.cancel((TimerKind.RETRY, job.key))

    def _waiting(self, ids: tuple[str, ...], state: DeviceState) -> list[DeviceProgress]:
        return [self._devices[i] for i in ids if self._devices[i].state is state]

    # ---- phases -------------------------------------------------------------------

    def _enter(self, event: PhaseEvent) -> None:
        target = PHASE_TRANSITIONS.get((self.phase, event))
        if target is None:
            raise IllegalTransitionError("campaign", self.phase, event)
        log.info("campaign: %s -> %s", self.phase, target)
        self.phase = target

    def _progress(self, now: datetime) -> list[SendRequest]:
        """Move on through every phase whose work is done; send what the next needs."""
        sends: list[SendRequest] = []
        while (event := self._phase_done()) is not None:
            self._enter(event)
            sends += self._phase_requests(now)
        return sends

    def _phase_done(self) -> PhaseEvent | None:
        if self.phase is Phase.UPGRADING and not self._unsettled:
            return PhaseEvent.UPGRADES_SETTLED
        if self.phase in (Phase.IDLE, Phase.UPGRADING, Phase.FINISHED) or self._phase_jobs:
            return None
        return PhaseEvent.JOBS_DONE

    def _phase_requests(self, now: datetime) -> list[SendRequest]:
        match self.phase:
            case Phase.INVENTORY | Phase.FINAL_INVENTORY:
                jobs = self._inventory_jobs()
            case Phase.READING:
                jobs = [self._read_job(Purpose.READ, i) for i in self._suspended()]
            case Phase.GPF_READING:
                ids = self.plan.gpf_ids if self.plan.read_gpfs else ()
                jobs = [self._read_job(Purpose.GPF_READ, i) for i in ids]
            case Phase.FINISHED:
                self._timers.clear()
                return []
            case _:
                raise CampaignError(f"campaign: no requests for phase {self.phase}")
        self._phase_jobs = {job.key for job in jobs}
        return [self._send(job, now) for job in jobs]

    def _inventory_jobs(self) -> list[Job]:
        ids = tuple(dict.fromkeys(self.plan.device_ids + self.plan.gpf_ids))
        return [
            self._new_job(Purpose.INVENTORY, f"{self.phase}#{n}", Srv.READ_INVENTORY, DCC, batch)
            for n, batch in enumerate(batches(ids, self.plan.batch_size))
        ]

    def _read_job(self, purpose: Purpose, device_id: str) -> Job:
        return self._new_job(purpose, device_id, Srv.READ_FIRMWARE, device_id, (device_id,))

    def _suspended(self) -> list[str]:
        """R5: the devices the first 8.2 shows Suspended get an SR 11.2 to themselves."""
        return [
            device_id
            for device_id, progress in self._devices.items()
            if progress.inventory is not None and progress.inventory.get("status") == "Suspended"
        ]

    # ---- what does not fit ----------------------------------------------------------

    def _unexpect(
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
        self._unexpected.append(Unexpected(now, kind, reason, request_id, device_id))

    def _note_noise(self, reason: str, subject: str) -> None:
        log.debug("campaign: ignored (%s): %s", subject, reason)
        self._noise += 1


def _whole_second(when: datetime) -> datetime:
    """Rounded up: GBCS carries execution times in whole seconds (GeneralizedTime)."""
    if when.microsecond == 0:
        return when
    return when.replace(microsecond=0) + timedelta(seconds=1)


def _waits_for(job: Job | None, sent: Outstanding | None) -> bool:
    """Whether `sent` is the attempt `job` is waiting for (not an earlier one, and not
    one whose answer was already given up as lost)."""
    return (
        job is not None
        and sent is not None
        and job.current == sent.request_id
        and job.state is JobState.WAITING
    )


def _device_of(job: Job) -> str | None:
    return job.target if job.target != DCC else None

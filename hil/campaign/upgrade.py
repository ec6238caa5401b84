"""The UPGRADING phase, per device: 11.1/11.4 distribution and its warnings (R9), the
FirmwareReceipt alerts, the 11.3 and what answers it (the immediate outcome, or R7's
acceptance and 0x8F66/0x8F67 alert), and lost answers (R8). Functions on the
campaign's state; each returns the requests to send."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from contract.codes import ResponseCode, UserAlertCode
from contract.ids import DCC_ACCESS_CONTROL_BROKER
from contract.requests import SendRequest, Srv
from contract.responses import AlertMessage, ResponseMessage, activation_code, firmware_version

from .device import DeviceProgress, UpgradeEvent, UpgradeState
from .plan import FirmwareTarget
from .state import GIVEN_UP, CampaignState, CampaignTimer, waits_for
from .tracking import Job, JobEvent, Outstanding, Purpose, RequestEvent, RequestState

log = logging.getLogger(__name__)

# Outcomes that count only for the attempt a job waits for; for an older one they are
# noted and ignored (its retry replaces it on the device).
PENDING_RESULTS = frozenset({UpgradeEvent.ACCEPTED, UpgradeEvent.LOST})
RECEIVING = (UpgradeState.DISTRIBUTING, UpgradeState.AWAITING_RECEIPT)

# ---- distribution (R9) ---------------------------------------------------------------


def distribute(
    state: CampaignState, target: FirmwareTarget, number: int, ids: tuple[str, ...], now: datetime
) -> SendRequest:
    srv = Srv.UPDATE_PPMID_FIRMWARE if target.one_step else Srv.UPDATE_FIRMWARE
    job = state.new_job(
        Purpose.DISTRIBUTE, f"{target.name}#{number}", srv, DCC_ACCESS_CONTROL_BROKER, ids
    )
    request = state.send(job, now)
    for device_id in ids:
        progress = state.devices[device_id]
        state.device_step(progress, UpgradeEvent.SEND_DISTRIBUTION)
        progress.attempts = 1 if target.one_step else 0  # 11.4 is the activation
        progress.distribution = request.request_id
    return request


def on_distribution(
    state: CampaignState, sent: Outstanding, response: ResponseMessage, now: datetime
) -> None:
    """R9: the warnings skip devices; the others wait for their receipts."""
    job = sent.job
    state.settle_job(job, response.code)
    if response.code != ResponseCode.I0:
        for progress in state.waiting(job.device_ids, UpgradeState.DISTRIBUTING):
            progress.errors.append(response.code)
            state.device_step(progress, UpgradeEvent.REFUSED)
        return
    _apply_warnings(state, job, response.body.get("DSPUpdateFirmwareWarning"), now)
    listed = response.body.get("distributed")
    for device_id in listed if isinstance(listed, list) else []:
        _mark_distributed(state, job, device_id, now)
    for progress in state.waiting(job.device_ids, UpgradeState.DISTRIBUTING):
        reason = "neither distributed nor warned"
        state.unexpect(now, "response", reason, sent.request_id, progress.device_id)
        state.device_step(progress, UpgradeEvent.LOST)
    arm_receipt_wait(state, sent.request_id, now)


def _apply_warnings(state: CampaignState, job: Job, warnings: object, now: datetime) -> None:
    if not isinstance(warnings, Mapping):
        return
    for name, ids in warnings.items():
        for device_id in ids if isinstance(ids, list) else []:
            progress = state.devices.get(device_id)
            if progress is None or device_id not in job.device_ids:
                continue
            progress.warning, progress.distributed = str(name), False
            progress.errors.append(str(name))
            log.info("device %s: not distributed (%s, R9)", device_id, name)
            state.device_event(progress, UpgradeEvent.WARNED, now)


def _mark_distributed(state: CampaignState, job: Job, device_id: object, now: datetime) -> None:
    progress = state.devices.get(device_id) if isinstance(device_id, str) else None
    if progress is None or device_id not in job.device_ids:
        reason = f"distributed to {device_id}, not in the batch"
        state.unexpect(now, "response", reason, job.current, str(device_id))
        return
    progress.distributed = True
    if progress.state is UpgradeState.DISTRIBUTING:  # else its receipt came first
        state.device_step(progress, UpgradeEvent.DISTRIBUTED)


def distribution_lost(state: CampaignState, sent: Outstanding, now: datetime) -> None:
    """No 11.1 answer: the devices may have it; their receipts (or the wait) decide."""
    state.settle_job(sent.job, GIVEN_UP)
    for progress in state.waiting(sent.job.device_ids, UpgradeState.DISTRIBUTING):
        progress.errors.append("no-answer-to-distribution")
        state.device_step(progress, UpgradeEvent.LOST)
    arm_receipt_wait(state, sent.request_id, now)


def arm_receipt_wait(state: CampaignState, request_id: str, now: datetime) -> None:
    """R9: receipts are awaited up to receipt_wait; the wait ends early when every device
    of the batch has reported (so a runner is not woken for nothing)."""
    key = (CampaignTimer.RECEIPT, request_id)
    ids = state.requests[request_id].job.device_ids
    if not any(state.devices[i].state in RECEIVING for i in ids):
        state.timers.cancel(key)
    elif key not in state.timers:
        state.timers.set(key, now + state.plan.receipt_wait)


def receipt_wait_over(state: CampaignState, job: Job, now: datetime) -> list[SendRequest]:
    """receipt_wait passed: two-step devices are activated anyway; one-step devices stay
    unconfirmed until the inventory."""
    sends = []
    for progress in state.waiting(job.device_ids, UpgradeState.AWAITING_RECEIPT):
        log.info("device %s: no receipt within receipt_wait", progress.device_id)
        if progress.target.one_step:
            state.device_step(progress, UpgradeEvent.RECEIPT_MISSING)
        else:
            sends.append(activate(state, progress, now))
    return sends


# ---- receipts ------------------------------------------------------------------------


def on_receipt(
    state: CampaignState, alert: AlertMessage, progress: DeviceProgress, now: datetime
) -> list[SendRequest]:
    """R9: the device's hash; a match starts the 11.3 (or, one step, is the result)."""
    hash_ok = alert.body.get("hash_matches") is True
    progress.distributed, progress.receipt_hash_ok = True, hash_ok
    if progress.state not in RECEIVING:
        state.note_noise("receipt after the device moved on", progress.device_id)
        return []
    sends = _after_receipt(state, alert, progress, hash_ok, now)
    sent = state.requests.get(progress.distribution or "")
    if sent is not None and sent.state is not RequestState.OPEN:  # a wait is armed
        arm_receipt_wait(state, sent.request_id, now)
    return sends


def _after_receipt(
    state: CampaignState,
    alert: AlertMessage,
    progress: DeviceProgress,
    hash_ok: bool,
    now: datetime,
) -> list[SendRequest]:
    if not hash_ok:
        progress.errors.append("hash-mismatch")
        log.warning("device %s: receipt hash does not match (R9)", progress.device_id)
        state.device_step(progress, UpgradeEvent.RECEIPT_BAD)
        return []
    if not progress.target.one_step:
        return [activate(state, progress, now)]
    version = firmware_version(alert.body)
    if version == progress.target.version:
        progress.confirmed_by, progress.version = 1, version
        state.device_step(progress, UpgradeEvent.CONFIRMED)
    else:
        progress.errors.append("not-activated-on-receipt")
        state.device_step(progress, UpgradeEvent.REFUSED)
    return []


# ---- activation ----------------------------------------------------------------------


def activate(state: CampaignState, progress: DeviceProgress, now: datetime) -> SendRequest:
    """The device's 11.3: its first attempt, or the retry after a lost answer (R8)."""
    state.device_step(progress, UpgradeEvent.SEND_ACTIVATION)
    device_id = progress.device_id
    job = state.activation_job(device_id)
    if job is None:
        srv = Srv.ACTIVATE_FIRMWARE
        job = state.new_job(Purpose.ACTIVATE, device_id, srv, device_id, (device_id,))
    else:
        job.step(JobEvent.RESEND)
    request = state.send(job, now)
    progress.attempts = job.attempts
    log.info("device %s: 11.3 attempt %d (%s)", device_id, job.attempts, request.request_id)
    return request


def on_activation(
    state: CampaignState,
    sent: Outstanding,
    response: ResponseMessage,
    event: RequestEvent,
    now: datetime,
) -> None:
    progress = state.devices[sent.job.target]
    if event is RequestEvent.ACCEPTED:
        _result(state, sent, progress, UpgradeEvent.ACCEPTED, now)
    elif response.code != ResponseCode.I0:  # R7's E30, or a refusal (E5, S4, ...)
        _result(state, sent, progress, UpgradeEvent.REFUSED, now, error=response.code)
    else:
        body = response.body
        code, version = activation_code(body), firmware_version(body)
        _reported(state, sent, progress, now, code=code, version=version)


def on_activation_alert(
    state: CampaignState, alert: AlertMessage, progress: DeviceProgress, now: datetime
) -> None:
    """R7: 0x8F66 (activated, with the version) or 0x8F67 (failed, with the code)."""
    sent = _alerted_request(state, alert, progress)
    if sent is None:
        reason = f"{alert.alert_code} with no 11.3 sent"
        state.unexpect(now, "alert", reason, alert.request_id, progress.device_id)
        return
    if sent.state is not RequestState.DONE:
        state.step_request(sent, RequestEvent.EXECUTED, alert.alert_code, now)
    code, version = activation_code(alert.body), firmware_version(alert.body)
    if alert.alert_code == UserAlertCode.FIRMWARE_ACTIVATED:
        _reported(state, sent, progress, now, code=code, version=version)
        return
    error = f"8F67-code-{code}"
    if _result(state, sent, progress, UpgradeEvent.REFUSED, now, error=error):
        progress.code, progress.version = code, version


def _alerted_request(
    state: CampaignState, alert: AlertMessage, progress: DeviceProgress
) -> Outstanding | None:
    """The 11.3 an alert answers: its request_id, else the device's current one."""
    job = state.activation_job(progress.device_id)
    sent = state.requests.get(alert.request_id or "")
    if sent is not None and sent.job is job:
        return sent
    return None if job is None or job.current is None else state.requests[job.current]


def activation_lost(state: CampaignState, job: Job, now: datetime) -> None:
    state.device_event(state.devices[job.target], UpgradeEvent.LOST, now)


def activation_given_up(state: CampaignState, job: Job, now: datetime) -> None:
    progress = state.devices[job.target]
    if state.device_event(progress, UpgradeEvent.GIVE_UP, now):
        progress.errors.append(GIVEN_UP)


def _reported(
    state: CampaignState,
    sent: Outstanding,
    progress: DeviceProgress,
    now: datetime,
    *,
    code: int | None,
    version: str | None,
) -> None:
    """A device's report (R5): the target version confirms, whatever the code."""
    error = None
    if version is None:
        event = UpgradeEvent.NO_VERSION
    elif version == progress.target.version:
        event = UpgradeEvent.CONFIRMED
    else:
        event, error = UpgradeEvent.REFUSED, f"activation-code-{code}"
    if _result(state, sent, progress, event, now, error=error):
        progress.code, progress.version = code, version


def _result(
    state: CampaignState,
    sent: Outstanding,
    progress: DeviceProgress,
    event: UpgradeEvent,
    now: datetime,
    *,
    error: str | None = None,
) -> bool:
    """Apply one activation outcome and its error code; True when it was applied."""
    job = state.activation_job(progress.device_id)
    if event in PENDING_RESULTS and not waits_for(job, sent):
        state.note_noise(f"{event} for an earlier attempt", progress.device_id)
        return False
    if not state.device_event(progress, event, now):
        return False
    if error is not None:
        progress.errors.append(error)
    if event is UpgradeEvent.CONFIRMED:
        progress.confirmed_by = sent.attempt
        log.info("device %s: runs %s (R5)", progress.device_id, progress.target.version)
    if progress.settled and job is not None:
        state.settle_job(job, "settled")
    return True

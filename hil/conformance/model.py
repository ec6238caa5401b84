"""The conformance sequence, sans-IO: which request to send next, what each step waits
for, and the recording of everything seen (docs/conformance.md).

    sequence = ConformanceModel(target, options, first_counter)
    publish(sequence.start(now))                  # each SendRequest on {root}/dsp/requests/{user}
    publish(sequence.on_response(content, now))   # each dict from {root}/users/{user}/responses
    publish(sequence.on_alert(content, now))      # each dict from {root}/users/{user}/alerts
    sequence.on_hub(Source.HUB_UP, data, now)     # optional: the device's hub traffic
    publish(sequence.on_tick(now))                # when sequence.next_due() comes
    sequence.finished, sequence.recording(now)

A step ends when it has what it waits for (its final answer; an 11.1's receipt; a
future-dated 11.3's 0x00CA alert) or at its deadline; then the next is sent, whatever
the outcome, so that every check has its data, or says which is missing. No clock read,
no I/O: every time is an argument.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import gbcs
from contract.codes import ResponseCode, UserAlertCode
from contract.errors import IllegalTransitionError, InvalidRequestError, MalformedMessageError
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_duis
from contract.requests import (
    SendRequest,
    Srv,
    activate_body,
    build,
    inventory_body,
    signed_pre_command_request,
    update_firmware_body,
)
from contract.responses import read_pre_command
from contract.transitions import TransitionTable
from contract.vocabulary import DeviceType
from hil.errors import SigningError
from hil.security import MessageVerdict, Signer, Verifier

from .evidence import device_type_of
from .recording import ConformanceStep, Entry, Recording, Source, StepRun, gbcs_of
from .target import ConformanceOptions, ConformanceTarget, FirmwareImage

log = logging.getLogger(__name__)

ACTIVATION_ALERTS = frozenset({"8F66", "8F67"})  # R7: the 0x00CA alert's two codes


class Need(StrEnum):
    ANSWER = "the DSP's final answer"
    RECEIPT = "the device's FirmwareReceipt alert (R9)"
    ALERT = "the device's 0x8F66/0x8F67 alert (R7)"


@dataclass(frozen=True, slots=True)
class StepPlan:
    step: ConformanceStep
    srv: Srv
    firmware: FirmwareImage | None = None
    needs: frozenset[Need] = frozenset({Need.ANSWER})


def plan_steps(target: ConformanceTarget) -> tuple[StepPlan, ...]:
    """The run's steps: distribution only for an image given as a file (R9)."""
    first, second = target.firmware, target.second_firmware
    receipt = frozenset({Need.ANSWER, Need.RECEIPT})
    steps = [StepPlan(ConformanceStep.INVENTORY_BEFORE, Srv.READ_INVENTORY)]
    if first.distributed:
        steps.append(StepPlan(ConformanceStep.DISTRIBUTE, Srv.UPDATE_FIRMWARE, first, receipt))
    steps.append(StepPlan(ConformanceStep.ACTIVATE, Srv.ACTIVATE_FIRMWARE, first))
    if second.distributed:
        steps.append(
            StepPlan(ConformanceStep.DISTRIBUTE_SECOND, Srv.UPDATE_FIRMWARE, second, receipt)
        )
    alert = frozenset({Need.ANSWER, Need.ALERT})
    steps += [
        StepPlan(ConformanceStep.ACTIVATE_FUTURE, Srv.ACTIVATE_FIRMWARE, second, alert),
        StepPlan(ConformanceStep.ACTIVATE_REPEAT, Srv.ACTIVATE_FIRMWARE, second),
        StepPlan(ConformanceStep.READ_VERSION, Srv.READ_FIRMWARE),
        StepPlan(ConformanceStep.INVENTORY_AFTER, Srv.READ_INVENTORY),
    ]
    return tuple(steps)


class ConformancePhase(StrEnum):
    READY = "Ready"
    RUNNING = "Running"
    FINISHED = "Finished"


class ConformancePhaseEvent(StrEnum):
    START = "start"
    NEXT_STEP = "next-step"
    LAST_STEP_ENDED = "last-step-ended"
    TICK = "tick"


PHASE_TRANSITIONS: TransitionTable[ConformancePhase, ConformancePhaseEvent] = TransitionTable(
    {
        (ConformancePhase.READY, ConformancePhaseEvent.START): ConformancePhase.RUNNING,
        (ConformancePhase.RUNNING, ConformancePhaseEvent.NEXT_STEP): ConformancePhase.RUNNING,
        (
            ConformancePhase.RUNNING,
            ConformancePhaseEvent.LAST_STEP_ENDED,
        ): ConformancePhase.FINISHED,
        (ConformancePhase.RUNNING, ConformancePhaseEvent.TICK): ConformancePhase.RUNNING,
        (ConformancePhase.FINISHED, ConformancePhaseEvent.TICK): ConformancePhase.FINISHED,
    }
)


class _Current:
    """The step under way: its run so far, what it still waits for, its deadline."""

    __slots__ = ("deadline", "plan", "run", "waiting")

    def __init__(self, plan: StepPlan, run: StepRun, deadline: datetime) -> None:
        self.plan = plan
        self.run = run
        self.waiting = set(plan.needs)
        self.deadline = deadline


class ConformanceModel:
    ROLE = "conformance sequence"

    def __init__(
        self,
        target: ConformanceTarget,
        options: ConformanceOptions,
        first_counter: int,
        security: tuple[Signer | None, Verifier | None] = (None, None),
    ) -> None:
        """`security`: the signer of Critical SRs and the verifier of device messages
        when the lab's security is on (hil.keys.lab_security); (None, None) when off."""
        self.target = target
        self.signer, self.verifier = security
        self._verdicts: dict[int, MessageVerdict] = {}  # entry index -> its verdict
        self.options = options
        self.plans = plan_steps(target)
        self.phase = ConformancePhase.READY
        self.device_type: DeviceType | None = None  # from the first 8.2
        self.ch_id: str | None = target.ch_id  # the device's hub, given or from 8.2
        self._counter = first_counter - 1
        self._index = -1
        self._current: _Current | None = None
        self._runs: list[StepRun] = []
        self._entries: list[Entry] = []
        self._step_of: dict[str, ConformanceStep] = {}  # request ID -> step
        self._started: datetime | None = None

    # ---- the interface ------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase is ConformancePhase.FINISHED

    @property
    def last_counter(self) -> int:
        return self._counter

    def start(self, now: datetime) -> list[SendRequest]:
        self._move(ConformancePhaseEvent.START)
        self._started = now
        return self._next(now)

    def next_due(self) -> datetime | None:
        return None if self._current is None else self._current.deadline

    def on_response(self, content: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        request_id = _text(content, "request_id")
        entry = self._record(Source.RESPONSE, now, self._step_for(request_id), content)
        current = self._current
        if (
            current is None
            or request_id != current.run.request_id
            or entry.code == ResponseCode.I99
        ):
            return []
        signed = self._signed(current, entry, now)
        if signed is not None:
            return [signed]
        self._answered(current, entry)
        return self._advance_if_done(current, now)

    def on_alert(self, content: Mapping[str, Any], now: datetime) -> list[SendRequest]:
        body = content.get("body")
        request_id = _text(body, "request_id") if isinstance(body, Mapping) else None
        entry = self._record(Source.ALERT, now, self._step_for(request_id), content)
        current = self._current
        if current is None or entry.device_id != self.target.device_id:
            return []
        if entry.code == UserAlertCode.FIRMWARE_RECEIPT:
            current.waiting.discard(Need.RECEIPT)
        elif entry.code in ACTIVATION_ALERTS:
            current.waiting.discard(Need.ALERT)
        return self._advance_if_done(current, now)

    def on_hub(self, source: Source, data: bytes, now: datetime) -> None:
        """Bytes seen on the device's hub topics: kept when they are to or from the device
        (or cannot be read), so the timeline shows the commands the device was sent."""
        try:
            header = gbcs.decode_header(data).header
        except gbcs.GbcsError as exc:
            self._record(source, now, self._current_step(), gbcs_bytes=data, note=str(exc))
            return
        party = header.recipient_id if source is Source.HUB_DOWN else header.originator_id
        if gbcs.format_entity_id(party) == self.target.device_id:
            self._record(source, now, self._current_step(), gbcs_bytes=data)

    def on_unreadable(self, where: str, reason: str, now: datetime) -> None:
        """A message the runner could not read as a JSON object: noted, never dropped."""
        self.note(f"unreadable message on {where}: {reason}", now)

    def note(self, text: str, now: datetime) -> None:
        """A remark of the runner's own, in the timeline."""
        log.warning("conformance %s: %s", self.target.device_id, text)
        self._record(Source.NOTE, now, self._current_step(), note=text)

    def on_tick(self, now: datetime) -> list[SendRequest]:
        self._move(ConformancePhaseEvent.TICK)
        current = self._current
        if current is None or now < current.deadline:
            return []
        missing = tuple(str(need) for need in sorted(current.waiting))
        note = f"{current.plan.step}: timed out waiting for {', '.join(missing)}"
        log.warning("conformance %s: %s", self.target.device_id, note)
        self._record(Source.NOTE, now, current.plan.step, note=note)
        current.run = replace(current.run, timed_out=True, missing=missing)
        return self._next(now)

    def recording(self, now: datetime) -> Recording:
        runs = list(self._runs)
        if self._current is not None:
            runs.append(self._current.run)
        sent = {run.step for run in runs}
        runs += [
            StepRun(p.step, str(p.srv), firmware=p.firmware)
            for p in self.plans
            if p.step not in sent
        ]
        return Recording(
            user_id=self.target.user_id,
            device_id=self.target.device_id,
            firmware=self.target.firmware,
            second_firmware=self.target.second_firmware,
            tolerance=self.options.tolerance,
            steps=tuple(runs),
            entries=tuple(self._entries),
            started=self._started or now,
            finished=now,
            verdicts=None if self.verifier is None else dict(self._verdicts),
        )

    # ---- steps ----------------------------------------------------------------------

    def _answered(self, current: _Current, entry: Entry) -> None:
        current.waiting.discard(Need.ANSWER)
        step = current.plan.step
        if entry.code != ResponseCode.I0:  # the DSP said no: no receipt or alert will follow
            current.waiting.clear()
        elif step in (ConformanceStep.DISTRIBUTE, ConformanceStep.DISTRIBUTE_SECOND):
            distributed = entry.body.get("distributed")
            if not isinstance(distributed, list) or self.target.device_id not in distributed:
                current.waiting.discard(Need.RECEIPT)  # warned (R9): nothing was sent
            current.deadline = max(current.deadline, entry.at + self.options.receipt_wait)
        elif step is ConformanceStep.ACTIVATE_FUTURE and current.run.execution is not None:
            due = current.run.execution + self.options.answer_wait
            current.deadline = max(current.deadline, due)
        elif step is ConformanceStep.INVENTORY_BEFORE:
            self._learn_device(entry.body)

    def _signed(self, current: _Current, entry: Entry, now: datetime) -> SendRequest | None:
        """The CV 5 for an I0 carrying a pre-command (D-SEC24), recorded as a request;
        None when the entry is no pre-command or it cannot be signed (then noted)."""
        try:
            pre = read_pre_command(entry.body) if entry.code == ResponseCode.I0 else None
        except MalformedMessageError as exc:
            self.note(f"{current.plan.step}: {exc}", now)
            return None
        if pre is None:
            return None
        if self.signer is None:
            self.note(f"{current.plan.step}: a pre-command to sign, and no signing key", now)
            return None
        run = current.run
        try:
            signed = self.signer.sign(pre.data, self.target.user_id)
        except SigningError as exc:
            self.note(f"{current.plan.step}: {exc}", now)
            return None
        assert run.counter is not None
        srv = Srv(run.srv)
        request = signed_pre_command_request(
            self.target.user_id, srv, self.target.device_id, run.counter, signed
        )
        self._record(Source.REQUEST, now, current.plan.step, request.payload)
        return request

    def _learn_device(self, body: Mapping[str, Any]) -> None:
        devices = body.get("devices")
        for record in devices if isinstance(devices, list) else []:
            if isinstance(record, Mapping) and record.get("device_id") == self.target.device_id:
                self.device_type = device_type_of(record)
                if self.ch_id is None:
                    self.ch_id = _eui64_or_none(record.get("comms_hub_id"))

    def _advance_if_done(self, current: _Current, now: datetime) -> list[SendRequest]:
        if current.waiting or current is not self._current:
            return []
        return self._next(now)

    def _next(self, now: datetime) -> list[SendRequest]:
        if self._current is not None:
            self._runs.append(replace(self._current.run, ended_at=now))
            self._current = None
        self._index += 1
        if self._index >= len(self.plans):
            self._move(ConformancePhaseEvent.LAST_STEP_ENDED)
            return []
        self._move(ConformancePhaseEvent.NEXT_STEP)
        return [self._send(self.plans[self._index], now)]

    def _send(self, plan: StepPlan, now: datetime) -> SendRequest:
        """Register the step (so that its answers are recognised), then the request."""
        self._counter += 1
        execution = None
        if plan.step is ConformanceStep.ACTIVATE_FUTURE:
            execution = _whole_second(now + self.options.future_delay)
        request = self._request(plan, execution)
        run = StepRun(
            plan.step,
            str(plan.srv),
            self._counter,
            request.request_id,
            now,
            firmware=plan.firmware,
            execution=execution,
        )
        self._current = _Current(plan, run, now + self.options.answer_wait)
        self._step_of[request.request_id] = plan.step
        self._record(Source.REQUEST, now, plan.step, _shown(request.payload))
        return request

    def _request(self, plan: StepPlan, execution: datetime | None) -> SendRequest:
        user, device, counter = self.target.user_id, self.target.device_id, self._counter
        firmware = plan.firmware
        match plan.srv:
            case Srv.READ_INVENTORY:
                return build(
                    user, plan.srv, DCC_ACCESS_CONTROL_BROKER, counter, inventory_body((device,))
                )
            case Srv.UPDATE_FIRMWARE if firmware is not None and firmware.image is not None:
                body = update_firmware_body(firmware.image, firmware.version, (device,))
                return build(user, plan.srv, DCC_ACCESS_CONTROL_BROKER, counter, body)
            case Srv.ACTIVATE_FIRMWARE if firmware is not None:
                body = activate_body(firmware.image_hash, execution)
                return build(user, plan.srv, device, counter, body)
            case Srv.READ_FIRMWARE:
                return build(user, plan.srv, device, counter, {})
        raise IllegalTransitionError(self.ROLE, str(self.phase), f"send {plan.step}")

    # ---- bookkeeping ------------------------------------------------------------------

    def _move(self, event: ConformancePhaseEvent) -> None:
        self.phase = PHASE_TRANSITIONS.next(self.ROLE, self.phase, event)

    def _record(
        self,
        source: Source,
        now: datetime,
        step: ConformanceStep | None,
        content: Mapping[str, Any] | None = None,
        *,
        gbcs_bytes: bytes | None = None,
        note: str = "",
    ) -> Entry:
        if content is not None and gbcs_bytes is None:
            gbcs_bytes = gbcs_of(content)
        entry = Entry(len(self._entries), now, source, step, content, gbcs_bytes, note)
        self._entries.append(entry)
        self._judge(entry)
        return entry

    def _judge(self, entry: Entry) -> None:
        """The verdict on a device message's signature and MAC, with security on."""
        if self.verifier is None or entry.gbcs is None:
            return
        if entry.source not in (Source.RESPONSE, Source.ALERT):
            return
        what = f"{entry.source} {entry.code} to {entry.request_id or '-'}"
        device = entry.device_id or self.target.device_id
        verdict = self.verifier.verdict(entry.gbcs, what=what, device_id=device, at=entry.at)
        self._verdicts[entry.index] = verdict

    def _step_for(self, request_id: str | None) -> ConformanceStep | None:
        if request_id is not None and request_id in self._step_of:
            return self._step_of[request_id]
        return self._current_step()

    def _current_step(self) -> ConformanceStep | None:
        return None if self._current is None else self._current.plan.step


def _text(content: Mapping[str, Any], key: str) -> str | None:
    found = content.get(key)
    return found if isinstance(found, str) else None


def _eui64_or_none(value: object) -> str | None:
    try:
        return to_duis(value) if isinstance(value, str) else None
    except InvalidRequestError:
        return None


def _whole_second(when: datetime) -> datetime:
    """GBCS carries execution times to the second (C9): round up."""
    if when.microsecond == 0:
        return when
    return when.replace(microsecond=0) + timedelta(seconds=1)


def _shown(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The request as recorded: an 11.1's image replaced by its size (it may be large)."""
    body = payload.get("body")
    if not isinstance(body, Mapping) or "firmware_image" not in body:
        return dict(payload)
    image = body["firmware_image"]
    size = len(image) * 3 // 4 if isinstance(image, str) else 0
    return {**payload, "body": {**body, "firmware_image": f"<base64 OTA file, about {size} bytes>"}}

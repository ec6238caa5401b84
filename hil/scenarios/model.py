"""The scenario interpreter (sans-IO, h11's shape): steps in, instructions out.

    run = ScenarioModel(scenario, target, first_counter)
    do(run.start(now))                  # Publish, ChangeCpl, AddFault, Flash, ReadSmi, SwitchMp105
    do(run.on_observation(obs, now))    # each response, alert or CPL result, in arrival order
    do(run.on_smi(record, now))         # the answer to ReadSmi
    do(run.on_tick(now))                # when run.next_due() comes on the shared clock
    run.finished, run.failure, run.transcript

It reads no clock and does no I/O: every time is an argument, and what must happen on the
lab is returned as instructions, which the runner (hil/scenarios/runner.py) carries out in
order. Every name in the scenario is resolved against the target when the run is made,
so a scenario that cannot run on this lab fails before anything is sent. Every
observation goes into the transcript under the step that was running when it came.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from contract.errors import IllegalTransitionError
from contract.requests import (
    DUIS_CANCELLATION,
    SendRequest,
    Srv,
    activate_body,
    build_request,
    inventory_body,
    update_firmware_body,
)
from contract.times import iso
from contract.transitions import TransitionTable
from contract.vocabulary import CplEntry, Device
from emulators.faults import FaultRule
from hil.errors import ScenarioError, ScenarioFailedError
from hil.lab.observations import Observation

from .checks import (
    Expected,
    check_alert,
    check_cpl_result,
    check_response,
    describe,
    find_alert,
    find_cpl_result,
    find_response,
)
from .file import (
    AssertNoAlertStep,
    AssertSmiStep,
    ExpectAlertStep,
    ExpectResponseStep,
    FlashStep,
    InjectFaultStep,
    Scenario,
    SendStep,
    SetCplStep,
    SetDspStep,
    Step,
    WaitStep,
)
from .target import WRONG_HASH, ScenarioTarget

# ---- instructions: what the runner must do on the lab ------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    request: SendRequest


@dataclass(frozen=True, slots=True)
class ChangeCpl:
    entry: CplEntry


@dataclass(frozen=True, slots=True)
class AddFault:
    rule: FaultRule


@dataclass(frozen=True, slots=True)
class Flash:
    device_id: str
    version: str
    image_hash: bytes


@dataclass(frozen=True, slots=True)
class ReadSmi:
    device_id: str


@dataclass(frozen=True, slots=True)
class SwitchMp105:
    on: bool


Instruction = Publish | ChangeCpl | AddFault | Flash | ReadSmi | SwitchMp105


@dataclass(frozen=True, slots=True)
class SentRequest:
    number: int  # 1 for the scenario's first request
    name: str | None
    request: SendRequest
    device: Device | None


class RunState(StrEnum):
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"  # for an observation or a time
    READING_SMI = "reading-smi"
    PASSED = "passed"
    FAILED = "failed"


_S = RunState
TRANSITIONS: TransitionTable[RunState, str] = TransitionTable(
    {
        (_S.READY, "start"): _S.RUNNING,
        (_S.RUNNING, "wait"): _S.WAITING,
        (_S.RUNNING, "read-smi"): _S.READING_SMI,
        (_S.RUNNING, "end"): _S.PASSED,
        (_S.RUNNING, "fail"): _S.FAILED,
        (_S.WAITING, "resolved"): _S.RUNNING,
        (_S.WAITING, "fail"): _S.FAILED,
        (_S.READING_SMI, "smi"): _S.RUNNING,
        (_S.READING_SMI, "fail"): _S.FAILED,
    }
)


class ScenarioModel:
    def __init__(self, scenario: Scenario, target: ScenarioTarget, first_counter: int) -> None:
        self.scenario = scenario
        self.target = target
        self.state = RunState.READY
        self.index = -1  # the step running (0-based)
        self.failure: ScenarioFailedError | None = None
        self.transcript: list[dict[str, Any]] = [self._header()]
        self.sent: list[SentRequest] = []
        self.pending: list[Observation] = []  # observed, not taken by a step
        self.deadline: datetime | None = None
        self.step_started: list[datetime] = []
        self._counter = first_counter
        self._check_names()

    # ---- the interface --------------------------------------------------------------

    @property
    def last_counter(self) -> int:
        """The originator counter of the last request built (the next run starts above)."""
        return self._counter

    @property
    def finished(self) -> bool:
        return self.state in (RunState.PASSED, RunState.FAILED)

    def next_due(self) -> datetime | None:
        return self.deadline if self.state is RunState.WAITING else None

    def start(self, now: datetime) -> list[Instruction]:
        self._move("start")
        return self._advance(now)

    def on_observation(self, observation: Observation, now: datetime) -> list[Instruction]:
        self._note("observed", **observation.to_json(), at=iso(observation.at))
        self.pending.append(observation)
        if self.state is not RunState.WAITING:
            return []
        return self._recheck(now)

    def on_smi(self, device: Device | None, now: datetime) -> list[Instruction]:
        self._move("smi")
        step = self._step
        assert isinstance(step, AssertSmiStep)
        problem = self._smi_problem(step, device)
        self._note("smi", device=step.device, record=_smi_json(device))
        if problem is not None:
            return self._fail(problem)
        self._pass()
        return self._advance(now)

    def on_tick(self, now: datetime) -> list[Instruction]:
        if self.state is not RunState.WAITING or self.deadline is None or now < self.deadline:
            return []
        step = self._step
        if isinstance(step, WaitStep | AssertNoAlertStep):
            self._move("resolved")
            self._pass()
            return self._advance(now)
        return self._fail(f"nothing within {step_within(step):g} s: {self._waiting_for()}")

    # ---- stepping -------------------------------------------------------------------

    @property
    def _step(self) -> Step:
        return self.scenario.steps[self.index]

    @property
    def step_number(self) -> int:
        return self.index + 1

    def _advance(self, now: datetime) -> list[Instruction]:
        """Run steps until one has to wait (or the scenario ends)."""
        out: list[Instruction] = []
        while self.state is RunState.RUNNING:
            self.index += 1
            if self.index == len(self.scenario.steps):
                self._move("end")
                self.index -= 1  # the last step stays the one the transcript ends on
                self._note("end", outcome="passed")
                break
            self.step_started.append(now)
            out.extend(self._begin(self._step, now))
        return out

    def _begin(self, step: Step, now: datetime) -> list[Instruction]:
        self._note("step", at=iso(now), **step.model_dump(mode="json", exclude_none=True))
        match step:
            case SendStep():
                return [self._send(step, now)]
            case SetCplStep() | ExpectResponseStep() | ExpectAlertStep() | WaitStep():
                return self._await(step, now)
            case AssertNoAlertStep():
                return self._no_alert(step, now)
            case AssertSmiStep():
                self._move("read-smi")
                return [ReadSmi(self.target.device(step.device).device_id)]
        return self._act(step)

    def _await(
        self, step: SetCplStep | ExpectResponseStep | ExpectAlertStep | WaitStep, now: datetime
    ) -> list[Instruction]:
        """Steps that wait for an observation or for time to pass."""
        self._wait(now, step_within(step))
        if isinstance(step, SetCplStep):
            return [ChangeCpl(self._cpl_entry(step)), *self._recheck(now)]
        return self._recheck(now)

    def _act(self, step: Step) -> list[Instruction]:
        """Steps that change the lab and go on at once."""
        self._pass()
        match step:
            case InjectFaultStep():
                return [AddFault(self._fault_rule(step))]
            case FlashStep():
                device = self.target.device(step.device)
                version = self.target.version(device, step.version)
                image_hash = _flashed_hash(self.target, device, version)
                return [Flash(device.device_id, version, image_hash)]
            case SetDspStep():
                return [SwitchMp105(step.mp105)]
        raise IllegalTransitionError("scenario", str(self.state), f"step {step.action}")

    def _wait(self, now: datetime, seconds: float) -> None:
        self._move("wait")
        self.deadline = now + timedelta(seconds=seconds)

    def _recheck(self, now: datetime) -> list[Instruction]:
        """Whether what the waiting step is about has come; then on to the next step."""
        if self.state is not RunState.WAITING:
            return []
        match self._step:
            case SetCplStep() as change:
                found = find_cpl_result(self.pending, self._cpl_entry(change))
                return self._resolve(found, check_cpl_result, now)
            case ExpectResponseStep() as response:
                return self._recheck_response(response, now)
            case ExpectAlertStep() as alert:
                device = self._device_id(alert.device)
                user = None if alert.user is None else self.target.user(alert.user)
                found = find_alert(self.pending, alert.code, device, user)
                expected = self._expected(alert.firmware_version, self._device(alert.device))
                return self._resolve(found, lambda o: check_alert(o, alert, expected), now)
            case AssertNoAlertStep() as absent:
                return self._no_alert_check(absent)
        return []

    def _recheck_response(self, step: ExpectResponseStep, now: datetime) -> list[Instruction]:
        sent = self._request(step.request)
        found = find_response(self.pending, step, sent.request.request_id)
        device = sent.device if step.version_of is None else self._device(step.version_of)
        expected = self._expected(step.firmware_version, device)
        return self._resolve(found, lambda o: check_response(o, step, expected), now)

    def _resolve(
        self, found: Observation | None, check: Callable[[Observation], str | None], now: datetime
    ) -> list[Instruction]:
        if found is None:
            return []
        self.pending.remove(found)
        self._move("resolved")
        problem = check(found)
        if problem is not None:
            return self._fail(f"{problem} (in {describe(found)})")
        self._pass(taken=describe(found))
        return self._advance(now)

    # ---- steps ----------------------------------------------------------------------

    def _send(self, step: SendStep, now: datetime) -> Publish:
        user = self.target.user(step.user)
        device = None if step.to is None else self.target.device(step.to)
        self._counter += 1
        request = build_request(
            user,
            step.srv,
            None if device is None else device.device_id,
            self._counter,
            self._body(step, device, now),
            command_variant=step.command_variant,
        )
        self.sent.append(SentRequest(len(self.sent) + 1, step.name, request, device))
        self._note("sent", request_id=request.request_id, number=len(self.sent), srv=str(step.srv))
        self._pass()
        return Publish(request)

    def _body(self, step: SendStep, device: Device | None, now: datetime) -> dict[str, Any]:
        match step.srv:
            case Srv.UPDATE_FIRMWARE | Srv.UPDATE_PPMID_FIRMWARE:
                devices = [self.target.device(ref) for ref in step.devices]
                version = self.target.version(devices[0], step.version)
                image = self.target.image(devices[0], version).to_bytes()
                return update_firmware_body(image, version, tuple(d.device_id for d in devices))
            case Srv.READ_INVENTORY:
                return inventory_body(tuple(self.target.device(r).device_id for r in step.devices))
            case Srv.ACTIVATE_FIRMWARE:
                assert device is not None
                return self._activation(step, device, now)
        return {}

    def _activation(self, step: SendStep, device: Device, now: datetime) -> dict[str, Any]:
        version = self.target.version(device, step.version)
        image_hash = WRONG_HASH if step.wrong_hash else self.target.image_hash(device, version)
        if step.cancel:
            return {"firmware_hash": image_hash, "execution_datetime": iso(DUIS_CANCELLATION)}
        execution = None
        if step.execute_in is not None:
            execution = _whole_seconds(now + timedelta(seconds=step.execute_in))
        return activate_body(image_hash, execution)

    def _cpl_entry(self, step: SetCplStep) -> CplEntry:
        device = self.target.device(step.device)
        version = self.target.version(device, step.version)
        image_hash = self.target.image_hash(device, version)
        return CplEntry(device.manufacturer, device.model, version, step.status, image_hash)

    def _fault_rule(self, step: InjectFaultStep) -> FaultRule:
        device = None if step.device is None else self._device_id(step.device)
        compact = None if device is None else device.replace("-", "")
        return step.rule_spec(compact).to_rule()

    def _no_alert(self, step: AssertNoAlertStep, now: datetime) -> list[Instruction]:
        self._no_alert_check(step)
        if self.state is RunState.FAILED:
            return []
        if step.during == 0:
            self._pass()
        else:
            self._wait(now, step.during)
        return []

    def _no_alert_check(self, step: AssertNoAlertStep) -> list[Instruction]:
        found = find_alert(self.pending, step.code, self._device_id(step.device), None)
        if found is None:
            return []
        return self._fail(f"expected no {step.code} alert, saw {describe(found)}")

    def _smi_problem(self, step: AssertSmiStep, record: Device | None) -> str | None:
        device = self.target.device(step.device)
        if record is None:
            return f"device {device.device_id} is not in the SMI"
        wrong = []
        if step.status is not None and record.status != step.status:
            wrong.append(f"status {step.status} expected, SMI has {record.status}")
        if step.firmware_version is not None:
            want = self.target.version(device, step.firmware_version)
            if record.firmware_version != want:
                wrong.append(f"firmware {want} expected, SMI has {record.firmware_version}")
        return "; ".join(wrong) or None

    # ---- names ----------------------------------------------------------------------

    def _request(self, name: str | None) -> SentRequest:
        if name is None:
            return self.sent[-1]
        return next(s for s in reversed(self.sent) if s.name == name)

    def _device(self, ref: str | None) -> Device | None:
        return None if ref is None else self.target.device(ref)

    def _device_id(self, ref: str | None) -> str | None:
        device = self._device(ref)
        return None if device is None else device.device_id

    def _expected(self, ref: str | None, device: Device | None) -> Expected:
        if ref is None:
            return Expected()
        if ref == "none":
            return Expected(None, check_version=True)
        if device is None:
            return Expected(ref.upper(), check_version=True)  # 8 hex digits (checked before)
        return Expected(self.target.version(device, ref), check_version=True)

    def _waiting_for(self) -> str:
        step = self._step
        seen = [describe(o) for o in self.pending]
        summary = f"still waiting; not taken: {', '.join(seen)}" if seen else "nothing else seen"
        match step:
            case ExpectResponseStep():
                sent = self._request(step.request)
                codes = " or ".join(step.code)
                return f"no {codes} to request {sent.number} ({sent.request.srv}); {summary}"
            case ExpectAlertStep():
                return f"no {step.code} alert about {step.device or 'any device'}; {summary}"
            case SetCplStep():
                return f"no CPL result from the DSP; {summary}"
        return summary

    def _check_names(self) -> None:
        """Every name of every step means something on this target, and every expected
        response follows a request; else `ScenarioError` naming the step."""
        sent: dict[str | None, str | None] = {}  # request name -> the device it went to
        for number, step in enumerate(self.scenario.steps, 1):
            try:
                self._check_step(step, sent)
            except ScenarioError as exc:
                where = f"scenario {self.scenario.name}, step {number} ({step.action})"
                raise ScenarioError(f"{where}: {exc}") from exc

    def _check_step(self, step: Step, sent: dict[str | None, str | None]) -> None:
        target = self.target
        user = getattr(step, "user", None)
        if user is not None:
            target.user(user)
        match step:
            case SendStep():
                self._check_send(step)
                sent[None] = sent[step.name] = step.to
            case ExpectResponseStep():
                if step.request not in sent:
                    raise ScenarioError(
                        f"expects a response to {step.request or 'a request'}, none sent before"
                    )
                self._check_version(step.version_of or sent[step.request], step.firmware_version)
            case SetCplStep() | FlashStep():
                self._check_version(step.device, step.version)
            case AssertSmiStep() | ExpectAlertStep():
                self._check_version(step.device, step.firmware_version)
            case AssertNoAlertStep() | InjectFaultStep() if step.device is not None:
                target.device(step.device)

    def _check_version(self, device_ref: str | None, version: str | None) -> None:
        device = None if device_ref is None else self.target.device(device_ref)
        if version in (None, "none"):
            return
        if device is not None:
            self.target.version(device, str(version))
        elif version in ("running", "upgrade"):
            raise ScenarioError(f"`{version}` of which device? name one")

    def _check_send(self, step: SendStep) -> None:
        """The devices exist, and the image an 11.1 or 11.4 sends or an 11.3 names too."""
        for named in [*step.devices, *([step.to] if step.to else [])]:
            self.target.device(named)
        image_of: str | None = None
        if step.srv is Srv.ACTIVATE_FIRMWARE and not step.wrong_hash:
            image_of = step.to
        if step.srv in (Srv.UPDATE_FIRMWARE, Srv.UPDATE_PPMID_FIRMWARE):
            image_of = step.devices[0]
        if image_of is not None:
            device = self.target.device(image_of)
            self.target.image(device, self.target.version(device, step.version))

    # ---- bookkeeping ----------------------------------------------------------------

    def _move(self, event: str) -> None:
        self.state = TRANSITIONS.next("scenario", self.state, event)

    def _pass(self, **detail: Any) -> None:
        self._note("result", outcome="passed", **detail)

    def _fail(self, detail: str) -> list[Instruction]:
        self._move("fail")
        self.deadline = None
        self.failure = ScenarioFailedError(
            self.scenario.name, self.step_number, self._step.action, detail
        )
        self._note("result", outcome="failed", detail=detail)
        self._note("end", outcome="failed")
        return []

    def _note(self, kind: str, **fields: Any) -> None:
        self.transcript.append({"kind": kind, "step": self.step_number, **fields})

    def _header(self) -> dict[str, Any]:
        target = self.target
        versions = {}
        for device in target.devices:
            versions[f"running:{device.device_type}"] = device.firmware_version
            with contextlib.suppress(ScenarioError):  # a model with no upgrade on offer
                versions[f"upgrade:{device.device_type}"] = target.version(device, "upgrade")
        return {
            "kind": "run",
            "scenario": self.scenario.name,
            "rules": self.scenario.rules,
            "hub": target.hub.name,
            "hub_kind": str(target.hub.kind),
            "devices": {str(d.device_type): d.device_id for d in target.devices},
            "versions": versions,
            "users": dict(target.users),
        }


def step_within(step: Step) -> float:
    return float(getattr(step, "within", getattr(step, "seconds", 0.0)))


def _flashed_hash(target: ScenarioTarget, device: Device, version: str) -> bytes:
    """The image hash a flashed device holds: the lab's image's, else one of its own."""
    image = target.images.get((device.manufacturer, device.model, version))
    if image is not None:
        return image.sha256
    return hashlib.sha256(f"flashed {device.model} {version}".encode()).digest()


def _whole_seconds(value: datetime) -> datetime:
    """GBCS carries execution times in whole seconds (C9): rounded up."""
    if value.microsecond:
        return value.replace(microsecond=0) + timedelta(seconds=1)
    return value


def _smi_json(device: Device | None) -> dict[str, Any] | None:
    if device is None:
        return None
    return {
        "device_id": device.device_id,
        "status": str(device.status),
        "firmware_version": device.firmware_version,
    }

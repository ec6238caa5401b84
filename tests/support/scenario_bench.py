"""A scenario interpreter on the shipped lab fleet, fed hand-made observations in the
DSP's shapes (DESIGN §3), with no broker and no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contract.vocabulary import CplEntry, Device, DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.lab.env import HubPlan, LabEnv, load_lab_env, plan_hubs
from hil.lab.observations import Observation, ObservationKind
from hil.scenarios.file import Scenario
from hil.scenarios.model import Instruction, Publish, RunState, ScenarioModel
from hil.scenarios.target import ScenarioTarget
from tests.support.paths import ROOT

T0 = datetime(2031, 1, 1, tzinfo=UTC)
ENV: LabEnv = load_lab_env(ROOT / "configs" / "lab-emulated.yaml")
SPEC, PLAN = load_fleet_spec(ENV.fleet)
BUILD = build_fleet(SPEC, PLAN)
HUBS: list[HubPlan] = plan_hubs(ENV, SPEC, BUILD)
USERS = {"supplier": "90-B3-D5-1F-30-01-00-00", "network_operator": "90-B3-D5-1F-30-02-00-00"}
SUPPLIER = USERS["supplier"]


def target(hub: str = "smets2", devices: tuple[Device, ...] | None = None) -> ScenarioTarget:
    plan = next(h for h in HUBS if h.name == hub)
    return ScenarioTarget(plan, plan.devices if devices is None else devices, USERS, BUILD.images)


def scenario(*steps: dict[str, Any], **fields: Any) -> Scenario:
    return Scenario.model_validate({"name": "bench", "steps": list(steps), **fields})


class Bench:
    """One run, its clock moved by hand and everything it asked for kept."""

    def __init__(self, run: ScenarioModel) -> None:
        self.run = run
        self.now = T0
        self.done: list[Instruction] = []

    @classmethod
    def of(cls, *steps: dict[str, Any], hub: str = "smets2") -> Bench:
        return cls(ScenarioModel(scenario(*steps), target(hub), first_counter=1000))

    def start(self) -> list[Instruction]:
        return self._keep(self.run.start(self.now))

    def later(self, seconds: float) -> list[Instruction]:
        self.now += timedelta(seconds=seconds)
        return self._keep(self.run.on_tick(self.now))

    def see(
        self, kind: ObservationKind, content: dict[str, Any], user: str | None = SUPPLIER
    ) -> list[Instruction]:
        return self._keep(
            self.run.on_observation(Observation(kind, user, content, self.now), self.now)
        )

    def respond(
        self, code: str, body: dict[str, Any] | None = None, number: int = -1
    ) -> list[Instruction]:
        request = self.sent(number).request
        content = {"request_id": request.request_id, "response_code": code, "body": body or {}}
        return self.see(ObservationKind.RESPONSE, content)

    def alert(
        self, code: str, device: Device, user: str = SUPPLIER, **body: Any
    ) -> list[Instruction]:
        content = {"alert_code": code, "device_id": device.device_id, "body": body}
        return self.see(ObservationKind.ALERT, content, user)

    def cpl_applied(self, entry: CplEntry) -> list[Instruction]:
        content = {
            "applied": True,
            "manufacturer": entry.manufacturer,
            "model": entry.model,
            "firmware_version": entry.firmware_version,
            "status": str(entry.status),
        }
        return self.see(ObservationKind.CPL_RESULT, content, None)

    def state(self) -> RunState:
        return self.run.state

    def smi(self, record: Device) -> list[Instruction]:
        return self._keep(self.run.on_smi(record, self.now))

    def sent(self, number: int = -1) -> Publish:
        return [i for i in self.done if isinstance(i, Publish)][number]

    def _keep(self, instructions: list[Instruction]) -> list[Instruction]:
        self.done.extend(instructions)
        return instructions


def device(device_type: DeviceType, hub: str = "smets2") -> Device:
    return next(d for d in target(hub).devices if d.device_type is device_type)

"""The conformance sequence against the real sans-IO DSP core and an emulated premises,
joined in one process on a manual clock, as they are over MQTT: the sequence sees the
response and alert JSON of its service user and the device's hub traffic, nothing else.
Shared by the unit tests of the checks and the reports."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.ids import to_compact
from contract.requests import SendRequest
from contract.vocabulary import DeviceType
from dsp_core.core import DspCore
from dsp_core.events import (
    Action,
    ClockTicked,
    DeviceMessageReceived,
    Event,
    RequestReceived,
    SendAlert,
    SendCommand,
    SendResponse,
)
from dsp_core.state import State
from emulators.actions import Uplink
from emulators.faults import FaultPlan, FaultRule
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
from hil.conformance import (
    ConformanceModel,
    ConformanceOptions,
    ConformanceReport,
    ConformanceTarget,
    FirmwareImage,
    Recording,
    Source,
)

T0 = datetime(2031, 1, 1, tzinfo=UTC)
RUNNING = "0123ABCD"
FIRST = "0123ABCE"  # activated at once
SECOND = "0123ABCF"  # future-dated, then repeated
BROKER = "mqtt://127.0.0.1:1883"  # only named: this loop has no broker
LIMIT = timedelta(days=1)
MODELS = {
    DeviceType.ESME: ("LANDIS", "E470"),
    DeviceType.CHF: ("TOSHIBA", "CH-2"),
    DeviceType.HCALCS: ("SWITCHCO", "ALCS-1"),
}


def spec(device_type: DeviceType = DeviceType.ESME, seed: int = 11) -> FleetSpec:
    """One premises: a comms hub and the device under test, running RUNNING, with FIRST
    and SECOND on the CPL (Current) and built as images."""
    manufacturer, model = MODELS[device_type]
    device = {
        "type": str(device_type),
        "manufacturer": manufacturer,
        "model": model,
        "firmware_versions": [RUNNING],
        "upgrade_versions": [FIRST, SECOND],
        "image_size": 1024,
    }
    hub = {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]}
    meter = {"type": "ESME", "model": "E470", "firmware_versions": [RUNNING]}
    # an ESME gives the premises its MPAN, for the 11.2's registration check (R2: E4)
    devices = {
        DeviceType.ESME: [hub, device],
        DeviceType.CHF: [device, meter],
        DeviceType.HCALCS: [hub, meter, device],
    }[device_type]
    return FleetSpec.model_validate(
        {"seed": seed, "templates": [{"name": "dut", "count": 1, "devices": devices}]}
    )


def lab_build(
    device_type: DeviceType = DeviceType.ESME, rules: Sequence[FaultRule] = ()
) -> FleetBuild:
    return build_fleet(spec(device_type), FaultPlan(rules=tuple(rules), seed=5))


def device_under_test(build: FleetBuild, device_type: DeviceType = DeviceType.ESME) -> str:
    return next(d.device_id for d in build.seed.devices if d.device_type is device_type)


def firmware(build: FleetBuild, device_id: str, version: str) -> FirmwareImage:
    device = next(d for d in build.seed.devices if d.device_id == device_id)
    image = build.images[device.manufacturer, device.model, version]
    return FirmwareImage.from_image(image.to_bytes())


def target(
    build: FleetBuild,
    device_type: DeviceType = DeviceType.ESME,
    *,
    first: FirmwareImage | None = None,
    second: FirmwareImage | None = None,
    broker: str = BROKER,
    mqtt_version: str = "auto",
) -> ConformanceTarget:
    device_id = device_under_test(build, device_type)
    return ConformanceTarget(
        broker,
        build.seed.users[0].user_id,
        device_id,
        first or firmware(build, device_id, FIRST),
        second or firmware(build, device_id, SECOND),
        mqtt_version=mqtt_version,
    )


@dataclass(slots=True)
class ConformanceLoop:
    """Requests to the core, commands to the fleet, uplinks to the core, responses and
    alerts to the sequence, first in first out; the clock moves to the next due time."""

    build: FleetBuild
    core: DspCore
    state: State
    user: str
    now: datetime
    queue: deque[tuple[str, Any]]
    sequence: ConformanceModel | None = None

    @classmethod
    def of(cls, build: FleetBuild) -> ConformanceLoop:
        state = State()
        seed = build.seed
        state.load(
            devices=seed.devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
        )
        return cls(build, DspCore(), state, seed.users[0].user_id, T0, deque())

    def run(self, sequence: ConformanceModel) -> Recording:
        self.sequence = sequence
        self._publish(sequence.start(self.now))
        self._drain()
        while not sequence.finished:
            candidates = (self.build.fleet.next_due(), sequence.next_due(), self._core_due())
            due = min(c for c in candidates if c is not None)
            assert due - T0 < LIMIT, "the sequence did not finish in a day of device time"
            self._step(max(self.now, due))
        return sequence.recording(self.now)

    def _step(self, now: datetime) -> None:
        assert self.sequence is not None
        self.now = now
        self._uplinks(self.build.fleet.tick(now))
        self._drain()
        self._core(ClockTicked(now))
        self._drain()
        self._publish(self.sequence.on_tick(now))
        self._drain()

    def _core_due(self) -> datetime | None:
        return min((t.deadline for t in self.state.requests.values() if t.is_open), default=None)

    def _core(self, event: Event) -> None:
        self._take(self.core.handle_event(event, self.state))
        self.state.take_changes()

    def _take(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SendCommand(ch_id=ch_id, data=data):
                    self.queue.append(("down", (ch_id, data)))
                case SendResponse(user_id=user, response=response) if user == self.user:
                    self.queue.append(("response", response.to_json()))
                case SendAlert(user_id=user, alert=alert) if user == self.user:
                    self.queue.append(("alert", alert.to_json()))

    def _uplinks(self, outputs: Sequence[object]) -> None:
        for output in outputs:
            if isinstance(output, Uplink):
                self.queue.append(("up", output))

    def _publish(self, sends: list[SendRequest]) -> None:
        for send in sends:
            self._core(RequestReceived(to_compact(send.user_id), send.to_bytes(), self.now))

    def _drain(self) -> None:
        sequence = self.sequence
        assert sequence is not None
        while self.queue:
            kind, item = self.queue.popleft()
            match kind:
                case "down":
                    ch_id, data = item
                    sequence.on_hub(Source.HUB_DOWN, data, self.now)
                    hub = bytes.fromhex(to_compact(ch_id))
                    self._uplinks(self.build.fleet.handle_down(hub, data, self.now))
                case "up":
                    sequence.on_hub(Source.HUB_UP, item.data, self.now)
                    self._core(DeviceMessageReceived(item.ch_id, item.data, self.now))
                case "response":
                    self._publish(sequence.on_response(_wire(item), self.now))
                case "alert":
                    self._publish(sequence.on_alert(_wire(item), self.now))


def _wire(content: dict[str, Any]) -> dict[str, Any]:
    """The JSON as it travels (what a service user on the bus would parse)."""
    loaded: dict[str, Any] = json.loads(json.dumps(content))
    return loaded


def run_conformance(
    build: FleetBuild,
    conformance: ConformanceTarget | None = None,
    options: ConformanceOptions | None = None,
    device_type: DeviceType = DeviceType.ESME,
) -> ConformanceReport:
    conformance = conformance or target(build, device_type)
    sequence = ConformanceModel(conformance, options or ConformanceOptions(), 1001)
    return ConformanceReport.of(ConformanceLoop.of(build).run(sequence))

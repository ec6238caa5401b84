"""A conformance run's lab: one emulated premises with the device under test (an ESME,
a comms hub or an HCALCS), its target (the two images it is to take), and the run
itself, on the in-memory `LabLoop` (`run_conformance`: the unit tests of the checks and
the reports) or as a service user on a broker (`lab_on_broker`: a `Stack`, the DSP
service and the fleet runner, which the integration and CLI tests run against).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from bus.clock import ClockSetting
from contract.vocabulary import DeviceType
from dsp_core.store import MemoryStore
from emulators.faults import FaultPlan, FaultRule
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
from hil.conformance import (
    ConformanceModel,
    ConformanceOptions,
    ConformanceReport,
    ConformanceTarget,
    FirmwareImage,
)
from hil.keys import lab_security
from hil.lab.stack import Stack, StackConfig, seed_store
from tests.support.lab_loop import T0, LabLoop

RUNNING = "0123ABCD"
FIRST = "0123ABCE"  # activated at once
SECOND = "0123ABCF"  # future-dated, then repeated
BROKER = "mqtt://127.0.0.1:1883"  # only named: the in-memory loop has no broker
LIMIT = timedelta(days=1)  # of device time, for a run on the loop
SCALE = 10.0  # device seconds per wall second, for a run on a broker
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
    device_type: DeviceType = DeviceType.ESME,
    rules: Sequence[FaultRule] = (),
    *,
    security: bool = False,
) -> FleetBuild:
    """The fleet of `spec`; with `security` its GBCS keys derived from its seed (D-SEC10)."""
    fleet = spec(device_type).model_copy(update={"security": security})
    return build_fleet(fleet, FaultPlan(rules=tuple(rules), seed=5))


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


def run_conformance(
    build: FleetBuild,
    conformance: ConformanceTarget | None = None,
    options: ConformanceOptions | None = None,
    device_type: DeviceType = DeviceType.ESME,
) -> ConformanceReport:
    """The sequence against the core and the premises on the in-memory loop: it sees
    the response and alert JSON of its service user and the hub's traffic, nothing else."""
    conformance = conformance or target(build, device_type)
    security = lab_security(build.keys)  # signs and judges when the fleet's security is on
    sequence = ConformanceModel(conformance, options or ConformanceOptions(), 1001, security)
    loop = LabLoop(build, on_hub=sequence.on_hub)
    loop.run(sequence, limit=LIMIT)
    return ConformanceReport.of(sequence.recording(loop.now))


@asynccontextmanager
async def lab_on_broker(
    url: str, rules: Sequence[FaultRule] = ()
) -> AsyncIterator[ConformanceTarget]:
    """`lab_build(rules=rules)` on the broker at `url` (MQTT 3.1.1): the DSP service and
    the fleet runner (a `Stack`, each on its own connection) at `SCALE`; the target."""
    build = lab_build(rules=rules)
    store = MemoryStore()
    await seed_store(store, build.seed)
    config = StackConfig(
        url,
        ClockSetting.starting_now(T0, SCALE, time.time()),
        mqtt_version="3.1.1",
        run_id=f"conform-{uuid.uuid4().hex[:6]}",
    )
    async with Stack(config, build, store):
        yield target(build, broker=url, mqtt_version="3.1.1")

"""`smetslab demo`: the MP105 story on an emulated fleet, end to end over MQTT.

1. The lab starts: a broker (embedded unless one is given), the DSP on a SQLite file,
   the fleet, and a service user, all in this process on their own connections.
2. The running firmware versions are removed from the CPL: devices go Suspended (R4).
3. A campaign distributes the upgrade (11.1 / 11.4) and activates it (11.3), with a
   share of the 11.3 responses lost on the way up (seeded); the lost ones end in E21
   and are retried (R8), the devices still Suspended are read with 11.2 (R5), and the
   GPFs are read too, so a stale GPF mirror raises N52 (R6).
4. The summary compares the SMI with what every device really runs.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bus.adapter import MqttAdapter
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting
from contract.cpl import cpl_change_json
from contract.topics import TopicKind, Topics
from contract.vocabulary import CplEntry, CplStatus, Device, DeviceType, SmiStatus
from dsp_core.model import JournalKind
from dsp_core.store import SqlStore, Store
from dsp_core.turn import CoreConfig
from emulators.faults import FaultKind, FaultPlan, FaultPlanSpec, FaultRuleSpec, read_yaml
from emulators.fleet import FleetBuild, ImageKey, build_fleet
from emulators.fleetspec import FleetSpec, load_fleet_spec
from emulators.journal import FleetJournal
from gbcs import format_entity_id

from .campaign.model import CampaignModel
from .campaign.plan import CampaignPlan, FirmwareTarget
from .campaign.report import CampaignReport, Recovery
from .campaign.runner import CampaignRunner
from .errors import DemoError, LabError
from .keys import lab_security
from .lab.stack import Stack, StackConfig, seed_store
from .shipped import shipped

# a device the CPL removal did not touch (a GPF, a model not upgraded): no campaign for it
NOT_IN_CAMPAIGN = "not_in_campaign"
DEMO_FLEET = shipped("demo-fleet.yaml")
EPOCH = datetime(2031, 1, 1, tzinfo=UTC)
CS06 = 0x0012  # the message code of SR 11.3's command and response
ONE_STEP = frozenset({DeviceType.PPMID})


@dataclass(frozen=True, slots=True)
class DemoOptions:
    premises: int = 200
    loss: float = 0.2
    seed: int = 105
    mp105: bool = True
    broker: str | None = None  # mqtt://host:port; None starts the embedded broker
    scale: float = 120.0  # device seconds per wall second
    store_url: str | None = None  # None: a SQLite file in a temporary folder
    fleet_file: Path = DEMO_FLEET
    topic_root: str | None = None  # None: a root of this run's own (smetslab-demo-...)
    future_dated: timedelta | None = None  # activate at now + this instead of at once
    patience: float = 1.0  # multiplies the campaign's waits (large fleets: the DSP lags)
    dsp_processes: int = 0  # DSP workers in processes of their own (D18); 0: in this one
    alerts_within: float = 60.0  # wall seconds for the CPL removal's alerts to arrive
    fleet_processes: int = 0  # the fleet as shard processes (D-S1); 0: in this one
    # R8: device seconds the DSP waits for a response before E21 (a GSME: 15 minutes);
    # a longer one keeps a starved process's late answer from looking lost
    response_timeout: timedelta = timedelta(seconds=60)
    # clean MQTT sessions for the parts in this process unless asked (D-O3): a demo leaves
    # nothing on a broker; a story that restarts its DSP or the broker needs them kept
    persistent_sessions: bool = False
    security: bool | None = None  # GBCS security over the fleet file's (None: as it says)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    premises: int
    devices: int
    suspended: int
    activated: int
    responses_lost: int
    recovered_by_retry: int
    recovered_by_read: int
    alerts: dict[str, int]
    smi_mismatches: int  # SMETS2 devices whose SMI version is not what they run
    smets1_mismatches: int
    still_suspended: int
    wall_s: float
    device_s: float
    mp105: bool = True
    report: CampaignReport | None = field(default=None, compare=False)
    # every device in exactly one row: how the campaign left it (Recovery), or not in it
    outcomes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "premises": self.premises,
            "devices": self.devices,
            "suspended": self.suspended,
            "activated": self.activated,
            "responses_lost": self.responses_lost,
            "recovered_by_retry": self.recovered_by_retry,
            "recovered_by_read": self.recovered_by_read,
            "alerts": dict(sorted(self.alerts.items())),
            "smi_mismatches": self.smi_mismatches,
            "smets1_mismatches": self.smets1_mismatches,
            "still_suspended": self.still_suspended,
            "outcomes": dict(self.outcomes),
            "mp105": self.mp105,
            "wall_s": round(self.wall_s, 2),
            "device_s": round(self.device_s, 1),
            **self._security(),
        }

    def _security(self) -> dict[str, Any]:
        """With the fleet's security on: the campaign's signing and verdict counts."""
        security = None if self.report is None else self.report.security
        if security is None:
            return {}
        counts = security.to_json()
        counts.pop("not_valid")
        return {"security": counts}


Say = Callable[[str], None]
Interlude = Callable[[Stack, CampaignModel], Coroutine[Any, Any, None]]


def demo_spec(options: DemoOptions) -> tuple[FleetSpec, FaultPlan]:
    """The demo fleet scaled to `premises`, its plan with the 11.3 response loss added."""
    spec = demo_fleet_spec(options)
    return spec, spec.plan()


def demo_fleet_spec(options: DemoOptions) -> FleetSpec:
    """The demo's fleet file as it runs: scaled, seeded, the loss rule in its inline plan;
    what fleet shard processes are given (written by `write_fleet_file`)."""
    spec, _ = load_fleet_spec(options.fleet_file)
    base = _plan_spec(spec, options.fleet_file.parent)
    loss = FaultRuleSpec(fault=FaultKind.DROP, message_code=CS06, probability=options.loss)
    rules = [loss, *base.rules] if options.loss > 0 else base.rules
    plan = base.model_copy(update={"rules": rules, "seed": options.seed})
    scaled = scale_spec(spec, options.premises)
    update: dict[str, object] = {"seed": options.seed, "fault_plan": plan}
    if options.security is not None:
        update["security"] = options.security
    return scaled.model_copy(update=update)


def _plan_spec(spec: FleetSpec, base: Path) -> FaultPlanSpec:
    found = spec.fault_plan
    if found is None:
        return FaultPlanSpec()
    if isinstance(found, str):
        return FaultPlanSpec.model_validate(read_yaml(base / found))
    return found


def write_fleet_file(spec: FleetSpec, path: Path) -> Path:
    """`spec` as a fleet file that builds the same fleet in another process."""
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    return path


def scale_spec(spec: FleetSpec, premises: int) -> FleetSpec:
    """Every template's count scaled so that they add up to `premises`."""
    total = sum(t.count for t in spec.templates)
    counts = [t.count * premises // total for t in spec.templates]
    counts[0] += premises - sum(counts)
    templates = [
        t.model_copy(update={"count": n}) for t, n in zip(spec.templates, counts, strict=True)
    ]
    return spec.model_copy(update={"templates": templates})


def removals(build: FleetBuild) -> list[CplEntry]:
    """The CPL entries of every version running on a device that has an upgrade on offer."""
    upgradable = {(m, model) for (m, model, _) in upgrade_versions(build)}
    running = running_versions(build)
    return [
        replace(entry, status=CplStatus.REMOVED)
        for entry in build.seed.cpl
        if (entry.manufacturer, entry.model) in upgradable and _version_key(entry) in running
    ]


def upgrade_versions(build: FleetBuild) -> set[ImageKey]:
    running = running_versions(build)
    return {key for key in build.images if key not in running}


def running_versions(build: FleetBuild) -> set[ImageKey]:
    return {_version_key(d) for d in build.seed.devices}


def _version_key(record: Device | CplEntry) -> ImageKey:
    return (record.manufacturer, record.model, record.firmware_version)


def targets(build: FleetBuild) -> tuple[FirmwareTarget, ...]:
    """One campaign target per device model with an upgrade, over every such device."""
    found = []
    for manufacturer, model, version in sorted(upgrade_versions(build)):
        devices = [
            d for d in build.seed.devices if (d.manufacturer, d.model) == (manufacturer, model)
        ]
        if not devices:  # a template scaled to no premises
            continue
        image = build.images[manufacturer, model, version]
        found.append(
            FirmwareTarget(
                manufacturer,
                model,
                version,
                image.to_bytes(),
                tuple(d.device_id for d in devices),
                image.sha256.hex().upper(),
                one_step=devices[0].device_type in ONE_STEP,
            )
        )
    return tuple(found)


class DemoRun:
    """One run of the story; `run` returns the summary."""

    def __init__(
        self,
        options: DemoOptions,
        say: Say | None = None,
        interlude: Interlude | None = None,
        progress: Callable[[CampaignModel], None] | None = None,
    ) -> None:
        self.options = options
        self.say = say or (lambda _: None)
        self.progress = progress  # a progress display, told after each campaign step
        self.interlude = interlude  # runs beside the campaign: a restart, a fault
        self.spec = demo_fleet_spec(options)
        self.build = build_fleet(self.spec, self.spec.plan())
        self.journal = FleetJournal()
        self.alerts: Counter[str] = Counter()
        self._phase = ""

    async def run(self) -> DemoSummary:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="smetslab-demo-") as folder:
            workdir = Path(folder)
            store_url = self.options.store_url or f"sqlite:///{workdir / 'dsp.sqlite'}"
            store = await self._store(store_url)
            try:
                async with self._broker() as url:
                    summary = await self._story(self._config(url, store_url, workdir), store)
            finally:
                await store.close()
        return replace(summary, wall_s=time.monotonic() - started)

    async def _store(self, url: str) -> Store:
        store = await SqlStore.open(url)
        await seed_store(store, self.build.seed)
        return store

    def _broker(self) -> _BrokerContext:
        return _BrokerContext(self.options.broker)

    def _config(self, url: str, store_url: str, workdir: Path) -> StackConfig:
        options = self.options
        run_id = f"demo-{uuid.uuid4().hex[:8]}"
        return StackConfig(
            url,
            ClockSetting.starting_now(EPOCH, options.scale, time.time()),
            topics=Topics(options.topic_root or f"smetslab-{run_id}"),
            mqtt_version="auto" if options.broker else "3.1.1",
            core=CoreConfig(
                mp105=options.mp105,
                response_timeout=options.response_timeout,
                gsme_response_timeout=timedelta(minutes=15),
            ),
            run_id=run_id,
            dsp_processes=options.dsp_processes,
            store_url=store_url,
            workdir=workdir,
            fleet_processes=options.fleet_processes,
            persistent=options.persistent_sessions,
            fleet_file=write_fleet_file(self.spec, workdir / "fleet.yaml"),
        )

    async def _story(self, config: StackConfig, store: Store) -> DemoSummary:
        supplier = self.build.seed.users[0].user_id
        async with Stack(config, self.build, store, self.journal) as lab:
            user = await lab.user_bus(supplier, "campaign")
            suspended = await self._remove_from_cpl(lab, user)
            report = await self._campaign(lab, user, supplier)
            device_s = (lab.clock().now() - EPOCH).total_seconds()
            store = lab.store  # an interlude may have restarted the DSP on a new store
        fleet = self._fleet_outcome(lab)
        return await self._summary(store, suspended, report, device_s, fleet)

    def _fleet_outcome(self, lab: Stack) -> FleetOutcome:
        """What the devices run and how many 11.3 responses were lost: from the fleet in
        this process, or from the final states the shard processes wrote (D-S3)."""
        if not lab.shards:
            versions = {
                m.device_id.hex().upper(): m.running_version.hex().upper()
                for m in self.build.fleet.devices()
            }
            return FleetOutcome(versions, self.journal.faults_fired(FaultKind.DROP, CS06))
        states = lab.shard_states()
        versions = {k: v for state in states for k, v in state.versions.items()}
        lost = sum(state.faults_fired(FaultKind.DROP, CS06) for state in states)
        if len(versions) != len(self.build.seed.devices):
            raise LabError(
                f"the fleet shards ran {len(versions)} devices, "
                f"the fleet has {len(self.build.seed.devices)}"
            )
        return FleetOutcome(versions, lost)

    async def _remove_from_cpl(self, lab: Stack, user: MqttAdapter) -> int:
        entries = removals(self.build)
        self.say(f"removing {len(entries)} firmware versions from the CPL (R4)")
        for entry in entries:
            user.publish(lab.config.topics.cpl, cpl_change_json(entry))
        removed = {_version_key(entry) for entry in entries}
        expected = sum(1 for d in self.build.seed.devices if _version_key(d) in removed)
        await self._await_alerts(lab, user, "N28", expected)
        suspended = sum(1 for d in await lab.store.devices() if d.status is SmiStatus.SUSPENDED)
        self.say(f"{suspended} devices Suspended")
        return suspended

    async def _await_alerts(self, lab: Stack, user: MqttAdapter, code: str, count: int) -> None:
        stop, within = asyncio.Event(), self.options.alerts_within
        try:
            async with asyncio.timeout(within):
                while self.alerts[code] < count:
                    message = await user.next_message(stop)
                    assert message is not None
                    if lab.config.topics.parse(message.topic).kind is TopicKind.ALERTS:
                        self.alerts[_alert_code(message.payload)] += 1
                    user.ack(message)
        except TimeoutError:
            arrived = f"{self.alerts[code]} of the {count} {code} alerts arrived in {within:.0f} s"
            raise DemoError(f"{arrived}: {await self._why_short(lab, code, count)}") from None

    async def _why_short(self, lab: Stack, code: str, count: int) -> str:
        """The cause of alerts that did not arrive, as the DSP's journal tells it once
        the DSP has caught up (its count of them still for a second, or all raised)."""
        raised, still_since = -1, time.monotonic()
        async with asyncio.timeout(self.options.alerts_within):
            while (now := await _raised(lab, code)) < count:
                if now != raised:
                    raised, still_since = now, time.monotonic()
                elif time.monotonic() - still_since > 1.0:
                    break
                await asyncio.sleep(0.1)
        dropping = (
            "a broker that drops messages for a busy client (mosquitto's "
            "max_queued_messages 1000 by default) does this; see docs/bus.md for a lab "
            "broker's settings"
        )
        if (raised := await _raised(lab, code)) >= count:
            return f"its DSP raised all {raised}, and the broker did not deliver them: {dropping}"
        lost = f"its DSP raised only {raised}: the CPL changes sent to it did not all reach it"
        if self.options.topic_root is None:  # a root of its own: no other DSP shares it
            return f"{lost}; {dropping}"
        root = lab.config.topics.root
        return (
            f"{lost}: another DSP on the broker under the topic root {root!r} took part of "
            "them (a departed worker's shared subscription keeps its share; give the demo "
            f"a topic root of its own, --topic-root), or {dropping}"
        )

    async def _campaign(self, lab: Stack, user: MqttAdapter, supplier: str) -> CampaignReport:
        options = self.options
        gpfs = tuple(
            d.device_id for d in self.build.seed.devices if d.device_type is DeviceType.GPF
        )
        plan = CampaignPlan(
            user_id=supplier,
            targets=targets(self.build),
            execution_delay=options.future_dated,
            max_retries=1,  # one 11.3 retry; what is still Suspended then is read (11.2)
            response_wait=timedelta(minutes=30) * options.patience,
            receipt_wait=timedelta(minutes=15) * options.patience,  # a GSME wakes to take it
            read_gpfs=True,
            gpf_ids=gpfs,
        )
        self.say(
            f"campaign: {sum(len(t.device_ids) for t in plan.targets)} devices, "
            f"{options.loss:.0%} of 11.3 responses lost (seed {options.seed})"
        )
        model = CampaignModel(plan, *lab_security(self.build.keys))  # None, None: off
        runner = CampaignRunner(model, user, lab.config.topics, lab.clock(), self._progress)
        if self.interlude is None:
            return await runner.run()
        async with asyncio.TaskGroup() as tasks:
            campaign = tasks.create_task(runner.run(), name="demo-campaign")
            tasks.create_task(self.interlude(lab, model), name="demo-interlude")
        return campaign.result()

    def _progress(self, model: CampaignModel) -> None:
        if self.progress is not None:
            self.progress(model)
        phase = str(model.phase)
        if phase != self._phase:
            self._phase = phase
            self.say(f"campaign phase: {phase}")

    async def _summary(
        self,
        store: Store,
        suspended: int,
        report: CampaignReport,
        device_s: float,
        fleet: FleetOutcome,
    ) -> DemoSummary:
        smi = {d.device_id: d for d in await store.devices()}
        mismatches = Counter[int]()
        activated = 0
        wanted = {t.version for t in targets(self.build)}
        for device_id, running in fleet.versions.items():
            record = smi[format_entity_id(bytes.fromhex(device_id))]
            activated += running in wanted
            if record.firmware_version != running:
                mismatches[record.smets] += 1
        totals = report.totals
        alerts = self.alerts + Counter(report.alerts)
        outcomes = Counter(str(device.recovery) for device in report.devices)
        outcomes = Counter({str(r): outcomes[str(r)] for r in Recovery})
        outcomes[NOT_IN_CAMPAIGN] = len(smi) - len(report.devices)
        return DemoSummary(
            premises=len(self.build.fleet.premises),
            devices=len(smi),
            suspended=suspended,
            activated=activated,
            responses_lost=fleet.responses_lost,
            recovered_by_retry=totals.recovered_by_retry,
            recovered_by_read=totals.recovered_by_read,
            alerts=dict(alerts),
            smi_mismatches=mismatches[2],
            smets1_mismatches=mismatches[1],
            still_suspended=sum(1 for d in smi.values() if d.status is SmiStatus.SUSPENDED),
            wall_s=0.0,
            device_s=device_s,
            mp105=self.options.mp105,
            report=report,
            outcomes=dict(outcomes),
        )


@dataclass(frozen=True, slots=True)
class FleetOutcome:
    versions: dict[str, str]  # device ID (16 hex) -> the version it runs (8 hex)
    responses_lost: int  # 11.3 responses dropped on the way up (the loss fault)


class _BrokerContext:
    """The given broker's URL, or an embedded broker for the length of the run."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._embedded: EmbeddedBroker | None = None

    async def __aenter__(self) -> str:
        if self.url is not None:
            return self.url
        self._embedded = EmbeddedBroker()
        await self._embedded.start()
        return self._embedded.url

    async def __aexit__(self, *exc: object) -> None:
        if self._embedded is not None:
            await self._embedded.stop()


def _alert_code(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("alert_code", "?"))
    except (ValueError, AttributeError):
        return "?"


async def _raised(lab: Stack, code: str) -> int:
    """How many alerts of `code` the lab's DSP has journalled."""
    return sum(
        [1 async for e in lab.store.journal() if e.kind is JournalKind.ALERT and e.code == code]
    )

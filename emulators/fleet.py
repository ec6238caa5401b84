"""A fleet: many premises, one scheduler, one fault injector; and the one function that
builds both the emulated premises and the DSP's seed data from a fleet file.

`build_fleet` is the only place device IDs, MPxNs, firmware images and CPL hashes are
made, so the SMI, CPL, users and registrations it returns always match the emulated
devices. The records are the contract's (`contract.vocabulary`); the emulators import
nothing of `dsp_core` (docs/emulators.md E9).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from contract.vocabulary import CplEntry, CplStatus, Device, DeviceType, Registration, Role, User
from emulators.actions import DeviceEvent, EventKind, Output
from emulators.faults import FaultInjector, FaultPlan
from emulators.fleetspec import DeviceSpec, FleetSpec, PremisesTemplate
from emulators.models import MODEL_CLASSES, DeviceProfile, FirmwareDeviceModel, GpfModel
from emulators.premises import FleetScheduler, PremisesModel
from emulators.scheduler import Scheduler
from gbcs import ActivateImageResponseCode, format_entity_id
from gbcs.device_keys import DeviceKeys
from gbcs.keystore import KeyStore
from gbcs.ota import OtaHeader, OtaImage, build_ota_image

ID_SPACE = 1 << 40
GAS_TYPES = frozenset({DeviceType.GSME, DeviceType.GPF})
MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)


class FleetModel:
    """All premises of a fleet, by comms hub ID, sharing one scheduler and fault injector."""

    __slots__ = ("faults", "premises", "scheduler")

    def __init__(self, faults: FaultInjector, scheduler: FleetScheduler | None = None) -> None:
        self.faults = faults
        self.scheduler: FleetScheduler = Scheduler() if scheduler is None else scheduler
        self.premises: dict[bytes, PremisesModel] = {}

    def add(self, premises: PremisesModel) -> None:
        self.premises[premises.ch_id] = premises

    def handle_down(self, ch_id: bytes, data: bytes, now: datetime) -> list[Output]:
        """A message on `{root}/ch/{ch_id}/down`."""
        premises = self.premises.get(ch_id)
        if premises is None:
            return [DeviceEvent(ch_id.hex().upper(), EventKind.UNROUTABLE, now, "no such hub")]
        return premises.handle_down(data, now)

    def tick(self, now: datetime) -> list[Output]:
        """Everything due up to `now`, each handled at its own due time."""
        outputs: list[Output] = []
        for due, premises, event in self.scheduler.pop_due(now):
            outputs.extend(premises.on_event(event, due))
        return outputs

    def next_due(self) -> datetime | None:
        return self.scheduler.next_due()

    def devices(self) -> Iterator[FirmwareDeviceModel]:
        for premises in self.premises.values():
            yield from premises.devices.values()

    def device(self, device_id: bytes) -> FirmwareDeviceModel:
        for premises in self.premises.values():
            found = premises.devices.get(device_id)
            if found is not None:
                return found
        raise KeyError(device_id.hex().upper())

    def premises_of(self, device_id: bytes) -> PremisesModel:
        for premises in self.premises.values():
            if device_id in premises.devices:
                return premises
        raise KeyError(device_id.hex().upper())


@dataclass(frozen=True, slots=True)
class DspSeed:
    """What the DSP starts with: SMI devices, CPL entries, users and registration data."""

    devices: tuple[Device, ...]
    cpl: tuple[CplEntry, ...]
    users: tuple[User, ...]
    registrations: tuple[Registration, ...]


ImageKey = tuple[str, str, str]  # (manufacturer, model, firmware version)


@dataclass(frozen=True, slots=True)
class FleetBuild:
    fleet: FleetModel
    seed: DspSeed
    images: dict[ImageKey, OtaImage]  # every image in use or on offer, for distribution
    keys: KeyStore | None = None  # the lab's GBCS keys; None: security off (D-SEC10)
    # the remote parties its devices trust to sign critical commands (D-SEC14)
    signers: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class _Kind:
    """Shared, immutable parts of one template's device entry."""

    spec: DeviceSpec
    profile: DeviceProfile
    model_class: type[FirmwareDeviceModel]
    versions: tuple[tuple[bytes, bytes, str], ...]  # (version, image hash, version hex)


class _Builder:
    """Keeps the counters and RNG of one build; `build_fleet` is its only user."""

    __slots__ = (
        "faults",
        "fleet",
        "images",
        "keys",
        "next_id",
        "next_mpan",
        "next_mprn",
        "prefix",
        "registrations",
        "rng",
        "signers",
        "smi",
        "spec",
    )

    def __init__(self, spec: FleetSpec, plan: FaultPlan) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.prefix = bytes.fromhex(spec.device_id_prefix)
        self.next_id = self.rng.randrange(ID_SPACE)
        self.next_mpan = self.rng.randrange(10**11)
        self.next_mprn = self.rng.randrange(10**9)
        self.faults = FaultInjector(plan)
        self.fleet = FleetModel(self.faults)
        self.images: dict[ImageKey, OtaImage] = {}
        self.smi: list[Device] = []
        self.registrations: list[Registration] = []
        self.keys = spec.key_store()  # None: security off (D-SEC10)
        # the remote parties a device trusts to sign critical commands (D-SEC14)
        users = spec.users
        self.signers = frozenset(
            bytes.fromhex(user) for user in (users.supplier, users.network_operator)
        )

    def device_id(self) -> bytes:
        value = self.next_id
        self.next_id = (value + 1) % ID_SPACE
        return self.prefix + value.to_bytes(5, "big")

    def image(self, spec: DeviceSpec, version: str) -> OtaImage:
        key = (spec.manufacturer, spec.model, version)
        if key not in self.images:
            body = random.Random(f"{self.spec.seed}:{key}").randbytes(spec.image_size)
            header = OtaHeader(spec.manufacturer_code, spec.image_type, int(version, 16))
            self.images[key] = build_ota_image(header, body)
        return self.images[key]

    def kind(self, template: PremisesTemplate, spec: DeviceSpec) -> _Kind:
        for version in spec.upgrade_versions:
            self.image(spec, version)
        versions = tuple(
            (bytes.fromhex(v), self.image(spec, v).sha256, v) for v in spec.firmware_versions
        )
        model_class = MODEL_CLASSES[spec.type, template.smets]
        return _Kind(spec, _profile(template, spec), model_class, versions)

    def mpxns(self, template: PremisesTemplate) -> tuple[str | None, str | None]:
        types = {device.type for device in template.devices}
        mpan = mprn = None
        if DeviceType.ESME in types:
            mpan = _mpan(self.next_mpan)
            self.next_mpan += 1
        if DeviceType.GSME in types:
            mprn = f"{self.next_mprn:010d}"
            self.next_mprn += 1
        return mpan, mprn

    def premises(self, template: PremisesTemplate, kinds: list[_Kind]) -> None:
        mpan, mprn = self.mpxns(template)
        models = [self.model(kind) for kind in kinds]
        ch_id = next(m.device_id for m in models if m.profile.device_type is DeviceType.CHF)
        _mirror_gsme(models)
        self.fleet.add(PremisesModel(ch_id, models, self.fleet.scheduler, self.faults))
        supplier, operator = (
            _duis(self.spec.users.supplier),
            _duis(self.spec.users.network_operator),
        )
        for mpxn in (mpan, mprn):
            if mpxn is not None:
                self.registrations.append(Registration(mpxn, supplier, operator))
        hub = format_entity_id(ch_id)
        for model, kind in zip(models, kinds, strict=True):
            self.smi.append(self.record(model, kind, hub, _mpxn_for(kind.spec.type, mpan, mprn)))

    def model(self, kind: _Kind) -> FirmwareDeviceModel:
        version, image_hash, _ = kind.versions[0]
        if len(kind.versions) > 1:
            version, image_hash, _ = self.rng.choice(kind.versions)
        model = kind.model_class(
            self.device_id(),
            kind.profile,
            self.faults,
            running_version=version,
            running_hash=image_hash,
        )
        if self.keys is not None:
            model.keys = DeviceKeys(model.device_id, self.keys, self.signers)
        return model

    def record(self, model: FirmwareDeviceModel, kind: _Kind, hub: str, mpxn: str) -> Device:
        spec = kind.spec
        return Device(
            device_id=format_entity_id(model.device_id),
            device_type=spec.type,
            smets=model.profile.smets,
            manufacturer=spec.manufacturer,
            model=spec.model,
            firmware_version=model.running_version.hex().upper(),
            status=self.spec.status,
            comms_hub_id=hub,
            mpxn=mpxn,
        )

    def seed(self) -> DspSeed:
        cpl = tuple(
            CplEntry(manufacturer, model, version, CplStatus.CURRENT, image.sha256.hex().upper())
            for (manufacturer, model, version), image in sorted(self.images.items())
        )
        users = (
            User(
                _duis(self.spec.users.supplier),
                frozenset({Role.IMPORT_SUPPLIER, Role.GAS_SUPPLIER}),
            ),
            User(
                _duis(self.spec.users.network_operator),
                frozenset({Role.ELECTRICITY_DISTRIBUTOR, Role.GAS_TRANSPORTER}),
            ),
        )
        return DspSeed(tuple(self.smi), cpl, users, tuple(self.registrations))


def build_fleet(spec: FleetSpec, plan: FaultPlan | None = None) -> FleetBuild:
    """The emulated premises and the DSP seed data (SMI, CPL, users, registrations) together.

    Device IDs, MPxNs and version picks come from `spec.seed`, so a fleet file always
    builds the same fleet; the fault plan defaults to the spec's inline plan.
    """
    builder = _Builder(spec, spec.plan() if plan is None else plan)
    for template in spec.templates:
        kinds = [builder.kind(template, device) for device in template.devices]
        for _ in range(template.count):
            builder.premises(template, kinds)
    return FleetBuild(builder.fleet, builder.seed(), builder.images, builder.keys, builder.signers)


def _profile(template: PremisesTemplate, spec: DeviceSpec) -> DeviceProfile:
    return DeviceProfile(
        device_type=spec.type,
        smets=template.smets,
        manufacturer=spec.manufacturer,
        model=spec.model,
        ota_block_size=spec.ota_block_size,
        ota_block_seconds=spec.ota_block_seconds,
        activation_seconds=spec.activation_seconds,
        repeat_activation_code=ActivateImageResponseCode(spec.repeat_activation_code),
        retry_omits_version=spec.retry_omits_version,
        wake_seconds=spec.wake_seconds,
    )


def _mirror_gsme(models: list[FirmwareDeviceModel]) -> None:
    """A new GPF's mirror holds its GSME's version (R6)."""
    gsme = next((m for m in models if m.profile.device_type is DeviceType.GSME), None)
    for model in models:
        if isinstance(model, GpfModel) and gsme is not None:
            model.mirror_version = gsme.running_version


def _mpxn_for(device_type: DeviceType, mpan: str | None, mprn: str | None) -> str:
    """Gas devices take the MPRN, the others the MPAN; either when the other is missing."""
    first, second = (mprn, mpan) if device_type in GAS_TYPES else (mpan, mprn)
    found = first if first is not None else second
    return "" if found is None else found


def _mpan(serial: int) -> str:
    """A 13-digit MPAN core with its check digit."""
    digits = f"{serial % 10**12:012d}"
    check = sum(int(d) * p for d, p in zip(digits, MPAN_PRIMES, strict=True)) % 11 % 10
    return digits + str(check)


def _duis(eui64_hex: str) -> str:
    return format_entity_id(bytes.fromhex(eui64_hex))

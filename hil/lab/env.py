"""The lab environment file, in the manner of labgrid's: what a lab is made of.

Which broker (`embedded`, a private `mosquitto`, or `mqtt://host:port`), which store
(a SQLite file by default, `sqlite:///file`, `postgresql://...`), the topic root, the
shared clock, the DSP's switches, the fleet file the SMI, CPL and users are seeded
from, the service users by name, and the comms hubs: each premises of the fleet file
is `emulated` (the fleet runner) unless a hub entry bridges it (`serial`: a port, or
the simulated rig behind a pty; `zigbee`: a radio). A scenario runs unchanged against
either (docs/hil.md).

    env = load_lab_env(Path("configs/lab-emulated.yaml"))
    plans = plan_hubs(env, spec, build)     # sans-IO: which premises each hub is
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bus.identity import BrokerOptions, mask_url
from contract.validation import describe
from contract.vocabulary import Device
from dsp_core.turn import CoreConfig
from emulators.errors import ConfigError
from emulators.faults import parse_eui64, read_yaml
from emulators.fleet import FleetBuild
from emulators.fleetspec import FleetSpec
from hil.errors import LabError

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_BROKERS = re.compile(r"^(embedded|mosquitto|(mqtt|tcp|mqtts|ssl)://[^/\s]+)$")
_STORES = re.compile(r"^(sqlite|memory|sqlite://.*|postgresql(\+\w+)?://.+)$")


class HubKind(StrEnum):
    EMULATED = "emulated"
    SERIAL = "serial"
    ZIGBEE = "zigbee"


class SerialHubSpec(BaseModel):
    """A rig on a serial line: a port (`/dev/ttyUSB0`, `socket://`, `rfc2217://`), or
    `simulated: true` for bridge/simulators/rig.py behind a pty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str | None = None
    baudrate: int = Field(default=115200, gt=0)
    simulated: bool = False

    @model_validator(mode="after")
    def _one_port(self) -> SerialHubSpec:
        if self.simulated == (self.port is not None):
            raise ValueError("give a port, or simulated: true (not both)")
        return self


class ZigbeeHubSpec(BaseModel):
    """A hub reached through a ZigBee radio (zigpy): EZSP (bellows), Z-Stack (zigpy-znp),
    or `emulated`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    radio: Literal["ezsp", "znp", "emulated"]
    port: str | None = None
    baudrate: int = Field(default=115200, gt=0)
    # a real radio's device map (bridge/zigbee/devicemap.py), relative to the file, and
    # zigpy's database of joined devices (default: in the lab's temporary folder)
    devices: Path | None = None
    database: Path | None = None

    @model_validator(mode="after")
    def _port(self) -> ZigbeeHubSpec:
        if self.radio != "emulated" and (self.port is None or self.devices is None):
            raise ValueError(f"a {self.radio} radio needs a port and a device map (devices)")
        return self


class HubSpec(BaseModel):
    """One comms hub of the lab: which premises of the fleet file it is, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    kind: HubKind = HubKind.EMULATED
    template: str | None = None  # the fleet template's premises number `index`
    index: int = Field(default=0, ge=0)
    ch_id: str | None = None  # or the hub's EUI-64
    serial: SerialHubSpec | None = None
    zigbee: ZigbeeHubSpec | None = None

    @field_validator("ch_id")
    @classmethod
    def _eui64(cls, value: str | None) -> str | None:
        return None if value is None else parse_eui64(value).hex().upper()

    @model_validator(mode="after")
    def _consistent(self) -> HubSpec:
        if (self.template is None) == (self.ch_id is None):
            raise ValueError(f"hub {self.name}: give template (and index) or ch_id")
        wanted = {HubKind.SERIAL: self.serial, HubKind.ZIGBEE: self.zigbee}
        for kind, settings in wanted.items():
            if (self.kind is kind) != (settings is not None):
                raise ValueError(f"hub {self.name}: the `{kind}` settings go with kind {kind}")
        return self


class ClockSpec(BaseModel):
    """The shared clock: device seconds per wall second, from `epoch` (default: now)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    epoch: AwareDatetime | None = None


class DspSpec(BaseModel):
    """The DSP's switches and time-outs in device seconds (dsp_core.turn.CoreConfig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mp105: bool = True
    response_timeout: float = Field(default=60.0, gt=0)
    gsme_response_timeout: float = Field(default=3600.0, gt=0)
    execution_grace: float = Field(default=300.0, gt=0)
    receipt_timeout: float = Field(default=86400.0, gt=0)

    def core_config(self) -> CoreConfig:
        return CoreConfig(
            mp105=self.mp105,
            response_timeout=timedelta(seconds=self.response_timeout),
            gsme_response_timeout=timedelta(seconds=self.gsme_response_timeout),
            execution_grace=timedelta(seconds=self.execution_grace),
            receipt_timeout=timedelta(seconds=self.receipt_timeout),
        )


class LabEnv(BaseModel):
    """A whole lab environment file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="lab", pattern=_NAME)
    broker: str = "embedded"
    # an external broker's identity and TLS (relative to the file; docs/bus.md)
    broker_password_file: Path | None = None
    broker_ca: Path | None = None
    broker_cert: Path | None = None
    broker_key: Path | None = None
    store: str = "sqlite"  # a SQLite file in a temporary folder
    topic_root: str = "smetslab"
    clock: ClockSpec = Field(default_factory=ClockSpec)
    fleet: Path
    users: dict[str, str] = Field(default_factory=dict)  # name -> EUI-64
    dsp: DspSpec = Field(default_factory=DspSpec)
    hubs: list[HubSpec] = Field(default_factory=list)
    # a physical device's GBCS certificates (PEM files, relative to the file): device
    # ID -> one path or a list (its digital-signing and key-agreement certificates)
    certificates: dict[str, list[Path]] = Field(default_factory=dict)

    @field_validator("certificates", mode="before")
    @classmethod
    def _certificate_lists(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {
            device: [paths] if isinstance(paths, str | Path) else paths
            for device, paths in value.items()
        }

    @field_validator("certificates")
    @classmethod
    def _certificate_ids(cls, value: dict[str, list[Path]]) -> dict[str, list[Path]]:
        return {parse_eui64(device).hex().upper(): paths for device, paths in value.items()}

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        if not _BROKERS.match(value):
            shown = mask_url(value)
            raise ValueError(f"{shown!r}: use embedded, mosquitto or mqtt(s)://host:port")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if not _STORES.match(value):
            raise ValueError(f"{value!r}: use sqlite, sqlite:///file, memory or postgresql://...")
        return value

    @field_validator("users")
    @classmethod
    def _users(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: parse_eui64(user).hex().upper() for name, user in value.items()}

    @model_validator(mode="after")
    def _broker_identity(self) -> LabEnv:
        if self.broker in ("embedded", "mosquitto"):
            if self._broker_options() != BrokerOptions():
                raise ValueError(f"broker_* files need an external broker, not {self.broker}")
            return self
        self.broker_url()  # a bad combination named now (BrokerUrlError is a ValueError)
        return self

    def _broker_options(self) -> BrokerOptions:
        return BrokerOptions(
            self.broker_password_file, self.broker_ca, self.broker_cert, self.broker_key
        )

    def broker_url(self) -> str:
        """The external broker's URL with its password file and TLS files in it."""
        return self._broker_options().apply(self.broker)

    @model_validator(mode="after")
    def _unique_hubs(self) -> LabEnv:
        names = [hub.name for hub in self.hubs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"hub names must be unique: {', '.join(twice)}")
        return self

    @property
    def bridged(self) -> list[HubSpec]:
        return [hub for hub in self.hubs if hub.kind is not HubKind.EMULATED]

    def epoch(self, wall_now: datetime) -> datetime:
        return self.clock.epoch or wall_now

    def all_emulated(self) -> LabEnv:
        """The same lab with every hub emulated (a transcript's reference run)."""
        hubs = [
            hub.model_copy(update={"kind": HubKind.EMULATED, "serial": None, "zigbee": None})
            for hub in self.hubs
        ]
        return self.model_copy(update={"hubs": hubs, "name": f"{self.name}-emulated"})


def load_lab_env(path: Path) -> LabEnv:
    """Read and validate a lab environment; the fleet file is relative to it. A bad file
    raises `LabError` naming the file and the field."""
    try:
        data = read_yaml(path)
    except ConfigError as exc:
        raise LabError(str(exc)) from exc
    if not isinstance(data, dict):
        raise LabError(f"{path}: a lab environment is a mapping, not {type(data).__name__}")
    try:
        env = LabEnv.model_validate(data)
    except ValidationError as exc:
        raise LabError(
            f"{path}: invalid lab environment: {describe(exc, 'file', first=True)}"
        ) from exc
    hubs = [_resolved(hub, path.parent) for hub in env.hubs]
    certificates = {
        device: [(path.parent / pem).resolve() for pem in pems]
        for device, pems in env.certificates.items()
    }
    files = {
        name: (path.parent / value).resolve()
        for name in ("broker_password_file", "broker_ca", "broker_cert", "broker_key")
        if (value := getattr(env, name)) is not None
    }
    return env.model_copy(
        update={
            **files,
            "fleet": (path.parent / env.fleet).resolve(),
            "hubs": hubs,
            "certificates": certificates,
        }
    )


def _resolved(hub: HubSpec, folder: Path) -> HubSpec:
    """A ZigBee hub's device map and database relative to the environment file."""
    zigbee = hub.zigbee
    if zigbee is None:
        return hub
    paths = {
        name: (folder / value).resolve()
        for name in ("devices", "database")
        if (value := getattr(zigbee, name)) is not None
    }
    return hub.model_copy(update={"zigbee": zigbee.model_copy(update=paths)})


def default_env(fleet: Path, scale: float = 120.0) -> LabEnv:
    """An emulated lab: embedded broker, SQLite file, every premises of `fleet` emulated."""
    return LabEnv(name="emulated", fleet=fleet, clock=ClockSpec(scale=scale))


# ---- which premises each hub is (sans-IO) -----------------------------------------


@dataclass(frozen=True, slots=True)
class HubPlan:
    """A hub as the lab runs it: its name, kind, hub ID and SMI records (from the fleet)."""

    name: str
    kind: HubKind
    ch_id: str  # 16 upper-case hex digits
    template: str
    spec: HubSpec | None  # None for a premises no hub entry names (emulated)
    devices: tuple[Device, ...]

    @property
    def bridged(self) -> bool:
        return self.kind is not HubKind.EMULATED

    @property
    def smets(self) -> int:
        return self.devices[0].smets


def plan_hubs(env: LabEnv, spec: FleetSpec, build: FleetBuild) -> list[HubPlan]:
    """Every premises of the fleet as a hub: those the environment names first, in its
    order, then the others (emulated, named `{template}-{index}`)."""
    premises = _premises_by_template(spec, build)
    by_ch = {ch_id: (template, index) for (template, index), ch_id in premises.items()}
    named = [_named_hub(hub, premises, by_ch) for hub in env.hubs]
    taken = {plan[1] for plan in named}
    _check_taken_once([plan[1] for plan in named], env)
    records = _records_by_hub(build)
    plans = [
        HubPlan(
            name=hub.name,
            kind=hub.kind,
            ch_id=ch_id,
            template=template,
            spec=hub,
            devices=records[ch_id],
        )
        for hub, ch_id, template in named
    ]
    for (template, index), ch_id in premises.items():
        if ch_id not in taken:
            name = f"{template}-{index}"
            plans.append(
                HubPlan(
                    name=name,
                    kind=HubKind.EMULATED,
                    ch_id=ch_id,
                    template=template,
                    spec=None,
                    devices=records[ch_id],
                )
            )
    return plans


def _premises_by_template(spec: FleetSpec, build: FleetBuild) -> dict[tuple[str, int], str]:
    """(template, index) -> hub ID; build_fleet adds premises in template order."""
    hubs = iter(build.fleet.premises)
    return {
        (template.name, index): next(hubs).hex().upper()
        for template in spec.templates
        for index in range(template.count)
    }


def _named_hub(
    hub: HubSpec, premises: dict[tuple[str, int], str], by_ch: dict[str, tuple[str, int]]
) -> tuple[HubSpec, str, str]:
    if hub.ch_id is not None:
        if hub.ch_id not in by_ch:
            raise LabError(f"hub {hub.name}: no premises with comms hub {hub.ch_id} in the fleet")
        return hub, hub.ch_id, by_ch[hub.ch_id][0]
    assert hub.template is not None
    ch_id = premises.get((hub.template, hub.index))
    if ch_id is None:
        raise LabError(
            f"hub {hub.name}: the fleet has no premises {hub.index} of template {hub.template}"
        )
    return hub, ch_id, hub.template


def _check_taken_once(ch_ids: list[str], env: LabEnv) -> None:
    for hub, ch_id in zip(env.hubs, ch_ids, strict=True):
        if ch_ids.count(ch_id) > 1:
            raise LabError(f"hub {hub.name}: premises {ch_id} is named by two hubs")


def _records_by_hub(build: FleetBuild) -> dict[str, tuple[Device, ...]]:
    found: dict[str, list[Device]] = {}
    for device in build.seed.devices:
        found.setdefault(device.comms_hub_id.replace("-", ""), []).append(device)
    return {ch_id: tuple(devices) for ch_id, devices in found.items()}

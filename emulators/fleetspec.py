"""The fleet file (`configs/fleet.yaml`) as pydantic models: validated at the edge only.

A fleet is premises templates (device mix, manufacturer and model, firmware versions,
SMETS generation) with counts, the DSP users, a fault plan (inline or a file beside the
fleet file) and a seed. `emulators.fleet.build_fleet` turns it into premises and the
matching DSP seed data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.validation import describe
from contract.vocabulary import DeviceType, SmiStatus
from emulators.errors import ConfigError
from emulators.faults import FaultPlan, FaultPlanSpec, load_fault_plan, parse_eui64, read_yaml
from gbcs import KeyStoreError
from gbcs.keystore import DerivedKeyStore, KeyStore

_VERSION = re.compile(r"^[0-9A-Fa-f]{8}$")
SMETS1_TYPES = frozenset({DeviceType.CHF, DeviceType.ESME, DeviceType.GSME, DeviceType.PPMID})


class DeviceSpec(BaseModel):
    """One device of a premises template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: DeviceType
    manufacturer: str = "SMETSLAB"
    model: str
    firmware_versions: list[str] = Field(min_length=1)
    upgrade_versions: list[str] = Field(default_factory=list)
    manufacturer_code: int = Field(default=0x1234, ge=0, le=0xFFFF)
    image_type: int = Field(default=0, ge=0, le=0xFFFF)
    image_size: int = Field(default=1024, ge=0)
    ota_block_size: int = Field(default=64, ge=1)
    ota_block_seconds: float = Field(default=0.05, ge=0)
    activation_seconds: float = Field(default=60.0, ge=0)
    repeat_activation_code: Literal[0, 1] = 1
    retry_omits_version: bool = True
    wake_seconds: int = Field(default=1800, ge=1)

    @field_validator("firmware_versions", "upgrade_versions")
    @classmethod
    def _versions(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _VERSION.match(value):
                raise ValueError(f"a firmware version is 8 hex digits (4 bytes), got {value!r}")
        return [value.upper() for value in values]


class PremisesTemplate(BaseModel):
    """A kind of premises: its device mix and how many of them the fleet has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    count: int = Field(ge=0)
    smets: Literal[1, 2] = 2
    devices: list[DeviceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _mix(self) -> PremisesTemplate:
        types = [device.type for device in self.devices]
        if types.count(DeviceType.CHF) != 1:
            raise ValueError(f"template {self.name}: a premises has exactly one CHF")
        if len(set(types)) != len(types):
            raise ValueError(f"template {self.name}: at most one device of each type")
        if self.smets == 1 and not set(types) <= SMETS1_TYPES:
            raise ValueError(f"template {self.name}: SMETS1 premises have CHF, ESME, GSME, PPMID")
        if self.smets == 2 and DeviceType.GSME in types and DeviceType.GPF not in types:
            raise ValueError(f"template {self.name}: a SMETS2 GSME needs a GPF")
        return self


class UsersSpec(BaseModel):
    """The DSP's service users: a supplier (IS and GS) and a network operator (ED and GT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    supplier: str = "90B3D51F30010000"
    network_operator: str = "90B3D51F30020000"

    @field_validator("supplier", "network_operator")
    @classmethod
    def _eui64(cls, value: str) -> str:
        return parse_eui64(value).hex().upper()


class FleetSpec(BaseModel):
    """A whole fleet file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    device_id_prefix: str = Field(default="00DB12", pattern=r"^[0-9A-Fa-f]{6}$")
    status: SmiStatus = SmiStatus.COMMISSIONED
    users: UsersSpec = Field(default_factory=UsersSpec)
    templates: list[PremisesTemplate] = Field(min_length=1)
    fault_plan: FaultPlanSpec | str | None = None
    # GBCS security (docs/security.md): on, every command is MACed and critical ones
    # signed, devices check and sign, all with the emulated PKI of `seed`; off keeps
    # the unprotected messages of labs from before it (D-SEC10; on by default)
    security: bool = True
    # a key store (DCC Boxed keystore.json or an RTDS-layout PEM folder, relative to
    # the fleet file) whose keys come before the emulated ones: a physical device's
    # certificate, an organisation's own keys
    keys: str | None = None

    def key_store(self) -> KeyStore | None:
        """The lab's keys: None with security off; otherwise the emulated PKI of the
        fleet's seed over `keys`. `ConfigError` names a store that cannot be read."""
        if not self.security:
            return None
        base = None
        if self.keys is not None:
            try:
                base = KeyStore.load(Path(self.keys))
            except KeyStoreError as exc:
                raise ConfigError(f"fleet keys: {exc}") from exc
        return DerivedKeyStore(self.seed, base)

    def plan(self, base: Path | None = None) -> FaultPlan:
        """The fault plan: inline, or a file relative to `base` (the fleet file's folder)."""
        if self.fault_plan is None:
            return FaultPlan(seed=self.seed)
        if isinstance(self.fault_plan, str):
            path = Path(self.fault_plan)
            return load_fault_plan(path if base is None else base / path, self.seed)
        return self.fault_plan.to_plan(self.seed)


def load_fleet_spec(path: Path) -> tuple[FleetSpec, FaultPlan]:
    """Read and validate a fleet file and its fault plan; errors name the file."""
    try:
        spec = FleetSpec.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid fleet file: {describe(exc, 'file')}") from exc
    if spec.keys is not None:
        spec = spec.model_copy(update={"keys": str(path.parent / spec.keys)})
    return spec, spec.plan(path.parent)

"""Which ZigBee device is which smart-metering device (`--devices map.yaml`): the one file
the ZigBee bridge reads, validated by pydantic at the edge (docs/zigbee-bridge.md §2).

    ch_id: 00-DB-12-29-D2-6B-94-96        # the hub this bridge is (its coordinator)
    devices:
      - device_id: 00-DB-12-29-D2-6B-94-98  # the SMI's device ID (EUI-64)
      - device_id: 00DB1229D26B9499
        ieee: 58:8e:81:ff:fe:12:34:56       # a ZigBee IEEE address other than the ID

A device's IEEE address is its device ID unless the entry names another (GB smart
metering devices use their EUI-64 as both). IDs may be written as 16 hex digits, with
dashes (DUIS) or with colons (zigpy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge.errors import DeviceMapError
from contract.validation import describe

_SEPARATORS = re.compile(r"[-:]")
_EUI64 = re.compile(r"[0-9A-F]{16}")


def parse_eui64(value: str, what: str = "ID") -> bytes:
    """An EUI-64 from 16 hex digits, DUIS dashes or zigpy colons; most significant first."""
    digits = _SEPARATORS.sub("", value.strip()).upper()
    if not _EUI64.fullmatch(digits):
        raise ValueError(f"{what} {value!r} is not an EUI-64 (16 hex digits)")
    return bytes.fromhex(digits)


@dataclass(frozen=True, slots=True)
class DeviceMapping:
    device_id: bytes  # the smart-metering device ID, as GBCS headers carry it
    ieee: bytes  # the ZigBee IEEE address, most significant byte first

    @property
    def hex_id(self) -> str:
        return self.device_id.hex().upper()


@dataclass(frozen=True, slots=True)
class DeviceMap:
    ch_id: str  # 16 upper-case hex digits, as topics carry it
    devices: tuple[DeviceMapping, ...]

    def by_device_id(self) -> dict[bytes, DeviceMapping]:
        return {device.device_id: device for device in self.devices}


class _DeviceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: str
    ieee: str | None = None

    @field_validator("device_id", "ieee")
    @classmethod
    def _eui64(cls, value: str | None) -> str | None:
        return None if value is None else parse_eui64(value).hex().upper()


class _DeviceMapFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ch_id: str
    devices: list[_DeviceEntry] = Field(min_length=1)

    @field_validator("ch_id")
    @classmethod
    def _hub(cls, value: str) -> str:
        return parse_eui64(value, "comms hub ID").hex().upper()

    @model_validator(mode="after")
    def _unique(self) -> _DeviceMapFile:
        ids = [entry.device_id for entry in self.devices]
        ieees = [entry.ieee or entry.device_id for entry in self.devices]
        for name, values in (("device_id", ids), ("ieee", ieees)):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{name} {', '.join(repeated)} listed more than once")
        if self.ch_id in ids:
            raise ValueError(f"the hub {self.ch_id} is the coordinator, not a device behind it")
        return self


def device_map_from(data: object, source: str = "device map") -> DeviceMap:
    try:
        spec = _DeviceMapFile.model_validate(data)
    except ValidationError as exc:
        raise DeviceMapError(f"{source}: {describe(exc, 'file', first=True)}") from exc
    devices = tuple(
        DeviceMapping(bytes.fromhex(e.device_id), bytes.fromhex(e.ieee or e.device_id))
        for e in spec.devices
    )
    return DeviceMap(spec.ch_id, devices)


def load_device_map(path: Path) -> DeviceMap:
    """Read and validate a device map; every error names the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeviceMapError(f"{path}: cannot be read: {exc}") from exc
    return device_map_from(data, str(path))

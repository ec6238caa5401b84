"""What the ZigBee translation layer takes and gives (sans-IO, docs/zigbee-bridge.md §3).

Out to the ZigBee side (`ZigbeeOp`): read a device's firmware version, serve it an
image through the OTA Upgrade cluster, send it an Upgrade End Response. Each carries an
operation number; its result comes back with that number (`OpResult`). Out to the bus:
`DeviceUplink` (GBCS bytes for `.../up`) and `Finished` (the command's bus message may be
acknowledged). Out to the clock: `WakeAt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

ZIGBEE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # ZCL UTCTime counts seconds from here
UPGRADE_TIME_WAIT = 0xFFFFFFFF  # Upgrade End Response: hold the image, wait for another


def zigbee_time(when: datetime) -> int:
    """ZCL UTCTime: whole seconds since 2000-01-01 00:00 UTC."""
    seconds = int((when - ZIGBEE_EPOCH).total_seconds())
    if not 0 <= seconds < UPGRADE_TIME_WAIT:
        raise ValueError(f"{when.isoformat()} cannot be a ZCL UTCTime")
    return seconds


@dataclass(frozen=True, slots=True)
class ImageKey:
    """How the OTA cluster names an image."""

    manufacturer_code: int
    image_type: int
    file_version: int


# ---- to the ZigBee side ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadFirmware:
    """Read the OTA client's CurrentFileVersion (and Basic SWBuildID if it has none)."""

    op: int
    device_id: bytes


@dataclass(frozen=True, slots=True)
class ServeImage:
    """Serve `image` through the OTA Upgrade cluster (zigpy's OTA server); answer the
    device's Upgrade End request with UpgradeTime `upgrade_time` (0xFFFFFFFF: hold it)."""

    op: int
    device_id: bytes
    image: bytes
    upgrade_time: int
    current_time: int


@dataclass(frozen=True, slots=True)
class SendUpgradeEnd:
    """An Upgrade End Response the device did not ask for: activate the image it holds at
    `upgrade_time` (`current_time` the same: now), or hold it (0xFFFFFFFF: cancel)."""

    op: int
    device_id: bytes
    image: ImageKey
    current_time: int
    upgrade_time: int


ZigbeeOp = ReadFirmware | ServeImage | SendUpgradeEnd


# ---- to the bus and the clock ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceUplink:
    """GBCS bytes from a device, for `{root}/ch/{ch_id}/up`."""

    device_id: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class Finished:
    """Everything the command tagged `tag` causes now has been published: acknowledge it."""

    tag: object


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Call `due(token)` at `at` on the shared clock."""

    at: datetime
    token: object


TranslatorAction = ZigbeeOp | DeviceUplink | Finished | WakeAt


# ---- results from the ZigBee side -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirmwareRead:
    """What the device answered: OTA CurrentFileVersion, Basic SWBuildID (None: absent)."""

    ota_version: int | None
    sw_build_id: str | None = None


@dataclass(frozen=True, slots=True)
class DownloadEnded:
    """The device's Upgrade End request status (a ZCL status: 0 success), or the OTA
    server's own (TIMEOUT when the device stalled, NO_IMAGE_AVAILABLE when it refused)."""

    status: int


@dataclass(frozen=True, slots=True)
class UpgradeEndSent:
    pass


@dataclass(frozen=True, slots=True)
class OperationFailed:
    """The device did not answer or the exchange failed, the radio being up."""

    reason: str


OpResult = FirmwareRead | DownloadEnded | UpgradeEndSent | OperationFailed

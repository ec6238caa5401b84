"""The ZigBee operations the translation layer asks for, done with zigpy's own code
(docs/zigbee-bridge.md §5): attribute reads through zigpy's clusters, images served by
zigpy's OTA server (`zigpy.ota.manager.OTAManager`: Image Notify, Query Next Image, Image
Block and Upgrade End handling), and Upgrade End Responses built by zigpy's Ota cluster.

zigpy answers a device's Upgrade End request with UpgradeTime 0 (activate now), always.
`TimedOtaManager` extends it: the answer carries the UpgradeTime the bridge chose, so a
device can be told to hold the image (0xFFFFFFFF, GBCS's two-step activation) or
activate at once (11.4). A later activation (11.3, immediate or future-dated) is an
Upgrade End Response the device did not ask for (`send_upgrade_end`), which ZCL §11.13.9
allows: the device then counts down to UpgradeTime.
"""

from __future__ import annotations

import logging
from typing import Any

from zigpy.device import Device
from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import BaseOTAImage, OTAImageHeader
from zigpy.ota.manager import OTAManager
from zigpy.ota.providers import BaseOtaImageMetadata
from zigpy.zcl import ClusterType, foundation
from zigpy.zcl.clusters.general import Basic, Ota

from bridge.errors import ZigbeeOperationError

from .actions import UPGRADE_TIME_WAIT, FirmwareRead, ImageKey

log = logging.getLogger(__name__)


class RawOtaImage(BaseOTAImage):
    """An OTA file served byte for byte as it was distributed. GBCS images have no ZigBee
    sub-elements (D5), which zigpy's `OTAImage` requires; only the header is parsed."""

    def __init__(self, data: bytes) -> None:
        self.header, _ = OTAImageHeader.deserialize(data)
        self._data = data

    def serialize(self) -> bytes:
        return self._data


class TimedOtaManager(OTAManager):
    """zigpy's OTA server for one device and image, answering the Upgrade End request
    with the bridge's UpgradeTime instead of 0."""

    def __init__(
        self, device: Device, image: OtaImageWithMetadata, current_time: int, upgrade_time: int
    ) -> None:
        super().__init__(device, image)
        self.current_time = current_time
        self.upgrade_time = upgrade_time

    async def _upgrade_end(self, hdr: foundation.ZCLHeader, command: Any) -> None:
        header = self.image.firmware.header
        accepted = command.status == foundation.Status.SUCCESS
        try:
            await self.ota_cluster.upgrade_end_response(
                manufacturer_code=header.manufacturer_id,
                image_type=header.image_type,
                file_version=header.file_version,
                current_time=self.current_time,
                upgrade_time=self.upgrade_time if accepted else UPGRADE_TIME_WAIT,
                tsn=hdr.tsn,
            )
        except Exception as exc:  # zigpy's own handler catches everything too
            log.debug("device %s: Upgrade End Response not sent: %r", self.device.ieee, exc)
            self._finish(foundation.Status.FAILURE)
            return
        self._finish(command.status)


def ota_image(data: bytes) -> OtaImageWithMetadata:
    firmware = RawOtaImage(data)
    header = firmware.header
    metadata = BaseOtaImageMetadata(
        file_version=int(header.file_version),
        manufacturer_id=int(header.manufacturer_id),
        image_type=int(header.image_type),
        file_size=len(data),
        source="smetslab bridge",
    )
    return OtaImageWithMetadata(metadata=metadata, firmware=firmware)


async def serve_image(device: Device, data: bytes, current_time: int, upgrade_time: int) -> int:
    """Serve `data` to `device` as zigpy's `update_firmware` does, with the bridge's
    UpgradeTime; the ZCL status the download ended with (0 when the device took it)."""
    if device.ota_in_progress:
        raise ZigbeeOperationError(f"device {device.ieee}: an OTA download is already running")
    device.ota_in_progress = True  # the Ota cluster leaves the exchange to the manager
    try:
        async with device.fast_poll_mode():
            manager = TimedOtaManager(device, ota_image(data), current_time, upgrade_time)
            with manager as ota:
                await ota.notify()
                return int(await ota.wait())
    finally:
        device.ota_in_progress = False


async def send_upgrade_end(
    device: Device, image: ImageKey, current_time: int, upgrade_time: int
) -> None:
    """An Upgrade End Response the device did not ask for (activate at, or hold)."""
    await ota_client(device).upgrade_end_response(
        manufacturer_code=image.manufacturer_code,
        image_type=image.image_type,
        file_version=image.file_version,
        current_time=current_time,
        upgrade_time=upgrade_time,
    )


async def read_firmware(device: Device, retries: int) -> FirmwareRead:
    """OTA CurrentFileVersion; Basic SWBuildID only when the OTA client has no version."""
    ota = ota_client(device)
    success, _ = await ota.read_attributes(
        [Ota.AttributeDefs.current_file_version.name], retries=retries
    )
    version = success.get(Ota.AttributeDefs.current_file_version.name)
    if version is not None:
        return FirmwareRead(int(version))
    basic = device.find_cluster(Basic.cluster_id, ClusterType.Server)
    success, _ = await basic.read_attributes([Basic.AttributeDefs.sw_build_id.name])
    build = success.get(Basic.AttributeDefs.sw_build_id.name)
    return FirmwareRead(None, None if build is None else str(build))


def ota_client(device: Device) -> Ota:
    try:
        cluster = device.find_cluster(Ota.cluster_id, ClusterType.Client)
    except ValueError as exc:
        raise ZigbeeOperationError(f"device {device.ieee} has no OTA Upgrade client") from exc
    assert isinstance(cluster, Ota)
    return cluster

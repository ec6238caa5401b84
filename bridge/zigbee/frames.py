"""A ZigBee APS frame as the radio-less application and the emulated devices exchange it:
addressing is added by the radio; these are the fields a device sees."""

from __future__ import annotations

from dataclasses import dataclass

ZDO_PROFILE = 0x0000
HA_PROFILE = 0x0104  # ZigBee Home Automation: the profile zigpy's ZCL requests carry
ZDO_ENDPOINT = 0
DEVICE_ENDPOINT = 1  # the one application endpoint of an emulated device
COORDINATOR_ENDPOINT = 1


@dataclass(frozen=True, slots=True)
class ZigbeeFrame:
    """One APS frame: ZDO (profile 0, endpoint 0) or ZCL (a cluster on an endpoint)."""

    profile_id: int
    cluster_id: int
    src_ep: int
    dst_ep: int
    data: bytes

    @property
    def is_zdo(self) -> bool:
        return self.dst_ep == ZDO_ENDPOINT and self.profile_id == ZDO_PROFILE

"""The GPF (Gas Proxy Function): keeps a mirror of its GSME and answers SR 11.2 from it (R6).

The mirror is refreshed when the GSME syncs (wakes); a `stale_gpf_mirror` fault keeps
it as it was. A GCS38 addressed to the GPF answers with the mirrored GSME version. The
GPF stores distributed images (SR 11.1 reaches a GPF, D7) but takes no CS06.
"""

from __future__ import annotations

from datetime import datetime

from emulators.actions import Action, EventKind
from emulators.faults import FaultInjector, FaultKind
from gbcs import ReadGsmeFirmwareVersionCommand
from gbcs.codes import MessageCode

from .base import DeviceProfile
from .firmware import FirmwareDeviceModel

GCS38 = MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION


class GpfModel(FirmwareDeviceModel):
    __slots__ = ("mirror_version",)
    TAKES_CS06 = False
    READ_COMMAND = ReadGsmeFirmwareVersionCommand

    def __init__(
        self,
        device_id: bytes,
        profile: DeviceProfile,
        faults: FaultInjector,
        *,
        running_version: bytes,
        running_hash: bytes,
        alert_counter: int = 0,
        mirror_version: bytes = bytes(4),
    ) -> None:
        super().__init__(
            device_id,
            profile,
            faults,
            running_version=running_version,
            running_hash=running_hash,
            alert_counter=alert_counter,
        )
        self.mirror_version = mirror_version

    @property
    def read_version(self) -> bytes:
        """R6: a GCS38 to the GPF answers with its mirror of the GSME."""
        return self.mirror_version

    def sync_mirror(self, gsme_version: bytes, now: datetime) -> list[Action]:
        """The GSME synced: refresh the mirror unless a `stale_gpf_mirror` fault fires."""
        if gsme_version == self.mirror_version:
            return []
        rule = self.fault(FaultKind.STALE_GPF_MIRROR, GCS38)
        if rule is not None:
            detail = f"mirror stays {self.mirror_version.hex().upper()}"
            return [self.fired(rule, GCS38, now, detail)]
        self.mirror_version = gsme_version
        return [self.event(EventKind.MIRROR_SYNCED, now, gsme_version.hex().upper())]

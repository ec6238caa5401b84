"""The PPMID: SR 11.4 distributes and activates in one step (R10); SR 11.2 by CS08.

A distribution with the activate flag set activates the image as soon as the download
completes, and the receipt carries the new version. There is no CS06 for a PPMID (D7).
"""

from __future__ import annotations

from datetime import datetime

from emulators.actions import Action
from gbcs import FirmwareDistributionCommand, GbcsMessage, ReadDeviceFirmwareVersionCommand

from .firmware import FirmwareDeviceModel
from .reads import answer_cs08


class PpmidModel(FirmwareDeviceModel):
    __slots__ = ()
    ACTIVATES_ON_RECEIPT = True

    def dispatch(self, message: GbcsMessage, now: datetime) -> list[Action]:
        header = message.header
        match message.payload:
            case ReadDeviceFirmwareVersionCommand():
                return answer_cs08(self, header, now)
            case FirmwareDistributionCommand() as body:
                return self.on_distribution(header, body, now)
            case _:
                raise self.unsupported(message)

"""The PPMID: SR 11.4 distributes and activates in one step (R10); SR 11.2 by CS08.

A distribution with the activate flag set activates the image as soon as the download
completes, and the receipt carries the new version. There is no CS06 for a PPMID (D7).
"""

from __future__ import annotations

from gbcs import ReadDeviceFirmwareVersionCommand

from .firmware import FirmwareDeviceModel


class PpmidModel(FirmwareDeviceModel):
    __slots__ = ()
    ACTIVATES_ON_RECEIPT = True
    TAKES_CS06 = False
    READ_COMMAND = ReadDeviceFirmwareVersionCommand

"""The HCALCS (HAN-connected auxiliary load control switch): two-step firmware, SR 11.2 by CS08."""

from __future__ import annotations

from gbcs import (
    ReadDeviceFirmwareVersionCommand,
)

from .firmware import FirmwareDeviceModel


class HcalcsModel(FirmwareDeviceModel):
    __slots__ = ()
    READ_COMMAND = ReadDeviceFirmwareVersionCommand

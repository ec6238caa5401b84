"""The HCALCS (HAN-connected auxiliary load control switch): two-step firmware, SR 11.2 by CS08."""

from __future__ import annotations

from datetime import datetime

from emulators.actions import Action
from gbcs import (
    ActivateFirmwareCommand,
    FirmwareDistributionCommand,
    GbcsMessage,
    ReadDeviceFirmwareVersionCommand,
)

from .firmware import FirmwareDeviceModel
from .reads import answer_cs08


class HcalcsModel(FirmwareDeviceModel):
    __slots__ = ()

    def dispatch(self, message: GbcsMessage, now: datetime) -> list[Action]:
        header = message.header
        match message.payload:
            case ActivateFirmwareCommand() as body:
                return self.on_activate(header, body, now)
            case ReadDeviceFirmwareVersionCommand():
                return answer_cs08(self, header, now)
            case FirmwareDistributionCommand() as body:
                return self.on_distribution(header, body, now)
            case _:
                raise self.unsupported(message)

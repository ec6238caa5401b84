"""The Comms Hub Function as a device: two-step firmware (R10), SR 11.2 by ECS52 (D8).

Its other role, routing commands to the devices of its premises, is `emulators.premises`."""

from __future__ import annotations

from datetime import datetime

from emulators.actions import Action
from gbcs import (
    ActivateFirmwareCommand,
    FirmwareDistributionCommand,
    GbcsMessage,
    ReadEsmeFirmwareVersionCommand,
)

from .firmware import FirmwareDeviceModel
from .reads import answer_ecs52


class ChfModel(FirmwareDeviceModel):
    __slots__ = ()

    def dispatch(self, message: GbcsMessage, now: datetime) -> list[Action]:
        header = message.header
        match message.payload:
            case ActivateFirmwareCommand() as body:
                return self.on_activate(header, body, now)
            case ReadEsmeFirmwareVersionCommand() as body:
                return answer_ecs52(self, header, body, now)
            case FirmwareDistributionCommand() as body:
                return self.on_distribution(header, body, now)
            case _:
                raise self.unsupported(message)

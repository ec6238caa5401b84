"""The Comms Hub Function as a device: two-step firmware (R10), SR 11.2 by ECS52 (D8).

Its other role, routing commands to the devices of its premises, is `emulators.premises`."""

from __future__ import annotations

from .firmware import FirmwareDeviceModel


class ChfModel(FirmwareDeviceModel):
    """SR 11.2 by ECS52 (the default read); CS06 and distribution as every two-step device."""

    __slots__ = ()

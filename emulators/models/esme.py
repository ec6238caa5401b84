"""The SMETS2 ESME: two-step firmware (R10), SR 11.2 by ECS52."""

from __future__ import annotations

from .firmware import FirmwareDeviceModel


class EsmeModel(FirmwareDeviceModel):
    """SR 11.2 by ECS52 (the default read); CS06 and distribution as every two-step device."""

    __slots__ = ()

"""Sans-IO device models, one file per role; `MODEL_CLASSES` picks the class for a device."""

from __future__ import annotations

from contract.vocabulary import DeviceType

from .base import DeviceModel, DeviceProfile
from .chf import ChfModel
from .esme import EsmeModel
from .firmware import FirmwareDeviceModel, PendingImage, SlotState
from .gpf import GpfModel
from .gsme import GsmeModel
from .hcalcs import HcalcsModel
from .ppmid import PpmidModel
from .smets1 import Smets1EsmeModel, Smets1GsmeModel

# (device type, SMETS generation) -> model class; a missing pair is not modelled.
MODEL_CLASSES: dict[tuple[DeviceType, int], type[FirmwareDeviceModel]] = {
    (DeviceType.ESME, 2): EsmeModel,
    (DeviceType.GSME, 2): GsmeModel,
    (DeviceType.GPF, 2): GpfModel,
    (DeviceType.CHF, 2): ChfModel,
    (DeviceType.PPMID, 2): PpmidModel,
    (DeviceType.HCALCS, 2): HcalcsModel,
    (DeviceType.ESME, 1): Smets1EsmeModel,
    (DeviceType.GSME, 1): Smets1GsmeModel,
    (DeviceType.CHF, 1): ChfModel,
    (DeviceType.PPMID, 1): PpmidModel,
}

__all__ = [
    "MODEL_CLASSES",
    "ChfModel",
    "DeviceModel",
    "DeviceProfile",
    "EsmeModel",
    "FirmwareDeviceModel",
    "GpfModel",
    "GsmeModel",
    "HcalcsModel",
    "PendingImage",
    "PpmidModel",
    "SlotState",
    "Smets1EsmeModel",
    "Smets1GsmeModel",
]

"""What a conformance run is pointed at: a lab on a broker, a supplier user, one device
and the firmware to activate (docs/conformance.md). The lead's lab environment file
builds a `ConformanceTarget`; `smetslab hil conform` takes the same from options."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from contract.errors import InvalidRequestError, TopicError
from contract.ids import to_duis
from contract.topics import Topics
from gbcs import GbcsDecodeError
from gbcs.ota import parse_ota_image

from .errors import TargetError

_VERSION = re.compile(r"[0-9A-F]{8}")
_HASH = re.compile(r"[0-9A-F]{64}")


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    """A firmware image as the checks expect it: the version it runs as (4 bytes, 8 hex
    digits, D3) and the SHA-256 of the OTA file (R9). With `image` the run distributes it
    (SR 11.1); without, the device must already hold it in its pending slot."""

    version: str
    image_hash: str
    image: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _VERSION.fullmatch(self.version):
            raise TargetError(f"firmware version {self.version!r}: give 8 upper-case hex digits")
        if not _HASH.fullmatch(self.image_hash):
            raise TargetError(
                f"firmware image_hash {self.image_hash!r}: give 64 upper-case hex digits"
            )
        if self.image is not None and _sha256(self.image) != self.image_hash:
            raise TargetError(
                f"firmware image_hash {self.image_hash} is not the SHA-256 of the image "
                f"({_sha256(self.image)})"
            )

    @classmethod
    def from_image(cls, image: bytes, source: str = "image") -> FirmwareImage:
        """An OTA file: its version from the header's file version, its SHA-256."""
        try:
            header = parse_ota_image(image).header
        except GbcsDecodeError as exc:
            raise TargetError(f"{source}: not a ZigBee OTA file: {exc}") from exc
        return cls(f"{header.file_version:08X}", _sha256(image), image)

    @classmethod
    def held(cls, version: str, image_hash: str) -> FirmwareImage:
        """An image the device already holds (taken from the CPL): nothing to distribute."""
        return cls(version.upper(), image_hash.upper())

    @property
    def distributed(self) -> bool:
        return self.image is not None


@dataclass(frozen=True, slots=True)
class ConformanceOptions:
    """How the run paces itself; every duration is device time on the shared clock."""

    future_delay: timedelta = timedelta(minutes=2)  # the future-dated 11.3's execution
    tolerance: timedelta = timedelta(seconds=30)  # alert arrival vs execution time (R7)
    answer_wait: timedelta = timedelta(minutes=10)  # a request's final answer (E21 is 60 s)
    receipt_wait: timedelta = timedelta(minutes=30)  # an 11.1's receipt (R9)
    first_counter: int | None = None  # None: the wall clock in milliseconds (D-CF3)
    observe_hub: bool = True  # record the hub's down/up traffic for the device too
    clock_wait: float = 10.0  # wall seconds to wait for the retained {root}/clock

    def __post_init__(self) -> None:
        for name in ("future_delay", "tolerance", "answer_wait", "receipt_wait"):
            if getattr(self, name) <= timedelta(0):
                raise TargetError(f"{name} must be positive")
        if self.first_counter is not None and not 0 < self.first_counter < 1 << 63:
            raise TargetError(f"first_counter {self.first_counter} must be in 1..2^63-1")


@dataclass(frozen=True, slots=True)
class ConformanceTarget:
    """A running lab (DSP and the device, emulated or bridged) and what to run on it.

    `firmware` is activated at once; `future_firmware` future-dated, then repeated. With
    no `future_firmware`, `firmware` is distributed again for the future-dated step
    (so it needs its image)."""

    broker: str  # mqtt://host:port
    user_id: str  # the supplier the run acts as (DUIS form or 16 hex digits)
    device_id: str
    firmware: FirmwareImage
    future_firmware: FirmwareImage | None = None
    topic_root: str = "smetslab"
    mqtt_version: str = "auto"  # or "5", or "3.1.1" (the embedded broker)
    ch_id: str | None = None  # the hub to observe; None: the device's hub from 8.2

    def __post_init__(self) -> None:
        parts = urlsplit(self.broker)
        if parts.scheme not in {"mqtt", "tcp"} or not parts.hostname:
            raise TargetError(f"broker {self.broker!r} must look like mqtt://host:port")
        try:
            Topics(self.topic_root)
        except TopicError as exc:
            raise TargetError(str(exc)) from exc
        for name in ("user_id", "device_id", "ch_id"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _eui64(name, value))
        if self.mqtt_version not in {"auto", "5", "3.1.1"}:
            raise TargetError(f"mqtt_version {self.mqtt_version!r}: use auto, 5 or 3.1.1")
        if self.future_firmware is None and not self.firmware.distributed:
            raise TargetError(
                "future_firmware: give a second image the device holds, or the image file "
                "of firmware so that it can be distributed again before the future-dated 11.3"
            )

    @property
    def second_firmware(self) -> FirmwareImage:
        """What the future-dated and the repeated 11.3 activate."""
        return self.future_firmware or self.firmware

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_root)


def _eui64(name: str, value: str) -> str:
    try:
        return to_duis(value)
    except InvalidRequestError as exc:
        raise TargetError(f"{name}: {exc}") from exc


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()

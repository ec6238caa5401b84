"""What a firmware campaign is asked to do: the targets and the plan (frozen, validated).

A target is one (manufacturer, model) group and the image to give it; the plan adds the
service user, the timing (device time, on the shared clock, DESIGN §6) and the limits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

from hil.errors import PlanError

_DUIS_ID = re.compile(r"([0-9A-F]{2}-){7}[0-9A-F]{2}")
_HEX8 = re.compile(r"[0-9A-F]{8}")
_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")


def image_sha256(image: bytes) -> str:
    """R9 (*model*): the image hash is the SHA-256 of the OTA file, upper-case hex."""
    return hashlib.sha256(image).hexdigest().upper()


@dataclass(frozen=True, slots=True)
class FirmwareTarget:
    """One (manufacturer, model) group to upgrade to `version` with `image`.

    `one_step`: a PPMID, upgraded by SR 11.4 (distribute and activate), with no 11.3.
    """

    manufacturer: str
    model: str
    version: str  # 8 upper-case hex characters (4 bytes, D3)
    image: bytes  # the ZigBee OTA file as distributed
    device_ids: tuple[str, ...]  # DUIS form
    image_hash: str  # 64 hex characters: the SHA-256 of `image` (R9)
    one_step: bool = False

    def __post_init__(self) -> None:
        name = f"target {self.manufacturer}/{self.model}"
        if not _HEX8.fullmatch(self.version):
            raise PlanError(f"{name}: version {self.version!r} is not 8 upper-case hex digits")
        if not _HEX64.fullmatch(self.image_hash):
            raise PlanError(f"{name}: image_hash is not 64 hex digits")
        if self.image_hash.upper() != image_sha256(self.image):
            raise PlanError(f"{name}: image_hash is not the SHA-256 of the image (R9)")
        if not self.device_ids:
            raise PlanError(f"{name}: no device_ids")
        _check_ids(name, self.device_ids)

    @classmethod
    def of(
        cls,
        manufacturer: str,
        model: str,
        version: str,
        image: bytes,
        device_ids: tuple[str, ...],
        *,
        one_step: bool = False,
    ) -> FirmwareTarget:
        """A target whose image hash is computed from the image."""
        return cls(manufacturer, model, version, image, device_ids, image_sha256(image), one_step)

    @property
    def name(self) -> str:
        return f"{self.manufacturer}/{self.model}@{self.version}"


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """The whole campaign. Times are device time on the shared clock (DESIGN §6).

    - `execution_delay`: None activates at once; else each 11.3 is future-dated to the
      time it is sent plus this (R7).
    - `max_retries`: retries of a request whose answer was lost (E21, or nothing within
      `response_wait`); the back-off starts at `retry_backoff` and doubles each retry,
      up to `max_backoff`.
    - `receipt_wait`: after the 11.1 answer, how long to wait for a device's
      FirmwareReceipt before activating it anyway (R9).
    - `batch_size`: the most device IDs in one 11.1, 11.4 or 8.2 request.
    - `read_gpfs`: after the suspended devices are read, SR 11.2 to each of `gpf_ids`
      (R6: a stale mirror gives N52).
    - `first_counter`: the first originator counter used; each request takes the next
      (DESIGN §3: strictly increasing per originator).
    """

    user_id: str
    targets: tuple[FirmwareTarget, ...]
    execution_delay: timedelta | None = None
    max_retries: int = 3
    retry_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(minutes=30)
    response_wait: timedelta = timedelta(hours=2)
    receipt_wait: timedelta = timedelta(hours=2)
    batch_size: int = 100
    read_gpfs: bool = False
    gpf_ids: tuple[str, ...] = field(default=())
    first_counter: int = 1

    def __post_init__(self) -> None:
        _check_ids("user_id", (self.user_id,))
        _check_ids("gpf_ids", self.gpf_ids)
        if not self.targets:
            raise PlanError("a campaign needs at least one target")
        ids = [i for target in self.targets for i in target.device_ids]
        if len(set(ids)) != len(ids):
            raise PlanError("a device appears in more than one target, or twice in one")
        if self.batch_size < 1 or self.max_retries < 0 or self.first_counter < 0:
            raise PlanError("batch_size must be >= 1, max_retries and first_counter >= 0")
        self._check_times()

    def _check_times(self) -> None:
        positive = {
            "retry_backoff": self.retry_backoff,
            "max_backoff": self.max_backoff,
            "response_wait": self.response_wait,
            "receipt_wait": self.receipt_wait,
        }
        if self.execution_delay is not None:
            positive["execution_delay"] = self.execution_delay
        for name, value in positive.items():
            if value <= timedelta(0):
                raise PlanError(f"{name} must be positive, got {value}")

    @property
    def device_ids(self) -> tuple[str, ...]:
        return tuple(i for target in self.targets for i in target.device_ids)

    def backoff(self, lost_attempt: int) -> timedelta:
        """The wait before the retry that follows lost attempt `lost_attempt` (1, 2, ...)."""
        wait = self.retry_backoff * (1 << min(lost_attempt - 1, 32))
        return min(wait, self.max_backoff)


def _check_ids(name: str, ids: tuple[str, ...]) -> None:
    for value in ids:
        if not _DUIS_ID.fullmatch(value):
            raise PlanError(f"{name}: {value!r} is not a DUIS ID (00-DB-12-34-56-78-90-A0)")

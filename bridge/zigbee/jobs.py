"""The jobs of the ZigBee translation layer and what it believes each device holds: two
state tables (docs/zigbee-bridge.md §3). Sans-IO records; `HubTranslator` moves them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from contract.transitions import EventGuard, TransitionTable
from gbcs import ActivateImageResponseCode, GbcsHeader

from .actions import ImageKey, ZigbeeOp

Code = ActivateImageResponseCode


class JobKind(StrEnum):
    READ = "11.2 read"
    DISTRIBUTE = "distribution"
    ACTIVATE = "11.3 activation"
    CANCEL = "11.3 cancellation"
    EXECUTE = "future-dated execution"


class JobStep(IntEnum):
    QUEUED = 0
    READING = 1
    SERVING = 2
    ENDING = 3  # an Upgrade End Response on its way
    SETTLING = 4  # the device restarts on its new image
    DONE = 5


class ZigbeeJobEvent(IntEnum):
    START = 0
    READ_DONE = 1
    DOWNLOAD_DONE = 2
    END_SENT = 3
    DUE = 4
    FAILED = 5


_J, _JE = JobStep, ZigbeeJobEvent
JOB_STEPS: EventGuard[JobStep, ZigbeeJobEvent] = EventGuard(
    {
        (_J.QUEUED, _JE.START),
        (_J.READING, _JE.READ_DONE),
        (_J.READING, _JE.FAILED),
        (_J.SERVING, _JE.DOWNLOAD_DONE),
        (_J.SERVING, _JE.FAILED),
        (_J.ENDING, _JE.END_SENT),
        (_J.ENDING, _JE.FAILED),
        (_J.SETTLING, _JE.DUE),
    }
)


class DeviceSlot(IntEnum):
    """What the bridge believes the device holds."""

    EMPTY = 0
    HELD = 1  # an image downloaded and kept (Upgrade End Response 0xFFFFFFFF)
    SCHEDULED = 2  # ... with a future activation time given to the device


class DeviceSlotEvent(IntEnum):
    IMAGE_TAKEN = 1
    DISCARDED = 2  # a distribution failed: the device drops what it had
    SCHEDULED = 3
    CANCELLED = 4
    ACTIVATED = 5
    ACTIVATION_FAILED = 6


_S, _SE = DeviceSlot, DeviceSlotEvent
SLOT_TRANSITIONS: TransitionTable[DeviceSlot, DeviceSlotEvent] = TransitionTable(
    {
        (_S.EMPTY, _SE.IMAGE_TAKEN): _S.HELD,
        (_S.HELD, _SE.IMAGE_TAKEN): _S.HELD,  # a new image replaces the held one
        (_S.SCHEDULED, _SE.IMAGE_TAKEN): _S.HELD,  # ... and its count-down
        (_S.EMPTY, _SE.DISCARDED): _S.EMPTY,
        (_S.HELD, _SE.DISCARDED): _S.EMPTY,
        (_S.SCHEDULED, _SE.DISCARDED): _S.EMPTY,
        (_S.HELD, _SE.SCHEDULED): _S.SCHEDULED,
        (_S.SCHEDULED, _SE.SCHEDULED): _S.SCHEDULED,  # a new time replaces the old
        (_S.SCHEDULED, _SE.CANCELLED): _S.HELD,
        (_S.HELD, _SE.ACTIVATED): _S.EMPTY,
        (_S.SCHEDULED, _SE.ACTIVATED): _S.EMPTY,
        (_S.HELD, _SE.ACTIVATION_FAILED): _S.HELD,
        (_S.SCHEDULED, _SE.ACTIVATION_FAILED): _S.HELD,
    }
)


@dataclass(frozen=True, slots=True)
class HeldImage:
    key: ImageKey
    image_hash: bytes  # SHA-256 of the OTA file as served (R9's model hash)


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A future-dated activation given to the device; also its timer's token."""

    command: GbcsHeader
    execution: datetime
    image: HeldImage


class ZigbeeJob:
    """One command (or the check after a future-dated activation) for one device."""

    __slots__ = (
        "body",
        "code",
        "command",
        "execution",
        "image",
        "kind",
        "op",
        "request",
        "step",
        "tag",
    )

    def __init__(
        self,
        kind: JobKind,
        command: GbcsHeader,
        body: object = None,
        tag: object = None,
    ) -> None:
        self.kind = kind
        self.command = command
        self.body = body
        self.tag = tag  # the bus message to acknowledge; None for the bridge's own jobs
        self.step = JobStep.QUEUED
        self.request: ZigbeeOp | None = None  # the operation the step waits for
        self.op: int | None = None  # its number, once issued (None: not yet, or lost)
        self.code: Code | None = None  # a CS06 code decided before the read
        self.image: HeldImage | None = None
        self.execution: datetime | None = None  # a future-dated activation's time


@dataclass(frozen=True, slots=True)
class SettleToken:
    job: ZigbeeJob


class DeviceView:
    __slots__ = ("alert_counter", "device_id", "held", "queue", "scheduled", "slot")

    def __init__(self, device_id: bytes) -> None:
        self.device_id = device_id
        self.slot = DeviceSlot.EMPTY
        self.held: HeldImage | None = None
        self.scheduled: Scheduled | None = None
        self.queue: deque[ZigbeeJob] = deque()
        self.alert_counter = 0

    @property
    def hex_id(self) -> str:
        return self.device_id.hex().upper()

    def move(self, event: DeviceSlotEvent) -> None:
        role = f"bridge view of ZigBee device {self.hex_id}"
        self.slot = SLOT_TRANSITIONS.next(role, self.slot, event)

    def next_alert_counter(self, now: datetime) -> int:
        """Strictly increasing and ahead of the clock in ms, so that a restarted bridge
        never repeats one (the DSP takes a repeated counter for a duplicate, R8)."""
        self.alert_counter = max(self.alert_counter + 1, int(now.timestamp() * 1000))
        return self.alert_counter

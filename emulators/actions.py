"""What the sans-IO models return: bytes to send, timers to set, and events to journal.

A device model takes events (GBCS bytes received, a timer it asked for, a power cycle)
with the current time as an argument, and returns a list of these actions. It never
reads a clock, sleeps or sends anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from .faults import FaultKind


class TimerKind(IntEnum):
    """The timers a device can ask for; each carries a token to detect stale ones."""

    DOWNLOAD_DONE = 1
    POWER_LOST = 2
    EXECUTE_ACTIVATION = 3
    ACTIVATION_DONE = 4


class EventKind(StrEnum):
    """State changes a device, hub or fleet reports (the fleet runner journals them)."""

    DOWNLOAD_STARTED = "download_started"
    DOWNLOAD_COMPLETE = "download_complete"
    DOWNLOAD_LOST = "download_lost"
    DOWNLOAD_RESUMED = "download_resumed"
    IMAGE_STAGED = "image_staged"
    ACTIVATION_STARTED = "activation_started"
    ACTIVATED = "activated"
    ACTIVATION_FAILED = "activation_failed"
    ACTIVATION_SCHEDULED = "activation_scheduled"
    ACTIVATION_CANCELLED = "activation_cancelled"
    POWER_CYCLED = "power_cycled"
    COMMAND_QUEUED = "command_queued"
    GSME_WOKE = "gsme_woke"
    MIRROR_SYNCED = "mirror_synced"
    UNROUTABLE = "unroutable"
    UNDECODABLE = "undecodable"
    COMMAND_REJECTED = "command_rejected"
    # a command refused for its MAC or signature (security on; docs/security.md D-SEC13)
    AUTHENTICATION_FAILED = "authentication_failed"
    FLASHED = "flashed"  # firmware changed outside the DCC (a site visit, a lab's tool)


@dataclass(frozen=True, slots=True)
class Send:
    """GBCS bytes a device sends up through its hub, at the given time."""

    data: bytes
    message_code: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Timer:
    """Call the device back at `at` with this timer (the premises' scheduler keeps it)."""

    at: datetime
    kind: TimerKind
    token: object


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A state change worth journalling; `device_id` is the EUI-64 in 16 upper hex digits."""

    device_id: str
    kind: EventKind
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FaultFired:
    """A fault of the fault plan that fired (R11); every one is reported."""

    device_id: str
    fault: FaultKind
    message_code: int | None
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Uplink:
    """Bytes for `{root}/ch/{ch_id}/up`, due now (the fleet emits them when they are due)."""

    ch_id: str
    data: bytes
    message_code: int
    at: datetime


Action = Send | Timer | DeviceEvent | FaultFired
Output = Uplink | DeviceEvent | FaultFired

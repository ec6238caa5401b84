"""The SMETS2 GSME: battery powered, it wakes at a fixed interval and polls its GPF (R10).

The model itself answers like any two-step device (CS06, GCS38 with the ZCL sequence
echoed, 0xFF05); the premises holds its commands in the GPF until it wakes, and sends
what it says at a wake time. Wake times are arithmetic, not timers: every
`wake_seconds`, at a phase taken from the device ID, so an idle GSME holds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gbcs import (
    ReadGsmeFirmwareVersionCommand,
)

from .firmware import FirmwareDeviceModel

WAKE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def next_wake(device_id: bytes, wake_seconds: int, now: datetime) -> datetime:
    """The first wake time at or after `now` of a GSME that wakes every `wake_seconds`."""
    phase = int.from_bytes(device_id, "big") % wake_seconds
    elapsed = (now - WAKE_EPOCH) // timedelta(microseconds=1) - phase * 1_000_000
    period = wake_seconds * 1_000_000
    cycles = -(-elapsed // period)
    return WAKE_EPOCH + timedelta(microseconds=cycles * period + phase * 1_000_000)


class GsmeModel(FirmwareDeviceModel):
    __slots__ = ()
    READ_COMMAND = ReadGsmeFirmwareVersionCommand

    def next_wake(self, now: datetime) -> datetime:
        return next_wake(self.device_id, self.profile.wake_seconds, now)

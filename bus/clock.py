"""The shared clock (DESIGN §6): a scaled wall clock, retained on `{root}/clock`.

    device time = epoch + (wall - wall_epoch) * scale

`ClockSetting` is the pure part (the arithmetic and the JSON); `ScaledClock` reads the
wall clock and follows setting changes; `ManualClock` is moved by hand in tests. Every
timer in smetslab (response time-outs, future-dated execution, GSME wake-ups, retries,
fault delays) waits on one of these.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contract.validation import describe

from .errors import EnvelopeError

# The device times a clock may give (D-P4): the DSP adds time-outs and grace periods of
# up to a day and more to its device time, so the clock must leave room below year 9999.
CLOCK_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))


class _ClockMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: AwareDatetime
    wall_epoch: float = Field(allow_inf_nan=False)
    scale: float = Field(gt=0, allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class ClockSetting:
    epoch: datetime
    wall_epoch: float
    scale: float = 1.0

    def device_time(self, wall: float) -> datetime:
        return self.epoch + timedelta(seconds=(wall - self.wall_epoch) * self.scale)

    def wall_time(self, device_time: datetime) -> float:
        return self.wall_epoch + (device_time - self.epoch).total_seconds() / self.scale

    def to_json(self) -> bytes:
        message = {
            "epoch": self.epoch.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "wall_epoch": self.wall_epoch,
            "scale": self.scale,
        }
        return json.dumps(message).encode()

    @classmethod
    def from_json(cls, payload: bytes, wall: float | None = None) -> ClockSetting:
        """The setting in a clock message; `EnvelopeError` for one that cannot be read or
        whose device time, now (`wall`) or within a day of wall time, is out of
        `CLOCK_RANGE` (issue 18: `scale: 1e300`, an epoch in 9999 overflow)."""
        try:
            message = _ClockMessage.model_validate_json(payload)
            epoch = message.epoch.astimezone(UTC)
        except ValidationError as exc:
            raise EnvelopeError(f"clock message: {describe(exc, 'message', first=True)}") from exc
        except (OverflowError, RecursionError) as exc:
            raise EnvelopeError(f"clock message: out of range ({exc})") from exc
        setting = cls(epoch, message.wall_epoch, message.scale)
        setting.check(time.time() if wall is None else wall)
        return setting

    def check(self, wall: float) -> None:
        """`EnvelopeError` unless the device time at `wall` and a day of wall time later
        is within `CLOCK_RANGE` (D-P4)."""
        low, high = CLOCK_RANGE
        for at in (wall, wall + 86_400.0):
            try:
                device = self.device_time(at)
            except (OverflowError, ValueError) as exc:
                raise EnvelopeError(f"clock message: device time overflows ({exc})") from exc
            if not low <= device <= high:
                raise EnvelopeError(
                    f"clock message: device time {device.isoformat()} is outside "
                    f"{low.year} to {high.year}"
                )

    @classmethod
    def starting_now(cls, epoch: datetime, scale: float, wall: float) -> ClockSetting:
        return cls(epoch.astimezone(UTC), wall, scale)


class Clock(Protocol):
    """What a runner needs of time: now, and a sleep until a device time."""

    def now(self) -> datetime: ...

    async def sleep_until(self, due: datetime | None) -> None:
        """Return at `due` (device time), or earlier when the clock is changed; never
        when `due` is None until the clock is changed."""


class ScaledClock:
    """The wall clock scaled by the shared setting; follows `{root}/clock` updates."""

    def __init__(self, setting: ClockSetting, wall: Callable[[], float] = time.time) -> None:
        self.setting = setting
        self._wall = wall
        self._changed = asyncio.Event()

    @classmethod
    def real_time(cls) -> ScaledClock:
        """Scale 1, device time = UTC now: what a process uses until a setting arrives."""
        wall = time.time()
        return cls(ClockSetting(datetime.fromtimestamp(wall, UTC), wall, 1.0))

    def now(self) -> datetime:
        return self.setting.device_time(self._wall())

    def seconds_until(self, due: datetime) -> float:
        """Wall seconds from now until device time `due` (0 if it has passed)."""
        return max(0.0, self.setting.wall_time(due) - self._wall())

    def update(self, setting: ClockSetting) -> None:
        self.setting = setting
        self._changed.set()

    async def sleep_until(self, due: datetime | None) -> None:
        self._changed.clear()
        delay = math.inf if due is None else self.setting.wall_time(due) - self._wall()
        if delay <= 0:
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(None if delay == math.inf else delay):
                await self._changed.wait()
        except TimeoutError:
            return


class ManualClock:
    """A clock for in-process tests: `advance` moves it, sleepers wake when it passes."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
        self._changed.set()

    async def sleep_until(self, due: datetime | None) -> None:
        while due is None or self._now < due:
            self._changed.clear()
            await self._changed.wait()
            if due is None:
                return

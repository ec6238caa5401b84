"""The shared clock (DESIGN §6) and the reconnection back-off."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from bus.backoff import Backoff
from bus.clock import ClockSetting, ManualClock, ScaledClock
from bus.errors import EnvelopeError

EPOCH = datetime(2031, 1, 1, tzinfo=UTC)


def test_device_time_runs_scale_times_faster_than_the_wall() -> None:
    setting = ClockSetting(EPOCH, wall_epoch=1000.0, scale=60.0)
    assert setting.device_time(1000.0) == EPOCH
    assert setting.device_time(1002.5) == EPOCH + timedelta(minutes=2.5)
    assert setting.wall_time(EPOCH + timedelta(hours=1)) == pytest.approx(1060.0)


def test_the_retained_message_round_trips() -> None:
    setting = ClockSetting(EPOCH, 1700000000.25, 3600.0)
    payload = setting.to_json()
    assert b'"epoch": "2031-01-01T00:00:00Z"' in payload
    assert ClockSetting.from_json(payload, wall=1700000000.25) == setting


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"epoch": "2031-01-01T00:00:00", "wall_epoch": 1, "scale": 1}', "epoch"),
        (b'{"epoch": "2031-01-01T00:00:00Z", "wall_epoch": 1, "scale": 0}', "scale"),
        (b'{"epoch": "2031-01-01T00:00:00Z", "scale": 1}', "wall_epoch"),
        (b"not json", "message"),
    ],
)
def test_a_bad_clock_message_names_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(EnvelopeError, match=field):
        ClockSetting.from_json(payload)


async def test_a_scaled_sleep_wakes_early_when_the_clock_is_changed() -> None:
    wall = [1000.0]
    clock = ScaledClock(ClockSetting(EPOCH, 1000.0, 1.0), wall=lambda: wall[0])
    sleeper = asyncio.create_task(clock.sleep_until(EPOCH + timedelta(hours=1)))
    await asyncio.sleep(0)  # one turn of the loop: the sleeper runs up to its wait
    assert not sleeper.done()
    clock.update(ClockSetting(EPOCH + timedelta(hours=2), 1000.0, 1.0))
    await asyncio.wait_for(sleeper, 1)
    assert clock.now() == EPOCH + timedelta(hours=2)


async def test_a_manual_clock_wakes_sleepers_it_passes() -> None:
    clock = ManualClock(EPOCH)
    sleeper = asyncio.create_task(clock.sleep_until(EPOCH + timedelta(seconds=10)))
    clock.advance(timedelta(seconds=5))
    await asyncio.sleep(0)  # one turn of the loop: the sleeper sees the change, sleeps on
    assert not sleeper.done()
    clock.advance(timedelta(seconds=5))
    await asyncio.wait_for(sleeper, 1)


def test_backoff_doubles_to_its_cap_with_jitter_below_each_step() -> None:
    delays = Backoff(initial=0.1, cap=1.0, factor=2, jitter=0.5).delays(random.Random(1))
    got = [next(delays) for _ in range(8)]
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(step / 2 <= d <= step for d, step in zip(got, steps, strict=True))
    assert len(set(got)) == len(got)


def test_a_backoff_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="initial <= cap"):
        Backoff(initial=5, cap=1)

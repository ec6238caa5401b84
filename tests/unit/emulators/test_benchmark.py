"""The fleet-size benchmark at a small scale: idle devices hold no timers and stay far
under the 2 KiB budget (the full 100,000-device run is `make bench`)."""

from __future__ import annotations

from benchmarks.emulators import run_emulators_benchmark


def test_idle_fleet_is_small_and_has_no_timers() -> None:
    result = run_emulators_benchmark(premises=500)
    assert result["devices"] == 2000
    assert result["idle_scheduler_entries"] == 0
    assert 0 < result["bytes_per_idle_device"] < 2048
    assert result["bytes_per_device_with_dsp_seed"] > result["bytes_per_idle_device"]

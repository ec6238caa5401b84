"""Emulated fleet size: 100,000 idle devices (25,000 premises of CHF, GPF, ESME, GSME).

Reports the seconds `build_fleet` takes (premises and DSP seed data together), and the
bytes per idle device measured with tracemalloc: for the emulated premises alone (the
target: under 2 KiB), and with the DSP seed data the same call returns. An idle fleet
holds no scheduler entry: devices have no timers of their own.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

from emulators.fleet import build_fleet
from emulators.fleetspec import DeviceSpec, FleetSpec, PremisesTemplate

PREMISES = 25_000
DEVICE_TYPES = ("CHF", "GPF", "ESME", "GSME")


def bench_spec(premises: int = PREMISES) -> FleetSpec:
    devices = [
        DeviceSpec.model_validate(
            {"type": kind, "model": f"{kind}-1", "firmware_versions": ["01020304", "01020305"]}
        )
        for kind in DEVICE_TYPES
    ]
    template = PremisesTemplate(name="bench", count=premises, devices=devices)
    return FleetSpec(seed=1, templates=[template])


def _timed(spec: FleetSpec) -> float:
    gc.collect()
    start = time.perf_counter()
    build_fleet(spec)
    return time.perf_counter() - start


def _traced(spec: FleetSpec) -> tuple[int, int, int]:
    """(bytes with seed data, bytes of the premises alone, scheduler entries)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        build = build_fleet(spec)
        with_seed = tracemalloc.get_traced_memory()[0] - base
        fleet = build.fleet
        del build
        gc.collect()
        premises_only = tracemalloc.get_traced_memory()[0] - base
        return with_seed, premises_only, len(fleet.scheduler)
    finally:
        tracemalloc.stop()


def run_emulators_benchmark(premises: int = PREMISES) -> dict[str, Any]:
    spec = bench_spec(premises)
    devices = premises * len(DEVICE_TYPES)
    seconds = _timed(spec)
    with_seed, premises_only, timers = _traced(spec)
    return {
        "premises": premises,
        "devices": devices,
        "creation_seconds": round(seconds, 2),
        "bytes_per_idle_device": round(premises_only / devices),
        "bytes_per_device_with_dsp_seed": round(with_seed / devices),
        "idle_scheduler_entries": timers,
        "targets": {"bytes_per_idle_device": 2048, "creation_seconds": 5.0},
    }

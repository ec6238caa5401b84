"""DSP core throughput: SR 11.2 request -> device response (real GBCS) -> SMI update.

100,000 ESMEs (one per hub), each read once: a round trip is the request event (JSON
in; I99 and the ECS52 command out) and the response event (GBCS in; R5 updates the
SMI version and the final I0 out). The core alone on one in-memory `State`, then the
same core through `CoreDriver` over a SQLite file (and PostgreSQL when given an empty
database), with a profile of each.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gbcs
from contract.ids import to_bytes, to_compact
from contract.vocabulary import (
    CplEntry,
    CplStatus,
    Device,
    DeviceType,
    Registration,
    Role,
    SmiStatus,
    User,
)
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.events import DeviceMessageReceived, RequestReceived
from dsp_core.state import Scope, State
from dsp_core.store import SqlStore

USER = User("90-B3-D5-1F-30-01-00-00", frozenset({Role.IMPORT_SUPPLIER}))
OLD, NEW = "0123ABCD", "0123ABCE"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _eui(prefix: int, n: int) -> str:
    raw = f"{prefix:04X}{n:012X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def fleet(count: int) -> dict[str, Any]:
    devices = [
        Device(
            _eui(0x00DB, n),
            DeviceType.ESME,
            2,
            "ACME",
            "E1",
            OLD,
            SmiStatus.COMMISSIONED,
            _eui(0x00DC, n),
            f"MPAN{n:09d}",
        )
        for n in range(count)
    ]
    return {
        "devices": devices,
        "users": [USER],
        "registrations": [
            Registration(d.mpxn, USER.user_id, "90-B3-D5-1F-30-02-00-00") for d in devices
        ],
        "cpl": [CplEntry("ACME", "E1", v, CplStatus.CURRENT, "00" * 32) for v in (OLD, NEW)],
    }


def round_trip_events(
    devices: list[Device], first_counter: int
) -> list[tuple[RequestReceived, DeviceMessageReceived]]:
    """Each device's 11.2 request and the ECS52 response it will get (built ahead)."""
    user = to_compact(USER.user_id)
    pairs = []
    for offset, device in enumerate(devices):
        counter = first_counter + offset
        request = {
            "request_id": f"{USER.user_id}:{device.device_id}:{counter}",
            "service_reference_variant": "11.2",
            "command_variant": 1,
            "body": {},
        }
        header = gbcs.GbcsHeader(
            gbcs.CraFlag.RESPONSE,
            counter,
            to_bytes(device.device_id),
            to_bytes(USER.user_id),
            None,
            0x0059,
        )
        payload = gbcs.ReadEsmeFirmwareVersionResponse(
            0x2000_0000 | counter % (1 << 24), gbcs.DataAccessResult.SUCCESS, bytes.fromhex(NEW)
        )
        response = gbcs.encode(gbcs.GbcsMessage(header, payload, b""))
        at = T0 + timedelta(milliseconds=offset)
        pairs.append(
            (
                RequestReceived(user, json.dumps(request).encode(), at),
                DeviceMessageReceived(device.comms_hub_id, response, at),
            )
        )
    return pairs


def _profile_top(profile: cProfile.Profile, lines: int = 12) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(lines)
    return [line.strip() for line in out.getvalue().splitlines() if line.strip()][-lines:]


def _check(actions_count: int, expected: int) -> None:
    if actions_count != expected:
        raise SystemExit(
            f"benchmark sanity check failed: {actions_count} actions, expected {expected}"
        )


def bench_memory(count: int) -> dict[str, Any]:
    seed = fleet(count)
    state = State()
    state.load(**seed)
    core = DspCore()
    pairs = round_trip_events(seed["devices"], 1)
    profile = cProfile.Profile()
    start = time.perf_counter()
    actions = 0
    for request, response in pairs:
        actions += len(core.handle_event(request, state)) + len(core.handle_event(response, state))
        state.take_changes()
    elapsed = time.perf_counter() - start
    _check(actions, 3 * count)  # I99 + command, then I0
    updated = sum(1 for d in state.devices.values() if d.firmware_version == NEW)
    _check(updated, count)
    profile.enable()
    for request, response in round_trip_events(seed["devices"][:5000], count + 1):
        core.handle_event(request, state)
        core.handle_event(response, state)
        state.take_changes()
    profile.disable()
    return {
        "devices": count,
        "round_trips": count,
        "seconds": round(elapsed, 3),
        "round_trips_per_s": round(count / elapsed),
        "profile_top_tottime": _profile_top(profile),
    }


async def _drive(
    driver: CoreDriver, pairs: list[tuple[RequestReceived, DeviceMessageReceived]]
) -> int:
    actions = 0
    for request, response in pairs:
        actions += len(await driver.handle(request)) + len(await driver.handle(response))
    return actions


async def bench_store(url: str, count: int, trips: int) -> dict[str, Any]:
    """The round trips through `CoreDriver` over a `SqlStore` at `url` (an empty
    database), timed; then 500 more with the store's thread profiled."""
    seed = fleet(count)
    store = await SqlStore.open(url)
    try:
        start = time.perf_counter()
        await store.seed(**seed)
        seeded = time.perf_counter() - start
        driver = CoreDriver(DspCore(), store)
        start = time.perf_counter()
        actions = await _drive(driver, round_trip_events(seed["devices"][:trips], 1))
        elapsed = time.perf_counter() - start
        _check(actions, 3 * trips)
        profile = cProfile.Profile()
        # A decision runs in the store's thread, where the work now is: turn it on there.
        await store.apply(Scope(), lambda _: profile.enable())
        await _drive(driver, round_trip_events(seed["devices"][trips : trips + 500], trips + 1))
        await store.apply(Scope(), lambda _: profile.disable())
    finally:
        await store.close()
    return {
        "devices": count,
        "seed_seconds": round(seeded, 3),
        "round_trips": trips,
        "seconds": round(elapsed, 3),
        "round_trips_per_s": round(trips / elapsed),
        "store_thread_profile_top_tottime": _profile_top(profile),
    }


async def bench_sqlite(count: int, trips: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        return await bench_store(f"sqlite:///{Path(folder) / 'smi.db'}", count, trips)


def run_dsp_benchmark(
    devices: int = 100_000, sqlite_trips: int = 2_000, postgresql_url: str | None = None
) -> dict[str, Any]:
    memory = bench_memory(devices)
    sqlite = asyncio.run(bench_sqlite(devices, sqlite_trips))
    results = {
        "memory": memory,
        "sqlite_file": sqlite,
        "sqlite_cost_ratio": round(memory["round_trips_per_s"] / sqlite["round_trips_per_s"], 1),
    }
    if postgresql_url:
        results["postgresql"] = asyncio.run(bench_store(postgresql_url, devices, sqlite_trips))
    return results

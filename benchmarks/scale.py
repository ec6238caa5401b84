"""Scale-out, measured on a private mosquitto (docs/scale-out.md): for (DSP workers, fleet
shards) in (1, 1), (2, 1), (1, 2), (2, 2), every part a process of its own as
`smetslab lab up` starts them:

1. `round_trips`: SR 11.2 from one service user keeping a window of requests outstanding
   (as benchmarks/bus.py): final answers per second, and how many were I0. Several workers
   take one user's requests from a round-robin shared subscription, so a request can be
   taken after a later one; the DSP refuses a counter that goes backwards (S3, DESIGN §3),
   and the count of S3 says how often.
2. `campaign`: the MP105 demo story on N premises (20 % of 11.3 responses lost): wall time
   and the SMI-versus-device mismatches at the end.

Each figure is also given as a ratio to (1, 1) of the same run. Several workers need
PostgreSQL (DESIGN: SQLite when one worker runs); with `--postgresql-url` every
configuration runs on a fresh database of that server, so the ratios compare like with
like; without it the two-worker configurations are skipped and (1, *) run on a SQLite
file. Each row names its store.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bus.clock import ClockSetting
from bus.mosquitto import running_mosquitto
from contract.vocabulary import DeviceType
from dsp_core.store import SqlStore
from dsp_core.store.sql import sync_url
from emulators.fleet import build_fleet
from hil.demo import DemoOptions, DemoRun, write_fleet_file
from hil.lab.stack import Stack, StackConfig, seed_store

from .bus import CAMPAIGN_PATIENCE, CAMPAIGN_SCALE, WINDOW, _esme_fleet, drive_reads

CONFIGS = ((1, 1), (2, 1), (1, 2), (2, 2))
EPOCH = datetime(2031, 1, 1, tzinfo=UTC)


def run_scale_benchmark(trips: int, premises: int, postgresql_url: str | None) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="smetslab-scale-") as folder:
        for workers, shards in CONFIGS:
            shape = Shape(workers, shards, _made(Path(folder) / f"w{workers}-s{shards}"))
            rows.append(_configuration(shape, trips, premises, postgresql_url))
    _add_ratios(rows)
    return {
        "broker": "mosquitto (private, loopback); shared subscriptions round-robin",
        "round_trips": trips,
        "campaign_premises": premises,
        "window": WINDOW,
        "configurations": rows,
    }


@dataclass(frozen=True, slots=True)
class Shape:
    """One configuration: DSP worker and fleet shard processes, and its folder."""

    workers: int
    shards: int
    work: Path


def _configuration(shape: Shape, trips: int, premises: int, pg: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"workers": shape.workers, "shards": shape.shards}
    if shape.workers > 1 and pg is None:
        return row | {"skipped": "several DSP workers need PostgreSQL: give --postgresql-url"}
    with (
        _store(shape.work, "trips", pg) as (store_url, label),
        running_mosquitto(_made(shape.work / "trips-broker")) as broker,
    ):
        row["round_trips"] = asyncio.run(round_trips(broker.url, store_url, shape, trips))
        row["store"] = label
    with (
        _store(shape.work, "campaign", pg) as (store_url, _),
        running_mosquitto(_made(shape.work / "campaign-broker")) as broker,
    ):
        row["campaign"] = asyncio.run(campaign(broker.url, store_url, shape, premises))
    return row


def _made(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@contextmanager
def _store(work: Path, name: str, pg: str | None) -> Iterator[tuple[str, str]]:
    """A SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if pg is None:
        yield f"sqlite:///{work / f'{name}.sqlite'}", "SQLite file"
        return
    database = f"smetslab_scale_{name}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(sync_url(pg), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        yield pg.rsplit("/", 1)[0] + f"/{database}", "PostgreSQL (fresh database)"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


async def round_trips(url: str, store_url: str, shape: Shape, trips: int) -> dict[str, Any]:
    spec = _esme_fleet(min(trips, 5_000))
    fleet_file = write_fleet_file(spec, shape.work / "trips-fleet.yaml")
    build = build_fleet(spec)
    store = await SqlStore.open(store_url)
    try:
        await seed_store(store, build.seed)
        config = StackConfig(
            url,
            ClockSetting.starting_now(EPOCH, 1.0, time.time()),
            run_id=f"scale-{uuid.uuid4().hex[:6]}",
            dsp_processes=shape.workers,
            store_url=store_url,
            workdir=shape.work,
            fleet_processes=shape.shards,
            fleet_file=fleet_file,
        )
        supplier = build.seed.users[0].user_id
        esmes = [d.device_id for d in build.seed.devices if d.device_type is DeviceType.ESME]
        async with Stack(config, build, store) as lab:
            user = await lab.user_bus(supplier, "bench")
            seconds, codes = await drive_reads(user, lab.config.topics, supplier, esmes, trips)
    finally:
        await store.close()
    return {
        "seconds": round(seconds, 3),
        "final_answers_per_s": round(trips / seconds),
        "i0_per_s": round(codes["I0"] / seconds),
        "codes": dict(sorted(codes.items())),
    }


async def campaign(url: str, store_url: str, shape: Shape, premises: int) -> dict[str, Any]:
    options = DemoOptions(
        premises=premises,
        loss=0.2,
        broker=url,
        store_url=store_url,
        scale=CAMPAIGN_SCALE,
        patience=CAMPAIGN_PATIENCE,
        dsp_processes=shape.workers,
        fleet_processes=shape.shards,
    )
    summary = await DemoRun(options).run()
    totals = summary.report.totals if summary.report is not None else None
    return {
        "premises": summary.premises,
        "devices": summary.devices,
        "wall_s": round(summary.wall_s, 1),
        "smi_mismatches": summary.smi_mismatches,
        "still_suspended": summary.still_suspended,
        "responses_lost": summary.responses_lost,
        "answers_missing": None if totals is None else totals.answers_missing,
    }


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each figure as a ratio to the (1, 1) figure of the same run."""
    base = rows[0]
    for row in rows:
        if "skipped" in row:
            continue
        row["round_trips_vs_1_1"] = round(
            row["round_trips"]["final_answers_per_s"] / base["round_trips"]["final_answers_per_s"],
            2,
        )
        row["i0_per_s_vs_1_1"] = round(
            row["round_trips"]["i0_per_s"] / base["round_trips"]["i0_per_s"], 2
        )
        row["campaign_time_vs_1_1"] = round(
            row["campaign"]["wall_s"] / base["campaign"]["wall_s"], 2
        )

"""`smetslab lab up`: a whole lab on one machine, every part in a process of its own
(docs/scale-out.md): a broker (the one given, or a private mosquitto), the store seeded
from the fleet file, N DSP workers on the shared subscriptions and M fleet shards, until
the stop event; then each is stopped with SIGTERM and its exit code reported. A worker
that dies meanwhile is started again under its name; a shard that dies ends the run with
a `LabError` naming it (D-S6).

    up = LabUp(LabUpOptions(fleet_file, workdir, workers=2, shards=2))
    result = await up.run(stop, show)     # show(LabUpInfo) once everything is ready
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.clock import ClockSetting
from bus.identity import mask_url
from bus.mosquitto import running_mosquitto
from contract.topics import Topics
from dsp_core.store import SqlStore, Store
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import load_fleet_spec
from hil.errors import LabError

from .stack import Stack, StackConfig, seed_store

log = logging.getLogger(__name__)

STOPPED_CLEANLY = frozenset({0, 128 + signal.SIGTERM, None})


@dataclass(frozen=True, slots=True)
class LabUpOptions:
    fleet_file: Path
    workdir: Path  # logs, ready and state files; the SQLite file and mosquitto by default
    workers: int = 1  # DSP worker processes (`smetslab dsp`)
    shards: int = 1  # fleet shard processes (`smetslab fleet --shard I/M`)
    broker: str | None = None  # mqtt://host:port; None: a private mosquitto
    store_url: str | None = None  # sqlite:///file or postgresql://...; None: a SQLite file
    scale: float = 1.0  # device seconds per wall second
    topic_root: str = "smetslab"
    name: str = "lab"  # client IDs smetslab-{name}-dsp-I, -fleet-I
    mqtt_version: str = "auto"
    security: bool | None = None  # GBCS security over the fleet file's (None: as it says)

    def __post_init__(self) -> None:
        if self.workers < 1 or self.shards < 1:
            raise LabError(
                "lab up: at least one DSP worker and one fleet shard, "
                f"not {self.workers} and {self.shards}"
            )


@dataclass(frozen=True, slots=True)
class PartInfo:
    role: str  # "dsp worker", "fleet shard 0/2", "mosquitto"
    name: str
    pid: int | None
    log: Path | None
    exit_code: int | None = None
    restarts: int = 0  # started again after it died unasked (D-S6); pid is the latest

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"role": self.role, "name": self.name, "pid": self.pid}
        found["log"] = None if self.log is None else str(self.log)
        found["restarts"] = self.restarts
        if self.exit_code is not None:
            found["exit_code"] = self.exit_code
        return found


@dataclass(frozen=True, slots=True)
class LabUpInfo:
    """Where everything is: printed once the lab is ready, and again with exit codes."""

    broker: str
    store_url: str
    topic_root: str
    workdir: Path
    premises: int
    parts: tuple[PartInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "broker": mask_url(self.broker),  # never the password (D-B2)
            "store": self.store_url,
            "topic_root": self.topic_root,
            "workdir": str(self.workdir),
            "premises": self.premises,
            "processes": [part.to_json() for part in self.parts],
        }

    @property
    def clean(self) -> bool:
        """Every part stopped as asked: exit 0, or 143 for the SIGTERM the lab sent it
        (`smetslab` commands exit 128 + the signal), or still running (None)."""
        return all(part.exit_code in STOPPED_CLEANLY for part in self.parts)


Show = Callable[[LabUpInfo], None]


class LabUp:
    def __init__(
        self, options: LabUpOptions, on_started: Callable[[str], None] | None = None
    ) -> None:
        self.on_started = on_started  # a progress display: each process once it is ready
        self.options = options
        spec, plan = load_fleet_spec(options.fleet_file)
        if options.security is not None:
            spec = spec.model_copy(update={"security": options.security})
        self.build: FleetBuild = build_fleet(spec, plan)
        self.store_url = options.store_url or f"sqlite:///{options.workdir / 'dsp.sqlite'}"
        self._broker_part: PartInfo | None = None

    async def run(self, stop: asyncio.Event, show: Show) -> LabUpInfo:
        """Start everything, `show` where it is, wait for `stop`, stop everything; the
        result has each process's exit code."""
        self.options.workdir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(self._seeded_store())  # a bad URL: no broker
            url = stack.enter_context(self._broker())
            parts = Stack(self._config(url), self.build, store, on_started=self.on_started)
            lab = await stack.enter_async_context(parts)
            show(self._info(url, lab))
            await stop.wait()
            log.info("lab up: stopping")
            return self._info(url, lab, await lab.stop_processes())
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _broker(self) -> Iterator[str]:
        if self.options.broker is not None:
            yield self.options.broker
            return
        folder = self.options.workdir / "mosquitto"
        folder.mkdir(exist_ok=True)
        with running_mosquitto(folder) as broker:
            pid = None if broker.process is None else broker.process.pid
            self._broker_part = PartInfo("mosquitto", "mosquitto", pid, folder / "mosquitto.log")
            yield broker.url

    @asynccontextmanager
    async def _seeded_store(self) -> AsyncIterator[Store]:
        store = await SqlStore.open(self.store_url)
        try:
            await seed_store(store, self.build.seed)
            yield store
        finally:
            await store.close()

    def _config(self, url: str) -> StackConfig:
        options = self.options
        now = datetime.now(UTC)
        return StackConfig(
            url,
            ClockSetting.starting_now(now, options.scale, time.time()),
            topics=Topics(options.topic_root),
            mqtt_version=options.mqtt_version,
            run_id=options.name,
            dsp_processes=options.workers,
            store_url=self.store_url,
            workdir=options.workdir,
            fleet_processes=options.shards,
            fleet_file=options.fleet_file.resolve(),
            security=options.security,
        )

    def _info(self, url: str, lab: Stack, codes: dict[str, int] | None = None) -> LabUpInfo:
        codes = codes or {}
        parts = [
            PartInfo("dsp worker", w.name, w.pid, w.log_file, codes.get(w.name), w.restarts)
            for w in lab.workers
        ]
        parts += [
            PartInfo(s.role, s.name, s.pid, s.log_file, codes.get(s.name), s.restarts)
            for s in lab.shards
        ]
        if self._broker_part is not None:
            parts.insert(0, self._broker_part)
        return LabUpInfo(
            url,
            self.store_url,
            self.options.topic_root,
            self.options.workdir,
            len(self.build.fleet.premises),
            tuple(parts),
        )

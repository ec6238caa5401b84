"""The parts of a lab that run in processes of their own (a `smetslab` command each):
`LabProcess`, what every such part shares, and the two kinds a lab starts, DSP workers
(`DspProcess`) and fleet shards (`FleetProcess`) (D18, D-S1, D-S2).

A part is started with a ready file it writes once connected and subscribed, stopped
with SIGTERM, killed with SIGKILL; its output goes to a log file beside the ready file.

    part = LabProcess("fleet shard 0/2", "smetslab-lab-fleet-0", argv, workdir)
    await part.start()          # returns once it is ready; LabError with its log if not
    code = await part.stop()    # SIGTERM: it finishes what it holds, then exits

A DSP worker: in one process the DSP, the fleet and the campaign share one core; a
large campaign is then bound by that core. As its own process the DSP gets the other
(D18). It works on the store the lab seeded (a SQLite file or PostgreSQL), takes the
shared clock from the retained `{root}/clock`, and writes its ready file once it is
connected and subscribed, so that nothing the lab publishes after `start` can miss it.

    worker = DspProcess(DspCommand(url, store_url, topics, client_id), workdir)
    await worker.start()
    ...
    await worker.stop()        # SIGTERM: finishes the batch in hand, then disconnects

A fleet shard (`smetslab fleet --shard I/M`) runs the premises of its partition of the
comms hubs on its own client ID; at SIGTERM it finishes the message in hand and writes
its final state (`ShardState`: what every device runs, what its journal counted), which
the lab reads back: a fleet in other processes cannot be asked for its models.

    command = FleetCommand(url, fleet_file, topics, "lab-fleet-0", FleetShard(0, 2))
    shard = FleetProcess(command, workdir)
    await shard.start()
    ...
    await shard.stop()
    state = shard.state()
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from contract.topics import Topics
from contract.validation import describe
from dsp_core.service import ServiceLimits
from dsp_core.turn import CoreConfig
from emulators.shards import FleetShard, ShardState
from hil.errors import LabError

log = logging.getLogger(__name__)

READY_SECONDS = 30.0
STOP_SECONDS = 30.0
LOG_TAIL = 2000  # characters of the process's log quoted in an error

Argv = Callable[[Path], list[str]]  # the command line, given the ready file


class LabProcess:
    def __init__(self, role: str, name: str, argv: Argv, workdir: Path) -> None:
        self.role = role  # what it is, in messages: "fleet shard 0/2"
        self.name = name  # its file names and client ID
        self.argv = argv
        self.ready_file = workdir / f"{name}.ready"
        self.log_file = workdir / f"{name}.log"
        self._process: asyncio.subprocess.Process | None = None
        self.generation = 0  # processes started so far under this name
        self.restarts = 0  # of them, started again by a supervisor (D-S6)
        self.asked_to_end = False  # stopped or killed by its owner since its last start
        self._lives = asyncio.Condition()  # notified as each process is started

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        """Start it and return once it is ready; one that exits or is not ready in time
        raises `LabError` with the end of its log."""
        self.ready_file.unlink(missing_ok=True)
        with self.log_file.open("ab") as log_out:
            process = await asyncio.create_subprocess_exec(
                *self.argv(self.ready_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_out,
                stderr=log_out,
                start_new_session=True,  # a terminal's Ctrl-C is for the lab, which stops it
            )
        async with self._lives:  # the process, its generation and its flag change together
            self._process, self.asked_to_end = process, False
            self.generation += 1
            self._lives.notify_all()
        try:
            async with asyncio.timeout(READY_SECONDS):
                await self._ready()
        except TimeoutError:
            await self._kill()
            raise LabError(self.failure(f"not ready after {READY_SECONDS:.0f} s")) from None
        log.info("%s %s: started, pid %d", self.role, self.name, process.pid)

    async def stop(self) -> int:
        """SIGTERM, as an operator stops it; SIGKILL if it has not gone in time."""
        process = self._process
        self.asked_to_end = True
        if process is None or process.returncode is not None:
            return 0 if process is None else process.returncode or 0
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_SECONDS):
                return await process.wait()
        except TimeoutError:
            log.warning("%s %s: not gone %.0f s after SIGTERM", self.role, self.name, STOP_SECONDS)
            return await self._kill()

    async def kill(self) -> int:
        """SIGKILL from its owner: it dies mid-work, as in a crash, and is not restarted
        (a `kill -9` from outside is a crash its supervisor answers, D-S6)."""
        self.asked_to_end = True
        return await self._kill()

    async def wait(self) -> int:
        """Until the process started last exits; its exit code."""
        if self._process is None:
            raise LabError(f"{self.role} {self.name}: not started")
        return await self._process.wait()

    async def next_life(self, generation: int) -> None:
        """Until a process after the `generation`th has been started under this name."""
        async with self._lives:
            await self._lives.wait_for(lambda: self.generation > generation)

    async def _kill(self) -> int:
        process = self._process
        if process is None:
            return 0
        if process.returncode is None:
            process.kill()
        return await process.wait()

    async def _ready(self) -> None:
        assert self._process is not None
        while not self.ready_file.exists():
            if self._process.returncode is not None:
                raise LabError(self.failure(f"exited with code {self._process.returncode}"))
            await asyncio.sleep(0.05)

    def failure(self, what: str) -> str:
        """`what` happened to it, with the end of its log."""
        tail = self.log_file.read_text(errors="replace")[-LOG_TAIL:]
        return f"{self.role} {self.name} {what}; the end of {self.log_file}:\n{tail}"


# ---- DSP workers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DspCommand:
    """What `smetslab dsp` is started with."""

    url: str
    store_url: str
    topics: Topics
    client_id: str
    core: CoreConfig = field(default_factory=CoreConfig)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    mqtt_version: str = "auto"
    requests: bool = True  # off: a worker taking device messages only (D-W3)
    pki: Path | None = None  # the fleet file whose GBCS keys the DSP uses (D-SEC10)
    security: bool | None = None  # over that fleet file's `security:` (None: as it says)

    def argv(self, ready_file: Path) -> list[str]:
        core = self.core
        pki = () if self.pki is None else ("--pki", str(self.pki), *_security(self.security))
        return [
            *(sys.executable, "-m", "smetslab", "dsp"),
            *("--broker", self.url, "--store", self.store_url),
            *("--topic-root", self.topics.root, "--client-id", self.client_id),
            *("--mqtt-version", self.mqtt_version, "--mp105", "on" if core.mp105 else "off"),
            *("--response-timeout", _seconds(core.response_timeout.total_seconds())),
            *("--gsme-response-timeout", _seconds(core.gsme_response_timeout.total_seconds())),
            *("--batch", str(self.limits.batch), "--ready-file", str(ready_file)),
            *("--requests", "on" if self.requests else "off"),
            *pki,
        ]


class DspProcess(LabProcess):
    """`smetslab dsp` as a process of a lab: started, ready, stopped and killed as every
    lab process is (`LabProcess`)."""

    def __init__(self, command: DspCommand, workdir: Path) -> None:
        self.command = command
        super().__init__("DSP worker", command.client_id, command.argv, workdir)


def _seconds(value: float) -> str:
    return f"{value:g}"


def _security(security: bool | None) -> tuple[str, ...]:
    return () if security is None else ("--security", "on" if security else "off")


# ---- fleet shards ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetCommand:
    """What `smetslab fleet` is started with."""

    url: str
    fleet_file: Path
    topics: Topics
    client_id: str
    shard: FleetShard = field(default_factory=FleetShard)
    mqtt_version: str = "auto"
    security: bool | None = None  # over the fleet file's `security:` (None: as it says)

    def argv(self, ready_file: Path, state_file: Path, journal: Path | None) -> list[str]:
        journal_args = () if journal is None else ("--journal", str(journal))
        return [
            *(sys.executable, "-m", "smetslab", "fleet", "--fleet", str(self.fleet_file)),
            *("--broker", self.url, "--topic-root", self.topics.root),
            *("--client-id", self.client_id, "--mqtt-version", self.mqtt_version),
            *("--shard", str(self.shard), "--ready-file", str(ready_file)),
            *("--state-file", str(state_file), *journal_args),
            *_security(self.security),
        ]


class FleetProcess(LabProcess):
    def __init__(self, command: FleetCommand, workdir: Path, journal: bool = False) -> None:
        self.command = command
        self.state_file = workdir / f"{command.client_id}.state.json"
        self.journal_file = workdir / f"{command.client_id}.jsonl" if journal else None
        super().__init__(
            f"fleet shard {command.shard}",
            command.client_id,
            lambda ready: command.argv(ready, self.state_file, self.journal_file),
            workdir,
        )

    async def start(self) -> None:
        self.state_file.unlink(missing_ok=True)
        await super().start()

    def state(self) -> ShardState:
        """The state the shard wrote as it stopped; `LabError` when it wrote none (it was
        killed, or has not stopped) or the file is not one."""
        try:
            return ShardState.model_validate_json(self.state_file.read_bytes())
        except OSError as exc:
            raise LabError(f"{self.role}: no final state at {self.state_file}: {exc}") from exc
        except ValidationError as exc:
            raise LabError(
                f"{self.role}: {self.state_file} is not a shard state: {describe(exc, 'file')}"
            ) from exc

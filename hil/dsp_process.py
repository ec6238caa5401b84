"""A DSP worker in a process of its own: `smetslab dsp` started and stopped from a lab.

In one process the DSP, the fleet and the campaign share one core; a large campaign is
then bound by that core. As its own process the DSP gets the other (D18). It works on
the store the lab seeded (a SQLite file or PostgreSQL), takes the shared clock from the
retained `{root}/clock`, and writes a ready file once it is connected and subscribed, so
that nothing the lab publishes after `start` can miss it.

    worker = DspProcess(DspCommand(url, store_url, topics, client_id), workdir)
    await worker.start()
    ...
    await worker.stop()        # SIGTERM: finishes the batch in hand, then disconnects
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bus.topics import Topics
from dsp_core.service import ServiceLimits
from dsp_core.turn import CoreConfig

from .errors import LabError

log = logging.getLogger(__name__)

READY_SECONDS = 30.0
STOP_SECONDS = 30.0
LOG_TAIL = 2000  # characters of the worker's log quoted in an error


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

    def argv(self, ready_file: Path) -> list[str]:
        core = self.core
        return [
            *(sys.executable, "-m", "smetslab", "dsp"),
            *("--broker", self.url, "--store", self.store_url),
            *("--topic-root", self.topics.root, "--client-id", self.client_id),
            *("--mqtt-version", self.mqtt_version, "--mp105", "on" if core.mp105 else "off"),
            *("--response-timeout", _seconds(core.response_timeout.total_seconds())),
            *("--gsme-response-timeout", _seconds(core.gsme_response_timeout.total_seconds())),
            *("--batch", str(self.limits.batch), "--ready-file", str(ready_file)),
            *("--requests", "on" if self.requests else "off"),
        ]


class DspProcess:
    def __init__(self, command: DspCommand, workdir: Path) -> None:
        self.command = command
        self.ready_file = workdir / f"{command.client_id}.ready"
        self.log_file = workdir / f"{command.client_id}.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        """Start the worker and return once it is subscribed; a worker that exits or
        is not ready in time raises `LabError` with the end of its log."""
        self.ready_file.unlink(missing_ok=True)
        with self.log_file.open("ab") as log_out:
            self._process = await asyncio.create_subprocess_exec(
                *self.command.argv(self.ready_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_out,
                stderr=log_out,
            )
        try:
            async with asyncio.timeout(READY_SECONDS):
                await self._ready()
        except TimeoutError:
            await self.kill()
            raise LabError(self._failure(f"not ready after {READY_SECONDS:.0f} s")) from None
        log.info("%s: started, pid %d", self.command.client_id, self._process.pid)

    async def stop(self) -> int:
        """SIGTERM, as an operator stops it; SIGKILL if it has not gone in time."""
        process = self._process
        if process is None or process.returncode is not None:
            return 0 if process is None else process.returncode or 0
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_SECONDS):
                return await process.wait()
        except TimeoutError:
            log.warning("%s: still running %.0f s after SIGTERM; killed", self._who, STOP_SECONDS)
            return await self.kill()

    async def kill(self) -> int:
        """SIGKILL: the worker dies mid-work (a crash, `kill -9`)."""
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
                raise LabError(self._failure(f"exited with code {self._process.returncode}"))
            await asyncio.sleep(0.05)

    def _failure(self, what: str) -> str:
        tail = self.log_file.read_text(errors="replace")[-LOG_TAIL:]
        return f"DSP worker {self._who} {what}; the end of {self.log_file}:\n{tail}"

    @property
    def _who(self) -> str:
        return self.command.client_id


def _seconds(value: float) -> str:
    return f"{value:g}"

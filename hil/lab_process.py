"""A part of a lab in a process of its own (a `smetslab` command): started with a ready
file it writes once connected and subscribed, stopped with SIGTERM, killed with SIGKILL;
its output goes to a log file beside the ready file (D18, D-S2).

    part = LabProcess("fleet shard 0/2", "smetslab-lab-fleet-0", argv, workdir)
    await part.start()          # returns once it is ready; LabError with its log if not
    code = await part.stop()    # SIGTERM: it finishes what it holds, then exits
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from .errors import LabError

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

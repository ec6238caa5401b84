"""D-S6 on real processes: a lab process killed from outside (`kill -9`) is started again
under its name and comes ready; one stopped or killed by its owner is not; one that keeps
dying ends supervision with an error naming it, its exit code and its log; a shard
(`NO_RESTART`) is never started again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from hil.errors import LabError
from hil.lab.processes import LabProcess
from hil.lab.supervisor import NO_RESTART, RestartPolicy, supervise
from tests.support.waiting import wait_until

# writes its ready file, says so in its log, then lives (or exits with the code given)
PART = """
import os, pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("ready")
print("started", os.getpid(), flush=True)
if sys.argv[2]:
    sys.exit(int(sys.argv[2]))
time.sleep(120)
"""
QUICK = RestartPolicy(burst=3, window=60, delays=(0.0, 0.1))


def part(tmp_path: Path, exit_code: int | None = None) -> LabProcess:
    code = "" if exit_code is None else str(exit_code)
    return LabProcess(
        "test part",
        "smetslab-test-part",
        lambda ready: [sys.executable, "-c", PART, str(ready), code],
        tmp_path,
    )


class SupervisorView:
    """What the supervisor of `process` waits on, as it calls it: the exit of the process
    of a generation (`watching`), or its owner starting it again after a generation
    (`for_owner`). Once it waits on either, it has decided about everything before."""

    def __init__(self, process: LabProcess) -> None:
        self.watching: list[int] = []
        self.for_owner: list[int] = []
        wait, next_life = process.wait, process.next_life

        async def watched_wait() -> int:
            self.watching.append(process.generation)
            return await wait()

        async def watched_next_life(generation: int) -> None:
            self.for_owner.append(generation)
            await next_life(generation)

        process.wait = watched_wait  # type: ignore[method-assign]
        process.next_life = watched_next_life  # type: ignore[method-assign]


@asynccontextmanager
async def supervised(
    process: LabProcess, policy: RestartPolicy
) -> AsyncIterator[asyncio.Task[None]]:
    await process.start()
    task = asyncio.create_task(supervise(process, policy), name="supervise-test")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await process.stop()


async def restarted(process: LabProcess, restarts: int) -> None:
    """Until its supervisor has started it again `restarts` times, each come ready."""
    await wait_until(
        lambda: process.restarts >= restarts, 20, f"{restarts} restart(s) by the supervisor"
    )
    assert process.ready_file.exists()


async def test_killed_from_outside_it_is_started_again_under_its_name(tmp_path: Path) -> None:
    process = part(tmp_path)
    async with supervised(process, QUICK) as task:
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await restarted(process, 1)
        assert process.pid != first
        assert process.returncode is None
        assert not task.done()
        assert process.log_file.read_text().count("started") == 2  # one log, both lives


@pytest.mark.parametrize("end", ["stop", "kill"])
async def test_stopped_or_killed_by_its_owner_it_is_not_restarted(tmp_path: Path, end: str) -> None:
    process = part(tmp_path)
    supervisor = SupervisorView(process)
    async with supervised(process, QUICK) as task:
        code = await (process.stop() if end == "stop" else process.kill())
        assert code == (-signal.SIGTERM if end == "stop" else -signal.SIGKILL)
        await wait_until(
            lambda: supervisor.for_owner == [1], 10, "the supervisor to leave it to its owner"
        )
        assert process.generation == 1  # not started again
        assert process.returncode == code
        assert not task.done()  # waiting for its owner to start it again


async def test_its_owner_starting_it_again_is_watched_not_doubled(tmp_path: Path) -> None:
    process = part(tmp_path)
    supervisor = SupervisorView(process)
    async with supervised(process, QUICK) as task:
        await process.kill()
        await process.start()  # before the supervisor has looked
        second = process.pid
        await wait_until(
            lambda: 2 in supervisor.watching, 10, "the supervisor to watch the second process"
        )
        assert process.pid == second
        assert process.restarts == 0
        assert not task.done()
        os.kill(second or 0, signal.SIGKILL)  # now a crash: the supervisor answers it
        await restarted(process, 1)
        assert process.pid != second
        assert process.generation == 3  # its own two starts and one restart


async def test_one_that_keeps_dying_ends_supervision_with_its_name_and_log(
    tmp_path: Path,
) -> None:
    process = part(tmp_path, exit_code=3)
    with pytest.raises(LabError) as raised:
        async with supervised(process, QUICK) as task, asyncio.timeout(20):
            await task
    message = str(raised.value)
    assert "test part smetslab-test-part exited with code 3" in message
    assert "restarted 3 times within 60 s" in message
    assert "started" in message  # the end of its log is quoted
    assert process.generation == 4  # the first start and three restarts


async def test_a_shard_is_not_restarted(tmp_path: Path) -> None:
    process = part(tmp_path)
    async with supervised(process, NO_RESTART) as task:
        os.kill(process.pid or 0, signal.SIGKILL)
        with pytest.raises(LabError, match="devices' state") as raised:
            await asyncio.wait_for(task, 20)
    assert "exited with code -9" in str(raised.value)
    assert process.generation == 1

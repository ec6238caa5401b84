"""smetslab/signals.py: a long-running command ends on SIGINT or SIGTERM in any state,
with 128 + the signal as its exit code (issue: operations)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import typer

from smetslab.signals import run_command


def _signal_soon(number: int, delay: float = 0.05) -> None:
    asyncio.get_running_loop().call_later(delay, os.kill, os.getpid(), number)


def test_without_a_signal_the_result_comes_back() -> None:
    async def main(stop: asyncio.Event) -> str:
        return "done"

    assert run_command(main) == "done"


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_command_that_stops_when_asked_exits_128_plus_the_signal(number: int, code: int) -> None:
    finished: list[str] = []

    async def main(stop: asyncio.Event) -> None:
        _signal_soon(number)
        await stop.wait()
        finished.append("cleanly")

    with pytest.raises(typer.Exit) as ended:
        run_command(main, grace=5.0)
    assert ended.value.exit_code == code
    assert finished == ["cleanly"]


def test_one_that_does_not_listen_is_cancelled_after_the_grace() -> None:
    cancelled: list[bool] = []

    async def main(stop: asyncio.Event) -> None:
        _signal_soon(signal.SIGTERM)
        try:
            await asyncio.sleep(60)  # connecting to a broker that is not there, say
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    loop_time: list[float] = []

    async def timed(stop: asyncio.Event) -> None:
        start = asyncio.get_running_loop().time()
        try:
            await main(stop)
        finally:
            loop_time.append(asyncio.get_running_loop().time() - start)

    with pytest.raises(typer.Exit) as ended:
        run_command(timed, grace=0.3)
    assert ended.value.exit_code == 143
    assert cancelled == [True]
    assert 0.3 <= loop_time[0] < 10  # cancelled at the grace, not after the sleep


def test_a_second_signal_cancels_at_once() -> None:
    async def main(stop: asyncio.Event) -> None:
        _signal_soon(signal.SIGINT)
        await stop.wait()
        _signal_soon(signal.SIGINT)
        await asyncio.sleep(60)  # a slow clean-up, cut short by the second Ctrl-C

    with pytest.raises(typer.Exit) as ended:
        run_command(main, grace=30.0)
    assert ended.value.exit_code == 130


def test_an_error_of_the_command_is_not_taken_for_a_stop() -> None:
    async def main(stop: asyncio.Event) -> None:
        raise RuntimeError("the command's own failure")

    with pytest.raises(RuntimeError, match="own failure"):
        run_command(main)

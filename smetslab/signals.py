"""How a long-running command ends on SIGINT or SIGTERM: at once, in any state.

`run_command(main)` is `asyncio.run` with the signal handlers installed before anything
else, so Ctrl-C works while connecting, while a radio is missing, mid-campaign. The
first signal sets the stop event `main` was given: a command finishes what it holds
and returns. Whatever is still running `GRACE` seconds later is cancelled (a broker
gone, a radio that never answers); a command that does not end another `GRACE` seconds
after that is left with `os._exit`. A second signal cancels at once. After a signal the
command exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells
report it; what it had not finished stays with the broker and the store for next time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer

log = logging.getLogger(__name__)

T = TypeVar("T")
GRACE = 2.0  # seconds between the signal and cancelling; the same again before exiting
SIGNALS = (signal.SIGINT, signal.SIGTERM)
Main = Callable[[asyncio.Event], Coroutine[Any, Any, T]]


class Stopped(typer.Exit):
    """A command ended by a signal: exit 128 + the signal; `result` is what `main`
    returned when it stopped in time (a campaign's report so far), else None."""

    def __init__(self, code: int, result: object = None) -> None:
        super().__init__(code=code)
        self.result = result


def run_command(main: Main[T], grace: float = GRACE) -> T:
    """Run `main(stop)`; its result, or `Stopped(128 + signal)` after a signal."""
    received: list[int] = []
    before = set(threading.enumerate())
    result = asyncio.run(_supervised(main, received, grace))
    if received:
        _leave(128 + received[0], before, None if result is None else result[0])
    assert result is not None  # no signal: main ran to its end
    return result[0]


def _leave(code: int, before: set[threading.Thread], result: object) -> None:
    """Exit with `code`; without waiting for threads a library started during the
    command and left running when it was cancelled (zigpy's database connection on a
    radio that never started), which would keep the process alive for ever."""
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    if not left:
        raise Stopped(code, result)
    names = ", ".join(thread.name for thread in left)
    log.warning("leaving %d thread(s) the command left running: %s", len(left), names)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _supervised(main: Main[T], received: list[int], grace: float) -> tuple[T] | None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(main(stop))

    def on_signal(number: int) -> None:
        if received:  # a second signal: no more waiting
            task.cancel()
            return
        received.append(number)
        log.info("%s: stopping (within %.0f s)", signal.Signals(number).name, 2 * grace)
        stop.set()
        loop.call_later(grace, task.cancel)
        loop.call_later(2 * grace, _exit_now, number)

    for number in SIGNALS:
        loop.add_signal_handler(number, on_signal, number)
    try:
        return (await task,)
    except asyncio.CancelledError:
        if not received:
            raise
        return None  # stopped: the caller exits with the signal's code
    finally:
        for number in SIGNALS:
            loop.remove_signal_handler(number)


def _exit_now(number: int) -> None:
    log.error("did not stop within %.0f s of %s; exiting", 2 * GRACE, signal.Signals(number).name)
    logging.shutdown()
    os._exit(128 + number)

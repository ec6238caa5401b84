"""Waiting in tests for the event or the counter a step stands for, never for a fixed time.

    await wait_until(lambda: bridge.counts["uplinks"] == 1, 15, "the bridge's first uplink")
    rows = await wait_until(lambda: journal(url), 20, "the backlog in the journal")

`predicate` may be a plain function or return an awaitable (a store read); its first
truthy value is returned. The time-out is an upper bound for a slow machine, not a pace:
the condition is looked at every `POLL` seconds, and the `TimeoutError` names what was
awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")
POLL = 0.02  # seconds between two looks at the condition


@overload
async def wait_until(predicate: Callable[[], Awaitable[T]], timeout: float, what: str) -> T: ...
@overload
async def wait_until(predicate: Callable[[], T], timeout: float, what: str) -> T: ...


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Until `predicate()` is truthy; its value. `TimeoutError` naming `what` after
    `timeout` seconds."""
    last: object = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                last = value
                await asyncio.sleep(POLL)
    except TimeoutError:
        seen = repr(last)
        if len(seen) > 200:
            seen = seen[:200] + "..."
        raise TimeoutError(f"waited {timeout:g} s for {what}; last saw {seen}") from None

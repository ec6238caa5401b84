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

from contract.ids import to_duis
from dsp_core.store import Store

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


async def hub_recorded(store: Store, ch_id: str, *, online: bool, timeout: float = 15) -> None:
    """Until the DSP's store holds the status of hub `ch_id` as `online` (D-E1)."""
    hub = to_duis(ch_id)

    async def recorded() -> bool:
        return (hub, online) in {(h.ch_id, h.online) for h in await store.hub_statuses()}

    await wait_until(
        recorded, timeout, f"the DSP to record hub {hub} {'on' if online else 'off'}line"
    )

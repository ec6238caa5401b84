"""Waiting for the first of several things, cancelling the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def first_of(*waits: Awaitable[Any], timeout: float | None = None) -> None:
    """Return when any of `waits` finishes, or after `timeout` seconds; the others are
    cancelled and awaited. A task passed in keeps its result or exception for the
    caller to read (it is cancelled only if it had not finished)."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

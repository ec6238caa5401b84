"""MQTT links for tests that talk to a broker themselves: an adapter with a quick
reconnection back-off, connected before the test uses it, and the next messages it takes.

    async with connected(link(url, "sub", "t/#")) as sub:
        got = await take(sub, 200)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.backoff import Backoff

FAST = Backoff(initial=0.05, cap=0.5)


def link(url: str, client_id: str, *subscriptions: str, timeout: float = 5.0) -> MqttAdapter:
    config = LinkConfig(url, client_id, subscriptions, timeout=timeout, backoff=FAST)
    return MqttAdapter(config)


@asynccontextmanager
async def connected(adapter: MqttAdapter) -> AsyncIterator[MqttAdapter]:
    async with adapter:
        await adapter.wait_connected()
        yield adapter


async def take(adapter: MqttAdapter, count: int, timeout: float = 10) -> list[BusMessage]:
    """The next `count` messages, each acknowledged; fewer if the adapter closes first,
    `TimeoutError` after `timeout` seconds."""
    got: list[BusMessage] = []
    async with asyncio.timeout(timeout):
        async for message in adapter.messages():
            got.append(message)
            adapter.ack(message)
            if len(got) == count:
                return got
    return got

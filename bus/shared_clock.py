"""The shared clock (DESIGN §6) read before a process takes any other message.

A process that resumes a persistent session (a DSP worker started again under its name,
D-S6) is sent what the broker queued for it as soon as it connects, before the retained
`{root}/clock` its subscription brings. Handled first, those messages would be stamped
with the process's own wall clock: a request's deadline set years away from the lab's
device time, timed out at the next tick (D-W5). So the process reads the retained clock
on a short, clean connection of its own first.

    setting = await fetch_clock(url, topics, "smetslab-lab-dsp-1")   # None: none retained
"""

from __future__ import annotations

import asyncio
import logging

from contract.topics import Topics

from .adapter import LinkConfig, MqttAdapter
from .clock import ClockSetting
from .errors import BusError

log = logging.getLogger(__name__)

FETCH_SECONDS = 2.0  # a retained message follows the SUBACK at once


async def fetch_clock(
    url: str,
    topics: Topics,
    client_id: str,
    mqtt_version: str = "auto",
    wait: float = FETCH_SECONDS,
) -> ClockSetting | None:
    """The retained clock setting, or None when none is retained within `wait` seconds of
    subscribing or the one retained is not a clock message (logged, naming the topic).
    The broker must answer as the main connection's would (`wait_connected`, 30 s)."""
    link = LinkConfig(
        url, f"{client_id}-clock", (topics.clock,), mqtt_version=mqtt_version, persistent=False
    )
    async with MqttAdapter(link) as bus:
        await bus.wait_connected(30)
        try:
            async with asyncio.timeout(wait):
                message = await anext(bus.messages())
        except TimeoutError:
            log.warning("%s: no clock retained on %s; real time", client_id, topics.clock)
            return None
        bus.ack(message)
    try:
        return ClockSetting.from_json(message.payload)
    except BusError as exc:
        log.warning("%s: the retained %s is refused: %s", client_id, topics.clock, exc)
        return None

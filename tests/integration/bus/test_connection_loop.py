"""The adapter's connection loop against a closed port and a broker that changes under
it (bus/connection.py): attempts paced, CPU idle, one warning, and MQTT 5 tried again
when a broker comes back speaking it."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from bus.backoff import Backoff
from bus.broker import EmbeddedBroker
from bus.mosquitto import Mosquitto, free_port
from tests.support.brokers import require_mosquitto
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
WINDOW = 3.0  # seconds watched


async def test_a_closed_port_is_tried_a_few_times_a_second_at_most_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    config = LinkConfig(url, "closed-port", backoff=Backoff(initial=0.1, cap=1.0))
    caplog.set_level(logging.DEBUG, logger="bus.adapter")
    cpu = time.process_time()
    async with MqttAdapter(config) as link:
        await asyncio.sleep(WINDOW)
        attempts = link.attempts
    busy = time.process_time() - cpu
    # 0, then 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.4-0.8, at most 1 s each: 4 to 9 in 3 s
    assert 3 <= attempts <= 10, attempts
    assert busy < WINDOW / 4, f"{busy:.2f} s of CPU in {WINDOW} s of waiting"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "no connection to" in warnings[0].getMessage()
    assert link.version == "5"  # a closed port says nothing about the protocol


async def test_a_link_that_fell_back_asks_for_mqtt_5_again_when_the_broker_returns(
    tmp_path: Path,
) -> None:
    require_mosquitto()
    port = free_port()
    fast = Backoff(initial=0.05, cap=0.3)
    config = LinkConfig(f"mqtt://127.0.0.1:{port}", "returns", timeout=1.0, backoff=fast)
    amqtt = EmbeddedBroker(port=port)
    await amqtt.start()
    mosquitto = Mosquitto(tmp_path, port)
    try:
        async with MqttAdapter(config) as link:
            await link.wait_connected()
            assert (link.version, link.shares) == ("3.1.1", False)  # amqtt: no MQTT 5
            await amqtt.stop()
            await wait_until(lambda: not link.connected.is_set(), 10, "the link to see amqtt go")
            await asyncio.to_thread(mosquitto.start)  # the same port, now MQTT 5
            await link.wait_connected()
            assert (link.version, link.shares) == ("5", True)
    finally:
        mosquitto.stop()

"""D-W5: a process reads the retained shared clock on a clean connection of its own
before it takes anything else; on mosquitto (MQTT 5) and amqtt (3.1.1). A clean link
(`persistent=False`) keeps nothing on the broker while it is away."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting
from bus.shared_clock import fetch_clock
from contract.topics import Topics
from tests.support.brokers import Mosquitto
from tests.support.bus import connected, link, take

pytestmark = pytest.mark.integration
TOPICS = Topics("clk")
LAB_TIME = ClockSetting.starting_now(datetime(2031, 1, 1, tzinfo=UTC), 60.0, time.time())


Broker = tuple[str, str]  # URL, MQTT version


async def retain(broker: Broker, payload: bytes) -> None:
    url, version = broker
    control_link = LinkConfig(url, "t-control", mqtt_version=version)
    async with connected(MqttAdapter(control_link)) as control:
        control.publish(TOPICS.clock, payload, retain=True)
        await control.drain()


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(
    request: pytest.FixtureRequest, mosquitto_broker: Mosquitto, embedded_broker: EmbeddedBroker
) -> Broker:
    if request.param == "mosquitto":
        return mosquitto_broker.url, "5"
    return embedded_broker.url, "3.1.1"


async def test_the_retained_clock_is_read(broker: Broker) -> None:
    await retain(broker, LAB_TIME.to_json())
    assert await fetch_clock(broker[0], TOPICS, "t-dsp-0", broker[1]) == LAB_TIME


async def test_no_clock_retained_is_none_after_the_wait(broker: Broker) -> None:
    assert await fetch_clock(broker[0], TOPICS, "t-dsp-0", broker[1], wait=0.3) is None


async def test_a_retained_clock_that_is_not_one_is_refused_by_name(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    await retain(broker, b'{"epoch": "yesterday"}')
    assert await fetch_clock(broker[0], TOPICS, "t-dsp-0", broker[1]) is None
    assert "t-dsp-0: the retained clk/clock is refused: clock message" in caplog.text


async def test_a_clean_link_keeps_nothing_while_away(mosquitto_broker: Mosquitto) -> None:
    url = mosquitto_broker.url

    def clean() -> MqttAdapter:
        return MqttAdapter(LinkConfig(url, "t-look", ("r/#",), persistent=False))

    async with connected(clean()):
        pass
    async with connected(link(url, "t-user")) as user:
        user.publish("r/x", b"while away")
        await user.drain()
    async with connected(clean()) as look:
        with pytest.raises(TimeoutError):  # a persistent session would have kept it
            await take(look, 1, timeout=0.5)

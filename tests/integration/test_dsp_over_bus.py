"""The DSP service and a fleet runner over real brokers (the embedded amqtt and a private
mosquitto): an SR 11.2 round trip, and every kind of bad message answered or journalled
with the service still serving afterwards (DESIGN §3)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from bus.adapter import MqttAdapter
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting
from contract.ids import to_compact, to_duis
from contract.requests import Srv
from contract.requests import build as build_request
from contract.vocabulary import DeviceType
from dsp_core.model import JournalKind
from dsp_core.service import ServiceLimits
from dsp_core.store import MemoryStore
from emulators.fleet import FleetBuild, build_fleet
from hil.lab.stack import Stack, StackConfig, seed_store
from tests.support.brokers import Mosquitto
from tests.support.fleets import TWO_ESMES
from tests.support.service_user import receive_until
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)


@asynccontextmanager
async def lab(url: str, version: str) -> AsyncIterator[tuple[Stack, MqttAdapter]]:
    build = build_fleet(TWO_ESMES)
    store = MemoryStore()
    await seed_store(store, build.seed)
    config = StackConfig(
        url,
        ClockSetting.starting_now(T0, 10.0, time.time()),
        mqtt_version=version,
        limits=ServiceLimits(max_request_bytes=4096, max_apdu_bytes=512),
    )
    async with Stack(config, build, store) as stack:
        yield stack, await stack.user_bus(build.seed.users[0].user_id)


def esme(build: FleetBuild) -> str:
    return next(d.device_id for d in build.seed.devices if d.device_type is DeviceType.ESME)


def request(user: str, target: str, counter: int) -> bytes:
    return build_request(user, Srv.READ_FIRMWARE, target, counter, {}).to_bytes()


async def responses(user: MqttAdapter, count: int) -> list[dict[str, Any]]:
    return await receive_until(user, "/responses", lambda got: len(got) == count, timeout=15)


async def round_trip(url: str, version: str) -> None:
    async with lab(url, version) as (stack, user):
        supplier = stack.build.seed.users[0].user_id
        target = esme(stack.build)
        user.publish(
            stack.config.topics.request(to_compact(supplier)), request(supplier, target, 1)
        )
        ack, final = await responses(user, 2)
    assert (ack["response_code"], final["response_code"]) == ("I99", "I0")
    assert final["body"]["firmware_version"] == "0123ABCD"
    assert final["request_id"] == f"{supplier}:{target}:1"


async def test_an_11_2_round_trip_on_the_embedded_broker(embedded_broker: EmbeddedBroker) -> None:
    await round_trip(embedded_broker.url, "3.1.1")


async def test_an_11_2_round_trip_on_mosquitto(mosquitto_broker: Mosquitto) -> None:
    await round_trip(mosquitto_broker.url, "auto")


async def test_bad_messages_are_answered_or_journalled_and_the_dsp_serves_on(
    mosquitto_broker: Mosquitto,
) -> None:
    async with lab(mosquitto_broker.url, "auto") as (stack, user):
        topics, store = stack.config.topics, stack.store
        supplier = stack.build.seed.users[0].user_id
        mine = topics.request(to_compact(supplier))
        hub = to_compact(next(iter(stack.build.seed.devices)).comms_hub_id)
        user.publish(mine, b"{not json")
        user.publish(mine, b'{"request_id": "' + b"x" * 5000 + b'"}')  # over 4096 bytes
        user.publish(topics.ch_up(hub), b"\xde\xad\xbe\xef")  # not GBCS
        user.publish(topics.ch_up(hub), b"\xdd" * 600)  # over the 512-byte APDU limit
        user.publish(f"{topics.root}/dsp/requests/someone", b"{}")  # not a user ID
        user.publish(topics.cpl, b'{"manufacturer": "X"}')  # a CPL change with fields missing
        user.publish(topics.ch_status(hub), b'{"online": "maybe"}')  # a hub status (D-E1)
        user.publish(mine, request(supplier, esme(stack.build), 7))
        got = await responses(user, 4)
        assert stack.dsp is not None
        dsp = stack.dsp
        await wait_until(lambda: dsp.handled >= 8, 10, "the DSP to handle all 8 messages")
    reasons = [r["body"].get("reason", "") for r in got[:2]]
    assert [r["response_code"] for r in got] == ["S4", "S4", "I99", "I0"]
    assert "request" in reasons[0]
    assert "over the limit of 4096 bytes" in reasons[1]
    rejected = [e async for e in store.journal() if e.kind is JournalKind.REJECTED]
    details = " | ".join(json.dumps(e.detail) for e in rejected)
    assert len(rejected) == 7, details
    for says in (
        "over 512 bytes",
        "'someone' is not an EUI-64",
        "CPL change: model",
        f"status of hub {to_duis(hub)}: online: Input should be a valid boolean",
    ):
        assert says in details

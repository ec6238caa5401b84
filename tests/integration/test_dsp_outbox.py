"""The DSP's transactional outbox on a real broker (D-W2): a worker starting again
publishes what its previous life committed and never saw acknowledged, and what a
dead worker left once its lease has run out; every alert carries an `alert_id`; what
the broker acknowledged leaves the outbox."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting
from contract.cpl import cpl_change_json
from contract.topics import Topics
from contract.vocabulary import CplStatus
from dsp_core.outbox import Outgoing
from dsp_core.outbox_relay import OutboxRelay
from dsp_core.service import ServiceLimits
from dsp_core.state import Scope, State
from dsp_core.store import SqlStore
from dsp_core.store.schema import outbox
from dsp_core.store.sql import sync_url
from emulators.fleet import build_fleet
from hil.lab.stack import Stack, StackConfig, seed_store
from tests.support.brokers import Mosquitto
from tests.support.bus import take
from tests.support.fleets import TWO_ESMES
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
TOPICS = Topics()
ALL_ALERTS = f"{TOPICS.root}/users/+/alerts"
USER = "90B3D51F30000002"


def _left(worker: str, *indexes: int) -> list[Outgoing]:
    return [
        Outgoing(f"{worker}-{i}", TOPICS.alerts(USER), json.dumps({"n": i}).encode())
        for i in indexes
    ]


def _commit(messages: list[Outgoing], worker: str, at: float):  # type: ignore[no-untyped-def]
    def decide(state: State) -> None:
        state.put_outgoing(messages, worker, at)

    return decide


def _rows(url: str) -> int:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())
    finally:
        engine.dispose()


async def test_a_worker_publishes_what_it_and_a_dead_worker_left_in_the_outbox(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    build = build_fleet(TWO_ESMES)
    store = await SqlStore.open(url)
    await seed_store(store, build.seed)
    config = StackConfig(
        mosquitto_broker.url,
        ClockSetting.starting_now(T0, 10.0, time.time()),
        run_id="outbox",
        limits=ServiceLimits(outbox_lease=5.0, outbox_check=0.1),
    )
    dsp = "smetslab-outbox-dsp"  # the name the lab's DSP runs under
    now = time.time()
    mine = _left(dsp, 1, 2)  # its previous life's, lease not run out
    dead = _left("gone", 3)  # a dead worker's, lease run out
    alive = _left("alive", 4)  # a live worker's: not taken
    for messages, worker, at in (
        (mine, dsp, now),
        (dead, "gone", now - 60),
        (alive, "alive", now + 3600),
    ):
        await store.apply(Scope(), _commit(messages, worker, at))
    watcher_link = LinkConfig(mosquitto_broker.url, "outbox-watcher", (ALL_ALERTS,))
    async with MqttAdapter(watcher_link) as watcher:
        await watcher.wait_connected()
        try:
            async with Stack(config, build, store) as lab:
                got = await take(watcher, 3, timeout=20)
                assert sorted(json.loads(m.payload)["n"] for m in got) == [1, 2, 3]
                await wait_until(  # deleted once the broker acknowledged them
                    lambda: _rows(url) == 1, 10, "the outbox rows the broker acknowledged gone"
                )
                removal = replace(build.seed.cpl[0], status=CplStatus.REMOVED)
                user = await lab.user_bus(build.seed.users[0].user_id)
                user.publish(TOPICS.cpl, cpl_change_json(removal))
                alerts = [json.loads(m.payload) for m in await take(watcher, 1, timeout=20)]
        finally:
            await store.close()
    assert alerts[0]["alert_code"] == "N28"
    assert len(alerts[0]["alert_id"]) == 32  # the outbox message's ID (D-W2)
    assert _rows(url) == 1  # the live worker's message, still its own


async def test_time_outs_wait_for_what_is_not_with_the_broker_yet(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """D14: while a message the worker published is not acknowledged by the broker, the
    relay names when it was sent, and the DSP's time-outs are held at that time."""
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'dsp.sqlite'}")
    link = LinkConfig(mosquitto_broker.url, "t-relay-order", ())
    try:
        async with MqttAdapter(link) as bus:
            relay = OutboxRelay(store, bus, worker="w")
            assert relay.oldest_unconfirmed() is None
            before = time.time()
            relay.send(_left("w", *range(50)))
            oldest = relay.oldest_unconfirmed()
            assert oldest is not None
            assert before <= oldest <= time.time()
            await bus.wait_connected()
            await relay.flush()
            assert relay.oldest_unconfirmed() is None
    finally:
        await store.close()

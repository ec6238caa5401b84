"""`DspProcess` (D18): `smetslab dsp` started from a lab, ready once subscribed, stopped
by SIGTERM; one that cannot start says why, with the end of its log; one started again
takes the lab's clock before what its session kept for it (D-W5)."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ClockSetting
from contract.topics import Topics
from dsp_core.model import JournalEntry
from dsp_core.service import dsp_link
from dsp_core.store import SqlStore
from hil.errors import LabError
from hil.lab.processes import DspCommand, DspProcess
from tests.support.brokers import Mosquitto
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
BACKLOG = 100  # requests kept for a worker while it is away


def command(url: str, store_url: str) -> DspCommand:
    return DspCommand(url, store_url, Topics("proc"), "smetslab-test-dsp-0")


async def test_a_worker_is_ready_once_subscribed_and_stops_on_sigterm(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    worker = DspProcess(command(mosquitto_broker.url, store_url), tmp_path)
    await worker.start()
    assert worker.ready_file.read_text().strip() == str(worker.pid)
    assert await worker.stop() == 128 + signal.SIGTERM  # SIGTERM handled, not a kill (-15)
    store = await SqlStore.open(store_url)  # the worker made the schema and left it whole
    try:
        assert await store.devices() == []
    finally:
        await store.close()


async def test_a_worker_that_cannot_start_raises_with_its_log(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    worker = DspProcess(command(mosquitto_broker.url, "mysql://nobody@db/smi"), tmp_path)
    with pytest.raises(
        LabError, match=r"exited with code 1(.|\n)*expected sqlite:// or postgresql://"
    ):
        await worker.start()


async def journal(store_url: str) -> list[JournalEntry]:
    store = await SqlStore.open(store_url)
    try:
        return [entry async for entry in store.journal()]
    finally:
        await store.close()


async def hold_requests(dead: MqttAdapter, topics: Topics) -> None:
    """Take the clock (acknowledged, as a worker that ran a while did) and the requests
    (never acknowledged: the broker sends them again to the next under this name)."""
    held = 0
    async with asyncio.timeout(20):
        async for message in dead.messages():
            if message.topic == topics.clock:
                dead.ack(message)
            else:
                held += 1
            if held == BACKLOG:
                return


async def test_a_worker_started_again_stamps_its_backlog_in_the_labs_time(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """A worker that died holding messages it had not acknowledged is sent them again as
    soon as its successor connects, ahead of the retained clock its subscription brings.
    Each is stamped in the lab's device time (here 2031), not in the new process's wall
    clock, which would set its deadlines years off (D-W5). The dead worker is played by
    a connection under its client ID that took the clock long ago and takes the requests
    without acknowledging them."""
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    topics = Topics("proc")
    worker_command = command(mosquitto_broker.url, store_url)
    lab_time = ClockSetting.starting_now(datetime(2031, 1, 1, tzinfo=UTC), 60.0, time.time())
    async with MqttAdapter(LinkConfig(mosquitto_broker.url, "t-control")) as control:
        await control.wait_connected()
        control.publish(topics.clock, lab_time.to_json(), retain=True)
        await control.drain()
        dead_link = dsp_link(mosquitto_broker.url, topics, worker_command.client_id)
        async with MqttAdapter(dead_link) as dead:
            await dead.wait_connected()
            for _ in range(BACKLOG):
                control.publish(topics.request("90B3D51F30000002"), b"<not a request")
            await control.drain()
            await hold_requests(dead, topics)
    worker = DspProcess(worker_command, tmp_path)
    await worker.start()
    try:

        async def backlog_journalled() -> list[JournalEntry]:
            entries = await journal(store_url)
            return entries if len(entries) >= 2 * BACKLOG else []

        entries = await wait_until(backlog_journalled, 20, "the backlog handled and journalled")
    finally:
        await worker.stop()
    assert entries[0].kind == "rejected"  # and answered: the user is told why
    assert {e.at.year for e in entries} == {2031}  # every one, the first included

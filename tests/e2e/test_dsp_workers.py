"""Two DSP worker processes on PostgreSQL behind `$share/dsp/...` on mosquitto (issue 8,
D-W1, D-W2): the MP105 campaign completes with one of them killed (`kill -9`) in the
middle, with the SMI consistent (R5) and every alert journalled once (R4's N28, R5's
N29) and seen by its service user at least once (its `alert_id`); and one worker and
two give the same final SMI and alert counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from contract.vocabulary import Device
from dsp_core.model import JournalKind
from dsp_core.store import SqlStore
from hil.campaign.model import CampaignModel
from hil.demo import DemoOptions, DemoRun, DemoSummary
from hil.lab.stack import Stack
from tests.support.brokers import Mosquitto
from tests.support.demo import (
    assert_e21_for_each_lost,
    assert_n52_only_for_mismatches,
    assert_recovered,
    demo_options,
    journal_entries,
    settled,
)
from tests.support.postgres import pg_database
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
ALL_ALERTS = "smetslab/users/+/alerts"


@pytest.fixture
def databases() -> Iterator[list[str]]:
    """Fresh PostgreSQL databases, two per test, dropped after it."""
    with ExitStack() as stack:
        yield [stack.enter_context(pg_database(f"smetslab_workers_e2e_{i}")) for i in range(2)]


def options(store_url: str, broker: str, workers: int, root: str = "smetslab") -> DemoOptions:
    return demo_options(store_url, broker=broker, dsp_processes=workers, topic_root=root)


class AlertWatcher:
    """A service user's view of every user's alerts: each copy, by `alert_id`."""

    def __init__(self, broker: str, name: str) -> None:
        self.bus = MqttAdapter(LinkConfig(broker, f"watcher-{name}", (ALL_ALERTS,)))
        self.copies: Counter[str] = Counter()
        self.codes: dict[str, str] = {}

    async def watch(self) -> None:
        async for message in self.bus.messages():
            alert = json.loads(message.payload)
            self.copies[alert["alert_id"]] += 1
            self.codes[alert["alert_id"]] = alert["alert_code"]
            self.bus.ack(message)

    def distinct(self) -> Counter[str]:
        return Counter(self.codes.values())


async def watched_run(run: DemoRun, watcher: AlertWatcher, journal_of: str) -> DemoSummary:
    """The run, with the watcher on from before the first alert until it has seen as
    many distinct alerts as the journal has (or 15 s more)."""
    async with watcher.bus, asyncio.TaskGroup() as tasks:
        await watcher.bus.wait_connected()
        watching = tasks.create_task(watcher.watch(), name="alert-watcher")
        summary = await run.run()
        wanted = await journal_alerts(journal_of)
        with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
            await wait_until(lambda: watcher.distinct() == wanted, 15, "every alert journalled")
        watching.cancel()
    return summary


async def journal_alerts(url: str, kind: JournalKind = JournalKind.ALERT) -> Counter[str]:
    """The journal's codes of one kind: alerts by default."""
    store = await SqlStore.open(url)
    try:
        return Counter([str(e.code) async for e in store.journal() if e.kind is kind])
    finally:
        await store.close()


async def smi(url: str) -> list[Device]:
    store = await SqlStore.open(url)
    try:
        return await store.devices()
    finally:
        await store.close()


async def test_workers_killed_mid_campaign_lose_and_double_no_alert(
    databases: list[str], mosquitto_broker: Mosquitto
) -> None:
    """`kill -9` from outside, nobody starting anything by hand: worker 0 (the request
    worker, D-W3) after five activations, worker 1 after ten. The lab's supervisor starts
    each again under its name (D-S6), where its MQTT session and its outbox rows wait:
    the campaign completes, what a dead worker committed but never published reaches the
    users (D-W2), and no answer waiting for a dead worker is timed out (D-W4)."""
    url = databases[0]
    killed: list[tuple[int, int | None]] = []
    labs: list[Stack] = []

    async def kill_workers(lab: Stack, model: CampaignModel) -> None:
        labs.append(lab)
        for index, activations in ((0, 5), (1, 10)):
            await settled(model, activations)
            worker = lab.workers[index]
            assert worker.pid is not None
            os.kill(worker.pid, signal.SIGKILL)
            killed.append((worker.pid, await worker.wait()))

    run = DemoRun(options(url, mosquitto_broker.url, 2), interlude=kill_workers)
    watcher = AlertWatcher(mosquitto_broker.url, "kill")
    summary = await watched_run(run, watcher, url)
    assert [code for _, code in killed] == [-signal.SIGKILL] * 2
    workers = labs[0].workers
    assert [w.restarts for w in workers] == [1, 1]  # each started again, once
    assert {w.pid for w in workers}.isdisjoint(pid for pid, _ in killed)
    assert_recovered(summary)
    journal = await journal_alerts(url)
    assert journal["N28"] == summary.suspended  # R4: once per device, none doubled
    assert journal["N29"] == 2 * summary.suspended  # R5: supplier and network operator
    assert watcher.distinct() == journal  # every alert journalled reached its user
    assert all(copies >= 1 for copies in watcher.copies.values())
    # R8 (D14, D-W4): an E21 for every response lost, and none for the answers that
    # waited in a worker's queue or in a dead worker's session
    assert summary.responses_lost > 0
    assert_e21_for_each_lost(await journal_entries(url), summary.responses_lost)


async def test_one_worker_and_two_give_the_same_smi_and_alerts(
    databases: list[str], mosquitto_broker: Mosquitto
) -> None:
    """Both runs at once, each under its own topic root (so each has its own shared
    group) on its own database, with its own client IDs."""

    async def outcome(workers: int, url: str) -> tuple[list[Device], Counter[str], int]:
        run = DemoRun(options(url, mosquitto_broker.url, workers, root=f"smetslab{workers}"))
        summary = await run.run()
        assert_recovered(summary)
        alerts = await journal_alerts(url)
        # R6 in each run: how many GPF mirrors are stale when read is device timing (a
        # stale-mirror fault is drawn at each GSME wake), not the DSP's: the two runs'
        # N52 counts may differ, each N52 must be a real mismatch raised once
        assert assert_n52_only_for_mismatches(await journal_entries(url)) == alerts.pop("N52", 0)
        return await smi(url), alerts, summary.suspended

    async with asyncio.TaskGroup() as runs:  # one failing stops the other
        first = runs.create_task(outcome(1, databases[0]))
        second = runs.create_task(outcome(2, databases[1]))
    smi_one, alerts_one, suspended_one = first.result()
    smi_two, alerts_two, suspended_two = second.result()
    assert smi_two == smi_one
    assert alerts_two == alerts_one
    assert suspended_two == suspended_one
    assert alerts_one["N29"] == 2 * suspended_one > 0

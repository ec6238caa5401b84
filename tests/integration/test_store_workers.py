"""Two DSP workers on one store (issue 8, D-W1): every event reaches both (as after a
redelivery), both handle it at once on their own connection, and the outcome is the
one a single worker gives: reports for a device applied in order and once (R8's report
key), every request accepted once (R1's counter: the second copy is a replay, S3), every
alert journalled once. PostgreSQL through advisory locks, a SQLite file through
BEGIN IMMEDIATE. And the outbox (D-W2): two workers recovering at once never take the
same message. And the tick horizons (D-W4): each worker times out only what no worker
that reported lately may still hold an answer to."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract.vocabulary import CplStatus
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.events import Action, Event, SendAlert
from dsp_core.model import JournalEntry, JournalKind
from dsp_core.outbox import Outgoing
from dsp_core.state import Scope, State
from dsp_core.store import MemoryStore, SqlStore, Store
from tests.support.core_bench import ESME, GPF, GSME, NEW, OLD, SEED, CoreBench, cpl_for
from tests.support.core_scenarios import suspended
from tests.support.postgres import pg_database

ROUNDS = 8


def _interleaved_reports() -> CoreBench:
    """R4 then, on one hub, reads of the ESME and the GSME answered with a version that
    changes every round (R5: N29 on restore, N50 for a Removed version), a GPF read
    (R6) and a late answer after E21 (R8): the final SMI depends on the order."""
    lab = CoreBench()
    suspended(lab, ESME)
    suspended(lab, GSME)
    for round_ in range(ROUNDS):
        version = NEW if round_ % 2 else OLD
        lab.reply_read(lab.read(ESME), version)
        lab.reply_read(lab.read(GSME), NEW if round_ % 3 else OLD)
    lab.reply_read(lab.read(GPF), OLD)
    sent = lab.activate(ESME, NEW)
    lab.tick(timedelta(minutes=2))
    lab.reply_activate(sent, NEW)
    lab.cpl(cpl_for(ESME, OLD, CplStatus.CURRENT))
    return lab


@pytest.fixture(params=["postgresql", "sqlite file"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite file":
        yield f"sqlite:///{tmp_path / 'smi.db'}"
        return
    with pg_database("smetslab_workers") as url:
        yield url


async def _worker(store: SqlStore, events: list[Event], batch: int) -> list[list[Action]]:
    driver = CoreDriver(DspCore(), store)
    outputs: list[list[Action]] = []
    for start in range(0, len(events), batch):
        outputs.extend(await driver.handle_all(events[start : start + batch]))
    return outputs


def _kinds(journal: list[JournalEntry], kind: JournalKind) -> Counter[tuple[object, ...]]:
    return Counter((e.code, e.user_id, e.device_id) for e in journal if e.kind is kind)


async def test_two_workers_given_every_event_apply_each_once_and_in_order(store_url: str) -> None:
    lab = _interleaved_reports()
    first, second = await SqlStore.open(store_url), await SqlStore.open(store_url)
    try:
        await first.seed(**SEED)
        one, two = await asyncio.gather(
            _worker(first, lab.events, 1), _worker(second, lab.events, 3)
        )
        journal = [entry async for entry in first.journal()]
        assert await first.devices() == await second.devices()
        smi = {d.device_id: d for d in await first.devices()}
    finally:
        await first.close()
        await second.close()
    for device in (ESME, GSME, GPF):  # the reports were applied in order (R5, R6)
        assert smi[device.device_id] == lab.smi(device)
    alerts = Counter(
        (a.alert.alert_code, a.user_id)
        for out in (*one, *two)
        for a in out
        if isinstance(a, SendAlert)
    )
    assert alerts == Counter(
        (a.alert.alert_code, a.user_id)
        for out in lab.outputs
        for a in out
        if isinstance(a, SendAlert)
    )
    assert _kinds(journal, JournalKind.ALERT) == _kinds(lab.journal, JournalKind.ALERT)
    assert _kinds(journal, JournalKind.COMMAND) == _kinds(lab.journal, JournalKind.COMMAND)
    assert _kinds(journal, JournalKind.FIRMWARE_CHANGE) == _kinds(
        lab.journal, JournalKind.FIRMWARE_CHANGE
    )
    messages = sum(1 for e in lab.journal if e.kind is JournalKind.DEVICE_MESSAGE)
    duplicates = sum(1 for e in journal if e.kind is JournalKind.DUPLICATE)
    assert duplicates == messages  # R8: the second copy of every report is a duplicate
    responses = _kinds(journal, JournalKind.RESPONSE)
    requests = sum(1 for e in lab.journal if e.kind is JournalKind.REQUEST)
    assert responses.pop(("S3", "90-B3-D5-1F-30-01-00-00", None), 0) == requests  # R1 replay
    assert responses == _kinds(lab.journal, JournalKind.RESPONSE)


def _outgoing(index: int) -> Outgoing:
    return Outgoing(f"m{index:04d}", "smetslab/users/X/alerts", b"{}")


def _to_outbox(messages: list[Outgoing], worker: str, at: float):  # type: ignore[no-untyped-def]
    def decide(state: State) -> None:
        state.put_outgoing(messages, worker, at)

    return decide


async def test_two_workers_recovering_a_dead_workers_outbox_take_each_message_once(
    store_url: str,
) -> None:
    """D-W2: what a dead worker left (its lease run out) is claimed by exactly one of
    two workers looking at once, in commit order; a live worker's lease is respected,
    and a worker starting again under its name takes its own at once."""
    first, second = await SqlStore.open(store_url), await SqlStore.open(store_url)
    try:
        left = [_outgoing(i) for i in range(1200)]  # more than a page
        await first.apply(Scope(), _to_outbox(left, "dead", at=100.0))
        await first.apply(Scope(), _to_outbox([_outgoing(9000)], "alive", at=1000.0))
        await first.apply(Scope(), _to_outbox([_outgoing(9001)], "restarted", at=1000.0))

        async def recover(store: SqlStore, worker: str) -> list[Outgoing]:
            claimed: list[Outgoing] = []
            while batch := await store.claim_outbox(worker, 1000.0, stale_before=500.0):
                claimed += batch
            return claimed

        a, b = await asyncio.gather(recover(first, "a"), recover(second, "b"))
        assert sorted(m.message_id for m in a + b) == [m.message_id for m in left]
        assert [m.message_id for m in a] == sorted(m.message_id for m in a)  # commit order
        assert await first.claim_outbox("restarted", 1001.0, 500.0, own=True) == [_outgoing(9001)]
        await first.outbox_done([m.message_id for m in a + b])
        assert await first.claim_outbox("c", 2000.0, stale_before=1500.0) == [
            _outgoing(9000),
            _outgoing(9001),
        ]
    finally:
        await first.close()
        await second.close()


T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _horizons(first: Store, second: Store) -> None:
    """Worker "a" on `first`, "b" on `second`; wall seconds 100 on, stale after 10."""
    assert await first.horizon_of("a") is None
    assert await first.share_horizon("a", _at(60), 100.0, 90.0) == _at(60)
    assert await second.share_horizon("b", _at(10), 101.0, 91.0) == _at(10)  # b has a backlog
    assert await first.share_horizon("a", _at(70), 102.0, 92.0) == _at(10)  # a waits for it
    # b dies: its horizon holds a's time-outs until it has been silent 10 s
    assert await first.share_horizon("a", _at(80), 111.0, 101.0) == _at(10)
    assert await first.share_horizon("a", _at(90), 112.0, 102.0) == _at(90)
    # b again under its name: its last horizon is known, and it counts again
    assert await second.horizon_of("b") == _at(10)
    assert await second.share_horizon("b", _at(85), 113.0, 103.0) == _at(85)
    assert await first.share_horizon("a", _at(95), 114.0, 104.0) == _at(85)


async def test_workers_tick_at_the_earliest_horizon_of_those_heard_lately(store_url: str) -> None:
    first, second = await SqlStore.open(store_url), await SqlStore.open(store_url)
    try:
        await _horizons(first, second)
    finally:
        await first.close()
        await second.close()


async def test_the_memory_store_shares_horizons_as_the_sql_stores_do() -> None:
    store = MemoryStore()
    await _horizons(store, store)

"""`Store.apply` (D12): one event's load, decision and commit in one call to the
store's thread; calls from several tasks are serialised; a decision that raises commits
nothing; store URLs in the plain and the old async forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dsp_core.core import DspCore, Prepared
from dsp_core.driver import CoreDriver
from dsp_core.errors import StoreError
from dsp_core.events import Action
from dsp_core.model import JournalEntry, JournalKind
from dsp_core.state import Scope, State
from dsp_core.store import MemoryStore, SqlStore, Store, sql
from dsp_core.store.sql import sync_url
from dsp_core.turn import CoreConfig
from tests.support.core_bench import ESME, NEW, SEED, T0, CoreBench


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///smi.db", "sqlite:///smi.db"),
        ("sqlite+aiosqlite:///smi.db", "sqlite:///smi.db"),
        ("sqlite+pysqlite:///smi.db", "sqlite:///smi.db"),
        ("sqlite://", "sqlite://"),
        ("postgresql://u@db:5432/smi", "postgresql+psycopg://u@db:5432/smi"),
        ("postgresql+asyncpg://u@db/smi", "postgresql+psycopg://u@db/smi"),
        ("postgresql+psycopg://u@db/smi", "postgresql+psycopg://u@db/smi"),
    ],
)
def test_store_urls_map_to_the_synchronous_drivers(url: str, expected: str) -> None:
    assert sync_url(url) == make_url(expected)


def test_an_unknown_database_is_refused() -> None:
    with pytest.raises(StoreError, match="expected sqlite:// or postgresql://"):
        sync_url("mysql://u@db/smi")


async def _open(kind: str) -> Store:
    return MemoryStore() if kind == "memory" else await SqlStore.open(kind)


@pytest.mark.parametrize("kind", ["file", "sqlite://", "memory"])
async def test_a_decision_that_raises_commits_nothing(kind: str, tmp_path: Path) -> None:
    store = await _open(f"sqlite:///{tmp_path / 'smi.db'}" if kind == "file" else kind)
    try:
        await store.seed(**SEED)

        def decide(state: State) -> None:
            state.put_device(state.devices[ESME.device_id].with_firmware_version(NEW))
            state.journal(JournalEntry(T0, JournalKind.FIRMWARE_CHANGE, ESME.device_id))
            raise RuntimeError("the core failed")

        with pytest.raises(RuntimeError, match="the core failed"):
            await store.apply(Scope(device_ids=frozenset({ESME.device_id})), decide)
        if isinstance(store, SqlStore):  # the memory store's State cannot roll back
            assert [d.firmware_version for d in await store.devices() if d == ESME] == [
                ESME.firmware_version
            ]
        assert [entry async for entry in store.journal()] == []
    finally:
        await store.close()


async def test_apply_returns_what_the_decision_returns(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    try:
        await store.seed(**SEED)
        scope = Scope(device_ids=frozenset({ESME.device_id}))
        found = await store.apply(scope, lambda state: sorted(state.devices))
        assert found == [ESME.device_id]
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_events_from_several_tasks_at_once_are_serialised(kind: str, tmp_path: Path) -> None:
    """Twenty reads of one device, then their twenty responses, each from its own task
    and all at once: the answers, the SMI and the journal are those of the events one by
    one, in the order the tasks called."""
    lab = CoreBench()
    for actions in [lab.read(ESME) for _ in range(20)]:
        lab.reply_read(actions, NEW)
    store = await _open(f"sqlite:///{tmp_path / 'smi.db'}" if kind == "file" else kind)
    try:
        await store.seed(**SEED)
        driver = CoreDriver(DspCore(), store)
        requests, responses = lab.events[:20], lab.events[20:]
        answered = await asyncio.gather(*(driver.handle(event) for event in requests))
        answered += await asyncio.gather(*(driver.handle(event) for event in responses))
        assert answered == lab.outputs
        assert [entry async for entry in store.journal()] == lab.journal
        assert await store.devices() == sorted(
            lab.state.devices.values(), key=lambda d: d.device_id
        )
    finally:
        await store.close()


async def test_the_journal_is_read_page_by_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sql, "_JOURNAL_PAGE", 7)
    lab = CoreBench()
    for actions in [lab.read(ESME) for _ in range(5)]:
        lab.reply_read(actions, NEW)
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    try:
        await store.seed(**SEED)
        driver = CoreDriver(DspCore(), store)
        for event in lab.events:
            await driver.handle(event)
        journal = [entry async for entry in store.journal()]
        assert len(journal) > 2 * sql._JOURNAL_PAGE
        assert journal == lab.journal
    finally:
        await store.close()


@pytest.mark.parametrize("count", [1, 3, 4, 5, 7])
async def test_scopes_of_any_size_load_what_they_name(count: int, tmp_path: Path) -> None:
    """Up to `_LISTED` values are bound one by one, more as one expanding parameter."""
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    try:
        await store.seed(**SEED)
        seeded = sorted(d.device_id for d in SEED["devices"])
        wanted = [*seeded, "00-DB-00-00-00-00-00-01", "00-DB-00-00-00-00-00-02"][:count]
        keys = frozenset((device_id, "90-B3-D5-1F-30-01-00-00", 2, 0x59, 1) for device_id in wanted)
        scope = Scope(device_ids=frozenset(wanted), report_keys=keys)

        def decide(state: State) -> list[str]:
            for key in keys:
                state.add_report(key)
            return sorted(state.devices)

        assert await store.apply(scope, decide) == sorted(set(wanted) & set(seeded))
        loaded = await store.apply(scope, lambda state: state.reports)
        assert loaded == keys
    finally:
        await store.close()


def _read_then_fail(fail: bool) -> Callable[[State], None]:
    def decide(state: State) -> None:
        state.put_device(state.devices[ESME.device_id].with_firmware_version(NEW))
        state.journal(JournalEntry(T0, JournalKind.FIRMWARE_CHANGE, ESME.device_id))
        if fail:
            raise RuntimeError("the core failed on the second event")

    return decide


async def test_a_batch_commits_all_or_nothing(tmp_path: Path) -> None:
    """D17: `apply_all` is one transaction; an event that raises takes the batch back."""
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    scope = Scope(device_ids=frozenset({ESME.device_id}))
    try:
        await store.seed(**SEED)
        with pytest.raises(RuntimeError, match="second event"):
            await store.apply_all([(scope, _read_then_fail(False)), (scope, _read_then_fail(True))])
        assert [entry async for entry in store.journal()] == []
        assert [d.firmware_version for d in await store.devices() if d == ESME] == [
            ESME.firmware_version
        ]
    finally:
        await store.close()


async def test_later_events_of_a_batch_see_what_earlier_ones_wrote(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    scope = Scope(device_ids=frozenset({ESME.device_id}))
    try:
        await store.seed(**SEED)
        seen = await store.apply_all(
            [
                (scope, _read_then_fail(False)),
                (scope, lambda state: state.devices[ESME.device_id].firmware_version),
            ]
        )
        assert seen == [None, NEW]
    finally:
        await store.close()


async def test_the_driver_falls_back_to_one_event_at_a_time(tmp_path: Path) -> None:
    """A batch that fails is handled again event by event: the events before the bad one
    are committed, and the bad one's error is raised as `handle` raises it."""
    lab = CoreBench()
    lab.read(ESME, counter=7000)
    lab.read(ESME, counter=7001)
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'smi.db'}")
    try:
        await store.seed(**SEED)
        driver = CoreDriver(_FailingCore(lab.config, fail_on=2), store)
        with pytest.raises(RuntimeError, match="event 2"):
            await driver.handle_all(lab.events)
        kinds = [entry.kind async for entry in store.journal()]
        assert kinds.count(JournalKind.REQUEST) == 1  # the first read only, committed once
    finally:
        await store.close()


class _FailingCore(DspCore):
    """The real core, failing on its `fail_on`-th decision of each pass."""

    def __init__(self, config: CoreConfig, fail_on: int) -> None:
        super().__init__(config)
        self.fail_on = fail_on
        self.calls = 0

    def handle(self, prepared: Prepared, state: State) -> list[Action]:
        self.calls += 1
        if self.calls % self.fail_on == 0:
            raise RuntimeError(f"event {self.fail_on} failed")
        return super().handle(prepared, state)

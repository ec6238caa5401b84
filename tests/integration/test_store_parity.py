"""The SQL store (a real SQLite file) gives the core exactly what the in-memory state
does: replaying a scenario's events through `CoreDriver` over SQLite yields the same
actions, the same SMI and the same journal, so every event's `Scope` is complete."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from contract.ids import to_bytes
from contract.vocabulary import CplStatus
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.events import Action
from dsp_core.keys import AcbKeys
from dsp_core.model import HubStatus, JournalEntry
from dsp_core.store import MemoryStore, SqlStore, Store
from dsp_core.turn import CoreConfig
from gbcs.security import KeyUse, sign
from tests.support.core_bench import (
    ESME,
    GPF,
    GSME,
    NEW,
    OTHER,
    SEED,
    SUPPLIER,
    CoreBench,
    bench_keys,
    codes,
    commands,
    cpl_for,
    hash_of,
    image_for,
    only,
    responses,
)
from tests.support.core_scenarios import SOURCES, status, suspended
from tests.support.postgres import pg_database


def _source(name: str) -> Callable[[CoreBench], object]:
    def run(lab: CoreBench) -> None:
        suspended(lab, ESME)
        SOURCES[name](lab, ESME, NEW)

    return run


def _gpf_and_gsme(lab: CoreBench) -> None:
    suspended(lab, GSME)
    lab.reply_read(lab.read(GPF), NEW)  # N52, no restore (R6)
    lab.reply_read(lab.read(GSME), NEW)  # restore (R5)
    lab.cpl(cpl_for(ESME, OTHER, CplStatus.CURRENT))


def _distribution_and_duplicates(lab: CoreBench) -> None:
    image = base64.b64encode(image_for(NEW)).decode()
    body = {"firmware_image": image, "firmware_version": NEW, "device_ids": [ESME.device_id]}
    command = only(commands(lab.request("11.1", "90-B3-D5-1F-30-00-00-02", body)))
    receipt = lab.receipt(command, hash_of(NEW))
    lab.deliver(command.ch_id, receipt)
    lab.deliver(command.ch_id, receipt)  # duplicate
    lab.read(ESME, counter=5000)
    lab.read(ESME, counter=5000)  # replay
    lab.request("8.2", "90-B3-D5-1F-30-00-00-02", {"device_ids": [ESME.device_id]})
    lab.tick(timedelta(minutes=5))  # E21 for the read


def _hub_offline_and_back(lab: CoreBench) -> None:
    """D-E1: the status recorded and read back for a request (E20), overtaken and
    repeated statuses, an in-flight request's E21, the hub back online."""
    sent = lab.read(ESME)
    status(lab, False, reported_after=1)
    lab.read(GSME)  # E20
    status(lab, False, reported_after=1)  # taken already
    status(lab, True, reported_after=0)  # older: overtaken
    lab.tick(timedelta(minutes=2))  # E21 for the read in flight (R8)
    status(lab, True, "rig: hub online", reported_after=2)
    lab.reply_read(sent, NEW)  # late
    lab.read(GSME)  # sent


def _signed_pre_commands(lab: CoreBench) -> None:
    """D-SEC8: pre-commands kept in the store, checked, sent, refused and expired."""
    keys = bench_keys()
    signer = keys.private_key(to_bytes(SUPPLIER.user_id), KeyUse.DIGITAL_SIGNING)

    def signed_body(actions: list[Action], tamper: bool = False) -> dict[str, str]:
        pre = bytearray(base64.b64decode(responses(actions)[-1].response.body["pre_command"]))
        if tamper:
            pre[-3] ^= 1
        signed = sign(bytes(pre), signer)
        return {"signed_pre_command": base64.b64encode(signed).decode()}

    body = signed_body(lab.activate(ESME, NEW))
    sent = lab.request("11.3", ESME, body, cv=5, counter=lab.counter)
    assert codes(lab.reply_activate(sent, NEW)) == ["I0"]
    tampered = signed_body(lab.activate(GSME, NEW), tamper=True)
    refused = lab.request("11.3", GSME, tampered, cv=5, counter=lab.counter)
    assert codes(refused) == ["I99", "S6"]  # and the pre-command still waits
    lab.tick(lab.config.pre_command_validity + timedelta(seconds=1))  # expired
    assert codes(lab.request("11.3", GSME, tampered, cv=5, counter=lab.counter)) == ["S5"]


SCENARIOS: dict[str, Callable[[CoreBench], object]] = {
    **{f"R5 {name}": _source(name) for name in SOURCES},
    "R6 GPF then GSME": _gpf_and_gsme,
    "R9 distribution, duplicates, replay, 8.2, E21": _distribution_and_duplicates,
    "E20 behind an offline hub, back online": _hub_offline_and_back,
    "D-SEC8 signed pre-commands": _signed_pre_commands,
}
SECURE = {"D-SEC8 signed pre-commands"}  # run with the ACB's keys (D-SEC7)


def bench_for(name: str) -> CoreBench:
    if name in SECURE:
        return CoreBench(CoreConfig(security=AcbKeys(bench_keys())))
    return CoreBench()


async def _replay(
    store: Store, lab: CoreBench, batch: int = 1
) -> tuple[list[object], list[JournalEntry]]:
    """The lab's events through the driver, `batch` at a time in one transaction (D17)."""
    await store.seed(**SEED)
    driver = CoreDriver(DspCore(lab.config), store)
    outputs: list[object] = []
    for start in range(0, len(lab.events), batch):
        outputs.extend(await driver.handle_all(lab.events[start : start + batch]))
    return outputs, [entry async for entry in store.journal()]


BATCHES = [1, 3, 1000]  # one event per transaction, a few, every event in one


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("name", SCENARIOS)
async def test_sqlite_file_store_matches_the_in_memory_state(
    name: str, batch: int, tmp_path: Path
) -> None:
    lab = bench_for(name)
    SCENARIOS[name](lab)
    await _assert_parity(f"sqlite+aiosqlite:///{tmp_path / 'smi.db'}", lab, batch)


def _hub_statuses(lab: CoreBench) -> list[HubStatus]:
    return [lab.state.hub_statuses[k] for k in sorted(lab.state.hub_statuses)]


@pytest.mark.parametrize(
    "scenario", [_distribution_and_duplicates, _hub_offline_and_back], ids=["R9", "E20"]
)
async def test_memory_store_through_the_driver_matches_too(
    scenario: Callable[[CoreBench], object],
) -> None:
    lab = CoreBench()
    scenario(lab)
    store = MemoryStore()
    outputs, journal = await _replay(store, lab)
    assert outputs == lab.outputs
    assert journal == lab.journal
    assert await store.hub_statuses() == _hub_statuses(lab)


async def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    """The file is the state: a DSP restarted on it answers the late response (R8)."""
    lab = CoreBench()
    suspended(lab, ESME)
    sent = lab.activate(ESME, NEW)
    lab.tick(timedelta(minutes=2))
    late = lab.reply_activate(sent, NEW)
    url = f"sqlite+aiosqlite:///{tmp_path / 'smi.db'}"
    store = await SqlStore.open(url)
    await store.seed(**SEED)
    driver = CoreDriver(DspCore(), store)
    for event in lab.events[:-1]:
        await driver.handle(event)
    await store.close()
    reopened = await SqlStore.open(url)
    try:
        assert await CoreDriver(DspCore(), reopened).handle(lab.events[-1]) == late
    finally:
        await reopened.close()


@pytest.mark.parametrize("batch", [1, 1000])
@pytest.mark.parametrize("name", SCENARIOS)
async def test_postgresql_store_matches_the_in_memory_state(name: str, batch: int) -> None:
    lab = bench_for(name)
    SCENARIOS[name](lab)
    with pg_database("smetslab_parity") as url:
        await _assert_parity(url, lab, batch)


async def test_a_store_from_before_pre_commands_gains_the_column(tmp_path: Path) -> None:
    """A lab folder made by an earlier smetslab opens: the new nullable column is added."""
    path = tmp_path / "smi.db"
    store = await SqlStore.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE requests DROP COLUMN pre_command")
        conn.commit()
    store = await SqlStore.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    with closing(sqlite3.connect(path)) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    assert "pre_command" in columns


async def _assert_parity(url: str, lab: CoreBench, batch: int) -> None:
    """The scenario `lab` ran in memory, replayed through the store at `url` in batches
    of `batch`: the same actions, SMI, journal and hub statuses."""
    store = await SqlStore.open(url)
    try:
        outputs, journal = await _replay(store, lab, batch)
        assert outputs == lab.outputs
        assert await store.devices() == sorted(
            lab.state.devices.values(), key=lambda d: d.device_id
        )
        assert journal == lab.journal
        assert await store.hub_statuses() == _hub_statuses(lab)
    finally:
        await store.close()

"""The SQL store: SQLAlchemy 2 Core, async (aiosqlite now, asyncpg for PostgreSQL).

One transaction per event: load the rows the event's `Scope` names, let the core
decide, write every change (SMI, tracking, reports, journal) and commit together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, and_, delete, event, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from dsp_core.errors import StoreError
from dsp_core.model import (
    CplEntry,
    CplStatus,
    Device,
    DeviceType,
    JournalEntry,
    JournalKind,
    Registration,
    Role,
    SmiStatus,
    User,
    UserStatus,
)
from dsp_core.state import (
    AddJournal,
    AddReport,
    Change,
    PutCounter,
    PutCpl,
    PutDevice,
    PutRequest,
    Scope,
    State,
)
from dsp_core.tracking import OPEN_PHASES, Phase, Tracked

from . import schema
from .base import Store

_KEEP = [p.value for p in (*OPEN_PHASES, Phase.TIMED_OUT)]


class SqlStore(Store):
    """`SqlStore.open("sqlite+aiosqlite:///smi.db")`, or `sqlite+aiosqlite://` in memory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()  # one event at a time per process (SQLite: one writer)

    @classmethod
    async def open(cls, url: str) -> SqlStore:
        in_memory = url.rstrip("/").endswith(":") or url.endswith(":memory:")
        options: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
        engine = create_async_engine(url, **options)
        if engine.dialect.name == "sqlite" and not in_memory:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.create_all)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self, scope: Scope) -> AsyncIterator[State]:
        async with self._lock:
            try:
                async with self.engine.begin() as conn:
                    state = await _load(conn, scope)
                    yield state
                    await _write(conn, state.take_changes())
            except SQLAlchemyError as exc:
                raise StoreError(f"store transaction failed: {exc}") from exc

    async def seed(
        self,
        *,
        devices: Iterable[Device] = (),
        users: Iterable[User] = (),
        registrations: Iterable[Registration] = (),
        cpl: Iterable[CplEntry] = (),
    ) -> None:
        async with self.engine.begin() as conn:
            await _upsert(conn, schema.devices, [_device_row(d) for d in devices])
            await _upsert(conn, schema.users, [_user_row(u) for u in users])
            await _upsert(conn, schema.registrations, [asdict(r) for r in registrations])
            await _upsert(conn, schema.cpl, [_cpl_row(e) for e in cpl])

    async def journal(self) -> AsyncIterator[JournalEntry]:
        async with self.engine.connect() as conn:
            result = await conn.stream(select(schema.journal).order_by(schema.journal.c.id))
            async for row in result:
                yield _journal_entry(row)

    async def devices(self) -> list[Device]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(schema.devices).order_by(schema.devices.c.device_id))
            return [_device(row) for row in rows]


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """WAL with synchronous=NORMAL: a commit survives a crash of the process (a DSP
    restart loses nothing); only a power cut can lose the last commits. Without it every
    commit waits for an fsync (about 30 round trips a second instead of ~1,000)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# ---- loading ------------------------------------------------------------------------


async def _load(conn: AsyncConnection, scope: Scope) -> State:
    state = State()
    devices = await _load_devices(conn, scope)
    state.load(devices=devices)
    await _load_device_context(conn, state, devices)
    if scope.user_ids:
        rows = await conn.execute(
            select(schema.users).where(schema.users.c.user_id.in_(scope.user_ids))
        )
        state.load(users=[_user(row) for row in rows])
    if scope.originators:
        t = schema.counters
        for row in await conn.execute(select(t).where(t.c.originator.in_(scope.originators))):
            state.counters[row.originator] = row.counter
    await _load_requests(conn, state, scope, [d.device_id for d in devices])
    if scope.report_keys:
        t = schema.reports
        columns = tuple_(
            t.c.device_id, t.c.recipient_id, t.c.cra_flag, t.c.message_code, t.c.counter
        )
        for row in await conn.execute(select(t).where(columns.in_(scope.report_keys))):
            state.reports.add(tuple(row))
    if scope.version is not None:
        t = schema.cpl
        key = (t.c.manufacturer, t.c.model, t.c.firmware_version)
        rows = await conn.execute(select(t).where(tuple_(*key) == tuple_(*scope.version)))
        state.load(cpl=[_cpl(row) for row in rows])
    return state


async def _load_devices(conn: AsyncConnection, scope: Scope) -> list[Device]:
    t = schema.devices
    wanted: list[ColumnElement[bool]] = []
    if scope.device_ids:
        wanted.append(t.c.device_id.in_(scope.device_ids))
    if scope.ch_ids:
        wanted.append(t.c.comms_hub_id.in_(scope.ch_ids))
    if scope.version is not None:
        manufacturer, model, version = scope.version
        wanted.append(
            and_(
                t.c.manufacturer == manufacturer,
                t.c.model == model,
                t.c.firmware_version == version,
            )
        )
    if not wanted:
        return []
    return [_device(row) for row in await conn.execute(select(t).where(or_(*wanted)))]


async def _load_device_context(conn: AsyncConnection, state: State, devices: list[Device]) -> None:
    """With each device: its registration and its model's CPL entries."""
    if not devices:
        return
    t = schema.registrations
    rows = await conn.execute(select(t).where(t.c.mpxn.in_({d.mpxn for d in devices})))
    state.load(registrations=[Registration(**row._asdict()) for row in rows])
    t = schema.cpl
    models = {(d.manufacturer, d.model) for d in devices}
    rows = await conn.execute(select(t).where(tuple_(t.c.manufacturer, t.c.model).in_(models)))
    state.load(cpl=[_cpl(row) for row in rows])


async def _load_requests(
    conn: AsyncConnection, state: State, scope: Scope, device_ids: Sequence[str]
) -> None:
    t = schema.requests
    wanted: list[ColumnElement[bool]] = []
    if scope.request_keys:
        wanted.append(tuple_(t.c.originator, t.c.counter).in_(scope.request_keys))
    if device_ids:
        wanted.append(t.c.device_id.in_(device_ids))
    if scope.due_before is not None:
        wanted.append(
            and_(t.c.deadline <= scope.due_before, t.c.phase.in_([p.value for p in OPEN_PHASES]))
        )
    if not wanted:
        return
    for row in await conn.execute(select(t).where(or_(*wanted))):
        state.load_request(_tracked(row))


# ---- writing ------------------------------------------------------------------------


async def _write(conn: AsyncConnection, changes: list[Change]) -> None:
    devices: dict[str, dict[str, Any]] = {}
    cpl_rows, counters, keep, done, reports, journal = [], {}, {}, set(), [], []
    for change in changes:
        match change:
            case PutDevice(device=device):
                devices[device.device_id] = _device_row(device)
            case PutCpl(entry=entry):
                cpl_rows.append(_cpl_row(entry))
            case PutCounter(originator=originator, counter=counter):
                counters[originator] = {"originator": originator, "counter": counter}
            case PutRequest(tracked=tracked) if tracked.phase.value in _KEEP:
                keep[tracked.key] = _tracked_row(tracked)
                done.discard(tracked.key)
            case PutRequest(tracked=tracked):
                keep.pop(tracked.key, None)
                done.add(tracked.key)
            case AddReport(key=key):
                reports.append(
                    dict(
                        zip(
                            ("device_id", "recipient_id", "cra_flag", "message_code", "counter"),
                            key,
                            strict=True,
                        )
                    )
                )
            case AddJournal(entry=entry):
                journal.append(_journal_row(entry))
    await _upsert(conn, schema.devices, list(devices.values()))
    await _upsert(conn, schema.cpl, cpl_rows)
    await _upsert(conn, schema.counters, list(counters.values()))
    await _upsert(conn, schema.requests, list(keep.values()))
    if done:
        t = schema.requests
        await conn.execute(delete(t).where(tuple_(t.c.originator, t.c.counter).in_(done)))
    if reports:
        await conn.execute(schema.reports.insert(), reports)
    if journal:
        await conn.execute(schema.journal.insert(), journal)


async def _upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    values = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    await conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=values), rows)


# ---- rows <-> records ---------------------------------------------------------------


def _device_row(device: Device) -> dict[str, Any]:
    row = asdict(device)
    for name in ("device_type", "status", "status_before_suspension", "status_before_recovery"):
        row[name] = None if row[name] is None else str(row[name])
    return row


def _device(row: Row[Any]) -> Device:
    values = row._asdict()
    before = values.pop("status_before_suspension")
    recovery = values.pop("status_before_recovery")
    return Device(
        **{
            **values,
            "device_type": DeviceType(values["device_type"]),
            "status": SmiStatus(values["status"]),
        },
        status_before_suspension=None if before is None else SmiStatus(before),
        status_before_recovery=None if recovery is None else SmiStatus(recovery),
    )


def _user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "roles": ",".join(sorted(user.roles)),
        "status": str(user.status),
    }


def _user(row: Row[Any]) -> User:
    roles = frozenset(Role(r) for r in row.roles.split(",") if r)
    return User(row.user_id, roles, UserStatus(row.status))


def _cpl_row(entry: CplEntry) -> dict[str, Any]:
    return {**asdict(entry), "status": str(entry.status)}


def _cpl(row: Row[Any]) -> CplEntry:
    return CplEntry(
        row.manufacturer, row.model, row.firmware_version, CplStatus(row.status), row.image_hash
    )


def _tracked_row(tracked: Tracked) -> dict[str, Any]:
    row = asdict(tracked)
    originator, counter = row.pop("key")
    return {**row, "originator": originator, "counter": counter, "phase": tracked.phase.value}


def _tracked(row: Row[Any]) -> Tracked:
    values = row._asdict()
    key = (values.pop("originator"), values.pop("counter"))
    return Tracked(key=key, **{**values, "phase": Phase(values["phase"])})


def _journal_row(entry: JournalEntry) -> dict[str, Any]:
    return {**asdict(entry), "kind": entry.kind.value, "detail": dict(entry.detail)}


def _journal_entry(row: Row[Any]) -> JournalEntry:
    values = row._asdict()
    values.pop("id")
    return JournalEntry(**{**values, "kind": JournalKind(values["kind"])})

"""The SQL store: SQLAlchemy 2 Core on a synchronous engine, in one database thread.

SQLite through the standard library's sqlite3, PostgreSQL through psycopg 3. Every
call runs in the store's own thread (D12), and an event is one call there: load the
rows its `Scope` names, let the core decide, write every change (SMI, tracking,
reports, journal, outbox) and commit, in one transaction.

Several workers on one database (D-W1): on PostgreSQL each transaction first takes the
advisory locks of what its events touch (`locks.py`: why advisory locks and not row
locks); on SQLite `BEGIN IMMEDIATE` takes the file's write lock, so transactions run
one at a time, and a worker waits up to `SQLITE_BUSY_SECONDS` for it. A transaction
that fails as a deadlock, a serialisation failure or a busy file is run again (up to
`ATTEMPTS` times, logged): the core's decisions are pure functions of what is loaded,
so running them again is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from contract.vocabulary import CplEntry, Device, Registration, User
from dsp_core.errors import StoreError
from dsp_core.model import DeadLetter, HubStatus, JournalEntry
from dsp_core.outbox import OUTBOX_PAGE, Outgoing
from dsp_core.state import (
    AddJournal,
    AddOutgoing,
    AddReport,
    Change,
    CplKey,
    PutCounter,
    PutCpl,
    PutDevice,
    PutHub,
    PutRequest,
    Scope,
    State,
)
from dsp_core.tracking import OPEN_PHASES, Phase

from . import convert, schema
from .base import Store
from .locks import AdvisoryLocks

log = logging.getLogger(__name__)

_KEEP = [p.value for p in (*OPEN_PHASES, Phase.TIMED_OUT)]
_JOURNAL_PAGE = 1000
T = TypeVar("T")
ATTEMPTS = 5  # a transaction that deadlocked, failed to serialise or found the file busy
SQLITE_BUSY_SECONDS = 30.0  # how long a worker waits for another's SQLite transaction
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


class SqlStore(Store):
    """`await SqlStore.open("sqlite:///smi.db")`, `sqlite://` in memory, or
    `postgresql://user@host/db` (the `+aiosqlite` and `+asyncpg` forms of before are
    read as these)."""

    def __init__(self, connection: Connection, executor: ThreadPoolExecutor) -> None:
        # One thread, and one connection used only in it: the store's calls run one at
        # a time, in the order they were made.
        self._conn = connection
        self._executor = executor

    @classmethod
    async def open(cls, url: str) -> SqlStore:
        executor = ThreadPoolExecutor(1, thread_name_prefix="smetslab-store")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(
                executor, _connect, sync_url(url)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor)

    async def close(self) -> None:
        await self._call(self._close)
        self._executor.shutdown()

    async def apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        try:
            return await self._call(partial(self._apply, scope, decide))
        except SQLAlchemyError as exc:
            raise StoreError(f"store transaction failed: {exc}") from exc

    async def apply_all(self, work: Sequence[tuple[Scope, Callable[[State], T]]]) -> list[T]:
        """One hand-off to the store's thread and one transaction for the batch: the
        thread hand-off and the COMMIT are most of an event's cost (D17)."""
        try:
            return await self._call(partial(self._apply_all, work))
        except SQLAlchemyError as exc:
            raise StoreError(f"store transaction of {len(work)} events failed: {exc}") from exc

    async def claim_outbox(
        self, worker: str, now: float, stale_before: float, *, own: bool = False
    ) -> list[Outgoing]:
        claim = partial(self._claim_outbox, worker, now, stale_before, own)
        try:
            return await self._call(claim)
        except SQLAlchemyError as exc:
            raise StoreError(f"claiming outbox messages for {worker} failed: {exc}") from exc

    async def outbox_done(self, message_ids: Collection[str]) -> None:
        if not message_ids:
            return
        try:
            await self._call(partial(self._outbox_done, list(message_ids)))
        except SQLAlchemyError as exc:
            raise StoreError(f"deleting {len(message_ids)} outbox messages failed: {exc}") from exc

    async def share_horizon(
        self, worker: str, horizon: datetime, now: float, stale_before: float
    ) -> datetime:
        share = partial(self._share_horizon, worker, horizon, now, stale_before)
        try:
            return await self._call(share)
        except SQLAlchemyError as exc:
            raise StoreError(f"sharing the tick horizon of {worker} failed: {exc}") from exc

    async def horizon_of(self, worker: str) -> datetime | None:
        try:
            return await self._call(partial(self._horizon_of, worker))
        except SQLAlchemyError as exc:
            raise StoreError(f"reading the tick horizon of {worker} failed: {exc}") from exc

    async def seed(
        self,
        *,
        devices: Iterable[Device] = (),
        users: Iterable[User] = (),
        registrations: Iterable[Registration] = (),
        cpl: Iterable[CplEntry] = (),
    ) -> None:
        rows = {
            schema.devices: [convert.device_row(d) for d in devices],
            schema.users: [convert.user_row(u) for u in users],
            schema.registrations: [convert.registration_row(r) for r in registrations],
            schema.cpl: [convert.cpl_row(e) for e in cpl],
        }
        await self._call(partial(self._seed, rows))

    async def journal(self) -> AsyncIterator[JournalEntry]:
        after = 0
        while True:
            page = await self._call(partial(self._journal_page, after))
            for _, entry in page:
                yield entry
            if len(page) < _JOURNAL_PAGE:
                return
            after = page[-1][0]

    async def devices(self) -> list[Device]:
        return await self._call(self._devices)

    async def hub_statuses(self) -> list[HubStatus]:
        return await self._call(self._hub_statuses)

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        try:
            await self._call(partial(self._add_dead_letter, letter))
        except SQLAlchemyError as exc:
            raise StoreError(f"keeping a dead letter from {letter.topic} failed: {exc}") from exc

    async def dead_letters(self) -> list[DeadLetter]:
        try:
            return await self._call(self._dead_letters)
        except SQLAlchemyError as exc:
            raise StoreError(f"reading the dead letters failed: {exc}") from exc

    # ---- in the store's thread ----------------------------------------------------

    def _add_dead_letter(self, letter: DeadLetter) -> None:
        row = {
            "at": letter.at,
            "topic": letter.topic,
            "payload": letter.payload,
            "reason": letter.reason,
        }
        with self._conn.begin():
            self._conn.execute(schema.dead_letters.insert(), [row])

    def _dead_letters(self) -> list[DeadLetter]:
        t = schema.dead_letters
        with self._conn.begin():
            rows = self._conn.execute(select(t).order_by(t.c.id))
            return [DeadLetter(r.topic, bytes(r.payload), r.reason, r.at) for r in rows]

    async def _call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _apply(self, scope: Scope, decide: Callable[[State], T]) -> T:
        return self._apply_all([(scope, decide)])[0]

    def _apply_all(self, work: Sequence[tuple[Scope, Callable[[State], T]]]) -> list[T]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._transaction(work)
            except DBAPIError as exc:
                if attempt == ATTEMPTS or not _retryable(exc):
                    raise
                log.warning(
                    "store: transaction of %d events failed (%s), attempt %d of %d; again",
                    len(work),
                    str(exc.orig).strip().splitlines()[0],
                    attempt,
                    ATTEMPTS,
                )
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def _transaction(self, work: Sequence[tuple[Scope, Callable[[State], T]]]) -> list[T]:
        conn = self._conn
        results: list[T] = []
        with conn.begin():
            locks = AdvisoryLocks(conn) if conn.dialect.name == "postgresql" else None
            if locks is not None:
                locks.take_for(scope for scope, _ in work)
            for scope, decisions in _runs(work):
                state = _load_locked(conn, scope, locks)
                results.extend(decide(state) for decide in decisions)
                _write(conn, state.take_changes())
        return results

    def _claim_outbox(
        self, worker: str, now: float, stale_before: float, own: bool
    ) -> list[Outgoing]:
        t = schema.outbox
        due = t.c.claimed_at < stale_before
        query = select(t).where(or_(due, t.c.worker == worker) if own else due)
        # SKIP LOCKED: two workers recovering at once take different rows (PostgreSQL;
        # SQLite's BEGIN IMMEDIATE has already made this transaction the only one)
        query = query.order_by(t.c.id).limit(OUTBOX_PAGE).with_for_update(skip_locked=True)
        with self._conn.begin():
            rows = list(self._conn.execute(query))
            if rows:
                claim = update(t).where(t.c.id.in_([row.id for row in rows]))
                self._conn.execute(claim.values(worker=worker, claimed_at=now))
        return [Outgoing(row.message_id, row.topic, bytes(row.payload)) for row in rows]

    def _outbox_done(self, message_ids: list[str]) -> None:
        t = schema.outbox
        with self._conn.begin():
            self._conn.execute(delete(t).where(t.c.message_id.in_(message_ids)))

    def _share_horizon(
        self, worker: str, horizon: datetime, now: float, stale_before: float
    ) -> datetime:
        t = schema.worker_horizons
        row = {"worker": worker, "horizon": horizon, "reported_at": now}
        earliest = select(func.min(t.c.horizon)).where(t.c.reported_at >= stale_before)
        with self._conn.begin():
            _upsert(self._conn, t, [row])
            found = self._conn.execute(earliest).scalar_one()
        return horizon if found is None else min(found, horizon)

    def _horizon_of(self, worker: str) -> datetime | None:
        t = schema.worker_horizons
        with self._conn.begin():
            found = self._conn.execute(select(t.c.horizon).where(t.c.worker == worker))
            return found.scalar_one_or_none()

    def _seed(self, rows: dict[Table, list[dict[str, Any]]]) -> None:
        with self._conn.begin():
            for table, table_rows in rows.items():
                _upsert(self._conn, table, table_rows)

    def _journal_page(self, after: int) -> list[tuple[int, JournalEntry]]:
        t = schema.journal
        query = select(t).where(t.c.id > after).order_by(t.c.id).limit(_JOURNAL_PAGE)
        with self._conn.begin():
            return [(row.id, convert.journal_entry(row)) for row in self._conn.execute(query)]

    def _devices(self) -> list[Device]:
        with self._conn.begin():
            rows = self._conn.execute(_ALL_DEVICES)
            return [convert.device(row) for row in rows]

    def _hub_statuses(self) -> list[HubStatus]:
        with self._conn.begin():
            return [convert.hub_status(row) for row in self._conn.execute(_ALL_HUBS)]

    def _close(self) -> None:
        engine = self._conn.engine
        self._conn.close()
        engine.dispose()


def sync_url(url: str) -> URL:
    """The URL of the synchronous engine for `url`: SQLite through sqlite3, PostgreSQL
    through psycopg 3, whichever driver `url` names."""
    parsed = make_url(url)
    match parsed.get_backend_name():
        case "sqlite":
            return parsed.set(drivername="sqlite")
        case "postgresql":
            return parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)
    raise StoreError(f"store URL {shown}: expected sqlite:// or postgresql://")


def _retryable(exc: DBAPIError) -> bool:
    """A deadlock or serialisation failure (PostgreSQL), or a SQLite file still busy."""
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


def _connect(url: URL) -> Connection:
    """A connection to the store at `url`, its tables created; a PostgreSQL database
    that does not exist yet is created first. `StoreError` in one line otherwise."""
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:  # READ COMMITTED: the loads after the locks see what their last holder wrote
        engine = create_engine(url, isolation_level="READ COMMITTED")
    try:
        try:
            schema.metadata.create_all(engine)
        except OperationalError:
            if url.get_backend_name() != "postgresql" or not _create_database(url):
                raise
            schema.metadata.create_all(engine)
        schema.add_missing_columns(engine)
        return engine.connect()
    except OperationalError as exc:
        engine.dispose()
        raise StoreError(f"store {shown}: cannot open it: {_first_cause(exc)}") from exc


def _first_cause(exc: OperationalError) -> str:
    """The driver's own words, without the connection preamble and SQLAlchemy's footer."""
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
    return fatal[0] if fatal else lines[0] if lines else type(exc.orig).__name__


def _create_database(url: URL) -> bool:
    """Create the database `url` names, on its server, if it is not there (its owner's
    maintenance database `postgres` is asked); whether it was created now."""
    name = url.database
    if not name:
        return False
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is not None:
                return False
            quoted = admin.dialect.identifier_preparer.quote(name)
            try:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
            except ProgrammingError as exc:  # another worker created it just now
                if "already exists" not in str(exc.orig):
                    raise
        log.info("store: created the PostgreSQL database %s", name)
        return True
    except OperationalError:
        return False  # the server cannot be reached: the caller's error says so
    finally:
        admin.dispose()


def _sqlite_engine(url: URL) -> Engine:
    """sqlite3 leaves SELECTs outside the transaction (its legacy mode); here SQLAlchemy
    begins every transaction itself, with BEGIN IMMEDIATE, so an event's loads and
    writes are one transaction even with another process on the file."""
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
        engine = create_engine(url, poolclass=StaticPool)
    else:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(connection: Any, record: Any) -> None:
        connection.isolation_level = None  # no implicit BEGIN from sqlite3
        if not in_memory:
            _sqlite_pragmas(connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_pragmas(connection: Any) -> None:
    """WAL with synchronous=NORMAL: a commit survives a crash of the process (a DSP
    restart loses nothing); only a power cut can lose the last commits. Without it every
    commit waits for an fsync."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# ---- statements, built once per shape (building one costs more than running it) ----

# An IN over up to this many values binds them one by one; a longer list is one
# expanding parameter, which SQLAlchemy renders into the SQL again on every execution.
_LISTED = 4


def _size(values: Collection[Any]) -> int:
    """A list's shape for the statement caches: its length, any length above
    `_LISTED` being one shape; keys of several columns are bound one by one, whatever
    their number (see `_one_of`)."""
    if _of_keys(values):
        return len(values)
    return min(len(values), _LISTED + 1)


def _of_keys(values: Collection[Any]) -> bool:
    return bool(values) and isinstance(next(iter(values)), tuple)


def _one_of(name: str, size: int, *columns: ColumnElement[Any]) -> ColumnElement[bool]:
    """`columns IN (...)` over `size` values, bound as `_values(name, ...)` gives them."""
    if size == 0:
        return false()
    if len(columns) == 1:
        if size > _LISTED:
            return columns[0].in_(bindparam(name, expanding=True))
        return columns[0].in_([bindparam(f"{name}_{i}") for i in range(size)])
    # Not `(a, b) IN ((?, ?))`: SQLite searches an index on (a, b) by `a` alone for a
    # row value, which for requests (one originator, thousands of counters) is a scan.
    return or_(
        *(
            and_(*(column == bindparam(f"{name}_{i}_{j}") for j, column in enumerate(columns)))
            for i in range(size)
        )
    )


def _values(name: str, values: Collection[Any]) -> dict[str, Any]:
    """The parameters of `_one_of(name, _size(values), ...)`."""
    if len(values) > _LISTED and not _of_keys(values):
        return {name: list(values)}
    bound: dict[str, Any] = {}
    for i, value in enumerate(values):
        if isinstance(value, tuple):
            bound.update({f"{name}_{i}_{j}": part for j, part in enumerate(value)})
        else:
            bound[f"{name}_{i}"] = value
    return bound


_D, _R, _CPL = schema.devices, schema.registrations, schema.cpl
_U, _C, _RQ, _RP = schema.users, schema.counters, schema.requests, schema.reports
_H = schema.hubs
_REPORT_COLUMNS = ("device_id", "recipient_id", "cra_flag", "message_code", "counter")


@cache
def _devices_query(ids: int, hubs: int, by_version: bool) -> Select[Any]:
    """Devices by ID, by hub or by version (R4), each with its registration."""
    version = and_(
        _D.c.manufacturer == bindparam("manufacturer"),
        _D.c.model == bindparam("model"),
        _D.c.firmware_version == bindparam("version"),
    )
    return (
        select(_D, _R.c.supplier_id, _R.c.network_operator_id)
        .outerjoin(_R, _R.c.mpxn == _D.c.mpxn)
        .where(
            or_(
                _one_of("id", ids, _D.c.device_id),
                _one_of("hub", hubs, _D.c.comms_hub_id),
                version if by_version else false(),
            )
        )
    )


@cache
def _cpl_query(manufacturers: int, models: int) -> Select[Any]:
    """Every entry of the models named (a superset when there are several)."""
    return select(_CPL).where(
        _one_of("manufacturer", manufacturers, _CPL.c.manufacturer),
        _one_of("model", models, _CPL.c.model),
    )


@cache
def _users_query(ids: int) -> Select[Any]:
    return select(_U).where(_one_of("id", ids, _U.c.user_id))


@cache
def _counters_query(originators: int) -> Select[Any]:
    return select(_C).where(_one_of("originator", originators, _C.c.originator))


@cache
def _requests_query(keys: int, ids: int, due: bool) -> Select[Any]:
    """Requests by key, the open requests of devices, and those due (R8)."""
    overdue = and_(
        _RQ.c.deadline <= bindparam("due"), _RQ.c.phase.in_([p.value for p in OPEN_PHASES])
    )
    return select(_RQ).where(
        or_(
            _one_of("key", keys, _RQ.c.originator, _RQ.c.counter),
            _one_of("id", ids, _RQ.c.device_id),
            overdue if due else false(),
        )
    )


@cache
def _hubs_query(ids: int) -> Select[Any]:
    return select(_H).where(_one_of("id", ids, _H.c.ch_id))


@cache
def _reports_query(keys: int) -> Select[Any]:
    return select(_RP).where(_one_of("key", keys, *(_RP.c[name] for name in _REPORT_COLUMNS)))


# one key per row of an executemany: each DELETE finds its row by the primary key
_FINISHED = delete(_RQ).where(
    _RQ.c.originator == bindparam("originator"), _RQ.c.counter == bindparam("counter")
)


_ALL_DEVICES = select(_D).order_by(_D.c.device_id)
_ALL_HUBS = select(_H).order_by(_H.c.ch_id)
_ADD_REPORTS = _RP.insert()
_ADD_JOURNAL = schema.journal.insert()


@cache
def _upsert_statement(dialect: str, table: Table) -> Insert:
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    keys = [c.name for c in table.primary_key.columns]
    values = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    upsert: Insert = statement.on_conflict_do_update(index_elements=keys, set_=values)
    return upsert


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table), rows)


# ---- loading ------------------------------------------------------------------------


def _runs(
    work: Sequence[tuple[Scope, Callable[[State], T]]],
) -> Iterator[tuple[Scope, list[Callable[[State], T]]]]:
    """The batch as runs of events whose scopes merge (D19): each run is loaded once
    into one `State`, its events decided on it in order, each seeing what the ones
    before it changed, and its changes written once."""
    scope: Scope | None = None
    decisions: list[Callable[[State], T]] = []
    for next_scope, decide in work:
        merged = next_scope if scope is None else scope.merged(next_scope)
        if merged is None:
            assert scope is not None
            yield scope, decisions
            merged, decisions = next_scope, []
        scope = merged
        decisions.append(decide)
    if scope is not None:
        yield scope, decisions


def _load_locked(conn: Connection, scope: Scope, locks: AdvisoryLocks | None) -> State:
    """`_load`, and on PostgreSQL load again until every row loaded is under a lock of
    this transaction (one that changed between the look-up and the lock)."""
    state = _load(conn, scope)
    if locks is None:
        return state
    for _ in range(ATTEMPTS):
        missing = locks.missing(state)
        if not missing:
            return state
        log.info("store: %s loaded without a lock; locked and loaded again", sorted(missing))
        locks.take(missing)
        state = _load(conn, scope)
    raise StoreError(f"store: could not lock everything {scope} reaches")


def _load(conn: Connection, scope: Scope) -> State:
    state = State()
    devices = _load_devices(conn, state, scope)
    _load_cpl(conn, state, devices, scope.version)
    if scope.user_ids:
        users = conn.execute(_users_query(_size(scope.user_ids)), _values("id", scope.user_ids))
        state.load(users=[convert.user(row) for row in users])
    if scope.originators:
        originators = scope.originators
        query = _counters_query(_size(originators))
        for row in conn.execute(query, _values("originator", originators)):
            state.counters[row.originator] = row.counter
    _load_requests(conn, state, scope, [d.device_id for d in devices])
    if scope.report_keys:
        keys = scope.report_keys
        for row in conn.execute(_reports_query(_size(keys)), _values("key", keys)):
            state.reports.add(tuple(row))
    _load_hubs(conn, state, scope, devices)
    return state


def _load_hubs(conn: Connection, state: State, scope: Scope, devices: list[Device]) -> None:
    """The status of the hubs the scope names, and of the loaded devices' hubs (D-E1)."""
    ids = set(scope.hubs)
    if scope.hubs_of_devices:
        ids.update(d.comms_hub_id for d in devices)
    if ids:
        rows = conn.execute(_hubs_query(_size(ids)), _values("id", ids))
        state.load(hubs=[convert.hub_status(row) for row in rows])


def _load_devices(conn: Connection, state: State, scope: Scope) -> list[Device]:
    """The devices the scope names, with their registrations."""
    ids, hubs, version = scope.device_ids, scope.ch_ids, scope.version
    if not (ids or hubs or version):
        return []
    query = _devices_query(_size(ids), _size(hubs), version is not None)
    parameters = {**_values("id", ids), **_values("hub", hubs)}
    if version is not None:
        parameters.update(zip(("manufacturer", "model", "version"), version, strict=True))
    devices = []
    for row in conn.execute(query, parameters):
        devices.append(convert.device(row))
        if row.supplier_id is not None:
            state.registrations[row.mpxn] = Registration(
                row.mpxn, row.supplier_id, row.network_operator_id
            )
    state.load(devices=devices)
    return devices


def _load_cpl(
    conn: Connection, state: State, devices: list[Device], version: CplKey | None
) -> None:
    """The CPL entries of the loaded devices' models, and the entry `version` names."""
    models = {(d.manufacturer, d.model) for d in devices}
    if version is not None:
        models.add(version[:2])
    if not models:
        return
    manufacturers = {manufacturer for manufacturer, _ in models}
    names = {name for _, name in models}
    query = _cpl_query(_size(manufacturers), _size(names))
    rows = conn.execute(
        query, {**_values("manufacturer", manufacturers), **_values("model", names)}
    )
    state.load(cpl=[convert.cpl_entry(r) for r in rows if (r.manufacturer, r.model) in models])


def _load_requests(conn: Connection, state: State, scope: Scope, device_ids: Sequence[str]) -> None:
    keys, due = scope.request_keys, scope.due_before
    if not (keys or device_ids or due):
        return
    query = _requests_query(_size(keys), _size(device_ids), due is not None)
    parameters = {**_values("key", keys), **_values("id", device_ids), "due": due}
    for row in conn.execute(query, parameters):
        state.load_request(convert.tracked(row))


# ---- writing ------------------------------------------------------------------------


def _write(conn: Connection, changes: list[Change]) -> None:
    rows = _Rows()
    for change in changes:
        rows.add(change)
    rows.write(conn)


@dataclass(slots=True)
class _Rows:
    """One transaction's changes as the rows of each table; the last put of a key wins."""

    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpl: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)
    keep: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    done: set[tuple[str, int]] = field(default_factory=set)
    reports: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    hubs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outgoing: list[dict[str, Any]] = field(default_factory=list)

    def add(self, change: Change) -> None:
        match change:
            case PutDevice(device=device):
                self.devices[device.device_id] = convert.device_row(device)
            case PutCpl(entry=entry):
                self.cpl.append(convert.cpl_row(entry))
            case PutCounter(originator=originator, counter=counter):
                self.counters[originator] = {"originator": originator, "counter": counter}
            case PutRequest(tracked=tracked) if tracked.phase.value in _KEEP:
                self.keep[tracked.key] = convert.tracked_row(tracked)
                self.done.discard(tracked.key)
            case PutRequest(tracked=tracked):
                self.keep.pop(tracked.key, None)
                self.done.add(tracked.key)
            case AddReport(key=key):
                self.reports.append(dict(zip(_REPORT_COLUMNS, key, strict=True)))
            case AddJournal(entry=entry):
                self.journal.append(convert.journal_row(entry))
            case PutHub(hub=hub):
                self.hubs[hub.ch_id] = convert.hub_row(hub)
            case AddOutgoing(message=message, worker=worker, at=at):
                self.outgoing.append(_outbox_row(message, worker, at))

    def write(self, conn: Connection) -> None:
        _upsert(conn, schema.devices, list(self.devices.values()))
        _upsert(conn, schema.cpl, self.cpl)
        _upsert(conn, schema.counters, list(self.counters.values()))
        _upsert(conn, schema.requests, list(self.keep.values()))
        _upsert(conn, schema.hubs, list(self.hubs.values()))
        keys = [{"originator": originator, "counter": counter} for originator, counter in self.done]
        inserts = (
            (_FINISHED, keys),
            (_ADD_REPORTS, self.reports),
            (_ADD_JOURNAL, self.journal),
            (_ADD_OUTGOING, self.outgoing),
        )
        for statement, rows in inserts:
            if rows:
                conn.execute(statement, rows)


_ADD_OUTGOING = schema.outbox.insert()


def _outbox_row(message: Outgoing, worker: str, at: float) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "topic": message.topic,
        "payload": message.payload,
        "worker": worker,
        "claimed_at": at,
    }

"""The SQL store's lookups by request key find their rows through the primary key.

A request key is (originator, counter); in a campaign one originator has tens of
thousands of requests. SQLite searches an index on (originator, counter) by the
originator alone for a row value `IN ((?, ?))`, so every event scanned every request of
the campaign: 10,000 premises took minutes. These plans keep that from coming back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import ClauseElement, Connection, create_engine

from dsp_core.store import schema, sql

BY_KEY = "(originator=? AND counter=?)"


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    schema.metadata.create_all(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _plan(conn: Connection, statement: ClauseElement) -> list[str]:
    text = str(statement.compile(dialect=conn.dialect))
    cursor = conn.connection.cursor()
    return [
        row[3] for row in cursor.execute(f"EXPLAIN QUERY PLAN {text}", [None] * text.count("?"))
    ]


@pytest.mark.parametrize(("keys", "devices"), [(1, 0), (1, 1), (3, 2)])
def test_requests_by_key_search_the_whole_primary_key(
    conn: Connection, keys: int, devices: int
) -> None:
    plan = _plan(conn, sql._requests_query(keys, devices, due=False))
    searches = [step for step in plan if step.startswith("SEARCH requests")]
    assert sum(BY_KEY in step for step in searches) == keys, plan
    assert not any(step.startswith("SCAN requests") for step in plan), plan


def test_finished_requests_are_deleted_by_primary_key(conn: Connection) -> None:
    plan = _plan(conn, sql._FINISHED)
    assert plan == [f"SEARCH requests USING INDEX sqlite_autoindex_requests_1 {BY_KEY}"]

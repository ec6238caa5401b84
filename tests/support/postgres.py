"""PostgreSQL databases for tests: each made fresh under a name no other test or run
uses, and dropped when the test is done, whatever happened in it.

    with pg_database("smetslab_parity") as url:   # postgresql+asyncpg://.../smetslab_parity_...
        store = await SqlStore.open(url)
        ...                                         # close every store (engine) on it first

No server at `PG_ADMIN_URL`: the test is skipped, or fails under CI (`.ci/run` starts the
machine's PostgreSQL, so there a missing server is an error)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from dsp_core.store.sql import sync_url

PG_ADMIN_URL = os.environ.get(
    "SMETSLAB_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
MAX_NAME = 63  # PostgreSQL's identifier length


def unique_name(prefix: str) -> str:
    """`prefix`, this process and a random part: unique across xdist workers and runs."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if len(name) > MAX_NAME:
        raise ValueError(f"database name {name!r} is longer than {MAX_NAME} characters")
    return name


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh database named from `prefix`, its URL (the driver of `PG_ADMIN_URL`);
    dropped at the end with `WITH (FORCE)`, so a connection left open (a worker process
    killed, an engine not disposed) cannot keep it."""
    name = unique_name(prefix)
    admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        try:
            _execute(admin, f'CREATE DATABASE "{name}"')
        except (OSError, SQLAlchemyError) as exc:
            _no_server(exc)
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            _execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _execute(engine: Engine, statement: str) -> None:
    with engine.connect() as conn:
        conn.execute(text(statement))


def _no_server(exc: Exception) -> NoReturn:
    message = f"no PostgreSQL at {PG_ADMIN_URL}: {exc.__class__.__name__}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run should have started it")
    pytest.skip(message)

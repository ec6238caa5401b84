"""Opening a store (dsp_core/store/sql.py): a PostgreSQL database that does not exist
yet is created, and a store that cannot be opened is one StoreError line naming it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from dsp_core.errors import StoreError
from dsp_core.store import SqlStore
from dsp_core.store.sql import sync_url
from tests.support.postgres import PG_ADMIN_URL, pg_database, unique_name

pytestmark = pytest.mark.integration


def _drop(name: str) -> None:
    admin = create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


async def test_a_postgresql_database_that_does_not_exist_is_created() -> None:
    with pg_database("smetslab_open_probe"):  # skips (or fails under CI) with no server
        pass
    name = unique_name("smetslab_created")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = await SqlStore.open(url)
        try:
            assert await store.devices() == []  # the tables are there too
        finally:
            await store.close()
        again = await SqlStore.open(url)  # there now: opened, not created again
        await again.close()
    finally:
        _drop(name)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:1/smetslab", "Connection refused"),
        ("sqlite:////nonexistent/folder/dsp.sqlite", "unable to open database file"),
    ],
)
async def test_a_store_that_cannot_be_opened_is_one_line_naming_it(url: str, says: str) -> None:
    with pytest.raises(StoreError) as raised:
        await SqlStore.open(url)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"store {url.split('://', maxsplit=1)[0]}")
    assert says in message

"""The store's tables (SQLAlchemy Core): the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    inspect,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.schema import CreateColumn


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()
_ID = 23  # 00-DB-12-34-56-78-90-A0

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(_ID), primary_key=True),
    Column("device_type", String(8), nullable=False),
    Column("smets", Integer, nullable=False),
    Column("manufacturer", String(64), nullable=False),
    Column("model", String(64), nullable=False),
    Column("firmware_version", String(8), nullable=False),
    Column("status", String(32), nullable=False),
    Column("comms_hub_id", String(_ID), nullable=False, index=True),
    Column("mpxn", String(32), nullable=False),
    Column("status_before_suspension", String(32)),
    Column("status_before_recovery", String(32)),
    Index("devices_by_version", "manufacturer", "model", "firmware_version"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(_ID), primary_key=True),
    Column("roles", String(64), nullable=False),  # comma-separated role codes
    Column("status", String(16), nullable=False),
)

registrations = Table(
    "registrations",
    metadata,
    Column("mpxn", String(32), primary_key=True),
    Column("supplier_id", String(_ID), nullable=False),
    Column("network_operator_id", String(_ID), nullable=False),
)

cpl = Table(
    "cpl",
    metadata,
    Column("manufacturer", String(64), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("firmware_version", String(8), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("image_hash", String(64), nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("originator", String(_ID), primary_key=True),
    Column("counter", BigInteger, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("originator", String(_ID), primary_key=True),
    Column("counter", BigInteger, primary_key=True),
    Column("request_id", String(96), nullable=False),
    Column("user_id", String(_ID), nullable=False),
    Column("srv", String(8), nullable=False),
    Column("device_id", String(_ID), nullable=False, index=True),
    Column("ch_id", String(_ID), nullable=False),
    Column("message_code", Integer, nullable=False),
    Column("phase", String(24), nullable=False),
    Column("deadline", UtcDateTime(), nullable=False, index=True),
    Column("sent_at", UtcDateTime(), nullable=False),
    Column("execution", UtcDateTime()),
    Column("cancellation", Boolean, nullable=False),
    Column("image_hash", String(64)),
    Column("pre_command", LargeBinary),  # a CV 4's pre-command (D-S2)
)

reports = Table(
    "reports",
    metadata,
    Column("device_id", String(_ID), primary_key=True),
    Column("recipient_id", String(_ID), primary_key=True),
    Column("cra_flag", Integer, primary_key=True),
    Column("message_code", Integer, primary_key=True),
    Column("counter", BigInteger, primary_key=True),
)

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("device_id", String(_ID), index=True),
    Column("user_id", String(_ID)),
    Column("request_id", String(96)),
    Column("code", String(24)),
    Column("detail", JSON, nullable=False),
)

# D-E1: the status of the comms hubs a bridge reports (none: online)
hubs = Table(
    "hubs",
    metadata,
    Column("ch_id", String(_ID), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("reported_at", UtcDateTime()),
)

# The transactional outbox (D-W2): messages committed with the decision that caused
# them, deleted once the broker has them. `worker` holds the lease from `claimed_at`
# (wall seconds); a row whose lease has run out is published by another worker.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # publication order
    Column("message_id", String(40), nullable=False, unique=True),
    Column("topic", String(256), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("worker", String(128), nullable=False),
    Column("claimed_at", Float, nullable=False, index=True),
)

# Each DSP worker's tick horizon (D-W4): the device time up to which it may time requests
# out without timing out an answer it holds unhandled; reported at `reported_at` (wall
# seconds). Workers tick at the earliest horizon of those that reported lately.
worker_horizons = Table(
    "worker_horizons",
    metadata,
    Column("worker", String(128), primary_key=True),
    Column("horizon", UtcDateTime(), nullable=False),
    Column("reported_at", Float, nullable=False),
)

# Bus messages the DSP could not handle (issue 18, D-P1), kept with the reason and
# acknowledged so that they are not delivered again for ever; a store made before them
# gets the table from `create_all`.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("topic", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable columns a store made by an earlier smetslab lacks (`create_all`
    makes missing tables, not missing columns); the `table.column`s added. A lab folder
    keeps working across versions without a migration tool for what is, so far, only
    ever a new nullable column."""
    added = []
    with engine.begin() as conn:
        found = inspect(conn)
        for table in metadata.sorted_tables:
            present = {column["name"] for column in found.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable:
                    continue
                ddl = CreateColumn(column).compile(dialect=engine.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                added.append(f"{table.name}.{column.name}")
    return added

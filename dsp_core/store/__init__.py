"""Stores behind one interface: load what an event needs, commit what it changed.

`MemoryStore` keeps everything in one `State` (tests, benchmarks); `SqlStore` keeps
it in SQLite (file or in-memory) through SQLAlchemy 2 Core, written for PostgreSQL too.
"""

from .base import Store
from .memory import MemoryStore
from .sql import SqlStore

__all__ = ["MemoryStore", "SqlStore", "Store"]

"""Stores behind one interface: `await store.apply(scope, decide)` loads what an event
needs, lets the core decide and commits what it changed, in one transaction.

`MemoryStore` keeps everything in one `State` (tests, benchmarks); `SqlStore` keeps
it in SQLite (file or in-memory) or PostgreSQL through SQLAlchemy 2 Core.
"""

from .base import Store
from .memory import MemoryStore
from .sql import SqlStore

__all__ = ["MemoryStore", "SqlStore", "Store"]

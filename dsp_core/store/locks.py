"""How several DSP workers on one PostgreSQL database stay correct (D-W1).

Each event's transaction takes transaction-scoped advisory locks
(`pg_advisory_xact_lock`) on the names of what it may change, before it reads anything:
`device:<id>` for every device it loads or whose requests or reports it touches, and
`originator:<id>` for every originator counter it reads (the service user's, R1's
strictly increasing counter, and the DSP's own). So two events about one device, or
two requests from one user, run one after the other, each reading what the other
committed: reports of one device are applied in order and once (the report dedup key,
R8, is read under the device's lock), no counter is accepted twice, no SMI update is
lost.

Why advisory locks and not `SELECT ... FOR UPDATE` on the rows:

- the rows to serialise on do not all exist yet: a report's dedup row, a new request,
  the first counter of an originator. `FOR UPDATE` locks nothing that is not there,
  and two workers could both see "no report" and both apply it; a lock on a name works
  whether the row exists or not;
- a whole batch (D17) takes its locks at once, sorted by key, before its first load:
  every transaction takes them in the same order, so they cannot deadlock among
  themselves. Row locks are taken as rows are read, event after event, in no common
  order;
- one name per device does not depend on which query loads the device (by ID, by hub,
  through a request).

What a scope reaches only through rows (the devices on a hub, the device of a request
answered or due) is looked up first, without locks, and locked with the rest; after
each load the store checks that everything loaded is locked, and if not (a row that
changed between the look-up and the lock) locks it and loads again. A CPL change (R4)
touches every device running a version, so it takes one exclusive lock instead, which
every other transaction takes shared first: a CPL change runs alone, and the number of
locks a transaction holds stays that of its devices (PostgreSQL's lock table is
`max_locks_per_transaction` x connections: some thousands).

The isolation level must be READ COMMITTED: each statement then sees what was committed
before it began, so the loads that follow the lock see what the lock's last holder
wrote. (REPEATABLE READ would read from a snapshot taken before the wait.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection

from dsp_core.state import Scope, State
from dsp_core.tracking import OPEN_PHASES

from . import schema

log = logging.getLogger(__name__)

_D, _RQ = schema.devices, schema.requests
# The two-integer key space of advisory locks is apart from the one-bigint space that
# the names hash into.
_WHOLE_STORE = (0x534D, 0x4C42)
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:a, :b)")
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:a, :b)")
# unnest reads the array in order: the keys are locked in the order given (sorted)
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"
)
_ON_HUBS = select(_D.c.device_id).where(_D.c.comms_hub_id.in_(bindparam("hubs", expanding=True)))
_OF_REQUESTS = select(_RQ.c.device_id).where(
    _RQ.c.originator == bindparam("originator"), _RQ.c.counter == bindparam("counter")
)
_DUE = (
    select(_RQ.c.device_id)
    .where(_RQ.c.deadline <= bindparam("due"), _RQ.c.phase.in_([p.value for p in OPEN_PHASES]))
    .distinct()
)


def device_lock(device_id: str) -> str:
    return f"device:{device_id}"


def originator_lock(originator: str) -> str:
    return f"originator:{originator}"


def lock_key(name: str) -> int:
    """A name's advisory lock key: 64 bits of its BLAKE2b hash (a collision only makes
    two names wait for each other)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def named_locks(scope: Scope) -> set[str]:
    """The locks a scope names outright."""
    names = {device_lock(d) for d in scope.device_ids}
    names.update(device_lock(key[0]) for key in scope.report_keys)
    names.update(originator_lock(o) for o in scope.originators)
    return names


class AdvisoryLocks:
    """The advisory locks of one transaction on PostgreSQL."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.held: set[str] = set()
        self.exclusive = False

    def take_for(self, scopes: Iterable[Scope]) -> None:
        """Every lock a batch's scopes need, sorted, before anything is loaded."""
        scopes = list(scopes)
        self.exclusive = any(scope.version is not None for scope in scopes)
        a, b = _WHOLE_STORE
        self.conn.execute(_EXCLUSIVE if self.exclusive else _SHARED, {"a": a, "b": b})
        names: set[str] = set()
        for scope in scopes:
            names |= named_locks(scope) | self._looked_up(scope)
        self.take(names)

    def take(self, names: set[str]) -> None:
        new = names - self.held
        if self.exclusive or not new:
            return
        keys = sorted({lock_key(name) for name in new})
        self.conn.execute(_LOCK_KEYS, {"keys": keys})
        self.held |= new

    def missing(self, state: State) -> set[str]:
        """What `state` holds that no lock of this transaction covers."""
        if self.exclusive:
            return set()
        names = {device_lock(d) for d in state.devices}
        names.update(device_lock(t.device_id) for t in state.requests.values())
        return names - self.held

    def _looked_up(self, scope: Scope) -> set[str]:
        """The devices a scope reaches through rows: on its hubs, of its requests, due."""
        conn, found = self.conn, set[str]()
        if scope.ch_ids:
            found.update(conn.scalars(_ON_HUBS, {"hubs": list(scope.ch_ids)}))
        for originator, counter in scope.request_keys:
            found.update(conn.scalars(_OF_REQUESTS, {"originator": originator, "counter": counter}))
        if scope.due_before is not None:
            found.update(conn.scalars(_DUE, {"due": scope.due_before}))
        return {device_lock(d) for d in found}

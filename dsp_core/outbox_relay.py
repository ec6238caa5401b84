"""`OutboxRelay`: the outbox's messages onto the bus, and forgotten once the broker has
them (D-W2). The I/O half of `outbox.py`.

    relay = OutboxRelay(store, bus, worker="smetslab-dsp-0")
    await relay.recover(own=True)     # what this worker left when it last stopped or died
    relay.send(outgoing)              # committed messages: published, deleted on PUBACK
    await relay.run(stop)             # deletes confirmed rows; takes over stale ones

A worker that dies leaves its unconfirmed rows; they are published again by the same
worker when it starts again (`own`), or by any worker once their lease has run out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from functools import partial

from bus.adapter import MqttAdapter
from bus.waiting import first_of

from .errors import StoreError
from .outbox import OUTBOX_PAGE, Outgoing
from .store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # wall time an unconfirmed message stays its worker's
CHECK_SECONDS = 1.0  # how often a worker looks for messages whose lease ran out
FLUSH_SECONDS = 10.0  # how long a stopping worker waits for the last PUBACKs


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bus: MqttAdapter,
        worker: str,
        lease: float = LEASE_SECONDS,
        check: float = CHECK_SECONDS,
    ) -> None:
        self.store = store
        self.bus = bus
        self.worker = worker
        self.lease = lease
        self.check = check
        self.published = 0  # messages handed to the bus
        self.recovered = 0  # of them, taken over from the outbox table
        self._pending: set[asyncio.Future[None]] = set()
        self._in_order: deque[tuple[float, asyncio.Future[None]]] = deque()  # sent at, PUBACK
        self._confirmed: list[str] = []
        self._wake = asyncio.Event()

    def send(self, messages: Iterable[Outgoing]) -> None:
        """Publish committed messages in order; each is deleted once PUBACKed."""
        for message in messages:
            confirmed = self.bus.publish_confirmed(message.topic, message.payload)
            self._pending.add(confirmed)
            self._in_order.append((time.time(), confirmed))
            confirmed.add_done_callback(partial(self._on_confirmed, message.message_id))
            self.published += 1

    def oldest_unconfirmed(self) -> float | None:
        """When (wall clock) the oldest message the broker has not yet acknowledged was
        handed to the bus: a command still on its way holds back time-outs (D14)."""
        in_order = self._in_order
        while in_order and in_order[0][1].done():
            in_order.popleft()
        return in_order[0][0] if in_order else None

    async def recover(self, *, own: bool = False) -> int:
        """Claim and publish the messages whose lease ran out (a dead worker's) and, with
        `own`, those leased to this worker's name (its previous life's)."""
        count = 0
        while True:
            now = time.time()
            claimed = await self.store.claim_outbox(self.worker, now, now - self.lease, own=own)
            if claimed:
                log.warning(
                    "%s: publishing %d outbox messages left unconfirmed (first %s)",
                    self.worker,
                    len(claimed),
                    claimed[0].message_id,
                )
            self.send(claimed)
            count += len(claimed)
            if len(claimed) < OUTBOX_PAGE:
                self.recovered += count
                return count

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: delete what the broker confirmed, every `check` seconds take over
        what a dead worker left; then wait (a while) for the last confirmations."""
        loop = asyncio.get_running_loop()
        last_check = loop.time()
        while not stop.is_set():
            await self._woken(stop)
            await self._forget_confirmed()
            if loop.time() - last_check >= self.check:
                await self.recover()
                last_check = loop.time()
        await self.flush()

    async def flush(self, timeout: float = FLUSH_SECONDS) -> None:
        """Wait for what is in flight to be confirmed, and delete it."""
        if self._pending:
            _, unconfirmed = await asyncio.wait(list(self._pending), timeout=timeout)
            if unconfirmed:
                log.warning(
                    "%s: %d outbox messages unconfirmed at stop; kept for the next worker",
                    self.worker,
                    len(unconfirmed),
                )
        await self._forget_confirmed()

    async def _woken(self, stop: asyncio.Event) -> None:
        await first_of(self._wake.wait(), stop.wait(), timeout=self.check)
        self._wake.clear()

    async def _forget_confirmed(self) -> None:
        confirmed, self._confirmed = self._confirmed, []
        try:
            await self.store.outbox_done(confirmed)
        except StoreError as exc:  # kept; tried again with the next ones
            log.warning("%s: confirmed outbox messages not deleted yet: %s", self.worker, exc)
            self._confirmed[:0] = confirmed

    def _on_confirmed(self, message_id: str, confirmed: asyncio.Future[None]) -> None:
        self._pending.discard(confirmed)
        if not confirmed.cancelled():
            self._confirmed.append(message_id)
            self._wake.set()

"""The core's working state for one event: the records it may read, and what it changed.

A store loads what an event needs (`Scope`) into a `State`; the core reads and writes
it synchronously; the store then commits `take_changes()` in one transaction. The
in-memory store keeps one `State` for everything and skips the loading.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from contract.records import record
from contract.vocabulary import CplEntry, Device, Registration, User

from .model import HubStatus, JournalEntry
from .outbox import Outgoing
from .tracking import Phase, RequestKey, Tracked

CplKey = tuple[str, str, str]  # (manufacturer, model, firmware version)
# (device, recipient, CRA flag, message code, header counter): one report, once
ReportKey = tuple[str, str, int, int, int]


@record
class PutDevice:
    device: Device


@record
class PutCpl:
    entry: CplEntry


@record
class PutCounter:
    originator: str
    counter: int


@record
class PutRequest:
    tracked: Tracked


@record
class AddReport:
    key: ReportKey


@record
class AddJournal:
    entry: JournalEntry


@record
class PutHub:
    hub: HubStatus


@record
class AddOutgoing:
    """A message for the outbox (D-W2), leased to `worker` from `at` (wall seconds)."""

    message: Outgoing
    worker: str
    at: float


Change = (
    PutDevice | PutCpl | PutCounter | PutRequest | AddReport | AddJournal | PutHub | AddOutgoing
)


def cpl_key(entry: CplEntry) -> CplKey:
    return (entry.manufacturer, entry.model, entry.firmware_version)


@record
class Scope:
    """What one event may read; a store loads exactly this (and the core reads no more)."""

    user_ids: frozenset[str] = frozenset()
    device_ids: frozenset[str] = frozenset()
    ch_ids: frozenset[str] = frozenset()  # every device on these hubs
    originators: frozenset[str] = frozenset()  # last originator counters
    request_keys: frozenset[RequestKey] = frozenset()
    report_keys: frozenset[ReportKey] = frozenset()
    due_before: datetime | None = None  # open requests whose deadline has passed
    version: CplKey | None = None  # the CPL entry and every device running it
    hubs: frozenset[str] = frozenset()  # the status of these hubs (D-E1)
    hubs_of_devices: bool = False  # and of the hub of every device loaded
    # Loaded with every device: its registration, its model's CPL entries and its
    # open requests.

    def merged(self, other: Scope) -> Scope | None:
        """What both scopes reach, for events decided one after the other on one
        `State` (D19); None when they cannot share one: two CPL versions, or two
        different `due_before` times."""
        if None not in (self.version, other.version) and self.version != other.version:
            return None
        if None not in (self.due_before, other.due_before) and self.due_before != other.due_before:
            return None
        return Scope(
            user_ids=self.user_ids | other.user_ids,
            device_ids=self.device_ids | other.device_ids,
            ch_ids=self.ch_ids | other.ch_ids,
            originators=self.originators | other.originators,
            request_keys=self.request_keys | other.request_keys,
            report_keys=self.report_keys | other.report_keys,
            due_before=self.due_before or other.due_before,
            version=self.version or other.version,
            hubs=self.hubs | other.hubs,
            hubs_of_devices=self.hubs_of_devices or other.hubs_of_devices,
        )


class State:
    """Tables of records, with indexes, and the list of changes made to them."""

    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self.users: dict[str, User] = {}
        self.registrations: dict[str, Registration] = {}
        self.cpl: dict[CplKey, CplEntry] = {}
        self.counters: dict[str, int] = {}
        self.requests: dict[RequestKey, Tracked] = {}
        self.reports: set[ReportKey] = set()
        self.hub_statuses: dict[str, HubStatus] = {}
        self._hubs: dict[str, set[str]] = {}
        self._device_requests: dict[str, set[RequestKey]] = {}
        self._deadlines: list[tuple[datetime, RequestKey]] = []
        self._changes: list[Change] = []

    # ---- reads ------------------------------------------------------------------

    def device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def devices_on_hub(self, ch_id: str) -> list[Device]:
        return [self.devices[i] for i in sorted(self._hubs.get(ch_id, ()))]

    def devices_with_version(self, key: CplKey) -> list[Device]:
        return sorted(
            (
                d
                for d in self.devices.values()
                if (d.manufacturer, d.model, d.firmware_version) == key
            ),
            key=lambda d: d.device_id,
        )

    def hub_status(self, ch_id: str) -> HubStatus | None:
        """The status last taken for the hub; None when none was (online, D-E1)."""
        return self.hub_statuses.get(ch_id)

    def registration_of(self, device: Device) -> Registration | None:
        return self.registrations.get(device.mpxn)

    def cpl_entry(self, device: Device, version: str) -> CplEntry | None:
        return self.cpl.get((device.manufacturer, device.model, version))

    def open_requests_for(self, device_id: str) -> list[Tracked]:
        keys = self._device_requests.get(device_id, ())
        return sorted(
            (self.requests[k] for k in keys if self.requests[k].is_open), key=lambda t: t.sent_at
        )

    def due_requests(self, now: datetime) -> list[Tracked]:
        """Open requests whose deadline is at or before `now`, earliest first."""
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, key = heapq.heappop(self._deadlines)
            tracked = self.requests.get(key)
            if tracked is not None and tracked.is_open and tracked.deadline == deadline:
                due.append(tracked)
        return due

    # ---- writes, recorded as changes ---------------------------------------------

    def put_device(self, device: Device) -> None:
        self.load_device(device)
        self._changes.append(PutDevice(device))

    def put_cpl(self, entry: CplEntry) -> None:
        self.cpl[cpl_key(entry)] = entry
        self._changes.append(PutCpl(entry))

    def put_counter(self, originator: str, counter: int) -> None:
        self.counters[originator] = counter
        self._changes.append(PutCounter(originator, counter))

    def put_request(self, tracked: Tracked) -> None:
        self.load_request(tracked)
        self._changes.append(PutRequest(tracked))

    def add_report(self, key: ReportKey) -> None:
        self.reports.add(key)
        self._changes.append(AddReport(key))

    def journal(self, entry: JournalEntry) -> None:
        self._changes.append(AddJournal(entry))

    def put_hub_status(self, hub: HubStatus) -> None:
        self.hub_statuses[hub.ch_id] = hub
        self._changes.append(PutHub(hub))

    def put_outgoing(self, messages: Iterable[Outgoing], worker: str, at: float) -> None:
        self._changes.extend(AddOutgoing(message, worker, at) for message in messages)

    def take_changes(self) -> list[Change]:
        changes, self._changes = self._changes, []
        return changes

    # ---- loading, not recorded: for stores and seed data -------------------------

    def load_device(self, device: Device) -> None:
        old = self.devices.get(device.device_id)
        self.devices[device.device_id] = device
        if old is not None and old.comms_hub_id == device.comms_hub_id:
            return
        if old is not None:
            self._hubs[old.comms_hub_id].discard(device.device_id)
        self._hubs.setdefault(device.comms_hub_id, set()).add(device.device_id)

    def load_request(self, tracked: Tracked) -> None:
        is_open = tracked.is_open
        if not is_open and tracked.phase is not Phase.TIMED_OUT:
            self.requests.pop(tracked.key, None)
            keys = self._device_requests.get(tracked.device_id)
            if keys is not None:
                keys.discard(tracked.key)
                if not keys:  # no empty set kept for every device ever asked
                    del self._device_requests[tracked.device_id]
            return
        self.requests[tracked.key] = tracked
        self._device_requests.setdefault(tracked.device_id, set()).add(tracked.key)
        if is_open:
            heapq.heappush(self._deadlines, (tracked.deadline, tracked.key))

    def load(
        self,
        *,
        devices: Iterable[Device] = (),
        users: Iterable[User] = (),
        registrations: Iterable[Registration] = (),
        cpl: Iterable[CplEntry] = (),
        hubs: Iterable[HubStatus] = (),
    ) -> None:
        for hub in hubs:
            self.hub_statuses[hub.ch_id] = hub
        for device in devices:
            self.load_device(device)
        for user in users:
            self.users[user.user_id] = user
        for registration in registrations:
            self.registrations[registration.mpxn] = registration
        for entry in cpl:
            self.cpl[cpl_key(entry)] = entry

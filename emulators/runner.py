"""The fleet runner (`smetslab fleet`): every premises of a fleet on one MQTT connection
and one scheduler. Commands from `{root}/ch/+/down` go to the premises of that hub; what
the devices send goes to `{root}/ch/{ch_id}/up` when it is due on the shared clock; every
device event and fault is journalled (R11). The models stay sans-IO: this is the only
place that reads the clock or sleeps for them.

A runner given a `FleetShard` runs one partition of the hubs (D-S1): it takes and
acknowledges the commands for the other shards' hubs without acting on them (their
shard gets its own copy from the broker) and journals nothing for them.
"""

from __future__ import annotations

import asyncio
import logging

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from bus.waiting import first_of
from contract.errors import TopicError
from contract.topics import Route, TopicKind, Topics

from .actions import Output
from .faults import FaultRule
from .fleet import FleetModel
from .journal import FleetJournal
from .shards import FleetShard

log = logging.getLogger(__name__)


def fleet_link(url: str, topics: Topics, client_id: str, mqtt_version: str = "auto") -> LinkConfig:
    return LinkConfig(url, client_id, (topics.all_ch_down, topics.clock), mqtt_version=mqtt_version)


class FleetRunner:
    __slots__ = (
        "_rescheduled",
        "bus",
        "clock",
        "fleet",
        "journal",
        "refused",
        "shard",
        "skipped",
        "topics",
    )

    def __init__(
        self,
        fleet: FleetModel,
        bus: MqttAdapter,
        topics: Topics,
        clock: ScaledClock,
        journal: FleetJournal | None = None,
        *,
        shard: FleetShard | None = None,
    ) -> None:
        self.fleet = fleet
        self.shard = shard or FleetShard()
        self.skipped = 0  # commands for the hubs of other shards
        self.bus = bus
        self.topics = topics
        self.clock = clock
        self.journal = journal or FleetJournal()
        self.refused = 0
        self._rescheduled = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._consume(stop), name="fleet-consumer")
            tasks.create_task(self._timers(stop), name="fleet-timers")

    async def _consume(self, stop: asyncio.Event) -> None:
        while (message := await self.bus.next_message(stop)) is not None:
            self.handle(message)

    async def _timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._rescheduled.clear()
            await first_of(
                self.clock.sleep_until(self.fleet.next_due()),
                self._rescheduled.wait(),
                stop.wait(),
            )
            self._send(self.fleet.tick(self.clock.now()))

    def handle(self, message: BusMessage) -> None:
        try:
            route = self.topics.parse(message.topic)
        except TopicError as exc:
            self._refuse(message, str(exc))
            return
        try:
            match route:
                case Route(kind=TopicKind.CH_DOWN, entity=str(ch_id)):
                    self._down(bytes.fromhex(ch_id), message.payload)
                case Route(kind=TopicKind.CLOCK):
                    self._clock(message)
                case _:
                    self._refuse(message, "a fleet takes only hub commands and the clock")
        except Exception as exc:  # a poison message must not end the fleet (issue 18)
            self._refuse(message, f"could not be handled: {type(exc).__name__}: {exc}")
        self.bus.ack(message)

    def _down(self, ch_id: bytes, data: bytes) -> None:
        if not self.shard.owns(ch_id):
            self.skipped += 1
            return
        self._send(self.fleet.handle_down(ch_id, data, self.clock.now()))
        self._rescheduled.set()

    # ---- changes made while it runs (a scenario's faults, hil/lab/lab.py) ------------

    def add_fault(self, rule: FaultRule) -> None:
        """A fault rule for every premises of this fleet, from now on (after the plan's)."""
        self.fleet.faults.add(rule)

    def remove_fault(self, rule: FaultRule) -> None:
        self.fleet.faults.remove(rule)

    def flash(self, device_id: bytes, version: bytes, image_hash: bytes) -> None:
        """Firmware written on one device outside the DCC; journalled as `flashed`.
        `KeyError` names a device this fleet does not run."""
        premises = self.fleet.premises_of(device_id)
        self._send(premises.flash(device_id, version, image_hash, self.clock.now()))
        self._rescheduled.set()

    def _clock(self, message: BusMessage) -> None:
        try:
            self.clock.update(ClockSetting.from_json(message.payload))
        except BusError as exc:
            self._refuse(message, str(exc))

    def _send(self, outputs: list[Output]) -> None:
        for uplink in self.journal.record(outputs):
            self.bus.publish(self.topics.ch_up(uplink.ch_id), uplink.data)

    def _refuse(self, message: BusMessage, reason: str) -> None:
        self.refused += 1
        log.warning("fleet: refused a message on %s: %s", message.topic, reason)

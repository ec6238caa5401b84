"""The DSP service: the sans-IO core and its store on the bus (`smetslab dsp`).

It subscribes to `{root}/dsp/requests/+`, `{root}/ch/+/up` (shared as `$share/dsp/...`
on an MQTT 5 broker, so several workers split the load), `{root}/dsp/cpl`, and, not
shared, the retained `{root}/clock` and hub statuses `{root}/ch/+/status` (D-E1). Each
message becomes one event; the core decides, the store commits the decision with the
messages it causes (the outbox, D-W2), and only then is the message acknowledged, so a
DSP stopped or killed before the commit gets it again; the committed messages are
published from the outbox and deleted once the broker has them, by this worker or, if
it died, by the next one (`OutboxRelay`). Messages already waiting are taken together,
up to `ServiceLimits.batch`, and committed in one transaction (D17). A clock tick every
`tick` seconds of wall time drives the time-outs (E21, E30, receipts) on the shared
clock.

A message that cannot be turned into an event (an unknown topic, an oversized payload,
a bad clock or CPL message) is journalled and answered where there is someone to answer;
it never stops the service (DESIGN §3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from contract.cpl import cpl_entry_fields, parse_cpl_change
from contract.errors import (
    InvalidHubStatusError,
    InvalidRequestError,
    SmetslabError,
    TopicError,
)
from contract.ids import to_duis
from contract.requests import readable_request_id
from contract.topics import Route, TopicKind, Topics

from .driver import CoreDriver, Failed, describe_error
from .events import (
    Action,
    ClockTicked,
    CplChanged,
    DeviceMessageReceived,
    Event,
    MessageRefused,
    RequestReceived,
)
from .hubs import parse_hub_status
from .model import DeadLetter
from .outbox import OutboxEncoder, OutboxTopics, Outgoing
from .outbox_relay import CHECK_SECONDS, LEASE_SECONDS, OutboxRelay
from .state import State

log = logging.getLogger(__name__)

STARVED = 20  # tick periods without an empty queue before a tick is forced


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    max_request_bytes: int = 8 * 1024 * 1024  # an 11.1 carries a whole OTA image
    max_apdu_bytes: int = 64 * 1024
    tick_seconds: float = 0.1  # wall time between clock ticks
    batch: int = 64  # messages already received, handled in one store transaction (D17)
    outbox_lease: float = LEASE_SECONDS  # wall s before another worker sends what we did not
    outbox_check: float = CHECK_SECONDS  # wall s between looks for a dead worker's outbox
    # wall s after which a worker that has not reported its tick horizon no longer holds
    # the others' time-outs (D-W4): long enough for a dead worker to be started again
    horizon_stale: float = 10.0


def dsp_link(
    url: str, topics: Topics, client_id: str, mqtt_version: str = "auto", *, requests: bool = True
) -> LinkConfig:
    """What a DSP worker subscribes to; all but the clock and the hubs' statuses shared
    among the workers: every worker takes each retained status when it subscribes (a
    shared subscription gets no retained message) and every change (D-E1). Without
    `requests` the worker takes device messages only (D-W3): a service user's counters
    must arrive in order (R1), so one worker of a lab takes the requests and the CPL
    changes, and device messages are split among all of them."""
    taken = (topics.all_requests, topics.cpl) if requests else ()
    shared_filters = (*taken, topics.all_ch_up)
    return LinkConfig(
        url,
        client_id,
        # the retained clock last: amqtt 0.12 takes no further SUBSCRIBE of a resumed
        # session until that message is acknowledged (a restarted DSP hung without it)
        (*shared_filters, topics.all_ch_status, topics.clock),
        shared_group="dsp",
        shared_filters=shared_filters,
        mqtt_version=mqtt_version,
    )


class DspService:
    def __init__(
        self,
        driver: CoreDriver,
        bus: MqttAdapter,
        topics: Topics,
        clock: ScaledClock,
        limits: ServiceLimits | None = None,
    ) -> None:
        self.driver = driver
        self.bus = bus
        self.topics = topics
        self.clock = clock
        self.limits = limits or ServiceLimits()
        self.handled = 0
        self.worker = bus.config.client_id
        outbox_topics = OutboxTopics(topics.responses, topics.alerts, topics.ch_down)
        self.encoder = OutboxEncoder(outbox_topics, _message_id)
        self.outbox = OutboxRelay(
            driver.store, bus, self.worker, self.limits.outbox_lease, self.limits.outbox_check
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; the message in hand is finished first. What this
        worker's name left in the outbox (it died) is published first; the outbox relay
        runs beside (D-W2)."""
        await self.outbox.recover(own=True)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.outbox.run(stop), name=f"dsp-outbox {self.worker}")
            tasks.create_task(self.serve(stop), name=f"dsp-serve {self.worker}")

    async def serve(self, stop: asyncio.Event) -> None:
        """Take messages until `stop` is set.

        The clock ticks (time-outs, R8) when every message received so far has been
        handled, so a response waiting in the queue is never timed out; under a load that
        never lets the queue empty, every `STARVED` tick periods, up to the arrival time of
        the oldest message still queued."""
        loop = asyncio.get_running_loop()
        period = self.limits.tick_seconds
        last_tick = loop.time()
        while not stop.is_set():
            message = await self.bus.next_message(stop, timeout=period)
            if message is not None:
                await self.handle_batch([message, *self.bus.take(self.limits.batch - 1)])
            since = loop.time() - last_tick
            if since >= period and (self.bus.pending() == 0 or since >= STARVED * period):
                await self.tick()
                last_tick = loop.time()

    async def tick(self) -> None:
        """Time out what is due by the earliest horizon of the workers (D-W4), this
        one's included: what no worker may still hold an answer to."""
        wall = time.time()
        stale_before = wall - self.limits.horizon_stale
        store = self.driver.store
        due = await store.share_horizon(self.worker, self.horizon(), wall, stale_before)
        self.outbox.send(await self.driver.handle_then(ClockTicked(due), self._to_outbox))

    def horizon(self) -> datetime:
        """This worker's tick horizon: now, or, when messages are still queued, the time
        the oldest of them arrived (it may hold the answer to a request due), or, when
        what this worker published is not all with the broker yet, the time the oldest
        of that was sent (a command still on its way has not reached its device: R8's
        time-out is about the device, not the DSP's backlog, D14)."""
        now = self.clock.now()
        for oldest in (self.bus.oldest_pending(), self.outbox.oldest_unconfirmed()):
            if oldest is not None:
                now = min(now, self.clock.setting.device_time(oldest))
        return now

    async def handle(self, message: BusMessage) -> None:
        """One bus message: decide, commit, publish, then acknowledge."""
        await self.handle_batch([message])

    async def handle_batch(self, messages: list[BusMessage]) -> None:
        """Messages in arrival order: decide on each, commit them together with what they
        cause (D17, D-W2), publish that in order, then acknowledge the messages.

        A message that cannot be handled (issue 18: a poison message) is kept in the
        store's dead letters with its reason, answered S4 when it is a request, and
        acknowledged like the others: it is never delivered again (D-P1). Only the store
        failing to keep it stops the worker, the message unacknowledged."""
        taken: list[tuple[BusMessage, Event]] = []
        for message in messages:
            try:
                event = self._event(message)
            except Exception as exc:
                await self._dead_letter(message, describe_error(exc))
                continue
            if event is not None:
                taken.append((message, event))
        if taken:
            events = [event for _, event in taken]
            results = await self.driver.handle_each_then(events, self._to_outbox)
            for (message, _), result in zip(taken, results, strict=True):
                if isinstance(result, Failed):
                    await self._dead_letter(message, result.reason)
                else:
                    self.outbox.send(result)
        self.handled += len(messages)
        for message in messages:
            self.bus.ack(message)

    async def _dead_letter(self, message: BusMessage, reason: str) -> None:
        """Keep a message that could not be handled, and answer its sender if it is a
        request on a user's topic; one log line, no traceback (bad input is not a bug
        of the DSP's to trace)."""
        now = self._now()
        log.warning("dead letter on %s: %s", message.topic, reason)
        await self.driver.store.add_dead_letter(
            DeadLetter(message.topic, message.payload, reason, now)
        )
        user = self._requesting_user(message.topic)
        if user is None:
            return
        refused = MessageRefused(
            message.topic,
            f"the DSP could not handle this request: {reason}",
            now,
            user,
            readable_request_id(message.payload),
        )
        try:
            self.outbox.send(await self.driver.handle_then(refused, self._to_outbox))
        except Exception as exc:
            log.warning(
                "answering the dead letter on %s failed: %s", message.topic, describe_error(exc)
            )

    def _requesting_user(self, topic: str) -> str | None:
        try:
            route = self.topics.parse(topic)
            if route.kind is TopicKind.REQUEST and route.entity is not None:
                return to_duis(route.entity)
        except SmetslabError:
            pass
        return None

    def _now(self) -> datetime:
        try:
            return self.clock.now()
        except (OverflowError, ValueError):
            return datetime.now(UTC)

    # ---- bus message -> event ---------------------------------------------------

    def _event(self, message: BusMessage) -> Event | None:
        try:
            route = self.topics.parse(message.topic)
        except TopicError as exc:
            return MessageRefused(message.topic, str(exc), self.clock.now())
        return self._routed(message, route)

    def _routed(self, message: BusMessage, route: Route) -> Event | None:
        match route:
            case Route(kind=TopicKind.REQUEST, entity=str(user)):
                return self._request(message, user)
            case Route(kind=TopicKind.CH_UP, entity=str(ch_id)):
                return self._device_message(message, ch_id)
            case Route(kind=TopicKind.CPL):
                return self._cpl_change(message)
            case Route(kind=TopicKind.CLOCK):
                return self._clock(message)
            case Route(kind=TopicKind.CH_STATUS, entity=str(ch_id)):
                return self._hub_status(message, ch_id)
        reason = f"the DSP does not take messages on {message.topic}"
        return MessageRefused(message.topic, reason, self.clock.now())

    def _request(self, message: BusMessage, user: str) -> Event:
        now = self.clock.now()
        size, limit = len(message.payload), self.limits.max_request_bytes
        if size > limit:
            reason = f"request of {size} bytes is over the limit of {limit} bytes"
            return MessageRefused(message.topic, reason, now, to_duis(user))
        return RequestReceived(user, message.payload, now)

    def _device_message(self, message: BusMessage, ch_id: str) -> Event:
        now = self.clock.now()
        size, limit = len(message.payload), self.limits.max_apdu_bytes
        if size > limit:
            reason = f"GBCS message of {size} bytes from hub {ch_id} is over {limit} bytes"
            return MessageRefused(message.topic, reason, now)
        return DeviceMessageReceived(ch_id, message.payload, now)

    def _cpl_change(self, message: BusMessage) -> Event:
        now = self.clock.now()
        try:
            entry = parse_cpl_change(message.payload)
        except InvalidRequestError as exc:
            self._publish_json(self.topics.cpl_results, {"applied": False, "reason": str(exc)})
            return MessageRefused(message.topic, str(exc), now)
        self._publish_json(self.topics.cpl_results, {"applied": True, **cpl_entry_fields(entry)})
        return CplChanged(entry, now)

    def _hub_status(self, message: BusMessage, ch_id: str) -> Event:
        now = self.clock.now()
        try:
            wall = datetime.fromtimestamp(time.time(), UTC)
            return parse_hub_status(ch_id, message.payload, now, wall)
        except InvalidHubStatusError as exc:
            return MessageRefused(message.topic, str(exc), now)

    def _clock(self, message: BusMessage) -> Event | None:
        try:
            self.clock.update(ClockSetting.from_json(message.payload))
        except BusError as exc:
            return MessageRefused(message.topic, str(exc), self.clock.now())
        log.info("clock: %s", self.clock.setting)
        return None

    # ---- action -> bus message --------------------------------------------------

    def _to_outbox(self, actions: list[Action], state: State) -> list[Outgoing]:
        """In the event's transaction: its actions as outbox messages, leased to us."""
        outgoing = self.encoder.encode(actions)
        state.put_outgoing(outgoing, self.worker, time.time())
        return outgoing

    def _publish_json(self, topic: str, message: object) -> None:
        self.bus.publish(topic, json.dumps(message).encode())


def _message_id() -> str:
    """An outbox message's ID (an alert's `alert_id`): unique across workers."""
    return uuid.uuid4().hex

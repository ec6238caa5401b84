"""The DSP service: the sans-IO core and its store on the bus (`smetslab dsp`).

It subscribes to `{root}/dsp/requests/+`, `{root}/ch/+/up` (shared as `$share/dsp/...`
on an MQTT 5 broker, so several workers split the load), `{root}/dsp/cpl`, and, not
shared, the retained `{root}/clock` and hub statuses `{root}/ch/+/status` (D-E1). Each
message becomes one event; the core decides, the store commits, the actions are
published, and only then is the message acknowledged, so a DSP stopped or killed mid-way
gets it again. Messages already waiting are taken together, up to `ServiceLimits.batch`,
and committed in one transaction (D17). A clock tick every `tick` seconds of wall time
drives the time-outs (E21, E30, receipts) on the shared clock.

A message that cannot be turned into an event (an unknown topic, an oversized payload,
a bad clock or CPL message) is journalled and answered where there is someone to answer;
it never stops the service (DESIGN §3).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError, TopicError
from bus.topics import Route, TopicKind, Topics

from .admin import cpl_entry_fields, parse_cpl_change
from .driver import CoreDriver
from .errors import InvalidHubStatusError, InvalidRequestError
from .events import (
    Action,
    ClockTicked,
    CplChanged,
    DeviceMessageReceived,
    Event,
    MessageRefused,
    RequestReceived,
    SendAlert,
    SendCommand,
    SendResponse,
)
from .hub_messages import parse_hub_status
from .ids import to_compact, to_duis

log = logging.getLogger(__name__)

STARVED = 20  # tick periods without an empty queue before a tick is forced


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    max_request_bytes: int = 8 * 1024 * 1024  # an 11.1 carries a whole OTA image
    max_apdu_bytes: int = 64 * 1024
    tick_seconds: float = 0.1  # wall time between clock ticks
    batch: int = 64  # messages already received, handled in one store transaction (D17)


def dsp_link(url: str, topics: Topics, client_id: str, mqtt_version: str = "auto") -> LinkConfig:
    """What a DSP worker subscribes to; all but the clock and the hubs' statuses shared
    among the workers: every worker takes each retained status when it subscribes (a
    shared subscription gets no retained message) and every change (D-E1)."""
    shared_filters = (topics.all_requests, topics.all_ch_up, topics.cpl)
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

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; the message in hand is finished first.

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
        """Time out what is due: due by now, or, when messages are still queued, by the
        time the oldest of them arrived (it may hold the answer to a request due)."""
        now = self.clock.now()
        oldest = self.bus.oldest_pending()
        if oldest is not None:
            now = min(now, self.clock.setting.device_time(oldest))
        self._publish(await self.driver.handle(ClockTicked(now)))

    async def handle(self, message: BusMessage) -> None:
        """One bus message: decide, commit, publish, then acknowledge."""
        await self.handle_batch([message])

    async def handle_batch(self, messages: list[BusMessage]) -> None:
        """Messages in arrival order: decide on each, commit them together, publish
        every action in order, then acknowledge them all (D17)."""
        events = [event for event in map(self._event, messages) if event is not None]
        for actions in await self.driver.handle_all(events) if events else ():
            self._publish(actions)
        self.handled += len(messages)
        for message in messages:
            self.bus.ack(message)

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
            return parse_hub_status(ch_id, message.payload, now)
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

    def _publish(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SendResponse(user_id=user, response=response):
                    self._publish_json(self.topics.responses(to_compact(user)), response.to_json())
                case SendAlert(user_id=user, alert=alert):
                    self._publish_json(self.topics.alerts(to_compact(user)), alert.to_json())
                case SendCommand(ch_id=ch_id, data=data):
                    self.bus.publish(self.topics.ch_down(to_compact(ch_id)), data)

    def _publish_json(self, topic: str, message: object) -> None:
        self.bus.publish(topic, json.dumps(message).encode())

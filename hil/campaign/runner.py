"""The campaign on the bus (`smetslab campaign`): the sans-IO `CampaignModel` fed with the
responses and alerts of its service user, its requests published to the DSP, its timers
on the shared clock. This is the only part of the campaign that does I/O."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime

from bus.adapter import BusMessage, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from contract.ids import to_compact
from contract.requests import SendRequest
from contract.topics import TopicKind, Topics

from .model import CampaignModel
from .report import CampaignReport

log = logging.getLogger(__name__)

Progress = Callable[[CampaignModel], None]


class CampaignRunner:
    def __init__(
        self,
        model: CampaignModel,
        bus: MqttAdapter,
        topics: Topics,
        clock: ScaledClock,
        on_progress: Progress | None = None,
    ) -> None:
        self.model = model
        self.bus = bus
        self.topics = topics
        self.clock = clock
        self.on_progress = on_progress

    async def run(self, stop: asyncio.Event | None = None) -> CampaignReport:
        """Run to the end of the campaign (or until `stop`); the report says what happened."""
        stop = stop or asyncio.Event()
        self._send(self.model.start(self.clock.now()))
        while not self.model.finished and not stop.is_set():
            due = self.model.next_due()
            timeout = None if due is None else self.clock.seconds_until(due)
            message = await self.bus.next_message(stop, timeout)
            now = self.clock.now()
            if message is not None:
                self._send(self._on_message(message, now))
                self.bus.ack(message)
            if (due := self.model.next_due()) is not None and due <= now:
                self._send(self.model.on_tick(now))
            if self.on_progress is not None:
                self.on_progress(self.model)
        return self.model.report()

    def _on_message(self, message: BusMessage, now: datetime) -> list[SendRequest]:
        try:
            kind = self.topics.parse(message.topic).kind
            if kind is TopicKind.CLOCK:
                self.clock.update(ClockSetting.from_json(message.payload))
                return []
            content = json.loads(message.payload)
        except (BusError, ValueError) as exc:
            log.warning("campaign: unreadable message on %s: %s", message.topic, exc)
            return []
        if not isinstance(content, dict):
            log.warning("campaign: message on %s is not a JSON object", message.topic)
            return []
        match kind:
            case TopicKind.RESPONSES:
                return self.model.on_response(content, now)
            case TopicKind.ALERTS:
                return self.model.on_alert(content, now)
        return []

    def _send(self, requests: list[SendRequest]) -> None:
        for request in requests:
            topic = self.topics.request(to_compact(request.user_id))
            self.bus.publish(topic, request.to_bytes())

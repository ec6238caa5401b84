"""A conformance run on the bus: the sans-IO `ConformanceModel` fed with what its
service user receives (and, optionally, the device's hub traffic), its requests
published to the DSP, its deadlines on the shared clock. The only I/O of a run.

    report = await ConformanceRunner(target, options).run()

It is a service user like any other (DESIGN §3): it needs a running lab (the DSP and the
device, emulated or bridged) on the broker, and runs unchanged against either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from contract.ids import to_compact
from contract.requests import SendRequest
from contract.topics import TopicKind
from hil.security import Signer, Verifier

from .errors import ConformanceError
from .model import ConformanceModel
from .recording import Source
from .report import ConformanceReport
from .target import ConformanceOptions, ConformanceTarget

log = logging.getLogger(__name__)

SESSION_EXPIRY = 300  # seconds the broker keeps a run's session after it disconnects
HUB_SOURCES = {TopicKind.CH_DOWN: Source.HUB_DOWN, TopicKind.CH_UP: Source.HUB_UP}


class ConformanceRunner:
    def __init__(
        self,
        target: ConformanceTarget,
        options: ConformanceOptions | None = None,
        security: tuple[Signer | None, Verifier | None] = (None, None),
    ) -> None:
        """`security`: the lab's signer and verifier when its security is on."""
        self.target = target
        self.security = security
        self.options = options or ConformanceOptions()
        self.topics = target.topics
        self.run_id = uuid.uuid4().hex[:8]

    async def run(self) -> ConformanceReport:
        """Every step, then every check; a step that fails or times out does not stop
        the run (the checks say what is missing)."""
        async with AsyncExitStack() as stack:
            user = await self._connect(stack)
            clock = await self._clock(user)
            counter = self._first_counter()
            sequence = ConformanceModel(self.target, self.options, counter, self.security)
            session = _Session(self, sequence, clock, user, stack)
            await session.run()
        return ConformanceReport.of(sequence.recording(clock.now()))

    def link(self, role: str, subscriptions: tuple[str, ...]) -> LinkConfig:
        device = to_compact(self.target.device_id)
        return LinkConfig(
            self.target.broker,
            f"smetslab-conform-{device}-{self.run_id}-{role}",
            subscriptions,
            session_expiry=SESSION_EXPIRY,
            mqtt_version=self.target.mqtt_version,
        )

    async def _connect(self, stack: AsyncExitStack) -> MqttAdapter:
        user = to_compact(self.target.user_id)
        topics = (self.topics.responses(user), self.topics.alerts(user), self.topics.clock)
        bus = await stack.enter_async_context(MqttAdapter(self.link("user", topics)))
        try:
            await bus.wait_connected()
        except BusError as exc:
            raise ConformanceError(f"no broker at {self.target.broker}: {exc}") from exc
        return bus

    async def _clock(self, user: MqttAdapter) -> ScaledClock:
        """The lab's clock, retained on {root}/clock (DESIGN §6): the run waits for it."""
        topic = self.topics.clock
        try:
            async with asyncio.timeout(self.options.clock_wait):
                while (message := await user.next_message(asyncio.Event())) is not None:
                    user.ack(message)
                    if message.topic == topic:
                        return ScaledClock(ClockSetting.from_json(message.payload))
                    log.warning("conformance: %s before the clock, ignored", message.topic)
        except TimeoutError as exc:
            raise ConformanceError(
                f"no clock on {topic} within {self.options.clock_wait:g} s: is the lab's DSP "
                "running on this broker and topic root?"
            ) from exc
        except BusError as exc:
            raise ConformanceError(f"the clock on {topic} is unreadable: {exc}") from exc
        raise ConformanceError(f"no clock on {topic}")  # next_message() never gives None here

    def _first_counter(self) -> int:
        """The given counter, or the wall clock in milliseconds, as `smetslab campaign`
        counts (D-CF3): above the counters of earlier runs for this user."""
        given = self.options.first_counter
        return given if given is not None else time.time_ns() // 1_000_000


class _Session:
    """One run's connections, inbox and loop."""

    def __init__(
        self,
        runner: ConformanceRunner,
        sequence: ConformanceModel,
        clock: ScaledClock,
        user: MqttAdapter,
        stack: AsyncExitStack,
    ) -> None:
        self.runner = runner
        self.topics = runner.topics
        self.sequence = sequence
        self.clock = clock
        self.user = user
        self.stack = stack
        self.stop = asyncio.Event()
        self.inbox: asyncio.Queue[tuple[BusMessage, MqttAdapter]] = asyncio.Queue()
        self.observing = False

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._pump(self.user), name=f"conform-{self.runner.run_id}-user")
            try:
                await self._drive(tasks)
            finally:
                self.stop.set()

    async def _drive(self, tasks: asyncio.TaskGroup) -> None:
        sequence, clock = self.sequence, self.clock
        self._publish(sequence.start(clock.now()))
        while not sequence.finished:
            due = sequence.next_due()
            received = await self._next(None if due is None else clock.seconds_until(due))
            now = clock.now()
            if received is not None:
                message, bus = received
                self._publish(self._on_message(message, now))
                bus.ack(message)
            if (due := sequence.next_due()) is not None and due <= now:
                self._publish(sequence.on_tick(now))
            await self._observe_hub(tasks)

    async def _next(self, timeout: float | None) -> tuple[BusMessage, MqttAdapter] | None:
        try:
            async with asyncio.timeout(timeout):
                return await self.inbox.get()
        except TimeoutError:
            return None

    async def _pump(self, bus: MqttAdapter) -> None:
        """One connection's messages into the run's inbox, in order."""
        while (message := await bus.next_message(self.stop)) is not None:
            self.inbox.put_nowait((message, bus))

    def _on_message(self, message: BusMessage, now: datetime) -> list[SendRequest]:
        sequence = self.sequence
        try:
            kind = self.topics.parse(message.topic).kind
            if kind is TopicKind.CLOCK:
                self.clock.update(ClockSetting.from_json(message.payload))
            elif kind in HUB_SOURCES:
                sequence.on_hub(HUB_SOURCES[kind], message.payload, now)
            else:
                return self._on_json(kind, json.loads(message.payload), message.topic, now)
        except (BusError, ValueError) as exc:
            sequence.on_unreadable(message.topic, str(exc), now)
        return []

    def _on_json(
        self, kind: TopicKind, content: Any, topic: str, now: datetime
    ) -> list[SendRequest]:
        if not isinstance(content, dict):
            self.sequence.on_unreadable(topic, "not a JSON object", now)
            return []
        if kind is TopicKind.RESPONSES:
            return self.sequence.on_response(content, now)
        if kind is TopicKind.ALERTS:
            return self.sequence.on_alert(content, now)
        return []

    def _publish(self, requests: list[SendRequest]) -> None:
        for request in requests:
            device = self.runner.target.device_id
            log.info("conformance %s: SR %s %s", device, request.srv, request.request_id)
            self.user.publish(self.topics.request(to_compact(request.user_id)), request.to_bytes())

    async def _observe_hub(self, tasks: asyncio.TaskGroup) -> None:
        """Once the device's hub is known, watch its topics for the device's messages."""
        ch_id = self.sequence.ch_id
        if self.observing or not self.runner.options.observe_hub or ch_id is None:
            return
        self.observing = True
        hub = to_compact(ch_id)
        link = self.runner.link("hub", (self.topics.ch_down(hub), self.topics.ch_up(hub)))
        bus = await self.stack.enter_async_context(MqttAdapter(link))
        try:
            await bus.wait_connected()
        except BusError as exc:  # the hub's traffic is extra evidence: go on without it
            self.sequence.note(f"hub {ch_id} not observed: {exc}", self.clock.now())
            return
        tasks.create_task(self._pump(bus), name=f"conform-{self.runner.run_id}-hub")

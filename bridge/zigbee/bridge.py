"""The ZigBee bridge (`smetslab bridge zigbee`): a comms hub on the bus, on
`{root}/ch/{ch_id}/down` and `.../up` exactly as an emulated or serial one (DESIGN §1,
§3), whose HAN devices are ZigBee devices on a zigpy network (docs/zigbee-bridge.md).

Three loops in one task group: the bus (commands in; the shared clock), the radio (a
zigpy application from `app_factory`, started again with back-off whenever zigpy reports
the connection lost or the radio stops answering), and the translation layer's timers.
The translation layer (`HubTranslator`, sans-IO) decides; this module only carries its
operations to zigpy and its answers to the bus.

A command's bus message is acknowledged only when everything it causes now has been
published (its answer, or for a future-dated activation the acceptance): a command
waiting for the radio stays unacknowledged at the broker, and one the broker sends again
is recognised by its SHA-256 (`CommandLedger`) and carried once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import zigpy.types as t
from zigpy.device import Device

from bridge.errors import ZigbeeOperationError
from bridge.hub import HubEndpoint, hub_link
from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.backoff import Backoff
from bus.clock import Clock, ClockSetting, ScaledClock
from bus.errors import BusError
from bus.waiting import first_of
from contract.hub_status import HubStatusReport
from contract.ids import check_eui64
from contract.topics import TopicKind, Topics

from .actions import (
    DeviceUplink,
    DownloadEnded,
    Finished,
    OperationFailed,
    OpResult,
    ReadFirmware,
    SendUpgradeEnd,
    ServeImage,
    TranslatorAction,
    UpgradeEndSent,
    WakeAt,
    ZigbeeOp,
)
from .devicemap import DeviceMap, DeviceMapping
from .ota import read_firmware, send_upgrade_end, serve_image
from .radios import AppFactory, ControllerApplication
from .translate import HubTranslator, TranslatorConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ZigbeeBridgeConfig:
    devices: DeviceMap  # the hub's ID and its ZigBee devices
    radio: str = "ezsp"  # named on the status topic
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    read_retries: int = 3  # zigpy's own retries of an attribute read
    join_timeout: float = 30.0  # wall seconds an operation waits for its device's interview
    radio_check_timeout: float = 5.0  # wall seconds the watchdog may take after a failure
    permit_join: int = 0  # seconds joining is permitted after each radio start
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.2, cap=5.0))
    remembered: int = 4096  # commands remembered to spot one the broker sends again

    @property
    def ch_id(self) -> str:
        return self.devices.ch_id


def zigbee_bridge_link(
    url: str, topics: Topics, ch_id: str, client_id: str, mqtt_version: str = "auto"
) -> LinkConfig:
    """The bridge's MQTT connection: its hub's commands and the shared clock; its will
    marks the hub offline if the bridge dies (D-E5)."""
    subscriptions = (topics.ch_down(ch_id), topics.clock)
    return hub_link(
        url, topics, ch_id, client_id, subscriptions=subscriptions, mqtt_version=mqtt_version
    )


class RadioLink(StrEnum):
    CLOSED = "closed"  # no application: starting, or waiting to start again
    UP = "up"


@dataclass(frozen=True, slots=True)
class ZigbeeHubStatus:
    """What `{root}/ch/{ch_id}/status` says (retained), as the serial bridge's does."""

    ch_id: str
    radio: str
    devices: tuple[DeviceMapping, ...]
    link: RadioLink = RadioLink.CLOSED
    joined: frozenset[bytes] = frozenset()  # device IDs zigpy has interviewed
    reason: str = "starting"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def online(self) -> bool:
        return self.link is RadioLink.UP

    def report(self) -> HubStatusReport:
        devices = [
            {"device_id": d.hex_id, "ieee": d.ieee.hex(":"), "joined": d.device_id in self.joined}
            for d in self.devices
        ]
        details = {"radio": self.radio, "devices": devices}
        return HubStatusReport(
            self.ch_id, self.online, self.reason, self.at, str(self.link), details
        )


class RadioSession:
    """One started application, as a zigpy listener: its interviews and its loss."""

    def __init__(self, app: ControllerApplication, on_joined: Any) -> None:
        self.app = app
        self.lost = asyncio.Event()
        self.reason = ""
        self.ops: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._initialized: dict[t.EUI64, asyncio.Event] = {}
        self._on_joined = on_joined

    # zigpy's listener events
    def connection_lost(self, exc: BaseException | None) -> None:
        self.gone(f"the radio connection was lost: {exc!r}")

    def device_initialized(self, device: Device) -> None:
        self._ready(device.ieee).set()
        self._on_joined()

    def gone(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()

    def start(self, coroutine: Any, name: str) -> None:
        assert self.ops is not None
        task = self.ops.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def device(self, ieee: t.EUI64, timeout: float) -> Device:
        """The device once zigpy has interviewed it (at once for one known before)."""
        found = self.app.devices.get(ieee)
        if not (isinstance(found, Device) and found.is_initialized):
            try:
                async with asyncio.timeout(timeout):
                    await self._ready(ieee).wait()
            except TimeoutError as exc:
                raise ZigbeeOperationError(f"device {ieee} has not joined the network") from exc
        device = self.app.get_device(ieee=ieee)
        assert isinstance(device, Device)
        return device

    def _ready(self, ieee: t.EUI64) -> asyncio.Event:
        return self._initialized.setdefault(ieee, asyncio.Event())


class ZigbeeBridge:
    """One comms hub: its ZigBee devices behind a zigpy application."""

    def __init__(
        self,
        config: ZigbeeBridgeConfig,
        bus: MqttAdapter,
        topics: Topics,
        app_factory: AppFactory,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        routes = {TopicKind.CH_DOWN: self._command, TopicKind.CLOCK: self._clock}
        ch_id = check_eui64(config.ch_id, "comms hub ID")
        status = ZigbeeHubStatus(ch_id, config.radio, config.devices.devices)
        self.hub = HubEndpoint(
            ch_id, bus, topics, status=status, routes=routes, remembered=config.remembered
        )
        self.ch_id = ch_id
        self.app_factory = app_factory
        self.clock: Clock = clock or ScaledClock.real_time()
        self.translator = HubTranslator(
            (d.device_id for d in config.devices.devices), config.translator
        )
        self.connections = 0  # applications started
        self._ieee = {d.device_id: t.EUI64(d.ieee[::-1]) for d in config.devices.devices}
        self._rng = rng or random.Random()
        self._session: RadioSession | None = None
        self._timers: list[tuple[datetime, int, object]] = []  # a heap of (due, n, token)
        self._timer_numbers = itertools.count()
        self._rescheduled = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self.hub.publish_status()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._radio(stop), name=f"zigbee-radio {self.ch_id}")
                tasks.create_task(self.hub.consume(stop), name=f"zigbee-bus {self.ch_id}")
                tasks.create_task(self._wake(stop), name=f"zigbee-timers {self.ch_id}")
        finally:
            self.hub.set_status(
                link=RadioLink.CLOSED, joined=frozenset(), reason="the bridge stopped"
            )

    # ---- the radio ------------------------------------------------------------------

    async def _radio(self, stop: asyncio.Event) -> None:
        delays = self.config.backoff.delays(self._rng)
        failures = 0
        while not stop.is_set():
            app = await self._start(stop, failures)
            if app is None:
                failures += 1
                await first_of(asyncio.sleep(next(delays)), stop.wait())
                continue
            failures = 0
            delays = self.config.backoff.delays(self._rng)
            await self._serve(app, stop)
            if not stop.is_set():
                await first_of(asyncio.sleep(next(delays)), stop.wait())

    async def _start(self, stop: asyncio.Event, failures: int) -> ControllerApplication | None:
        starting = asyncio.ensure_future(self.app_factory())
        await first_of(starting, stop.wait())  # stopped first: no start left running
        if starting.cancelled():
            return None
        if (error := starting.exception()) is not None:
            level = logging.WARNING if failures == 0 else logging.DEBUG
            log.log(level, "hub %s: the radio did not start: %s", self.ch_id, error)
            if failures == 0:
                self.hub.set_status(reason=f"the radio did not start: {error}")
            return None
        return starting.result()

    async def _serve(self, app: ControllerApplication, stop: asyncio.Event) -> None:
        session = RadioSession(app, self._joined_changed)
        app.add_listener(session)
        self.connections += 1
        try:
            async with asyncio.TaskGroup() as ops:
                session.ops = ops
                self._session = session
                log.info("hub %s: radio up (%s)", self.ch_id, self.config.radio)
                self.hub.set_status(link=RadioLink.UP, joined=self._joined(app), reason="radio up")
                self._apply(self.translator.radio_up())
                self._permit_joining(session)
                await first_of(session.lost.wait(), stop.wait())
                self._radio_down(session)
        finally:
            self._radio_down(session)
            await self._shutdown(app)

    def _radio_down(self, session: RadioSession) -> None:
        if self._session is not session:
            return
        self._session = None
        self.translator.radio_down()
        session.cancel_all()
        reason = session.reason or "the bridge stopped"
        if session.lost.is_set():
            log.warning("hub %s offline: %s", self.ch_id, reason)
        self.hub.set_status(link=RadioLink.CLOSED, joined=frozenset(), reason=reason)

    async def _shutdown(self, app: ControllerApplication) -> None:
        try:
            async with asyncio.timeout(10):
                await app.shutdown()
        except Exception as exc:  # a radio that is gone may fail to say goodbye
            log.debug("hub %s: radio shutdown: %r", self.ch_id, exc)

    def _permit_joining(self, session: RadioSession) -> None:
        if self.config.permit_join > 0:
            name = f"zigbee-permit {self.ch_id}"
            session.start(session.app.permit(self.config.permit_join), name)

    # ---- operations -----------------------------------------------------------------

    def _start_op(self, op: ZigbeeOp) -> None:
        session = self._session
        assert session is not None, "the translator issues operations only while the radio is up"
        name = f"zigbee-op {op.op} {type(op).__name__} {op.device_id.hex().upper()}"
        session.start(self._run_op(session, op), name)

    async def _run_op(self, session: RadioSession, op: ZigbeeOp) -> None:
        try:
            result = await self._perform(session, op)
        except Exception as exc:  # zigpy and the radio libraries raise many kinds
            if session.lost.is_set():
                return  # the job issues it again when the radio is back
            if not await self._radio_answers(session.app):
                session.gone(f"the radio stopped answering ({exc!r})")
                return
            result = OperationFailed(f"{type(exc).__name__}: {exc}")
        if self._session is session:
            self._apply(self.translator.completed(op.op, result, self.clock.now()))

    async def _perform(self, session: RadioSession, op: ZigbeeOp) -> OpResult:
        device = await session.device(self._ieee[op.device_id], self.config.join_timeout)
        match op:
            case ReadFirmware():
                return await read_firmware(device, self.config.read_retries)
            case ServeImage(image=image, current_time=current, upgrade_time=upgrade):
                return DownloadEnded(await serve_image(device, image, current, upgrade))
            case SendUpgradeEnd(image=key, current_time=current, upgrade_time=upgrade):
                await send_upgrade_end(device, key, current, upgrade)
                return UpgradeEndSent()

    async def _radio_answers(self, app: ControllerApplication) -> bool:
        """After a failure: is it the device, or the radio? The radio's watchdog says."""
        try:
            async with asyncio.timeout(self.config.radio_check_timeout):
                await app.watchdog_feed()
        except Exception:  # a watchdog that fails in any way is a radio that is not there
            return False
        return True

    # ---- the bus --------------------------------------------------------------------

    def _command(self, message: BusMessage) -> None:
        digest = self.hub.take(message)
        if digest is not None:
            self._apply(self.translator.command(message.payload, digest, self.clock.now()))

    def _clock(self, message: BusMessage) -> None:
        self.hub.bus.ack(message)
        if not isinstance(self.clock, ScaledClock):
            return  # a test's manual clock is moved by the test
        try:
            self.clock.update(ClockSetting.from_json(message.payload))
        except BusError as exc:
            log.warning("hub %s: clock message refused: %s", self.ch_id, exc)
            return
        self._rescheduled.set()

    def _apply(self, actions: list[TranslatorAction]) -> None:
        for action in actions:
            match action:
                case DeviceUplink(data=data):
                    self.hub.uplink(data)
                case Finished(tag=tag):
                    assert isinstance(tag, bytes)
                    self.hub.finished(tag)
                case WakeAt(at=at, token=token):
                    heapq.heappush(self._timers, (at, next(self._timer_numbers), token))
                    self._rescheduled.set()
                case ReadFirmware() | ServeImage() | SendUpgradeEnd():
                    self._start_op(action)

    # ---- time -----------------------------------------------------------------------

    async def _wake(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._rescheduled.clear()
            due = self._timers[0][0] if self._timers else None
            await first_of(self.clock.sleep_until(due), self._rescheduled.wait(), stop.wait())
            while self._timers and self._timers[0][0] <= self.clock.now():
                _, _, token = heapq.heappop(self._timers)
                self._apply(self.translator.due(token, self.clock.now()))

    # ---- status ---------------------------------------------------------------------

    def _joined(self, app: ControllerApplication) -> frozenset[bytes]:
        joined = set()
        for device_id, ieee in self._ieee.items():
            device = app.devices.get(ieee)
            if isinstance(device, Device) and device.is_initialized:
                joined.add(device_id)
        return frozenset(joined)

    def _joined_changed(self) -> None:
        session = self._session
        if session is None:
            return
        joined = self._joined(session.app)
        if joined != self.hub.status.joined:
            self.hub.set_status(joined=joined, reason=f"{len(joined)} devices joined")

"""A premises: a comms hub (CHF + GPF) and the devices on its HAN.

The hub routes each GBCS command on `{root}/ch/{ch_id}/down` to the device named by the
header's recipient ID, and puts what the devices say on `.../up`. It is also where the
link faults of the plan act (drop, delay, duplicate, reorder; up or down), and where a
SMETS2 GSME's commands wait in the GPF until the GSME wakes (R10). An unknown recipient
is dropped with an `unroutable` event (docs/emulators.md E5).

Time: all timers go to the scheduler the premises is given (one per fleet); a scheduled
entry is handled at its due time, which is the `now` every model then sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import gbcs
from contract.errors import IllegalTransitionError
from emulators.actions import (
    Action,
    DeviceEvent,
    EventKind,
    FaultFired,
    Output,
    Send,
    Timer,
    Uplink,
)
from emulators.faults import Direction, FaultInjector, FaultKind, FaultRule
from emulators.models import FirmwareDeviceModel, GpfModel, GsmeModel
from emulators.scheduler import Scheduler
from gbcs.device_keys import DeviceSecurityError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceTimer:
    device: FirmwareDeviceModel
    timer: Timer


@dataclass(frozen=True, slots=True)
class DelayedUplink:
    """An uplink due later; `faulted` once the link faults have been applied to it."""

    device: FirmwareDeviceModel
    data: bytes
    message_code: int
    faulted: bool = False


@dataclass(frozen=True, slots=True)
class DelayedDownlink:
    """A downlink due later (a delay fault); its link faults were already applied."""

    device: FirmwareDeviceModel
    data: bytes


@dataclass(frozen=True, slots=True)
class GsmeWake:
    gsme: GsmeModel


@dataclass(frozen=True, slots=True)
class Held:
    """A message a reorder fault holds back until the next one on its link passes it."""

    direction: Direction
    device: FirmwareDeviceModel
    data: bytes
    message_code: int


@dataclass(frozen=True, slots=True)
class ReleaseHeld:
    held: Held


_NEW_FIRMWARE = frozenset({EventKind.ACTIVATED, EventKind.FLASHED})

ScheduledEvent = DeviceTimer | DelayedUplink | DelayedDownlink | GsmeWake | ReleaseHeld
FleetScheduler = Scheduler["PremisesModel", ScheduledEvent]


class PremisesModel:
    """A comms hub and its devices; `devices` maps recipient IDs to device models."""

    __slots__ = (
        "ch_id",
        "devices",
        "faults",
        "gpf",
        "gsme",
        "held",
        "queue",
        "scheduler",
        "wake_at",
    )

    def __init__(
        self,
        ch_id: bytes,
        devices: list[FirmwareDeviceModel],
        scheduler: FleetScheduler,
        faults: FaultInjector,
    ) -> None:
        self.ch_id = ch_id
        self.devices = {device.device_id: device for device in devices}
        self.scheduler = scheduler
        self.faults = faults
        self.gpf = next((d for d in devices if isinstance(d, GpfModel)), None)
        self.gsme = next((d for d in devices if isinstance(d, GsmeModel)), None)
        self.queue: tuple[gbcs.GbcsMessage, ...] = ()
        self.held: Held | None = None
        self.wake_at: datetime | None = None

    @property
    def hex_id(self) -> str:
        return self.ch_id.hex().upper()

    # --- down: from the DSP to a device -------------------------------------------------

    def handle_down(self, data: bytes, now: datetime) -> list[Output]:
        """One GBCS command from `{root}/ch/{ch_id}/down`."""
        try:
            header = gbcs.decode_header(data).header
        except gbcs.GbcsError as exc:
            return [DeviceEvent(self.hex_id, EventKind.UNDECODABLE, now, str(exc))]
        device = self.devices.get(header.recipient_id)
        if device is None:
            recipient = header.recipient_id.hex().upper()
            log.info("hub %s: no device %s on its HAN; dropped", self.hex_id, recipient)
            return [DeviceEvent(recipient, EventKind.UNROUTABLE, now, f"hub {self.hex_id}")]
        outputs: list[Output] = []
        self._pass(Held(Direction.DOWN, device, data, header.message_code), now, outputs)
        return outputs

    def _deliver(self, device: FirmwareDeviceModel, data: bytes, now: datetime) -> list[Output]:
        try:
            message = gbcs.decode(data)
        except gbcs.GbcsError as exc:
            return [DeviceEvent(device.hex_id, EventKind.UNDECODABLE, now, str(exc))]
        if device.keys is not None:
            try:
                device.keys.check_command(data)
            except DeviceSecurityError as exc:  # not executed, nor queued (D-SEC13)
                return self.absorb(device, device.refuse(message.header, exc, now), now)
        if device is self.gsme and device.profile.smets == 2:
            return self._queue_for_gsme(device, message, now)
        return self._run(device, message, now)

    def _run(
        self, device: FirmwareDeviceModel, message: gbcs.GbcsMessage, now: datetime
    ) -> list[Output]:
        try:
            actions = device.handle(message, now)
        except IllegalTransitionError as exc:
            log.warning("device %s rejected a command: %s", device.hex_id, exc)
            return [DeviceEvent(device.hex_id, EventKind.COMMAND_REJECTED, now, str(exc))]
        return self.absorb(device, actions, now)

    def _queue_for_gsme(
        self, gsme: GsmeModel, message: gbcs.GbcsMessage, now: datetime
    ) -> list[Output]:
        self.queue = (*self.queue, message)
        wake = self._ensure_wake(gsme, now)
        detail = f"{gbcs.message_name(message.header.message_code)} until {wake.isoformat()}"
        return [DeviceEvent(gsme.hex_id, EventKind.COMMAND_QUEUED, now, detail)]

    def _ensure_wake(self, gsme: GsmeModel, now: datetime) -> datetime:
        wake = gsme.next_wake(now)
        if self.wake_at is None or wake < self.wake_at:
            self.wake_at = wake
            self.scheduler.push(wake, self, GsmeWake(gsme))
        return wake

    # --- what devices return -------------------------------------------------------------

    def absorb(
        self, device: FirmwareDeviceModel, actions: list[Action], now: datetime
    ) -> list[Output]:
        """Turn a device's actions into uplinks, scheduled timers and events."""
        outputs: list[Output] = []
        for action in actions:
            match action:
                case Send():
                    self._send(device, action, now, outputs)
                case Timer():
                    self.scheduler.push(action.at, self, DeviceTimer(device, action))
                case DeviceEvent():
                    outputs.append(action)
                    self._after_event(device, action, now, outputs)
                case FaultFired():
                    outputs.append(action)
        return outputs

    def _send(
        self, device: FirmwareDeviceModel, send: Send, now: datetime, out: list[Output]
    ) -> None:
        due = send.at
        if device is self.gsme and isinstance(device, GsmeModel) and device.profile.smets == 2:
            due = device.next_wake(due)  # a sleeping GSME speaks when it next wakes
        if due > now:
            self.scheduler.push(due, self, DelayedUplink(device, send.data, send.message_code))
            return
        self._pass(Held(Direction.UP, device, send.data, send.message_code), now, out)

    def _after_event(
        self, device: FirmwareDeviceModel, event: DeviceEvent, now: datetime, out: list[Output]
    ) -> None:
        if event.kind not in _NEW_FIRMWARE or device is not self.gsme:
            return
        if isinstance(device, GsmeModel) and device.profile.smets == 2:
            self._ensure_wake(device, now)  # the GPF mirror follows at the next sync (R6)
        elif self.gpf is not None:
            out.extend(
                self.absorb(self.gpf, self.gpf.sync_mirror(device.running_version, now), now)
            )

    # --- link faults ---------------------------------------------------------------------

    def _pass(self, message: Held, now: datetime, out: list[Output]) -> None:
        """Apply the plan's link faults to one message, then deliver or transmit it."""
        delays = self._link_fate(message, now, out)
        if delays is None:
            return
        for delay in delays:
            if delay > 0:
                self._later(message, now + timedelta(seconds=delay))
            else:
                self._emit(message, now, out)
        self._release_held(message.direction, now, out)

    def _link_fate(
        self, message: Held, now: datetime, out: list[Output]
    ) -> tuple[float, ...] | None:
        """Delays of the copies to pass on: () when dropped, None when held back."""
        rule = self._link_fault(FaultKind.DROP, message, now, out)
        if rule is not None:
            return ()
        if self.held is None:  # one message held back per premises at a time
            rule = self._link_fault(FaultKind.REORDER, message, now, out)
            if rule is not None:
                self.held = message
                release = ReleaseHeld(message)
                self.scheduler.push(now + timedelta(seconds=rule.seconds), self, release)
                return None
        delay_rule = self._link_fault(FaultKind.DELAY, message, now, out)
        delay = 0.0 if delay_rule is None else delay_rule.seconds
        twin = self._link_fault(FaultKind.DUPLICATE, message, now, out)
        return (delay,) if twin is None else (delay, delay + twin.seconds)

    def _link_fault(
        self, kind: FaultKind, message: Held, now: datetime, out: list[Output]
    ) -> FaultRule | None:
        device, code = message.device, message.message_code
        rule = self.faults.fire(
            kind, device.device_id, device.profile.device_type, code, message.direction
        )
        if rule is not None:
            detail = f"{message.direction} {gbcs.message_name(message.message_code)}"
            out.append(FaultFired(device.hex_id, kind, message.message_code, now, detail))
        return rule

    def _later(self, message: Held, due: datetime) -> None:
        if message.direction is Direction.DOWN:
            self.scheduler.push(due, self, DelayedDownlink(message.device, message.data))
        else:
            event = DelayedUplink(message.device, message.data, message.message_code, faulted=True)
            self.scheduler.push(due, self, event)

    def _emit(self, message: Held, now: datetime, out: list[Output]) -> None:
        if message.direction is Direction.DOWN:
            out.extend(self._deliver(message.device, message.data, now))
        else:
            out.append(Uplink(self.hex_id, message.data, message.message_code, now))

    def _release_held(self, direction: Direction, now: datetime, out: list[Output]) -> None:
        held = self.held
        if held is not None and held.direction is direction:
            self.held = None
            self._emit(held, now, out)

    # --- scheduled events ----------------------------------------------------------------

    def on_event(self, event: ScheduledEvent, now: datetime) -> list[Output]:
        """A scheduler entry of this premises, handled at its due time `now`."""
        match event:
            case DeviceTimer(device, timer):
                return self.absorb(device, device.on_timer(timer, now), now)
            case DelayedUplink(device, data, code, faulted):
                return self._transmit(Held(Direction.UP, device, data, code), faulted, now)
            case DelayedDownlink(device, data):
                return self._deliver(device, data, now)
            case GsmeWake(gsme):
                return self._wake(gsme, now)
            case ReleaseHeld(held):
                out: list[Output] = []
                if self.held is held:
                    self.held = None
                    self._emit(held, now, out)
                return out

    def _transmit(self, message: Held, faulted: bool, now: datetime) -> list[Output]:
        out: list[Output] = []
        if faulted:
            self._emit(message, now, out)
        else:
            self._pass(message, now, out)
        return out

    def _wake(self, gsme: GsmeModel, now: datetime) -> list[Output]:
        """The GSME wakes: it takes its queued commands, then syncs the GPF mirror (R6)."""
        if self.wake_at != now:
            return []  # a stale wake: an earlier one was scheduled after it
        queue, self.queue = self.queue, ()
        detail = f"{len(queue)} queued"
        out: list[Output] = [DeviceEvent(gsme.hex_id, EventKind.GSME_WOKE, now, detail)]
        for message in queue:
            out.extend(self._run(gsme, message, now))
        if self.gpf is not None:
            out.extend(self.absorb(self.gpf, self.gpf.sync_mirror(gsme.running_version, now), now))
        self.wake_at = None  # only now: what the GSME did in this wake needs no other wake
        return out

    def flash(
        self, device_id: bytes, version: bytes, image_hash: bytes, now: datetime
    ) -> list[Output]:
        """Firmware written on a device outside the DCC; a GSME's GPF mirror follows at its
        next sync, as after an activation (R6)."""
        device = self.devices[device_id]
        return self.absorb(device, device.flash(version, image_hash, now), now)

    def power_cycle(self, device_id: bytes, now: datetime) -> list[Output]:
        """Power a device off and on (its running version survives; R10)."""
        device = self.devices[device_id]
        return self.absorb(device, device.power_cycle(now), now)

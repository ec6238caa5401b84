"""SMETS1 ESME and GSME: single-step firmware (R10).

0xFF05 only stages the image at the SMETS1 service provider (this model plays it): the
receipt comes at once. CS06 then triggers download and activation, which take
`activation_seconds`; the outcome (immediate CS06) or the 0x00CA alert (future-dated)
comes when they finish. A CS06 retried while that runs, or after it succeeded, is
answered without a firmware version when the profile says so (R5 then changes nothing).
SR 11.2 reads the version (ECS52 for the ESME, GCS38 for the GSME, answered at once:
the service provider, not a sleeping meter, holds the SMETS1 GSME's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from emulators.actions import Action, EventKind, Timer, TimerKind
from emulators.faults import FaultInjector, FaultKind
from gbcs import (
    ActivateFirmwareOutcome,
    FirmwareDistributionCommand,
    GbcsHeader,
    ReadEsmeFirmwareVersionCommand,
    ReadGsmeFirmwareVersionCommand,
)

from .base import DeviceProfile
from .firmware import (
    CS06,
    Code,
    FirmwareDeviceModel,
    ScheduledActivation,
    SlotEvent,
    SlotState,
    pending_image,
)


@dataclass(frozen=True, slots=True)
class Smets1Activation:
    """Download and activation under way; `scheduled` set means answer with an alert."""

    command: GbcsHeader
    image_hash: bytes
    scheduled: ScheduledActivation | None


class Smets1FirmwareModel(FirmwareDeviceModel):
    __slots__ = ("activation", "retries")

    def __init__(
        self,
        device_id: bytes,
        profile: DeviceProfile,
        faults: FaultInjector,
        *,
        running_version: bytes,
        running_hash: bytes,
        alert_counter: int = 0,
    ) -> None:
        super().__init__(
            device_id,
            profile,
            faults,
            running_version=running_version,
            running_hash=running_hash,
            alert_counter=alert_counter,
        )
        self.activation: Smets1Activation | None = None
        self.retries: tuple[GbcsHeader, ...] = ()

    @property
    def state_name(self) -> str:
        return self.slot.name

    def on_distribution(
        self, command: GbcsHeader, body: FirmwareDistributionCommand, now: datetime
    ) -> list[Action]:
        self.move(SlotEvent.STAGE)
        self.pending = pending_image(body.image)
        image_hash = self.pending.image_hash
        return [
            self.event(EventKind.IMAGE_STAGED, now, image_hash.hex()),
            self.receipt(command, image_hash, None, now),
        ]

    def power_cycle(self, now: datetime) -> list[Action]:
        """The staged image is at the service provider: a meter power cycle keeps it."""
        return [self.event(EventKind.POWER_CYCLED, now)]

    def activate_now(self, command: GbcsHeader, image_hash: bytes, now: datetime) -> list[Action]:
        if self.slot is SlotState.ACTIVATING:
            self.retries = (*self.retries, command)
            return [self.event(EventKind.ACTIVATION_STARTED, now, "retry joins the activation")]
        code = self._precheck(image_hash)
        if code is None:
            return self._start(command, image_hash, None, now)
        version: bytes | None = self.running_version
        if code is self.profile.repeat_activation_code and image_hash == self.running_hash:
            version = None if self.profile.retry_omits_version else version
        return [
            self.event(EventKind.ACTIVATION_FAILED, now, code.name),
            self.reply(command, ActivateFirmwareOutcome(code, version), now),
        ]

    def _precheck(self, image_hash: bytes) -> Code | None:
        pending = self.pending
        if self.slot is not SlotState.HELD or pending is None:
            return self.nothing_held_code(image_hash)
        if pending.image_hash != image_hash:
            return Code.HASH_MISMATCH
        return None

    def _start(
        self,
        command: GbcsHeader,
        image_hash: bytes,
        scheduled: ScheduledActivation | None,
        now: datetime,
    ) -> list[Action]:
        self.move(SlotEvent.START_ACTIVATION)
        self.activation = Smets1Activation(command, image_hash, scheduled)
        done = now + timedelta(seconds=self.profile.activation_seconds)
        return [
            self.event(EventKind.ACTIVATION_STARTED, now, f"done at {done.isoformat()}"),
            Timer(done, TimerKind.ACTIVATION_DONE, self.activation),
        ]

    def on_execute(self, scheduled: ScheduledActivation, now: datetime) -> list[Action]:
        self.scheduled = None
        code = self._precheck(scheduled.image_hash)
        if code is None:
            return self._start(scheduled.command, scheduled.image_hash, scheduled, now)
        return self.activation_alert(scheduled, code, self.running_version, now)

    def on_activation_done(self, activation: Smets1Activation, now: datetime) -> list[Action]:
        self.activation = None
        actions: list[Action] = []
        code, version = self._finish(now, actions)
        if activation.scheduled is not None:
            actions.extend(self.activation_alert(activation.scheduled, code, version, now))
        else:
            outcome = ActivateFirmwareOutcome(code, version)
            actions.append(self.reply(activation.command, outcome, now))
        retry_version = None if self.profile.retry_omits_version else version
        for retry in self.retries:
            actions.append(self.reply(retry, ActivateFirmwareOutcome(code, retry_version), now))
        self.retries = ()
        return actions

    def _finish(self, now: datetime, actions: list[Action]) -> tuple[Code, bytes]:
        pending = self.pending
        rule = self.fault(FaultKind.ACTIVATION_FAILURE, CS06)
        code = None if rule is None else rule.code
        if rule is not None:
            actions.append(self.fired(rule, CS06, now, f"activation fails with {rule.code.name}"))
        elif pending is None or pending.firmware_version is None:
            code = Code.ACTIVATION_FAILURE
        if code is not None:
            self.move(SlotEvent.ACTIVATION_FAILED)
            actions.append(self.event(EventKind.ACTIVATION_FAILED, now, code.name))
            return code, self.running_version
        return Code.SUCCESS, self.commit_pending(now, actions)

    def on_timer(self, timer: Timer, now: datetime) -> list[Action]:
        token = timer.token
        if timer.kind is TimerKind.ACTIVATION_DONE:
            if token is self.activation and self.activation is not None:
                return self.on_activation_done(self.activation, now)
            return []
        return super().on_timer(timer, now)


class Smets1EsmeModel(Smets1FirmwareModel):
    __slots__ = ()
    READ_COMMAND = ReadEsmeFirmwareVersionCommand


class Smets1GsmeModel(Smets1FirmwareModel):
    __slots__ = ()
    READ_COMMAND = ReadGsmeFirmwareVersionCommand

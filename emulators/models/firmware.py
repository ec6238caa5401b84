"""Firmware on a device: the pending slot, the OTA download, the hash check and activation.

Shared by the two-step devices (SMETS2 ESME, GSME, CHF, HCALCS; the PPMID activates on
receipt; the GPF only stores). The pending slot moves by one transition table; anything
not in it is a bug and raises IllegalTransitionError naming role, state and event.

- 0xFF05 distribution starts an OTA download: the image arrives in blocks over
  `blocks x ota_block_seconds`; then the slot holds it and the device raises the 0xFF06
  receipt with the SHA-256 of what it stored (R9). Faults: a corrupted block (another
  hash), a power loss part-way (the download is lost, or resumes after the outage).
- CS06 (R7, R10): immediate -> outcome now; future-dated -> accepted now and alert
  0x8F66/0x8F67 (message code 0x00CA) at the execution time; the cancellation
  date-time cancels a scheduled activation.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import ClassVar

from contract.transitions import TransitionTable
from emulators.actions import Action, EventKind, Timer, TimerKind
from emulators.faults import FaultInjector, FaultKind
from gbcs import (
    ActivateFirmwareAccepted,
    ActivateFirmwareCommand,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    FirmwareActivationAlert,
    FirmwareDistributionCommand,
    FirmwareReceiptAlert,
    GbcsDecodeError,
    GbcsHeader,
    GbcsMessage,
    MessageCode,
    ReadEsmeFirmwareVersionCommand,
)
from gbcs.ota import parse_ota_image

from .base import FIRMWARE_VERSION_SIZE, DeviceModel, DeviceProfile
from .reads import ReadCommand, answer_read

Code = ActivateImageResponseCode
CS06 = MessageCode.CS06_ACTIVATE_FIRMWARE
DISTRIBUTION = MessageCode.SMETSLAB_FIRMWARE_DISTRIBUTION
RECEIPT = MessageCode.SMETSLAB_FIRMWARE_RECEIPT
ACTIVATION_ALERT = MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT


class SlotState(IntEnum):
    EMPTY = 0
    DOWNLOADING = 1
    HELD = 2
    ACTIVATING = 3  # SMETS1: download and activation under way after CS06


class SlotEvent(IntEnum):
    DISTRIBUTE = 1
    BLOCKS_DONE = 2
    POWER_LOST_LOSE = 3
    POWER_LOST_RESUME = 4
    STAGE = 5
    START_ACTIVATION = 6
    ACTIVATED = 7
    ACTIVATION_FAILED = 8


_S, _E = SlotState, SlotEvent
SLOT_TRANSITIONS: TransitionTable[SlotState, SlotEvent] = TransitionTable(
    {
        (_S.EMPTY, _E.DISTRIBUTE): _S.DOWNLOADING,
        (_S.DOWNLOADING, _E.DISTRIBUTE): _S.DOWNLOADING,  # a new image restarts the download
        (_S.HELD, _E.DISTRIBUTE): _S.DOWNLOADING,  # and replaces the held one
        (_S.DOWNLOADING, _E.BLOCKS_DONE): _S.HELD,
        (_S.EMPTY, _E.POWER_LOST_LOSE): _S.EMPTY,
        (_S.DOWNLOADING, _E.POWER_LOST_LOSE): _S.EMPTY,
        (_S.HELD, _E.POWER_LOST_LOSE): _S.EMPTY,
        (_S.EMPTY, _E.POWER_LOST_RESUME): _S.EMPTY,
        (_S.DOWNLOADING, _E.POWER_LOST_RESUME): _S.DOWNLOADING,
        (_S.HELD, _E.POWER_LOST_RESUME): _S.HELD,
        (_S.EMPTY, _E.STAGE): _S.HELD,
        (_S.HELD, _E.STAGE): _S.HELD,
        (_S.HELD, _E.ACTIVATED): _S.EMPTY,
        (_S.HELD, _E.START_ACTIVATION): _S.ACTIVATING,
        (_S.ACTIVATING, _E.ACTIVATED): _S.EMPTY,
        (_S.ACTIVATING, _E.ACTIVATION_FAILED): _S.HELD,
    }
)


def next_slot_state(role: str, state: SlotState, event: SlotEvent) -> SlotState:
    return SLOT_TRANSITIONS.next(role, state, event)


@dataclass(frozen=True, slots=True)
class PendingImage:
    """A complete image in the pending slot: its SHA-256 and the version it would run."""

    image_hash: bytes
    firmware_version: bytes | None  # None: the OTA header could not be read


@dataclass(frozen=True, slots=True)
class Download:
    """An OTA download under way; the object is also the token of its timers."""

    command: GbcsHeader
    image: bytes  # as it will be stored (a corrupted block already applied)
    activate: bool
    blocks: int
    done_at: datetime
    resume: bool


@dataclass(frozen=True, slots=True)
class PowerLoss:
    """The token of a power-loss timer: which download it hits and how long power is off."""

    download: Download
    outage_seconds: float


@dataclass(frozen=True, slots=True)
class ScheduledActivation:
    """A future-dated CS06 waiting for its execution time; also its timer's token."""

    command: GbcsHeader
    image_hash: bytes
    execution: datetime


def image_version(image: bytes) -> bytes | None:
    """The firmware version an image carries: the OTA file version, 4 bytes big-endian."""
    try:
        header = parse_ota_image(image).header
    except GbcsDecodeError:
        return None
    return header.file_version.to_bytes(FIRMWARE_VERSION_SIZE, "big")


@functools.lru_cache(maxsize=32)
def pending_image(image: bytes) -> PendingImage:
    """The slot's view of an image. A campaign hands the same image to thousands of
    devices; parsing its OTA header once (about 600 µs) instead of per device matters."""
    return PendingImage(hashlib.sha256(image).digest(), image_version(image))


class FirmwareDeviceModel(DeviceModel):
    """A device with a pending slot and two-step activation (R10)."""

    __slots__ = ("download", "pending", "scheduled", "slot")
    ACTIVATES_ON_RECEIPT = False
    TAKES_CS06 = True  # the GPF and the PPMID take no CS06 (D7)
    READ_COMMAND: ClassVar[type[ReadCommand]] = ReadEsmeFirmwareVersionCommand  # SR 11.2 (D8)

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
        self.slot = SlotState.EMPTY
        self.pending: PendingImage | None = None
        self.download: Download | None = None
        self.scheduled: ScheduledActivation | None = None

    @property
    def state_name(self) -> str:
        return self.slot.name if self.scheduled is None else f"{self.slot.name}+SCHEDULED"

    def move(self, event: SlotEvent) -> None:
        self.slot = next_slot_state(self.profile.role, self.slot, event)

    def hold_image(self, image: PendingImage) -> None:
        """Put a complete image in the pending slot, as if it had been distributed."""
        self.move(SlotEvent.STAGE)
        self.pending = image
        self.download = None

    def dispatch(self, message: GbcsMessage, now: datetime) -> list[Action]:
        """Distribution, CS06 where the device takes it, and its own SR 11.2 read."""
        header, body = message.header, message.payload
        match body:
            case FirmwareDistributionCommand():
                return self.on_distribution(header, body, now)
            case ActivateFirmwareCommand() if self.TAKES_CS06:
                return self.on_activate(header, body, now)
        if isinstance(body, self.READ_COMMAND):
            return answer_read(self, header, body, self.read_version, now)
        raise self.unsupported(message)

    @property
    def read_version(self) -> bytes:
        """The version an SR 11.2 reports: the running one (a GPF reports its mirror)."""
        return self.running_version

    # --- distribution (R9) -------------------------------------------------------------

    def on_distribution(
        self, command: GbcsHeader, body: FirmwareDistributionCommand, now: datetime
    ) -> list[Action]:
        self.move(SlotEvent.DISTRIBUTE)
        self.pending = None
        actions: list[Action] = []
        image = self._maybe_corrupt(body.image, now, actions)
        blocks = max(1, -(-len(image) // self.profile.ota_block_size))
        done_at = now + timedelta(seconds=blocks * self.profile.ota_block_seconds)
        lost = self.fault(FaultKind.POWER_LOSS_DURING_DOWNLOAD, DISTRIBUTION)
        resume = self.faults.plan.resumes(lost)
        self.download = Download(command, image, body.activate, blocks, done_at, resume)
        actions.append(self.event(EventKind.DOWNLOAD_STARTED, now, f"{blocks} blocks"))
        if lost is None:
            actions.append(Timer(done_at, TimerKind.DOWNLOAD_DONE, self.download))
            return actions
        block = self.faults.rng.randrange(blocks)
        detail = f"power lost at block {block} of {blocks}; {'resume' if resume else 'lose'}"
        actions.append(self.fired(lost, DISTRIBUTION, now, detail))
        lost_at = now + timedelta(seconds=block * self.profile.ota_block_seconds)
        token = PowerLoss(self.download, lost.seconds)
        actions.append(Timer(lost_at, TimerKind.POWER_LOST, token))
        return actions

    def _maybe_corrupt(self, image: bytes, now: datetime, actions: list[Action]) -> bytes:
        rule = self.fault(FaultKind.CORRUPT_BLOCK, DISTRIBUTION)
        if rule is None or not image:
            return image
        size = self.profile.ota_block_size
        block = self.faults.rng.randrange(-(-len(image) // size))
        offset = block * size + self.faults.rng.randrange(min(size, len(image) - block * size))
        corrupted = bytearray(image)
        corrupted[offset] ^= 0xFF
        actions.append(self.fired(rule, DISTRIBUTION, now, f"block {block} byte {offset}"))
        return bytes(corrupted)

    def on_download_done(self, download: Download, now: datetime) -> list[Action]:
        self.move(SlotEvent.BLOCKS_DONE)
        self.download = None
        self.pending = pending_image(download.image)
        image_hash = self.pending.image_hash
        actions: list[Action] = [self.event(EventKind.DOWNLOAD_COMPLETE, now, image_hash.hex())]
        version = None
        if download.activate and self.ACTIVATES_ON_RECEIPT:
            code, version = self._activate(image_hash, now, actions)
            version = version if code is Code.SUCCESS else None
        actions.append(self.receipt(download.command, image_hash, version, now))
        return actions

    def receipt(
        self, command: GbcsHeader, image_hash: bytes, version: bytes | None, now: datetime
    ) -> Action:
        """The 0xFF06 receipt alert to the distribution's originator (R9, D8)."""
        payload = FirmwareReceiptAlert(image_hash, version)
        return self.raise_alert(command.originator_id, RECEIPT, payload, now, command)

    def on_power_lost(self, loss: PowerLoss, now: datetime) -> list[Action]:
        download, outage = loss.download, loss.outage_seconds
        if not download.resume:
            return self._lose_download(now)
        self.move(SlotEvent.POWER_LOST_RESUME)
        remaining = download.done_at + timedelta(seconds=outage)
        resumed = Download(
            download.command, download.image, download.activate, download.blocks, remaining, True
        )
        self.download = resumed
        return [
            self.event(EventKind.DOWNLOAD_RESUMED, now, f"after {outage} s"),
            Timer(remaining, TimerKind.DOWNLOAD_DONE, resumed),
        ]

    def _lose_download(self, now: datetime) -> list[Action]:
        self.move(SlotEvent.POWER_LOST_LOSE)
        self.download = None
        self.pending = None
        return [self.event(EventKind.DOWNLOAD_LOST, now)]

    def power_cycle(self, now: datetime) -> list[Action]:
        """Power off and on: the running version survives; the slot follows the fault plan."""
        actions: list[Action] = [self.event(EventKind.POWER_CYCLED, now)]
        affected = self.slot in (SlotState.DOWNLOADING, SlotState.HELD)
        if self.faults.plan.resumes(None) or not affected:
            return actions
        actions.extend(self._lose_download(now))
        return actions

    # --- activation (R7, R10) ----------------------------------------------------------

    def on_activate(
        self, command: GbcsHeader, body: ActivateFirmwareCommand, now: datetime
    ) -> list[Action]:
        if body.is_cancellation:
            return self._cancel(command, now)
        execution = body.execution_datetime
        if execution is not None and execution > self.clock(now):
            return self._schedule(command, body.image_hash, execution, now)
        return self.activate_now(command, body.image_hash, now)

    def activate_now(self, command: GbcsHeader, image_hash: bytes, now: datetime) -> list[Action]:
        actions: list[Action] = []
        code, version = self._activate(image_hash, now, actions)
        actions.append(self.reply(command, ActivateFirmwareOutcome(code, version), now))
        return actions

    def _cancel(self, command: GbcsHeader, now: datetime) -> list[Action]:
        actions: list[Action] = []
        if self.scheduled is not None:
            detail = f"was due {self.scheduled.execution.isoformat()}"
            actions.append(self.event(EventKind.ACTIVATION_CANCELLED, now, detail))
            self.scheduled = None
        actions.append(self.reply(command, ActivateFirmwareAccepted(), now))
        return actions

    def _schedule(
        self, command: GbcsHeader, image_hash: bytes, execution: datetime, now: datetime
    ) -> list[Action]:
        self.scheduled = ScheduledActivation(command, image_hash, execution)
        due = execution - timedelta(seconds=self.clock_skew)
        return [
            self.event(EventKind.ACTIVATION_SCHEDULED, now, execution.isoformat()),
            Timer(due, TimerKind.EXECUTE_ACTIVATION, self.scheduled),
            self.reply(command, ActivateFirmwareAccepted(), now),
        ]

    def on_execute(self, scheduled: ScheduledActivation, now: datetime) -> list[Action]:
        self.scheduled = None
        actions: list[Action] = []
        code, version = self._activate(scheduled.image_hash, now, actions)
        actions.extend(self.activation_alert(scheduled, code, version, now))
        return actions

    def activation_alert(
        self, scheduled: ScheduledActivation, code: Code, version: bytes | None, now: datetime
    ) -> list[Action]:
        """The 0x00CA alert (R7), with the command's originator counter inside, unless an
        `alert_counter_mismatch` fault makes the device get it wrong."""
        success = code is Code.SUCCESS
        alert_code = AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
        if not success:
            alert_code = AlertCode.FUTURE_DATED_EXECUTION_FAILURE
        actions: list[Action] = []
        counter = self._alert_counter(scheduled.command.originator_counter, now, actions)
        payload = FirmwareActivationAlert(alert_code, scheduled.execution, counter, code, version)
        recipient = scheduled.command.originator_id
        actions.append(self.raise_alert(recipient, ACTIVATION_ALERT, payload, now))
        return actions

    def _alert_counter(self, counter: int, now: datetime, actions: list[Action]) -> int:
        rule = self.fault(FaultKind.ALERT_COUNTER_MISMATCH, ACTIVATION_ALERT)
        if rule is None:
            return counter
        wrong = (counter + 1) % (1 << 64)
        detail = f"0x00CA alert names counter {wrong}, the command's is {counter}"
        actions.append(self.fired(rule, ACTIVATION_ALERT, now, detail))
        return wrong

    def _activate(
        self, image_hash: bytes, now: datetime, actions: list[Action]
    ) -> tuple[Code, bytes]:
        """Check and activate the pending image; the code and the version to report."""
        if self.slot is not SlotState.HELD:
            code = self.nothing_held_code(image_hash)
            actions.append(self.event(EventKind.ACTIVATION_FAILED, now, f"no image: {code.name}"))
            return code, self.running_version
        code = self.check_pending(image_hash, now, actions)
        if code is not Code.SUCCESS:
            actions.append(self.event(EventKind.ACTIVATION_FAILED, now, code.name))
            return code, self.running_version
        return Code.SUCCESS, self.commit_pending(now, actions)

    def nothing_held_code(self, image_hash: bytes) -> Code:
        """No image held: a repeat of the activation that made the running image gives the
        profile's repeat code (1 by default), anything else 1 No Image Held (R10)."""
        if image_hash == self.running_hash:
            return self.profile.repeat_activation_code
        return Code.NO_IMAGE_HELD

    def check_pending(self, image_hash: bytes, now: datetime, actions: list[Action]) -> Code:
        """The CS06 response code the held image gives for `image_hash` (R10)."""
        pending = self.pending
        assert pending is not None
        if pending.image_hash != image_hash:
            return Code.HASH_MISMATCH
        rule = self.fault(FaultKind.ACTIVATION_FAILURE, CS06)
        if rule is not None:
            actions.append(self.fired(rule, CS06, now, f"activation fails with {rule.code.name}"))
            return rule.code
        if pending.firmware_version is None:
            return Code.ACTIVATION_FAILURE
        return Code.SUCCESS

    def commit_pending(self, now: datetime, actions: list[Action]) -> bytes:
        pending = self.pending
        assert pending is not None
        assert pending.firmware_version is not None
        self.move(SlotEvent.ACTIVATED)
        self.running_version = pending.firmware_version
        self.running_hash = pending.image_hash
        self.pending = None
        actions.append(self.event(EventKind.ACTIVATED, now, self.running_version.hex().upper()))
        return self.running_version

    # --- timers ------------------------------------------------------------------------

    def on_timer(self, timer: Timer, now: datetime) -> list[Action]:
        """A timer this device asked for; a stale one (token replaced) does nothing."""
        token = timer.token
        match timer.kind:
            case TimerKind.DOWNLOAD_DONE if token is self.download and self.download:
                return self.on_download_done(self.download, now)
            case TimerKind.POWER_LOST if isinstance(token, PowerLoss):
                if token.download is not self.download:
                    return []
                return self.on_power_lost(token, now)
            case TimerKind.EXECUTE_ACTIVATION if token is self.scheduled and self.scheduled:
                return self.on_execute(self.scheduled, now)
            case _:
                return []

"""What every device model shares: its profile, its identity, its clock and its replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from contract.vocabulary import DeviceType
from emulators.actions import Action, DeviceEvent, EventKind, FaultFired, Send
from emulators.errors import UnsupportedCommandError
from emulators.faults import FaultInjector, FaultKind, FaultRule
from gbcs import (
    ActivateImageResponseCode,
    DeviceAlert,
    GbcsHeader,
    GbcsMessage,
    MessageCode,
    message_name,
)
from gbcs.payloads import Payload
from gbcs.replies import alert, response

if TYPE_CHECKING:
    from gbcs.device_keys import DeviceKeys, DeviceSecurityError

log = logging.getLogger(__name__)

FIRMWARE_VERSION_SIZE = 4


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """Immutable behaviour settings shared by every device built from one template entry."""

    device_type: DeviceType
    smets: int = 2
    manufacturer: str = "SMETSLAB"
    model: str = "MODEL-1"
    ota_block_size: int = 64
    ota_block_seconds: float = 0.05
    activation_seconds: float = 60.0  # SMETS1: download and activation after CS06 (R10)
    repeat_activation_code: ActivateImageResponseCode = ActivateImageResponseCode.NO_IMAGE_HELD
    retry_omits_version: bool = True  # SMETS1: a retried CS06 answers without a version
    wake_seconds: int = 1800  # GSME: how often it wakes and polls its GPF (R10)

    @property
    def role(self) -> str:
        return f"SMETS{self.smets} {self.device_type}"


class DeviceModel:
    """Base of the device models: identity, running firmware, clock skew and alert counter.

    Subclasses add behaviour, not per-instance dictionaries: everything is in slots, and
    the profile and fault injector are shared objects.
    """

    __slots__ = (
        "alert_counter",
        "clock_skew",
        "device_id",
        "faults",
        "keys",
        "profile",
        "running_hash",
        "running_version",
    )

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
        self.device_id = device_id
        self.profile = profile
        self.running_version = running_version
        self.running_hash = running_hash
        self.faults = faults
        self.alert_counter = alert_counter
        self.clock_skew = 0
        # its GBCS keys when the fleet's security is on (docs/security.md D-SEC17)
        self.keys: DeviceKeys | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hex_id} {self.running_version.hex().upper()}>"

    @property
    def hex_id(self) -> str:
        return self.device_id.hex().upper()

    @property
    def state_name(self) -> str:
        return "IDLE"

    def clock(self, now: datetime) -> datetime:
        """The device's own clock: the shared time plus any clock skew the plan gave it."""
        return now + timedelta(seconds=self.clock_skew) if self.clock_skew else now

    def handle(self, message: GbcsMessage, now: datetime) -> list[Action]:
        """A GBCS command for this device; returns responses, timers and events."""
        actions = self.check_clock_skew(message.header.message_code, now)
        actions.extend(self.dispatch(message, now))
        return actions

    def dispatch(self, message: GbcsMessage, now: datetime) -> list[Action]:
        raise self.unsupported(message)

    def unsupported(self, message: GbcsMessage) -> UnsupportedCommandError:
        event = f"{message_name(message.header.message_code)} {message.kind}"
        return UnsupportedCommandError(self.profile.role, self.state_name, event)

    def flash(self, version: bytes, image_hash: bytes, now: datetime) -> list[Action]:
        """Firmware written outside the DCC (a site engineer's or a lab's tool): the device
        runs `version` from now on; the DSP learns of it only from the device's reports."""
        if len(version) != FIRMWARE_VERSION_SIZE:
            raise ValueError(
                f"a firmware version is {FIRMWARE_VERSION_SIZE} bytes, not {version!r}"
            )
        previous = self.running_version.hex().upper()
        self.running_version, self.running_hash = version, image_hash
        return [self.event(EventKind.FLASHED, now, f"{previous} -> {version.hex().upper()}")]

    def check_clock_skew(self, code: int, now: datetime) -> list[Action]:
        rule = self.fault(FaultKind.CLOCK_SKEW, code)
        if rule is None:
            return []
        self.clock_skew = int(rule.seconds)
        return [self.fired(rule, code, now, f"clock now off by {self.clock_skew} s")]

    def fault(self, kind: FaultKind, code: int | None) -> FaultRule | None:
        return self.faults.fire(kind, self.device_id, self.profile.device_type, code)

    def fired(self, rule: FaultRule, code: int | None, now: datetime, detail: str) -> FaultFired:
        log.info("device %s: fault %s fired: %s", self.hex_id, rule.kind, detail)
        return FaultFired(self.hex_id, rule.kind, code, now, detail)

    def event(self, kind: EventKind, now: datetime, detail: str = "") -> DeviceEvent:
        log.debug("device %s: %s %s", self.hex_id, kind, detail)
        return DeviceEvent(self.hex_id, kind, now, detail)

    def reply(self, command: GbcsHeader, payload: Payload, now: datetime) -> Send:
        data = response(command, self.device_id, payload, self.clock(now), self.keys)
        return Send(data, command.message_code, now)

    def refuse(
        self, command: GbcsHeader, error: DeviceSecurityError, now: datetime
    ) -> list[Action]:
        """A command that failed its security checks: not executed; journalled as
        `authentication_failed`, and answered with the signed alert GBCS names for it
        (0x8F53, or 0x8F30 for an originator it does not trust; D-SEC13)."""
        code = error.alert_code
        log.warning("device %s: refused a command (alert 0x%04X): %s", self.hex_id, code, error)
        detail = f"alert 0x{code:04X} {code.name}: {error.reason}"
        payload = DeviceAlert(code, self.clock(now).replace(microsecond=0))
        return [
            self.event(EventKind.AUTHENTICATION_FAILED, now, detail),
            self.raise_alert(
                command.originator_id, MessageCode.GENERIC_CRITICAL_ALERT, payload, now, command
            ),
        ]

    def raise_alert(
        self,
        recipient_id: bytes,
        code: int,
        payload: Payload,
        now: datetime,
        command: GbcsHeader | None = None,
    ) -> Send:
        counter = self.alert_counter
        self.alert_counter += 1
        data = alert(
            self.device_id,
            recipient_id=recipient_id,
            counter=counter,
            message_code=code,
            payload=payload,
            command=command,
            sealer=self.keys,
        )
        return Send(data, code, now)

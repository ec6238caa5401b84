"""GBCS commands in, ZigBee operations out; ZigBee results in, GBCS answers out (sans-IO,
docs/zigbee-bridge.md §3). No asyncio, no clock: every call is given `now`.

Each command for a ZigBee device becomes a job in that device's queue (one at a time per
device, in arrival order); a job moves through steps by one table (`JOB_STEPS`):

- 11.2 read (ECS52, GCS38, CS08): read the version; the read response in the command's
  own use case.
- 11.1 distribution: serve the image through the OTA Upgrade cluster, the device to hold
  it (UpgradeTime 0xFFFFFFFF); the 0xFF06 receipt. 11.4 (activate): UpgradeTime now,
  settle, read; the receipt with the version.
- 11.3 immediate: an Upgrade End Response with UpgradeTime now, settle, read; the CS06
  outcome (code, version).
- 11.3 future-dated: an Upgrade End Response with the execution time; CS06 accepted; at
  the execution time (plus settle) read, then alert 0x8F66 or 0x8F67.
- 11.3 cancellation: an Upgrade End Response 0xFFFFFFFF (hold the image); CS06 accepted.
- 11.3 with no image held, or another hash: read; CS06 outcome 1 or 2 and the version.

What the bridge believes each device holds moves by a second table (`SLOT_TRANSITIONS`).
While the radio is down no operation is issued; one in flight when it went is issued
again when it is back (`radio_down`, `radio_up`), so nothing queued is lost, and answers
are produced once, when their job completes.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import gbcs
from gbcs import (
    ActivateFirmwareCommand,
    ActivateImageResponseCode,
    CraFlag,
    FirmwareDistributionCommand,
    GbcsHeader,
)
from gbcs.device_keys import DeviceKeys, DeviceSecurityError
from gbcs.keystore import KeyStore
from gbcs.ota import OtaImage, parse_ota_image

from .actions import (
    UPGRADE_TIME_WAIT,
    DeviceUplink,
    DownloadEnded,
    Finished,
    FirmwareRead,
    ImageKey,
    OperationFailed,
    OpResult,
    ReadFirmware,
    SendUpgradeEnd,
    ServeImage,
    TranslatorAction,
    UpgradeEndSent,
    WakeAt,
    ZigbeeOp,
    zigbee_time,
)
from .answers import (
    ReadCommand,
    activation_accepted,
    activation_alert,
    activation_outcome,
    read_answer,
    receipt_alert,
    refusal_alert,
    reported_version,
)
from .jobs import (
    JOB_STEPS,
    DeviceSlot,
    DeviceSlotEvent,
    DeviceView,
    HeldImage,
    JobKind,
    JobStep,
    Scheduled,
    SettleToken,
    ZigbeeJob,
    ZigbeeJobEvent,
)

log = logging.getLogger(__name__)
Code = ActivateImageResponseCode
READ_COMMANDS = (
    gbcs.ReadEsmeFirmwareVersionCommand,
    gbcs.ReadGsmeFirmwareVersionCommand,
    gbcs.ReadDeviceFirmwareVersionCommand,
)


@dataclass(frozen=True, slots=True)
class TranslatorConfig:
    # how long after an activation the device is read (it restarts on its new image)
    activation_settle: timedelta = timedelta(seconds=10)
    # the fleet's GBCS keys (security on, FleetBuild.keys): the bridge checks each
    # command for its device and signs or MACs the answers it writes for it (D-SEC18);
    # None: security off, placeholders as before
    keys: KeyStore | None = None
    # the remote parties its devices trust to sign critical commands (D-SEC14)
    signers: frozenset[bytes] | None = None

    @classmethod
    def of_fleet(cls, keys: KeyStore | None, signers: frozenset[bytes]) -> TranslatorConfig:
        """The bridge speaking for a fleet's devices: its keys (None with security off)
        and the signers its devices trust (FleetBuild.keys, FleetBuild.signers)."""
        return cls(keys=keys, signers=signers if keys is not None else None)


_RESULT_EVENTS: dict[type[OpResult], ZigbeeJobEvent] = {
    FirmwareRead: ZigbeeJobEvent.READ_DONE,
    DownloadEnded: ZigbeeJobEvent.DOWNLOAD_DONE,
    UpgradeEndSent: ZigbeeJobEvent.END_SENT,
    OperationFailed: ZigbeeJobEvent.FAILED,
}


class HubTranslator:
    """The translation layer of one hub: its ZigBee devices by smart-metering device ID."""

    def __init__(self, device_ids: Iterable[bytes], config: TranslatorConfig | None = None):
        self.config = config or TranslatorConfig()
        self.devices = {device_id: DeviceView(device_id) for device_id in device_ids}
        keys, signers = self.config.keys, self.config.signers
        self.device_keys = (
            {}
            if keys is None
            else {device_id: DeviceKeys(device_id, keys, signers) for device_id in self.devices}
        )
        self.radio_is_up = False
        self.counts: Counter[str] = Counter()
        self._ops: dict[int, DeviceView] = {}
        self._op_numbers = itertools.count(1)

    # ---- inputs ---------------------------------------------------------------------

    def command(self, data: bytes, tag: object, now: datetime) -> list[TranslatorAction]:
        """One GBCS command from `{root}/ch/{ch_id}/down`."""
        try:
            message = gbcs.decode(data)
        except gbcs.GbcsError as exc:
            return self._drop(tag, f"undecodable GBCS command: {exc}")
        header = message.header
        device = self.devices.get(header.recipient_id)
        if header.cra_flag is not CraFlag.COMMAND:
            return self._drop(tag, f"a {message.kind}, not a command")
        if device is None:
            recipient = header.recipient_id.hex().upper()
            return self._drop(tag, f"no ZigBee device {recipient} behind this hub")
        refusal = self._authenticate(device, data, header, tag, now)
        if refusal is not None:
            return refusal
        kind = _job_kind(message.payload)
        if kind is None:
            name = gbcs.message_name(header.message_code)
            return self._drop(tag, f"{name} is not carried to ZigBee devices")
        self.counts["commands"] += 1
        device.queue.append(ZigbeeJob(kind, header, message.payload, tag))
        return self._start_if_idle(device, now)

    def _authenticate(
        self, device: DeviceView, data: bytes, header: GbcsHeader, tag: object, now: datetime
    ) -> list[TranslatorAction] | None:
        """None when security is off or the command passes its device's checks; else
        the device's signed refusal alert, the command not carried (D-SEC13, D-SEC18)."""
        keys = self.device_keys.get(device.device_id)
        if keys is None:
            return None
        try:
            keys.check_command(data)
        except DeviceSecurityError as exc:
            self.counts["refused"] += 1
            log.warning("ZigBee device %s: command refused: %s", device.hex_id, exc.reason)
            counter = device.next_alert_counter(now)
            alert = refusal_alert(header, device.device_id, counter, exc, now=now, sealer=keys)
            return [self._uplink(device, alert), Finished(tag)]
        return None

    def _sealer(self, device: DeviceView) -> DeviceKeys | None:
        return self.device_keys.get(device.device_id)

    def completed(self, op: int, result: OpResult, now: datetime) -> list[TranslatorAction]:
        """The result of operation `op`; a stale one (issued before the radio went) is
        ignored: its job has issued it again."""
        device = self._ops.pop(op, None)
        job = device.queue[0] if device and device.queue else None
        if device is None or job is None or job.op != op:
            self.counts["stale_results"] += 1
            log.debug("result of operation %d ignored: no job waits for it", op)
            return []
        job.op = None
        job.request = None
        if isinstance(result, OperationFailed):
            self.counts["failed"] += 1
            log.warning("ZigBee device %s: %s failed: %s", device.hex_id, job.kind, result.reason)
        return self._advance(device, job, _RESULT_EVENTS[type(result)], result, now)

    def due(self, token: object, now: datetime) -> list[TranslatorAction]:
        """A `WakeAt` token's time has come; a stale one does nothing."""
        match token:
            case SettleToken(job):
                device = self._device_of(job)
                if device is not None and job.step is JobStep.SETTLING:
                    return self._advance(device, job, ZigbeeJobEvent.DUE, None, now)
            case Scheduled():
                return self._execution_due(token, now)
        return []

    def radio_down(self) -> None:
        """Operations in flight are lost; their jobs issue them again when it is back."""
        self.radio_is_up = False
        for device in self.devices.values():
            if device.queue and device.queue[0].op is not None:
                self._ops.pop(device.queue[0].op, None)
                device.queue[0].op = None

    def radio_up(self) -> list[TranslatorAction]:
        self.radio_is_up = True
        actions: list[TranslatorAction] = []
        for device in self.devices.values():
            if device.queue:
                actions.extend(self._issue(device, device.queue[0]))
        return actions

    def queued(self) -> int:
        return sum(len(device.queue) for device in self.devices.values())

    # ---- jobs -----------------------------------------------------------------------

    def _start_if_idle(self, device: DeviceView, now: datetime) -> list[TranslatorAction]:
        actions: list[TranslatorAction] = []
        while device.queue and device.queue[0].step is JobStep.QUEUED:
            actions.extend(self._advance(device, device.queue[0], ZigbeeJobEvent.START, None, now))
        return actions

    def _advance(
        self,
        device: DeviceView,
        job: ZigbeeJob,
        event: ZigbeeJobEvent,
        result: OpResult | None,
        now: datetime,
    ) -> list[TranslatorAction]:
        JOB_STEPS.check(f"{job.kind} for ZigBee device {device.hex_id}", job.step, event)
        match job.kind:
            case JobKind.READ:
                actions = self._read_job(device, job, result, now)
            case JobKind.DISTRIBUTE:
                actions = self._distribution_job(device, job, event, result, now)
            case JobKind.ACTIVATE:
                actions = self._activation_job(device, job, event, result, now)
            case JobKind.CANCEL:
                actions = self._cancellation_job(device, job, event, now)
            case JobKind.EXECUTE:
                actions = self._execution_job(device, job, result, now)
        if job.step is JobStep.DONE:
            actions.extend(self._finish(device, job, now))
        return actions

    def _finish(self, device: DeviceView, job: ZigbeeJob, now: datetime) -> list[TranslatorAction]:
        device.queue.popleft()
        actions: list[TranslatorAction] = []
        if job.tag is not None:
            actions.append(Finished(job.tag))
        actions.extend(self._start_if_idle(device, now))
        return actions

    def _await(
        self, device: DeviceView, job: ZigbeeJob, step: JobStep, request: ZigbeeOp
    ) -> list[TranslatorAction]:
        job.step = step
        job.request = request
        return self._issue(device, job)

    def _issue(self, device: DeviceView, job: ZigbeeJob) -> list[TranslatorAction]:
        if job.request is None or job.op is not None or not self.radio_is_up:
            return []
        job.op = next(self._op_numbers)
        self._ops[job.op] = device
        return [replace(job.request, op=job.op)]

    def _read(self, device: DeviceView, job: ZigbeeJob) -> list[TranslatorAction]:
        return self._await(device, job, JobStep.READING, ReadFirmware(0, device.device_id))

    def _uplink(self, device: DeviceView, data: bytes) -> DeviceUplink:
        self.counts["uplinks"] += 1
        return DeviceUplink(device.device_id, data)

    # ---- 11.2 -----------------------------------------------------------------------

    def _read_job(
        self, device: DeviceView, job: ZigbeeJob, result: OpResult | None, now: datetime
    ) -> list[TranslatorAction]:
        if job.step is JobStep.QUEUED:
            return self._read(device, job)
        job.step = JobStep.DONE
        if not isinstance(result, FirmwareRead):
            return []  # no answer from the device: the DSP's time-out answers E21 (R8)
        assert isinstance(job.body, READ_COMMANDS)
        body: ReadCommand = job.body
        version = reported_version(result)
        sealer = self._sealer(device)
        answer = read_answer(job.command, body, device.device_id, version, now, sealer=sealer)
        return [self._uplink(device, answer)]

    # ---- 11.1 / 11.4 ----------------------------------------------------------------

    def _distribution_job(
        self,
        device: DeviceView,
        job: ZigbeeJob,
        event: ZigbeeJobEvent,
        result: OpResult | None,
        now: datetime,
    ) -> list[TranslatorAction]:
        assert isinstance(job.body, FirmwareDistributionCommand)
        match job.step, event:
            case JobStep.QUEUED, _:
                return self._serve(device, job, job.body, now)
            case JobStep.SERVING, ZigbeeJobEvent.DOWNLOAD_DONE:
                assert isinstance(result, DownloadEnded)
                return self._served(device, job, result.status, now)
            case JobStep.SERVING, _:
                return self._not_taken(device, job, "the exchange failed")
            case JobStep.SETTLING, _:
                return self._read(device, job)
        return self._activated_at_once(device, job, result, now)

    def _serve(
        self, device: DeviceView, job: ZigbeeJob, body: FirmwareDistributionCommand, now: datetime
    ) -> list[TranslatorAction]:
        try:
            image = parse_ota_image(body.image)
        except gbcs.GbcsDecodeError as exc:
            return self._not_taken(device, job, f"the image is not an OTA file: {exc}")
        job.image = HeldImage(_image_key(image), hashlib.sha256(body.image).digest())
        clock = zigbee_time(now)
        upgrade = clock if body.activate else UPGRADE_TIME_WAIT
        request = ServeImage(0, device.device_id, body.image, upgrade, clock)
        return self._await(device, job, JobStep.SERVING, request)

    def _served(
        self, device: DeviceView, job: ZigbeeJob, status: int, now: datetime
    ) -> list[TranslatorAction]:
        if status != 0:
            return self._not_taken(device, job, f"the device ended it with ZCL status {status}")
        assert job.image is not None
        device.move(DeviceSlotEvent.IMAGE_TAKEN)
        device.held, device.scheduled = job.image, None
        assert isinstance(job.body, FirmwareDistributionCommand)
        if job.body.activate:  # 11.4: the device activated at once; read it once restarted
            job.step = JobStep.SETTLING
            return [WakeAt(now + self.config.activation_settle, SettleToken(job))]
        job.step = JobStep.DONE
        counter = device.next_alert_counter(now)
        image_hash, sealer = job.image.image_hash, self._sealer(device)
        data = receipt_alert(
            job.command, device.device_id, counter, image_hash, None, sealer=sealer
        )
        return [self._uplink(device, data)]

    def _not_taken(self, device: DeviceView, job: ZigbeeJob, reason: str) -> list[TranslatorAction]:
        """No receipt: the DSP frees the device after its receipt time-out (D10)."""
        self.counts["images_not_taken"] += 1
        log.warning("ZigBee device %s did not take the image: %s", device.hex_id, reason)
        if device.slot is not DeviceSlot.EMPTY:
            device.move(DeviceSlotEvent.DISCARDED)
        device.held = device.scheduled = None
        job.step = JobStep.DONE
        return []

    def _activated_at_once(
        self, device: DeviceView, job: ZigbeeJob, result: OpResult | None, now: datetime
    ) -> list[TranslatorAction]:
        image = job.image
        assert image is not None
        job.step = JobStep.DONE
        version = reported_version(result) if isinstance(result, FirmwareRead) else None
        ran = self._activation_result(device, image, version) is Code.SUCCESS
        counter = device.next_alert_counter(now)
        data = receipt_alert(
            job.command,
            device.device_id,
            counter,
            image.image_hash,
            version if ran else None,
            sealer=self._sealer(device),
        )
        return [self._uplink(device, data)]

    # ---- 11.3 -----------------------------------------------------------------------

    def _activation_job(
        self,
        device: DeviceView,
        job: ZigbeeJob,
        event: ZigbeeJobEvent,
        result: OpResult | None,
        now: datetime,
    ) -> list[TranslatorAction]:
        assert isinstance(job.body, ActivateFirmwareCommand)
        match job.step, event:
            case JobStep.QUEUED, _:
                return self._activate(device, job, job.body, now)
            case JobStep.ENDING, ZigbeeJobEvent.END_SENT:
                return self._activation_sent(device, job, now)
            case JobStep.SETTLING, _:
                return self._read(device, job)
            case JobStep.READING, ZigbeeJobEvent.READ_DONE:
                assert isinstance(result, FirmwareRead)
                return self._outcome(device, job, reported_version(result), now)
        job.step = JobStep.DONE  # the device did not answer: E21 at the DSP (R8)
        return []

    def _activate(
        self, device: DeviceView, job: ZigbeeJob, body: ActivateFirmwareCommand, now: datetime
    ) -> list[TranslatorAction]:
        held = device.held
        if held is None or device.slot is DeviceSlot.EMPTY:
            job.code = Code.NO_IMAGE_HELD
            return self._read(device, job)
        if held.image_hash != body.image_hash:
            job.code = Code.HASH_MISMATCH
            return self._read(device, job)
        job.image = held
        execution = body.execution_datetime
        if execution is not None and execution > now:
            job.execution = execution
        at = zigbee_time(job.execution or now)
        request = SendUpgradeEnd(0, device.device_id, held.key, zigbee_time(now), at)
        return self._await(device, job, JobStep.ENDING, request)

    def _activation_sent(
        self, device: DeviceView, job: ZigbeeJob, now: datetime
    ) -> list[TranslatorAction]:
        execution = job.execution
        if execution is None:
            job.step = JobStep.SETTLING
            return [WakeAt(now + self.config.activation_settle, SettleToken(job))]
        assert job.image is not None
        device.move(DeviceSlotEvent.SCHEDULED)
        device.scheduled = scheduled = Scheduled(job.command, execution, job.image)
        job.step = JobStep.DONE
        accepted = activation_accepted(
            job.command, device.device_id, now, sealer=self._sealer(device)
        )
        return [
            WakeAt(execution + self.config.activation_settle, scheduled),
            self._uplink(device, accepted),
        ]

    def _outcome(
        self, device: DeviceView, job: ZigbeeJob, version: bytes | None, now: datetime
    ) -> list[TranslatorAction]:
        job.step = JobStep.DONE
        code = job.code
        if code is None:  # read after the activation: did it run the new image?
            code = self._activation_result(device, job.image, version)
        sealer = self._sealer(device)
        answer = activation_outcome(
            job.command, device.device_id, code, version, now, sealer=sealer
        )
        return [self._uplink(device, answer)]

    def _activation_result(
        self, device: DeviceView, image: HeldImage | None, version: bytes | None
    ) -> Code:
        assert image is not None
        ran = version is not None and int.from_bytes(version, "big") == image.key.file_version
        device.move(DeviceSlotEvent.ACTIVATED if ran else DeviceSlotEvent.ACTIVATION_FAILED)
        if ran:
            device.held = None
        return Code.SUCCESS if ran else Code.ACTIVATION_FAILURE

    def _cancellation_job(
        self, device: DeviceView, job: ZigbeeJob, event: ZigbeeJobEvent, now: datetime
    ) -> list[TranslatorAction]:
        scheduled = device.scheduled
        if job.step is JobStep.QUEUED and scheduled is not None:
            key = scheduled.image.key
            clock = zigbee_time(now)
            request = SendUpgradeEnd(0, device.device_id, key, clock, UPGRADE_TIME_WAIT)
            return self._await(device, job, JobStep.ENDING, request)
        job.step = JobStep.DONE
        if event is ZigbeeJobEvent.FAILED:
            return []
        if scheduled is not None:
            device.move(DeviceSlotEvent.CANCELLED)
            device.scheduled = None
        sealer = self._sealer(device)
        accepted = activation_accepted(job.command, device.device_id, now, sealer=sealer)
        return [self._uplink(device, accepted)]

    # ---- the future-dated execution (R7) ---------------------------------------------

    def _execution_due(self, scheduled: Scheduled, now: datetime) -> list[TranslatorAction]:
        device = self.devices.get(scheduled.command.recipient_id)
        if device is None or device.scheduled is not scheduled:
            return []  # cancelled, or replaced by a new image
        device.queue.append(ZigbeeJob(JobKind.EXECUTE, scheduled.command, scheduled))
        return self._start_if_idle(device, now)

    def _execution_job(
        self, device: DeviceView, job: ZigbeeJob, result: OpResult | None, now: datetime
    ) -> list[TranslatorAction]:
        if job.step is JobStep.QUEUED:
            return self._read(device, job)
        job.step = JobStep.DONE
        scheduled = job.body
        assert isinstance(scheduled, Scheduled)
        if not isinstance(result, FirmwareRead):
            return []  # no alert: the DSP answers E30 when the execution grace passes
        version = reported_version(result)
        code = self._activation_result(device, scheduled.image, version)
        device.scheduled = None
        counter = device.next_alert_counter(now)
        data = activation_alert(
            scheduled.command,
            device.device_id,
            counter=counter,
            execution=scheduled.execution,
            code=code,
            version=version,
            sealer=self._sealer(device),
        )
        return [self._uplink(device, data)]

    # ---- helpers --------------------------------------------------------------------

    def _drop(self, tag: object, reason: str) -> list[TranslatorAction]:
        self.counts["dropped"] += 1
        log.warning("command dropped: %s", reason)
        return [Finished(tag)]

    def _device_of(self, job: ZigbeeJob) -> DeviceView | None:
        for device in self.devices.values():
            if device.queue and device.queue[0] is job:
                return device
        return None

    def jobs(self) -> Iterator[tuple[bytes, ZigbeeJob]]:
        for device in self.devices.values():
            for job in device.queue:
                yield device.device_id, job


def _job_kind(payload: object) -> JobKind | None:
    match payload:
        case FirmwareDistributionCommand():
            return JobKind.DISTRIBUTE
        case ActivateFirmwareCommand() if payload.is_cancellation:
            return JobKind.CANCEL
        case ActivateFirmwareCommand():
            return JobKind.ACTIVATE
        case _ if isinstance(payload, READ_COMMANDS):
            return JobKind.READ
    return None


def _image_key(image: OtaImage) -> ImageKey:
    header = image.header
    return ImageKey(header.manufacturer_code, header.image_type, header.file_version)

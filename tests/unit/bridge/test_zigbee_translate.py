"""The ZigBee translation layer, sans-IO (docs/zigbee-bridge.md §3): GBCS commands in,
ZigBee operations out; results in, GBCS answers out, decoded here as the DSP decodes
them (D8). R5, R7, R9, R10; the radio's loss and return (nothing lost, nothing twice)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

import gbcs
from bridge.zigbee.actions import (
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
    zigbee_time,
)
from bridge.zigbee.jobs import DeviceSlot, DeviceSlotEvent, DeviceView
from bridge.zigbee.translate import HubTranslator, TranslatorConfig
from contract.errors import IllegalTransitionError
from gbcs import (
    ActivateFirmwareAccepted,
    ActivateFirmwareCommand,
    ActivateFirmwareOutcome,
    AlertCode,
    CraFlag,
    FirmwareActivationAlert,
    FirmwareDistributionCommand,
    FirmwareReceiptAlert,
    GbcsHeader,
    GbcsMessage,
    MessageCode,
)
from gbcs.ota import OtaHeader, build_ota_image

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DEVICE = bytes.fromhex("00DB1229D26B9498")
OTHER = bytes.fromhex("00DB1229D26B9499")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
SETTLE = timedelta(seconds=10)
OLD, NEW = 0x0123ABCD, 0x0123ABCE
IMAGE = build_ota_image(OtaHeader(0x1037, 0x0201, NEW), b"\x5a" * 300).to_bytes()
IMAGE_HASH = hashlib.sha256(IMAGE).digest()
KEY = ImageKey(0x1037, 0x0201, NEW)
Code = gbcs.ActivateImageResponseCode
ActionT = TypeVar("ActionT", bound=TranslatorAction)


def command(payload: gbcs.Payload, code: int, counter: int, to: bytes = DEVICE) -> bytes:
    header = GbcsHeader(CraFlag.COMMAND, counter, SUPPLIER, to, None, code)
    return gbcs.encode(GbcsMessage(header, payload, b""))


def read_command(kind: str, counter: int, to: bytes = DEVICE) -> bytes:
    match kind:
        case "ECS52":
            payload: gbcs.Payload = gbcs.ReadEsmeFirmwareVersionCommand(0x2000_0000 | counter)
            return command(payload, MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION, counter, to)
        case "GCS38":
            payload = gbcs.ReadGsmeFirmwareVersionCommand(zcl_sequence=counter % 256)
            return command(payload, MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION, counter, to)
    payload = gbcs.ReadDeviceFirmwareVersionCommand()
    return command(payload, MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION, counter, to)


def distribution(counter: int, *, activate: bool = False, image: bytes = IMAGE) -> bytes:
    payload = FirmwareDistributionCommand(image, activate)
    return command(payload, MessageCode.SMETSLAB_FIRMWARE_DISTRIBUTION, counter)


def activation(
    counter: int, execution: datetime | None = None, image_hash: bytes = IMAGE_HASH
) -> bytes:
    payload = ActivateFirmwareCommand(image_hash, counter, execution)
    return command(payload, MessageCode.CS06_ACTIVATE_FIRMWARE, counter)


class Hub:
    """A translator with its radio up, and what it said last."""

    def __init__(self) -> None:
        self.translator = HubTranslator([DEVICE, OTHER], TranslatorConfig(SETTLE))
        assert self.translator.radio_up() == []
        self.now = NOW

    def send(self, data: bytes, tag: object = "tag") -> list[TranslatorAction]:
        return self.translator.command(data, tag, self.now)

    def answer(self, op: TranslatorAction, result: OpResult) -> list[TranslatorAction]:
        assert isinstance(op, ReadFirmware | ServeImage | SendUpgradeEnd)
        return self.translator.completed(op.op, result, self.now)

    def wake(self, wake: TranslatorAction) -> list[TranslatorAction]:
        assert isinstance(wake, WakeAt)
        self.now = wake.at
        return self.translator.due(wake.token, self.now)

    def slot(self) -> DeviceSlot:
        return self.state.slot

    def hold_image(self) -> None:
        """An 11.1 distribution taken by the device (R9)."""
        (serve,) = self.send(distribution(1))
        assert isinstance(serve, ServeImage)
        self.answer(serve, DownloadEnded(0))

    @property
    def state(self) -> DeviceView:
        return self.translator.devices[DEVICE]


def only(actions: list[TranslatorAction], kind: type[ActionT]) -> ActionT:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


def uplink(actions: list[TranslatorAction]) -> GbcsMessage:
    return gbcs.decode(only(actions, DeviceUplink).data)


# ---- 11.2 -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ECS52", "GCS38", "CS08"])
def test_an_11_2_read_is_answered_in_the_commands_own_use_case(kind: str) -> None:
    """D8: the response echoes the command's counter (and invoke ID or ZCL sequence)."""
    hub = Hub()
    (read,) = hub.send(read_command(kind, 77))
    assert isinstance(read, ReadFirmware)
    assert read.device_id == DEVICE
    actions = hub.answer(read, FirmwareRead(OLD))
    answer = uplink(actions)
    assert actions[-1] == Finished("tag")
    header = answer.header
    assert (header.cra_flag, header.originator_id, header.recipient_id) == (
        CraFlag.RESPONSE,
        DEVICE,
        SUPPLIER,
    )
    assert header.originator_counter == 77
    assert answer.payload.firmware_version == OLD.to_bytes(4, "big")  # type: ignore[union-attr]
    if kind == "ECS52":
        assert answer.payload.invoke_id == 0x2000_0000 | 77  # type: ignore[union-attr]
    if kind == "GCS38":
        assert answer.payload.zcl_sequence == 77  # type: ignore[union-attr]


def test_a_device_without_an_ota_version_is_read_by_its_basic_sw_build_id() -> None:
    hub = Hub()
    (read,) = hub.send(read_command("ECS52", 1))
    answer = uplink(hub.answer(read, FirmwareRead(None, "0123abcd")))
    assert answer.payload.firmware_version == bytes.fromhex("0123ABCD")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "ECS52",
            gbcs.ReadEsmeFirmwareVersionResponse(
                0x2000_0001, gbcs.DataAccessResult.HARDWARE_FAULT, None
            ),
        ),
        (
            "GCS38",
            gbcs.ReadGsmeFirmwareVersionResponse(
                gbcs.ZclStatus.HARDWARE_FAILURE, None, zcl_sequence=1
            ),
        ),
        (
            "CS08",
            gbcs.ReadDeviceFirmwareVersionResponse(
                bytes(4), gbcs.ReadFirmwareResponseCode.READ_FAILURE
            ),
        ),
    ],
)
def test_a_device_with_no_readable_version_gets_the_error_answer(
    kind: str, expected: gbcs.Payload
) -> None:
    """No OTA version and a SWBuildID that is no firmware version: the RTDS error forms."""
    hub = Hub()
    (read,) = hub.send(read_command(kind, 1))
    assert uplink(hub.answer(read, FirmwareRead(None, "v2.1 beta"))).payload == expected


def test_a_device_that_does_not_answer_gets_no_response_and_the_command_is_finished() -> None:
    """R8: the DSP's time-out answers E21; the command's bus message is acknowledged."""
    hub = Hub()
    (read,) = hub.send(read_command("CS08", 1))
    assert hub.answer(read, OperationFailed("no answer")) == [Finished("tag")]
    assert hub.translator.counts["failed"] == 1


# ---- 11.1 / 11.4 ------------------------------------------------------------------------


def test_a_distribution_is_served_held_and_receipted_with_the_image_hash() -> None:
    """R9: the device is told to hold the image (UpgradeTime 0xFFFFFFFF); the receipt
    carries the SHA-256 of the OTA file served, to the distribution's originator."""
    hub = Hub()
    (serve,) = hub.send(distribution(5))
    assert isinstance(serve, ServeImage)
    assert (serve.image, serve.upgrade_time) == (IMAGE, UPGRADE_TIME_WAIT)
    actions = hub.answer(serve, DownloadEnded(0))
    receipt = uplink(actions)
    assert actions[-1] == Finished("tag")
    assert isinstance(receipt.payload, FirmwareReceiptAlert)
    assert receipt.payload.image_hash == IMAGE_HASH
    assert receipt.payload.firmware_version is None
    assert receipt.header.cra_flag is CraFlag.ALERT
    assert receipt.header.recipient_id == SUPPLIER
    assert receipt.header.supplementary_originator_counter == 5
    assert hub.slot() is DeviceSlot.HELD


@pytest.mark.parametrize("status", [0x96, 0x94, 0x98])  # INVALID_IMAGE, TIMEOUT, NO_IMAGE
def test_an_image_the_device_refused_gets_no_receipt_and_nothing_held(status: int) -> None:
    hub = Hub()
    hub.hold_image()
    (serve,) = hub.send(distribution(2))
    assert hub.answer(serve, DownloadEnded(status)) == [Finished("tag")]
    assert hub.slot() is DeviceSlot.EMPTY
    assert hub.translator.counts["images_not_taken"] == 1


def test_an_image_that_is_not_an_ota_file_is_not_served() -> None:
    hub = Hub()
    assert hub.send(distribution(2, image=b"not an OTA file")) == [Finished("tag")]
    assert hub.slot() is DeviceSlot.EMPTY


def test_11_4_activates_at_once_and_the_receipt_carries_the_new_version() -> None:
    """R10 PPMID: one step; the receipt reports the version the device then runs (R5)."""
    hub = Hub()
    (serve,) = hub.send(distribution(3, activate=True))
    assert isinstance(serve, ServeImage)
    assert serve.upgrade_time == serve.current_time == zigbee_time(NOW)
    (wake,) = hub.answer(serve, DownloadEnded(0))
    assert isinstance(wake, WakeAt)
    assert wake.at == NOW + SETTLE
    (read,) = hub.wake(wake)
    receipt = uplink(hub.answer(read, FirmwareRead(NEW)))
    assert receipt.payload.firmware_version == NEW.to_bytes(4, "big")  # type: ignore[union-attr]
    assert hub.slot() is DeviceSlot.EMPTY


# ---- 11.3 -------------------------------------------------------------------------------


def test_an_immediate_activation_sends_upgrade_end_now_settles_reads_and_reports() -> None:
    """R10: CS06 outcome 0 with the new version, read from the device itself."""
    hub = Hub()
    hub.hold_image()
    (end,) = hub.send(activation(9))
    assert isinstance(end, SendUpgradeEnd)
    assert (end.image, end.current_time, end.upgrade_time) == (
        KEY,
        zigbee_time(NOW),
        zigbee_time(NOW),
    )
    (wake,) = hub.answer(end, UpgradeEndSent())
    (read,) = hub.wake(wake)
    actions = hub.answer(read, FirmwareRead(NEW))
    outcome = uplink(actions).payload
    assert outcome == ActivateFirmwareOutcome(Code.SUCCESS, NEW.to_bytes(4, "big"))
    assert actions[-1] == Finished("tag")
    assert hub.slot() is DeviceSlot.EMPTY


def test_a_device_still_on_its_old_version_after_activation_reports_failure_code_3() -> None:
    hub = Hub()
    hub.hold_image()
    (end,) = hub.send(activation(9))
    (wake,) = hub.answer(end, UpgradeEndSent())
    (read,) = hub.wake(wake)
    outcome = uplink(hub.answer(read, FirmwareRead(OLD))).payload
    assert outcome == ActivateFirmwareOutcome(Code.ACTIVATION_FAILURE, OLD.to_bytes(4, "big"))
    assert hub.slot() is DeviceSlot.HELD


@pytest.mark.parametrize(
    ("held", "image_hash", "code"),
    [
        (False, IMAGE_HASH, Code.NO_IMAGE_HELD),
        (True, bytes(32), Code.HASH_MISMATCH),
    ],
)
def test_cs06_with_no_image_or_another_hash_reads_and_answers_its_code(
    held: bool, image_hash: bytes, code: Code
) -> None:
    """R10: code 1 or 2, with the version the device runs (which R5 then processes)."""
    hub = Hub()
    if held:
        hub.hold_image()
    (read,) = hub.send(activation(4, image_hash=image_hash))
    assert isinstance(read, ReadFirmware)
    outcome = uplink(hub.answer(read, FirmwareRead(OLD))).payload
    assert outcome == ActivateFirmwareOutcome(code, OLD.to_bytes(4, "big"))


def test_a_future_dated_activation_is_accepted_then_alerts_0x8f66_after_its_time() -> None:
    """R7: the device is given the execution time as UpgradeTime; the command is accepted
    at once; at the time (plus settling) the version is read and reported in 0x8F66,
    with message code 0x00CA and the command's originator counter."""
    hub = Hub()
    hub.hold_image()
    execution = NOW + timedelta(hours=2)
    (end,) = hub.send(activation(12, execution))
    assert isinstance(end, SendUpgradeEnd)
    assert (end.current_time, end.upgrade_time) == (zigbee_time(NOW), zigbee_time(execution))
    actions = hub.answer(end, UpgradeEndSent())
    assert isinstance(uplink(actions).payload, ActivateFirmwareAccepted)
    assert actions[-1] == Finished("tag")
    wake = only(actions, WakeAt)
    assert isinstance(wake, WakeAt)
    assert wake.at == execution + SETTLE
    assert hub.slot() is DeviceSlot.SCHEDULED
    (read,) = hub.wake(wake)
    executed = uplink(hub.answer(read, FirmwareRead(NEW)))
    assert executed.header.message_code == MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT
    assert executed.payload == FirmwareActivationAlert(
        AlertCode.FUTURE_DATED_EXECUTION_SUCCESS,
        execution,
        12,
        Code.SUCCESS,
        NEW.to_bytes(4, "big"),
    )
    assert hub.slot() is DeviceSlot.EMPTY


def test_a_future_dated_activation_that_did_not_run_alerts_0x8f67() -> None:
    hub = Hub()
    hub.hold_image()
    execution = NOW + timedelta(hours=2)
    (end,) = hub.send(activation(12, execution))
    wake = only(hub.answer(end, UpgradeEndSent()), WakeAt)
    (read,) = hub.wake(wake)
    executed = uplink(hub.answer(read, FirmwareRead(OLD))).payload
    assert isinstance(executed, FirmwareActivationAlert)
    assert executed.alert_code is AlertCode.FUTURE_DATED_EXECUTION_FAILURE
    assert executed.response_code is Code.ACTIVATION_FAILURE


def test_a_cancellation_holds_the_image_again_and_the_old_time_passes_silently() -> None:
    """R7 and D4: the cancellation date-time sends UpgradeTime 0xFFFFFFFF; accepted."""
    hub = Hub()
    hub.hold_image()
    (end,) = hub.send(activation(12, NOW + timedelta(hours=2)))
    wake = only(hub.answer(end, UpgradeEndSent()), WakeAt)
    (cancel,) = hub.send(activation(13, gbcs.CANCELLATION_DATETIME))
    assert isinstance(cancel, SendUpgradeEnd)
    assert cancel.upgrade_time == UPGRADE_TIME_WAIT
    accepted = uplink(hub.answer(cancel, UpgradeEndSent()))
    assert isinstance(accepted.payload, ActivateFirmwareAccepted)
    assert hub.slot() is DeviceSlot.HELD
    assert hub.wake(wake) == []


def test_a_cancellation_with_nothing_scheduled_is_simply_accepted() -> None:
    hub = Hub()
    actions = hub.send(activation(13, gbcs.CANCELLATION_DATETIME))
    assert isinstance(uplink(actions).payload, ActivateFirmwareAccepted)


# ---- queues, the radio, what is refused ----------------------------------------------------


def test_a_device_takes_one_job_at_a_time_in_arrival_order() -> None:
    hub = Hub()
    (first,) = hub.send(read_command("ECS52", 1), tag="first")
    assert hub.send(read_command("ECS52", 2), tag="second") == []
    (other,) = hub.send(
        read_command("ECS52", 3, to=OTHER), tag="other"
    )  # another device: not held up
    assert isinstance(other, ReadFirmware)
    assert other.device_id == OTHER
    actions = hub.answer(first, FirmwareRead(OLD))
    assert [type(a) for a in actions] == [DeviceUplink, Finished, ReadFirmware]
    assert actions[1] == Finished("first")


def test_nothing_is_issued_while_the_radio_is_down_and_nothing_is_lost() -> None:
    hub = Hub()
    hub.translator.radio_down()
    assert hub.send(read_command("ECS52", 1)) == []
    (read,) = hub.translator.radio_up()
    assert isinstance(read, ReadFirmware)
    assert len([a for a in hub.answer(read, FirmwareRead(OLD)) if isinstance(a, DeviceUplink)]) == 1


def test_an_operation_lost_with_the_radio_is_issued_again_and_answered_once() -> None:
    hub = Hub()
    (serve,) = hub.send(distribution(1))
    assert isinstance(serve, ServeImage)
    hub.translator.radio_down()
    assert hub.answer(serve, DownloadEnded(0)) == []  # a late result of the lost operation
    (again,) = hub.translator.radio_up()
    assert isinstance(again, ServeImage)
    assert again.op != serve.op
    assert again.image == serve.image
    actions = hub.answer(again, DownloadEnded(0))
    assert len([a for a in actions if isinstance(a, DeviceUplink)]) == 1
    assert hub.answer(again, DownloadEnded(0)) == []  # and never twice
    assert hub.translator.counts["stale_results"] == 2


@pytest.mark.parametrize(
    "data",
    [
        read_command("ECS52", 1)[:20],  # undecodable
        command(
            gbcs.ReadEsmeFirmwareVersionCommand(1),
            MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION,
            1,
            to=SUPPLIER,
        ),
        command(gbcs.RawPayload(b"\x01"), 0x0001, 1),  # not a firmware use case
    ],
    ids=["undecodable", "unknown-device", "unsupported"],
)
def test_what_cannot_be_carried_is_dropped_and_acknowledged(data: bytes) -> None:
    hub = Hub()
    assert hub.send(data) == [Finished("tag")]
    assert hub.translator.counts["dropped"] == 1
    assert hub.translator.queued() == 0


def test_an_illegal_slot_transition_names_role_state_and_event() -> None:
    state = DeviceView(DEVICE)
    with pytest.raises(IllegalTransitionError) as caught:
        state.move(DeviceSlotEvent.SCHEDULED)
    assert (caught.value.state, caught.value.event) == ("EMPTY", "SCHEDULED")
    assert "00DB1229D26B9498" in caught.value.role


def test_alert_counters_increase_and_stay_ahead_of_a_restarted_bridge() -> None:
    """R8: the DSP takes a repeated (originator, counter) for a duplicate; a restarted
    bridge's counters start from the clock, past every one sent before."""
    state = DeviceView(DEVICE)
    first = state.next_alert_counter(NOW)
    second = state.next_alert_counter(NOW)
    restarted = DeviceView(DEVICE).next_alert_counter(NOW + timedelta(seconds=1))
    assert first < second < restarted

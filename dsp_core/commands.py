"""The GBCS commands the DSP sends to a comms hub, and the versions devices report (D8)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import gbcs
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes
from contract.records import record
from contract.vocabulary import Device, DeviceType
from gbcs import CraFlag, MessageCode

_M = MessageCode
# SR 11.2 by device type (D8): a GPF answers GCS38 from its mirror of the GSME (R6).
READ_FIRMWARE_CODES: dict[DeviceType, MessageCode] = {
    DeviceType.ESME: _M.ECS52_READ_ESME_CH_FIRMWARE_VERSION,
    DeviceType.CHF: _M.ECS52_READ_ESME_CH_FIRMWARE_VERSION,
    DeviceType.GSME: _M.GCS38_READ_GSME_FIRMWARE_VERSION,
    DeviceType.GPF: _M.GCS38_READ_GSME_FIRMWARE_VERSION,
    DeviceType.PPMID: _M.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION,
    DeviceType.HCALCS: _M.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION,
}
# ECS52's invoke-id-and-priority carries the counter's low bits (as the RTDS vectors).
_INVOKE_ID_BASE = 0x2000_0000
_EMPTY_SIGNATURE = b""  # a Non-Critical command's: its length byte, 0
_EMPTY_SIGNATURE_FIELD = b"\x00"


@record
class Sender:
    """Who a command is from: the user and their request's counter, or the DSP (the
    Access Control Broker) on the user's behalf under its own counter (D8)."""

    user: str
    user_counter: int
    dsp_counter: int | None = None

    def on_behalf(self, dsp_counter: int) -> Sender:
        return replace(self, dsp_counter=dsp_counter)

    @property
    def key(self) -> tuple[str, int]:
        """The (originator, counter) of the header, which the response echoes."""
        if self.dsp_counter is None:
            return (self.user, self.user_counter)
        return (DCC_ACCESS_CONTROL_BROKER, self.dsp_counter)


@record
class Command:
    key: tuple[str, int]
    message_code: int
    data: bytes


def signs_itself(device: Device) -> bool:
    """Whether the DSP originates 11.2 for this device under its own counter (CS08, D8)."""
    return READ_FIRMWARE_CODES[device.device_type] is _M.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION


def read_firmware(device: Device, sender: Sender) -> Command:
    code = READ_FIRMWARE_CODES[device.device_type]
    counter = sender.key[1]
    payload: gbcs.Payload
    match code:
        case _M.ECS52_READ_ESME_CH_FIRMWARE_VERSION:
            payload = gbcs.ReadEsmeFirmwareVersionCommand(_INVOKE_ID_BASE | counter % (1 << 24))
        case _M.GCS38_READ_GSME_FIRMWARE_VERSION:
            payload = gbcs.ReadGsmeFirmwareVersionCommand(zcl_sequence=counter % 256)
        case _:
            payload = gbcs.ReadDeviceFirmwareVersionCommand()
    return _command(device, code, sender, payload)


def activate_firmware(
    device: Device, sender: Sender, image_hash: bytes, execution: datetime | None
) -> Command:
    """CS06 as a pre-command: no signature field, for the user to sign (D-SEC8)."""
    payload = gbcs.ActivateFirmwareCommand(image_hash, sender.key[1], execution)
    return _command(device, _M.CS06_ACTIVATE_FIRMWARE, sender, payload, signature=None)


def unsigned(pre_command: bytes) -> bytes:
    """A pre-command as sent when security is off: with an empty signature field, as
    every command was before the DSP signed and MACed them (D-SEC7)."""
    return pre_command + _EMPTY_SIGNATURE_FIELD


def distribute_firmware(device: Device, sender: Sender, image: bytes, *, activate: bool) -> Command:
    payload = gbcs.FirmwareDistributionCommand(image, activate)
    return _command(device, _M.SMETSLAB_FIRMWARE_DISTRIBUTION, sender, payload)


def _command(
    device: Device,
    code: MessageCode,
    sender: Sender,
    payload: gbcs.Payload,
    *,
    signature: bytes | None = _EMPTY_SIGNATURE,
) -> Command:
    key = sender.key
    on_behalf = sender.dsp_counter is not None
    header = gbcs.GbcsHeader(
        CraFlag.COMMAND,
        key[1],
        to_bytes(key[0]),
        to_bytes(device.device_id),
        None,
        code,
        to_bytes(sender.user) if on_behalf else None,  # supplementary remote party ID
        sender.user_counter if on_behalf else None,  # and its counter
    )
    data = gbcs.encode(gbcs.GbcsMessage(header, payload, signature))
    return Command(key, code, data)


def reported_version(payload: gbcs.Payload) -> str | None:
    """The firmware version a response or alert reports, or None when it carries none."""
    match payload:
        case gbcs.ReadDeviceFirmwareVersionResponse(response_code=code) if code != 0:
            return None
        case (
            gbcs.ReadEsmeFirmwareVersionResponse()
            | gbcs.ReadGsmeFirmwareVersionResponse()
            | gbcs.ReadDeviceFirmwareVersionResponse()
            | gbcs.ActivateFirmwareOutcome()
            | gbcs.FirmwareActivationAlert()
            | gbcs.FirmwareReceiptAlert()
        ):
            version = payload.firmware_version
            return None if version is None else version.hex().upper()
    return None

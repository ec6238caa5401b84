"""The GBCS bytes a device sends: responses to commands, and alerts.

Shared by the device emulators and the ZigBee bridge (which speaks for the ZigBee devices
behind its hub), so both put the same headers on the same answers (docs/decisions.md D-ZB2).

Header rules (docs/emulators.md E3, following the RTDS response vectors and D8):
a response comes from the device, goes to the command's originator, echoes its
originator counter and keeps its supplementary remote party fields; an alert carries
the device's own alert counter. CS06 responses carry the device's clock in the header
(the RTDS vectors do; day of week unspecified), other messages carry no date-time.
The 11.2 read responses travel in General Ciphering, the rest in General Signing, as in
the RTDS vectors. With a `Sealer` (a device's `gbcs.device_keys.DeviceKeys`, security
on) the signatures and MACs are real: General Signing signed by the device, General
Ciphering MACed for the recipient (docs/security.md D-SEC15); without one (security
off) they are zero-filled placeholders of the real sizes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from .codes import CraFlag, MessageCode
from .datetimes import DEVIATION_NOT_SPECIFIED, NOT_SPECIFIED, DlmsDateTime
from .envelope import GbcsHeader, GeneralCiphering
from .messages import GbcsMessage, encode
from .payloads import Payload

SIGNATURE_SIZE = 64
MAC_SIZE = 12
PLACEHOLDER_SIGNATURE = bytes(SIGNATURE_SIZE)
PLACEHOLDER_CIPHERING = GeneralCiphering(mac=bytes(MAC_SIZE))
CIPHERED_RESPONSES = frozenset(
    {
        MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION,
        MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION,
        MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION,
    }
)
STAMPED_RESPONSES = frozenset({MessageCode.CS06_ACTIVATE_FIRMWARE})


class Sealer(Protocol):
    """What signs and MACs a device's messages (`gbcs.device_keys.DeviceKeys`)."""

    def sign(self, data: bytes) -> bytes:
        """The General Signing APDU `data` (signature field absent) signed."""
        ...

    def mac(self, data: bytes) -> bytes:
        """The General Signing APDU `data` in General Ciphering, MACed for its recipient."""
        ...


def device_time(clock: datetime) -> DlmsDateTime:
    """The device's clock as it stamps a header: UTC, day of week and deviation unspecified."""
    clock = clock.astimezone(UTC)
    return DlmsDateTime(
        clock.year,
        clock.month,
        clock.day,
        NOT_SPECIFIED,
        clock.hour,
        clock.minute,
        clock.second,
        clock.microsecond // 10_000,
        DEVIATION_NOT_SPECIFIED,
        NOT_SPECIFIED,
    )


def response(
    command: GbcsHeader,
    device_id: bytes,
    payload: Payload,
    clock: datetime,
    sealer: Sealer | None = None,
) -> bytes:
    """The response to `command` from device `device_id`, its clock reading `clock`;
    signed or MACed by `sealer` when given, else with placeholders."""
    code = command.message_code
    header = GbcsHeader(
        cra_flag=CraFlag.RESPONSE,
        originator_counter=command.originator_counter,
        originator_id=device_id,
        recipient_id=command.originator_id,
        date_time=device_time(clock) if code in STAMPED_RESPONSES else None,
        message_code=code,
        supplementary_remote_party_id=command.supplementary_remote_party_id,
        supplementary_remote_party_counter=command.supplementary_remote_party_counter,
    )
    if code in CIPHERED_RESPONSES:
        if sealer is not None:
            return sealer.mac(encode(GbcsMessage(header, payload, b"")))
        return encode(GbcsMessage(header, payload, b"", PLACEHOLDER_CIPHERING))
    return _signed(GbcsMessage(header, payload), sealer)


def _signed(message: GbcsMessage, sealer: Sealer | None) -> bytes:
    if sealer is None:
        return encode(GbcsMessage(message.header, message.payload, PLACEHOLDER_SIGNATURE))
    return sealer.sign(encode(message))


def alert(
    device_id: bytes,
    *,
    recipient_id: bytes,
    counter: int,
    message_code: int,
    payload: Payload,
    command: GbcsHeader | None = None,
    sealer: Sealer | None = None,
) -> bytes:
    """An alert with the device's own counter; `command` adds the E4 matching fields;
    signed by `sealer` when given, else with a placeholder signature.

    With `command` (the 0xFF06 receipt), the alert keeps the command's supplementary
    remote party (or names the command's originator) and carries the command's counter
    as the supplementary originator counter, so the DSP can match it (docs E4).
    """
    srp_id = srp_counter = originator_counter = None
    if command is not None:
        srp_id = command.supplementary_remote_party_id or command.originator_id
        srp_counter = command.supplementary_remote_party_counter
        if srp_counter is None:
            srp_counter = command.originator_counter
        originator_counter = command.originator_counter
    header = GbcsHeader(
        CraFlag.ALERT,
        counter,
        device_id,
        recipient_id,
        None,
        message_code,
        srp_id,
        srp_counter,
        originator_counter,
    )
    return _signed(GbcsMessage(header, payload), sealer)

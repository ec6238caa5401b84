"""CS06 Activate Firmware (SR 11.3): command, responses and the 0x00CA future-dated alert.

ASN.1 DER, from GBCS: the command is SEQUENCE {image hash, originator counter,
execution date-time OPTIONAL}; the response is NULL (future-dated: command accepted)
or the execution outcome SEQUENCE {response code, firmware version}; the alert is
SEQUENCE {alert code, execution date-time, originator counter, outcome}.

A SMETS1 retry may answer without a firmware version (R10): the outcome is then
SEQUENCE {response code} alone (smetslab's reading, docs/decisions.md D8).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contract.records import record
from contract.times import iso
from gbcs import der
from gbcs.codes import ActivateImageResponseCode, AlertCode
from gbcs.errors import GbcsDecodeError
from gbcs.reader import ByteReader, require_size

IMAGE_HASH_SIZE = 32
FIRMWARE_VERSION_SIZE = 4
# The execution date-time that cancels a pending future-dated activation (R7). DUIS
# writes it 3000-12-31T00:00:00Z; on the wire GBCS carries 99991231235959Z.
CANCELLATION_DATETIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@record
class ActivateFirmwareCommand:
    image_hash: bytes
    originator_counter: int
    execution_datetime: datetime | None = None

    @property
    def is_cancellation(self) -> bool:
        return self.execution_datetime == CANCELLATION_DATETIME

    def to_bytes(self) -> bytes:
        parts = [
            der.octet_string(require_size(self.image_hash, IMAGE_HASH_SIZE, "image hash")),
            der.integer(self.originator_counter),
        ]
        if self.execution_datetime is not None:
            parts.append(der.generalized_time(self.execution_datetime))
        return der.sequence(*parts)

    def fields(self) -> dict[str, Any]:
        when = self.execution_datetime
        return {
            "image_hash": self.image_hash.hex().upper(),
            "command_originator_counter": self.originator_counter,
            "execution_datetime": None if when is None else iso(when),
            "cancellation": self.is_cancellation,
        }


@record
class ActivateFirmwareAccepted:
    """The immediate answer to a future-dated CS06: the command is accepted (R7)."""

    def to_bytes(self) -> bytes:
        return der.null()

    def fields(self) -> dict[str, Any]:
        return {"command_accepted": True}


@record
class ActivateFirmwareOutcome:
    response_code: ActivateImageResponseCode
    firmware_version: bytes | None

    def to_bytes(self) -> bytes:
        return _outcome(self.response_code, self.firmware_version)

    def fields(self) -> dict[str, Any]:
        return _outcome_fields(self.response_code, self.firmware_version)


@record
class FirmwareActivationAlert:
    """Alert 0x8F66 (activated) or 0x8F67 (failed) with message code 0x00CA (R7)."""

    alert_code: AlertCode
    execution_datetime: datetime
    originator_counter: int
    response_code: ActivateImageResponseCode
    firmware_version: bytes | None

    def to_bytes(self) -> bytes:
        return der.sequence(
            der.integer(self.alert_code),
            der.generalized_time(self.execution_datetime),
            der.integer(self.originator_counter),
            _outcome(self.response_code, self.firmware_version),
        )

    def fields(self) -> dict[str, Any]:
        return {
            "alert_code": int(self.alert_code),
            "alert_code_name": self.alert_code.name,
            "execution_datetime": iso(self.execution_datetime),
            "command_originator_counter": self.originator_counter,
            **_outcome_fields(self.response_code, self.firmware_version),
        }


def _outcome(code: ActivateImageResponseCode, version: bytes | None) -> bytes:
    if version is None:
        return der.sequence(der.integer(code))
    version = require_size(version, FIRMWARE_VERSION_SIZE, "firmware version")
    return der.sequence(der.integer(code), der.octet_string(version))


def _outcome_fields(code: ActivateImageResponseCode, version: bytes | None) -> dict[str, Any]:
    return {
        "response_code": int(code),
        "response_code_name": code.name,
        "firmware_version": None if version is None else version.hex().upper(),
    }


def read_command(reader: ByteReader) -> ActivateFirmwareCommand:
    body = der.read_sequence(reader, "Activate Firmware command")
    image_hash = der.read_octet_string(body, "manufacturer image hash", IMAGE_HASH_SIZE)
    counter = _read_counter(body)
    when = None if body.at_end() else der.read_generalized_time(body, "execution date-time")
    body.finish("Activate Firmware command")
    return ActivateFirmwareCommand(image_hash, counter, when)


def read_response(reader: ByteReader) -> ActivateFirmwareAccepted | ActivateFirmwareOutcome:
    if reader.peek() == der.DerTag.NULL:
        der.read_null(reader, "command accepted")
        return ActivateFirmwareAccepted()
    return ActivateFirmwareOutcome(*_read_outcome(reader))


def read_alert(reader: ByteReader) -> FirmwareActivationAlert:
    body = der.read_sequence(reader, "Activate Firmware alert")
    code_offset = body.offset
    code = der.read_integer(body, "alert code")
    if code not in AlertCode._value2member_map_:
        raise GbcsDecodeError(code_offset, "alert code 0x8F66 or 0x8F67", f"0x{code:04X}")
    when = der.read_generalized_time(body, "execution date-time")
    counter = _read_counter(body)
    outcome = _read_outcome(body)
    body.finish("Activate Firmware alert")
    return FirmwareActivationAlert(AlertCode(code), when, counter, *outcome)


def _read_counter(reader: ByteReader) -> int:
    start = reader.offset
    value = der.read_integer(reader, "originator counter")
    if not 0 <= value < 1 << 64:
        raise GbcsDecodeError(start, "an originator counter in 0 to 2^64-1", str(value))
    return value


def _read_outcome(reader: ByteReader) -> tuple[ActivateImageResponseCode, bytes | None]:
    body = der.read_sequence(reader, "execution outcome")
    code_offset = body.offset
    code = der.read_integer(body, "activate image response code")
    if code not in ActivateImageResponseCode._value2member_map_:
        raise GbcsDecodeError(code_offset, "activate image response code 0 to 3", str(code))
    version = None
    if not body.at_end():
        version = der.read_octet_string(body, "firmware version", FIRMWARE_VERSION_SIZE)
    body.finish("execution outcome")
    return ActivateImageResponseCode(code), version

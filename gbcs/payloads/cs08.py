"""CS08 Read PPMID/HCALCS Firmware Version (SR 11.2): NULL command, DER response."""

from __future__ import annotations

from typing import Any

from contract.records import record
from gbcs import der
from gbcs.codes import ReadFirmwareResponseCode
from gbcs.errors import GbcsDecodeError
from gbcs.reader import ByteReader, require_size

from .cs06 import FIRMWARE_VERSION_SIZE


@record
class ReadDeviceFirmwareVersionCommand:
    def to_bytes(self) -> bytes:
        return der.null()

    def fields(self) -> dict[str, Any]:
        return {}


@record
class ReadDeviceFirmwareVersionResponse:
    firmware_version: bytes
    response_code: ReadFirmwareResponseCode

    def to_bytes(self) -> bytes:
        version = require_size(self.firmware_version, FIRMWARE_VERSION_SIZE, "firmware version")
        return der.sequence(der.octet_string(version), der.integer(self.response_code))

    def fields(self) -> dict[str, Any]:
        return {
            "response_code": int(self.response_code),
            "response_code_name": self.response_code.name,
            "firmware_version": self.firmware_version.hex().upper(),
        }


def read_command(reader: ByteReader) -> ReadDeviceFirmwareVersionCommand:
    der.read_null(reader, "Read Firmware Version command")
    return ReadDeviceFirmwareVersionCommand()


def read_response(reader: ByteReader) -> ReadDeviceFirmwareVersionResponse:
    body = der.read_sequence(reader, "Read Firmware Version response")
    version = der.read_octet_string(body, "firmware version", FIRMWARE_VERSION_SIZE)
    code_offset = body.offset
    code = der.read_integer(body, "read response code")
    if code not in ReadFirmwareResponseCode._value2member_map_:
        raise GbcsDecodeError(code_offset, "read response code 0 or 1", str(code))
    body.finish("Read Firmware Version response")
    return ReadDeviceFirmwareVersionResponse(version, ReadFirmwareResponseCode(code))

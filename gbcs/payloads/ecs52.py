"""ECS52 Read ESME/Comms Hub Firmware Version (SR 11.2): a DLMS COSEM ACCESS get.

A-XDR, from GBCS: the command is an access-request (0xD9) with one get of a COSEM
attribute and one null-data; the response is an access-response (0xDA) with one
data item (the firmware version, or null-data) and one get result.
"""

from __future__ import annotations

from enum import IntEnum
from struct import Struct
from typing import Any

from contract.records import record
from gbcs.codes import DataAccessResult
from gbcs.datetimes import DlmsDateTime, read_optional_date_time, write_optional_date_time
from gbcs.errors import GbcsDecodeError
from gbcs.reader import ByteReader, encode_length, encode_uint, require_size

from .cs06 import FIRMWARE_VERSION_SIZE

OBIS_SIZE = 6
GET = 0x01
_RESULTS = {int(result): result for result in DataAccessResult}


class DlmsTag(IntEnum):
    ACCESS_REQUEST = 0xD9
    ACCESS_RESPONSE = 0xDA
    NULL_DATA = 0x00
    OCTET_STRING = 0x09


@record
class CosemAttribute:
    class_id: int
    instance_id: bytes
    attribute_id: int

    def to_bytes(self) -> bytes:
        return (
            encode_uint(self.class_id, 2, "COSEM class ID")
            + require_size(self.instance_id, OBIS_SIZE, "OBIS instance ID")
            + encode_uint(self.attribute_id, 1, "attribute ID")
        )


# The usual response: access-response, invoke ID, no date-time, no access-request-
# specification, one data item (an octet string of the 4-byte version), one get result.
_USUAL_RESPONSE = Struct(">BIBBBBB4sBBB")
_USUAL = (DlmsTag.ACCESS_RESPONSE, 0, 0, 1, DlmsTag.OCTET_STRING, FIRMWARE_VERSION_SIZE, 1, GET)
_ONE_GET = encode_length(1) + bytes([GET])
_ONE_NULL_DATA = encode_length(1) + bytes([DlmsTag.NULL_DATA])
# The ESME / comms hub firmware version: class 1 (Data), 0-0:0.2.1.255, attribute 2.
FIRMWARE_VERSION_ATTRIBUTE = CosemAttribute(1, bytes.fromhex("0000000201FF"), 2)


@record
class ReadEsmeFirmwareVersionCommand:
    invoke_id: int
    attribute: CosemAttribute = FIRMWARE_VERSION_ATTRIBUTE
    date_time: DlmsDateTime | None = None

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                _head(DlmsTag.ACCESS_REQUEST, self.invoke_id, self.date_time),
                _ONE_GET,
                self.attribute.to_bytes(),
                _ONE_NULL_DATA,
            )
        )

    def fields(self) -> dict[str, Any]:
        return {
            "invoke_id": self.invoke_id,
            "cosem_class_id": self.attribute.class_id,
            "obis": self.attribute.instance_id.hex().upper(),
            "cosem_attribute_id": self.attribute.attribute_id,
        }


@record
class ReadEsmeFirmwareVersionResponse:
    invoke_id: int
    result: DataAccessResult
    firmware_version: bytes | None
    date_time: DlmsDateTime | None = None

    def to_bytes(self) -> bytes:
        if self.firmware_version is None:
            data = bytes([DlmsTag.NULL_DATA])
        else:
            version = require_size(self.firmware_version, FIRMWARE_VERSION_SIZE, "firmware version")
            data = bytes([DlmsTag.OCTET_STRING]) + encode_length(len(version)) + version
        return (
            _head(DlmsTag.ACCESS_RESPONSE, self.invoke_id, self.date_time)
            + b"\x00"
            + encode_length(1)
            + data
            + encode_length(1)
            + bytes([GET, self.result])
        )

    def fields(self) -> dict[str, Any]:
        version = self.firmware_version
        return {
            "invoke_id": self.invoke_id,
            "response_code": int(self.result),
            "response_code_name": self.result.name,
            "firmware_version": None if version is None else version.hex().upper(),
        }


def _head(tag: DlmsTag, invoke_id: int, date_time: DlmsDateTime | None) -> bytes:
    stamp = write_optional_date_time(date_time)
    return bytes([tag]) + encode_uint(invoke_id, 4, "invoke ID") + stamp


def read_command(reader: ByteReader) -> ReadEsmeFirmwareVersionCommand:
    invoke_id, date_time = _read_head(reader, DlmsTag.ACCESS_REQUEST, "access-request")
    _expect_count(reader, "access-request-specification")
    reader.expect_u8(GET, "access-request-get")
    attribute = CosemAttribute(
        reader.uint(2, "COSEM class ID"),
        reader.take(OBIS_SIZE, "OBIS instance ID"),
        reader.u8("attribute ID"),
    )
    _expect_count(reader, "access-request-list-of-data")
    reader.expect_u8(DlmsTag.NULL_DATA, "null-data")
    reader.finish("ECS52 command")
    return ReadEsmeFirmwareVersionCommand(invoke_id, attribute, date_time)


def read_response(reader: ByteReader) -> ReadEsmeFirmwareVersionResponse:
    usual = _read_usual_response(reader)
    return usual if usual is not None else _read_response_by_field(reader)


def _read_usual_response(reader: ByteReader) -> ReadEsmeFirmwareVersionResponse | None:
    """A response of the usual shape in one unpack; None for any other (read field by
    field, which names the first fault)."""
    fields = reader.peek_struct(_USUAL_RESPONSE)
    if fields is None or reader.remaining != _USUAL_RESPONSE.size:
        return None
    tag, invoke_id, stamp, spec, items, data_tag, size, version, results, get, value = fields
    result = _RESULTS.get(value)
    if result is None or (tag, stamp, spec, items, data_tag, size, results, get) != _USUAL:
        return None
    reader.skip(_USUAL_RESPONSE.size)
    return ReadEsmeFirmwareVersionResponse(invoke_id, result, version)


def _read_response_by_field(reader: ByteReader) -> ReadEsmeFirmwareVersionResponse:
    invoke_id, date_time = _read_head(reader, DlmsTag.ACCESS_RESPONSE, "access-response")
    reader.expect_u8(0x00, "absent access-request-specification")
    _expect_count(reader, "access-response-list-of-data")
    version = _read_data(reader)
    _expect_count(reader, "access-response-specification")
    reader.expect_u8(GET, "access-response-get")
    result_offset = reader.offset
    value = reader.u8("data-access-result")
    result = _RESULTS.get(value)
    if result is None:
        raise GbcsDecodeError(result_offset, "a DLMS data-access-result", str(value))
    reader.finish("ECS52 response")
    return ReadEsmeFirmwareVersionResponse(invoke_id, result, version, date_time)


def _read_head(reader: ByteReader, tag: DlmsTag, what: str) -> tuple[int, DlmsDateTime | None]:
    reader.expect_u8(tag, what)
    invoke_id = reader.uint(4, "long-invoke-id-and-priority")
    return invoke_id, read_optional_date_time(reader)


def _read_data(reader: ByteReader) -> bytes | None:
    start = reader.offset
    tag = reader.u8("data type")
    if tag == DlmsTag.NULL_DATA:
        return None
    if tag != DlmsTag.OCTET_STRING:
        raise GbcsDecodeError(start, "octet-string (0x09) or null-data (0x00)", f"0x{tag:02X}")
    size_offset = reader.offset
    size = reader.length("octet-string length")
    if size != FIRMWARE_VERSION_SIZE:
        raise GbcsDecodeError(size_offset, "a 4-byte firmware version", f"{size} bytes")
    return reader.take(size, "firmware version")


def _expect_count(reader: ByteReader, what: str) -> None:
    start = reader.offset
    count = reader.length(f"{what} count")
    if count != 1:
        raise GbcsDecodeError(start, f"one {what} entry", str(count))

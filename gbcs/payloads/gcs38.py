"""GCS38 Read GSME Firmware Version (SR 11.2): a ZCL Read Attributes inside GBZ.

The ZCL frames are parsed and built by zigpy's own ZCL foundation code; this module
checks that they are the one GCS38 read: Metering cluster 0x0702, attribute 0x0206.
"""

from __future__ import annotations

from typing import Any

import zigpy.types as zt
from zigpy.zcl import foundation

from contract.records import record
from gbcs.errors import GbcsDecodeError
from gbcs.reader import ByteReader, require_size

from .cs06 import FIRMWARE_VERSION_SIZE
from .gbz import (
    ENCRYPTED,
    FROM_DATE_TIME_PRESENT,
    LAST_COMPONENT,
    GbzComponent,
    read_gbz,
    write_gbz,
)

METERING_CLUSTER = 0x0702
FIRMWARE_VERSION_ATTRIBUTE = 0x0206
COMMAND_FRAME_CONTROL = 0x00
RESPONSE_FRAME_CONTROL = 0x08

ZclStatus = foundation.Status
_READ_ATTRIBUTES = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema


@record
class ReadGsmeFirmwareVersionCommand:
    zcl_sequence: int = 0
    frame_control: int = COMMAND_FRAME_CONTROL
    control: int = LAST_COMPONENT

    def to_bytes(self) -> bytes:
        body = _READ_ATTRIBUTES(attribute_ids=[zt.uint16_t(FIRMWARE_VERSION_ATTRIBUTE)])
        return _write(
            self.control,
            self.frame_control,
            self.zcl_sequence,
            foundation.GeneralCommand.Read_Attributes,
            body.serialize(),
        )

    def fields(self) -> dict[str, Any]:
        return {"zcl_sequence": self.zcl_sequence, "zcl_attribute_id": FIRMWARE_VERSION_ATTRIBUTE}


@record
class ReadGsmeFirmwareVersionResponse:
    status: foundation.Status
    firmware_version: bytes | None
    zcl_sequence: int = 0
    frame_control: int = RESPONSE_FRAME_CONTROL
    control: int = LAST_COMPONENT

    def to_bytes(self) -> bytes:
        value = None
        if self.firmware_version is not None:
            version = require_size(self.firmware_version, FIRMWARE_VERSION_SIZE, "firmware version")
            value = foundation.TypeValue(
                type=foundation.DataTypeId.octstr, value=zt.LVBytes(version)
            )
        record = foundation.ReadAttributeRecord(
            zt.uint16_t(FIRMWARE_VERSION_ATTRIBUTE), self.status, value
        )
        return _write(
            self.control,
            self.frame_control,
            self.zcl_sequence,
            foundation.GeneralCommand.Read_Attributes_rsp,
            record.serialize(),
        )

    def fields(self) -> dict[str, Any]:
        version = self.firmware_version
        return {
            "zcl_sequence": self.zcl_sequence,
            "response_code": int(self.status),
            "response_code_name": self.status.name,
            "firmware_version": None if version is None else version.hex().upper(),
        }


def _write(control: int, frame_control: int, sequence: int, command: int, body: bytes) -> bytes:
    header = bytes([frame_control, sequence, command])
    return write_gbz([GbzComponent(control, METERING_CLUSTER, header + body)])


def read_command(reader: ByteReader) -> ReadGsmeFirmwareVersionCommand:
    component, header, body = _read_frame(reader, foundation.GeneralCommand.Read_Attributes)
    try:
        request, rest = _READ_ATTRIBUTES.deserialize(body)
    except (ValueError, KeyError) as exc:
        raise GbcsDecodeError(component.frame_offset, "a ZCL Read Attributes", str(exc)) from exc
    if getattr(request, "attribute_ids", None) != [FIRMWARE_VERSION_ATTRIBUTE] or rest:
        raise GbcsDecodeError(
            component.frame_offset + 3, "a read of attribute 0x0206 only", body.hex().upper()
        )
    return ReadGsmeFirmwareVersionCommand(header.tsn, _frame_control(component), component.control)


def read_response(reader: ByteReader) -> ReadGsmeFirmwareVersionResponse:
    component, header, body = _read_frame(reader, foundation.GeneralCommand.Read_Attributes_rsp)
    record = _read_record(component, body)
    version = None
    if record.value is not None:
        version = _version_of(record.value, component.frame_offset + 6)
    return ReadGsmeFirmwareVersionResponse(
        record.status, version, header.tsn, _frame_control(component), component.control
    )


def _read_frame(
    reader: ByteReader, command: foundation.GeneralCommand
) -> tuple[GbzComponent, foundation.ZCLHeader, bytes]:
    start = reader.offset
    components = read_gbz(reader)
    reader.finish("GBZ payload")
    if len(components) != 1:
        raise GbcsDecodeError(start + 2, "one GBZ component", str(len(components)))
    component = components[0]
    if component.control & (ENCRYPTED | FROM_DATE_TIME_PRESENT):
        raise GbcsDecodeError(
            component.frame_offset - 5,
            "a plain GBZ component",
            f"control field 0x{component.control:02X}",
        )
    if component.cluster_id != METERING_CLUSTER:
        raise GbcsDecodeError(
            component.frame_offset - 4, "Metering cluster 0x0702", f"0x{component.cluster_id:04X}"
        )
    try:
        header, body = foundation.ZCLHeader.deserialize(component.frame)
    except ValueError as exc:
        raise GbcsDecodeError(component.frame_offset, "a ZCL header", str(exc)) from exc
    control = header.frame_control
    if (
        control.is_manufacturer_specific
        or control.frame_type != foundation.FrameType.GLOBAL_COMMAND
        or header.command_id != command
    ):
        raise GbcsDecodeError(
            component.frame_offset,
            f"ZCL general command {command.name}",
            f"command 0x{header.command_id:02X}",
        )
    return component, header, body


def _frame_control(component: GbzComponent) -> int:
    return component.frame[0]


def _read_record(component: GbzComponent, body: bytes) -> foundation.ReadAttributeRecord:
    offset = component.frame_offset + 3
    try:
        record, rest = foundation.ReadAttributeRecord.deserialize(body)
    except (ValueError, KeyError) as exc:
        raise GbcsDecodeError(offset, "a ZCL read attribute record", str(exc)) from exc
    if record.attrid != FIRMWARE_VERSION_ATTRIBUTE:
        raise GbcsDecodeError(offset, "attribute 0x0206", f"0x{record.attrid:04X}")
    if rest:
        raise GbcsDecodeError(
            offset + len(body) - len(rest), "end of the ZCL response", f"{len(rest)} extra byte(s)"
        )
    return record


def _version_of(value: object, offset: int) -> bytes:
    if not isinstance(value, foundation.TypeValue) or value.type != foundation.DataTypeId.octstr:
        raise GbcsDecodeError(offset, "an octet string (ZCL type 0x41)", repr(value))
    version = bytes(value.value)
    if len(version) != FIRMWARE_VERSION_SIZE:
        raise GbcsDecodeError(offset, "a 4-byte firmware version", f"{len(version)} bytes")
    return version

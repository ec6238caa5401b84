"""JSON-ready views of decoded objects for the command line."""

from __future__ import annotations

from typing import Any

import gbcs
from gbcs.ota import OtaImage

_SUMMARY_KEYS = (
    "firmware_version",
    "response_code_name",
    "alert_code_name",
    "execution_datetime",
    "command_originator_counter",
    "command_accepted",
    "cancellation",
)


def summary_row(message: gbcs.GbcsMessage) -> tuple[str, ...]:
    """One table row: envelope, kind, use case, counter, from, to, and the payload in brief."""
    fields = gbcs.message_fields(message)
    content = ", ".join(
        f"{key}={fields[key]}" for key in _SUMMARY_KEYS if fields.get(key) not in (None, False)
    )
    if isinstance(message.payload, gbcs.RawPayload):
        content = f"{len(message.payload.data)} raw payload bytes"
    return (
        fields["envelope"].removeprefix("general-"),
        fields["kind"],
        fields["use_case"],
        str(fields["originator_counter"]),
        fields["originator_id"],
        fields["recipient_id"],
        content or "-",
    )


def ota_fields(image: OtaImage) -> dict[str, Any]:
    header = image.header
    destination = header.upgrade_file_destination
    subelements = image.subelements
    return {
        "magic": "0x0BEEF11E",
        "header_version": header.header_version,
        "header_length": header.header_length,
        "field_control": header.field_control,
        "manufacturer_code": header.manufacturer_code,
        "image_type": header.image_type,
        "file_version": header.file_version,
        "file_version_hex": f"{header.file_version:08X}",
        "stack_version": header.stack_version,
        "header_string": header.header_string.rstrip(b"\x00").decode("utf-8", "replace"),
        "total_size": image.total_size,
        "security_credential_version": header.security_credential_version,
        "upgrade_file_destination": None if destination is None else destination.hex().upper(),
        "minimum_hardware_version": header.minimum_hardware_version,
        "maximum_hardware_version": header.maximum_hardware_version,
        "body_length": len(image.body),
        "subelements": None
        if subelements is None
        else [{"tag": element.tag, "length": len(element.data)} for element in subelements],
        "sha256": image.sha256.hex().upper(),
    }

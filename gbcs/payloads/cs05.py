"""Firmware distribution (SR 11.1 and 11.4) and the device's receipt alert (R9).

The DCC carries a firmware image to a comms hub outside GBCS, and the hub hands it
to the device over ZigBee OTA. On the smetslab bus every message to a hub is one
GBCS APDU, so distribution is a General Signing command with smetslab's own message
code (docs/decisions.md D8), recipient the target device:
SEQUENCE {image OCTET STRING, activate BOOLEAN-as-INTEGER}; `activate` is set for a
PPMID (SR 11.4 distributes and activates in one step, R10).

The device answers with a receipt alert, again with smetslab's own message code
(the GBCS receipt alerts 0x00CE/0x00CF keep their own payloads, left raw):
SEQUENCE {image hash OCTET STRING (32), firmware version OCTET STRING (4) OPTIONAL};
the hash is what the device computed over the image it holds (R9: SHA-256 of the OTA
file), the version is present when the device activated at once (a PPMID).
"""

from __future__ import annotations

from typing import Any

from contract.records import record
from gbcs import der
from gbcs.errors import GbcsDecodeError
from gbcs.reader import ByteReader, require_size

from .cs06 import FIRMWARE_VERSION_SIZE, IMAGE_HASH_SIZE


@record
class FirmwareDistributionCommand:
    image: bytes
    activate: bool = False

    def to_bytes(self) -> bytes:
        return der.sequence(der.octet_string(self.image), der.integer(int(self.activate)))

    def fields(self) -> dict[str, Any]:
        return {"image_size": len(self.image), "activate": self.activate}


@record
class FirmwareReceiptAlert:
    image_hash: bytes
    firmware_version: bytes | None = None

    def to_bytes(self) -> bytes:
        parts = [der.octet_string(require_size(self.image_hash, IMAGE_HASH_SIZE, "image hash"))]
        if self.firmware_version is not None:
            version = require_size(self.firmware_version, FIRMWARE_VERSION_SIZE, "firmware version")
            parts.append(der.octet_string(version))
        return der.sequence(*parts)

    def fields(self) -> dict[str, Any]:
        version = self.firmware_version
        return {
            "image_hash": self.image_hash.hex().upper(),
            "firmware_version": None if version is None else version.hex().upper(),
        }


def read_distribution(reader: ByteReader) -> FirmwareDistributionCommand:
    body = der.read_sequence(reader, "Firmware Distribution command")
    image = der.read_octet_string(body, "firmware image")
    flag_offset = body.offset
    flag = der.read_integer(body, "activate flag")
    if flag not in (0, 1):
        raise GbcsDecodeError(flag_offset, "activate flag 0 or 1", str(flag))
    body.finish("Firmware Distribution command")
    return FirmwareDistributionCommand(image, bool(flag))


def read_receipt(reader: ByteReader) -> FirmwareReceiptAlert:
    body = der.read_sequence(reader, "Firmware Receipt alert")
    image_hash = der.read_octet_string(body, "image hash", IMAGE_HASH_SIZE)
    version = None
    if not body.at_end():
        version = der.read_octet_string(body, "firmware version", FIRMWARE_VERSION_SIZE)
    body.finish("Firmware Receipt alert")
    return FirmwareReceiptAlert(image_hash, version)

"""The ZigBee OTA upgrade file: header (magic 0x0BEEF11E) and sub-elements.

The header is parsed and built by zigpy's own `zigpy.ota.image.OTAImageHeader`.
A GBCS firmware image puts the Upgrade Image straight after the header, without
ZigBee sub-element framing; such a body is kept whole and `subelements` is None.
"""

from __future__ import annotations

import hashlib

import zigpy.types as zt
from zigpy.ota.image import FieldControl, HWVersion, OTAImageHeader

from contract.records import record

from .errors import GbcsDecodeError, GbcsEncodeError
from .reader import ByteReader

OTA_MAGIC = 0x0BEEF11E
HEADER_VERSION = 0x0100
FIXED_HEADER_SIZE = 56
HEADER_STRING_SIZE = 32
SUBELEMENT_HEADER_SIZE = 6


@record
class OtaSubElement:
    tag: int
    data: bytes

    def to_bytes(self) -> bytes:
        return self.tag.to_bytes(2, "little") + len(self.data).to_bytes(4, "little") + self.data


@record
class OtaHeader:
    manufacturer_code: int
    image_type: int
    file_version: int
    header_string: bytes = bytes(HEADER_STRING_SIZE)
    stack_version: int = 2
    header_version: int = HEADER_VERSION
    security_credential_version: int | None = None
    upgrade_file_destination: bytes | None = None
    minimum_hardware_version: int | None = None
    maximum_hardware_version: int | None = None

    @property
    def field_control(self) -> int:
        control = FieldControl(0)
        if self.security_credential_version is not None:
            control |= FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT
        if self.upgrade_file_destination is not None:
            control |= FieldControl.DEVICE_SPECIFIC_FILE_PRESENT
        if self.minimum_hardware_version is not None:
            control |= FieldControl.HARDWARE_VERSIONS_PRESENT
        return int(control)

    @property
    def header_length(self) -> int:
        return len(self.to_bytes(0))

    def to_bytes(self, total_size: int) -> bytes:
        return _to_zigpy(self, total_size).serialize()


@record
class OtaImage:
    header: OtaHeader
    body: bytes
    subelements: tuple[OtaSubElement, ...] | None

    @property
    def total_size(self) -> int:
        return self.header.header_length + len(self.body)

    @property
    def sha256(self) -> bytes:
        """The image hash of R9 (*model*): SHA-256 of the OTA file as distributed."""
        return hashlib.sha256(self.to_bytes()).digest()

    def to_bytes(self) -> bytes:
        return self.header.to_bytes(self.total_size) + self.body


def build_ota_image(
    header: OtaHeader,
    body: bytes | None = None,
    subelements: tuple[OtaSubElement, ...] | None = None,
) -> OtaImage:
    """An image from a header and either a raw Upgrade Image or ZigBee sub-elements."""
    if (body is None) == (subelements is None):
        raise GbcsEncodeError("give exactly one of body and subelements")
    if subelements is not None:
        body = b"".join(element.to_bytes() for element in subelements)
    assert body is not None
    return OtaImage(header, body, subelements)


def parse_ota_image(data: bytes | bytearray | memoryview) -> OtaImage:
    data = bytes(data)
    reader = ByteReader(data)
    reader.expect(OTA_MAGIC.to_bytes(4, "little"), "OTA upgrade file identifier")
    if len(data) < FIXED_HEADER_SIZE:
        raise GbcsDecodeError(
            len(data), f"a {FIXED_HEADER_SIZE}-byte OTA header", f"{len(data)} bytes"
        )
    try:
        parsed, _ = OTAImageHeader.deserialize(data)
    except ValueError as exc:
        raise GbcsDecodeError(
            FIXED_HEADER_SIZE, "the optional OTA header fields", str(exc)
        ) from exc
    header = _from_zigpy(parsed)
    _check_sizes(header, int(parsed.header_length), int(parsed.image_size), len(data))
    body = data[header.header_length :]
    return OtaImage(header, body, _read_subelements(body))


def _check_sizes(header: OtaHeader, header_length: int, total_size: int, actual: int) -> None:
    if header_length != header.header_length:
        raise GbcsDecodeError(
            6,
            f"header length {header.header_length} for field control 0x{header.field_control:04X}",
            str(header_length),
        )
    if total_size != actual:
        raise GbcsDecodeError(
            52, f"total image size equal to the file size {actual}", str(total_size)
        )


def _read_subelements(body: bytes) -> tuple[OtaSubElement, ...] | None:
    elements = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < SUBELEMENT_HEADER_SIZE:
            return None
        tag = int.from_bytes(body[pos : pos + 2], "little")
        size = int.from_bytes(body[pos + 2 : pos + 6], "little")
        pos += SUBELEMENT_HEADER_SIZE
        if size > len(body) - pos:
            return None
        elements.append(OtaSubElement(tag, body[pos : pos + size]))
        pos += size
    return tuple(elements) if elements else None


def _to_zigpy(header: OtaHeader, total_size: int) -> OTAImageHeader:
    if len(header.header_string) != HEADER_STRING_SIZE:
        raise GbcsEncodeError(f"header string must be {HEADER_STRING_SIZE} bytes")
    if (header.minimum_hardware_version is None) != (header.maximum_hardware_version is None):
        raise GbcsEncodeError("give both hardware versions or neither")
    fields = {
        "upgrade_file_id": OTA_MAGIC,
        "header_version": header.header_version,
        "header_length": 0,
        "field_control": FieldControl(header.field_control),
        "manufacturer_id": header.manufacturer_code,
        "image_type": header.image_type,
        "file_version": header.file_version,
        "stack_version": header.stack_version,
        "header_string": header.header_string,
        "image_size": total_size,
        "security_credential_version": header.security_credential_version,
        "minimum_hardware_version": _hw(header.minimum_hardware_version),
        "maximum_hardware_version": _hw(header.maximum_hardware_version),
    }
    if header.upgrade_file_destination is not None:
        fields["upgrade_file_destination"] = zt.EUI64(header.upgrade_file_destination[::-1])
    try:
        probe = OTAImageHeader(**fields)
        fields["header_length"] = len(probe.serialize())
        return OTAImageHeader(**fields)
    except (ValueError, OverflowError) as exc:
        raise GbcsEncodeError(f"OTA header cannot be written: {exc}") from exc


def _hw(value: int | None) -> HWVersion | None:
    return None if value is None else HWVersion(value)


def _from_zigpy(parsed: OTAImageHeader) -> OtaHeader:
    destination = parsed.upgrade_file_destination
    return OtaHeader(
        manufacturer_code=int(parsed.manufacturer_id),
        image_type=int(parsed.image_type),
        file_version=int(parsed.file_version),
        header_string=bytes(parsed.header_string),
        stack_version=int(parsed.stack_version),
        header_version=int(parsed.header_version),
        security_credential_version=_int_or_none(parsed.security_credential_version),
        upgrade_file_destination=None if destination is None else bytes(destination)[::-1],
        minimum_hardware_version=_int_or_none(parsed.minimum_hardware_version),
        maximum_hardware_version=_int_or_none(parsed.maximum_hardware_version),
    )


def _int_or_none(value: int | None) -> int | None:
    return None if value is None else int(value)

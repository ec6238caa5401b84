"""ZigBee OTA upgrade files: the DUIS 11.1 / 11.4 firmware images parse; builds round-trip."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

import gbcs
from gbcs.ota import OtaHeader, OtaImage, OtaSubElement, build_ota_image, parse_ota_image


def _firmware_image(path: Path) -> bytes:
    match = re.search(r"<sr:FirmwareImage>(.*?)</sr:FirmwareImage>", path.read_text(), re.S)
    assert match, path
    return base64.b64decode(match.group(1))


@pytest.mark.parametrize(
    ("request_file", "image_type", "header_string", "body_length"),
    [
        ("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML", 0x0000, b"I am a GFI ESME[] firmware image", 301),
        (
            "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML",
            0x0084,
            b"I am a GFI PPMID firmware image ",
            235,
        ),
    ],
)
def test_duis_firmware_images_parse(
    duis_requests: Path, request_file: str, image_type: int, header_string: bytes, body_length: int
) -> None:
    data = _firmware_image(duis_requests / request_file)
    image = parse_ota_image(data)
    header = image.header
    assert header.header_version == 0x0100
    assert header.manufacturer_code == 0x121D
    assert header.image_type == image_type
    assert header.file_version == 0xACDCACDC
    assert header.header_string == header_string
    assert (header.minimum_hardware_version, header.maximum_hardware_version) == (0x1111, 0x1211)
    assert header.field_control == 0x0004
    assert header.header_length == 60
    assert image.total_size == len(data)
    assert len(image.body) == body_length
    assert image.subelements is None  # GBCS: the Upgrade Image follows the header directly
    assert image.to_bytes() == data
    assert image.sha256 == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "header",
    [
        OtaHeader(0x121D, 1, 0x0123ABCE),
        OtaHeader(
            0x121D, 1, 0x0123ABCE, b"smetslab".ljust(32, b"\x00"), security_credential_version=2
        ),
        OtaHeader(
            0x1234,
            0xFFFF,
            0xFFFFFFFF,
            upgrade_file_destination=bytes.fromhex("00DB1234567890A0"),
            minimum_hardware_version=1,
            maximum_hardware_version=9,
        ),
    ],
)
def test_built_images_with_subelements_round_trip(header: OtaHeader) -> None:
    elements = (OtaSubElement(0x0000, b"\xab" * 300), OtaSubElement(0x0001, b"\x01" * 42))
    image = build_ota_image(header, subelements=elements)
    data = image.to_bytes()
    assert data[:4] == bytes.fromhex("1EF1EE0B")
    assert int.from_bytes(data[52:56], "little") == len(data)
    parsed = parse_ota_image(data)
    assert parsed == image
    assert parsed.subelements == elements


def test_header_length_follows_the_optional_fields() -> None:
    plain = OtaHeader(1, 2, 3)
    full = OtaHeader(
        1,
        2,
        3,
        security_credential_version=1,
        upgrade_file_destination=bytes(8),
        minimum_hardware_version=1,
        maximum_hardware_version=2,
    )
    assert (plain.header_length, full.header_length) == (56, 56 + 1 + 8 + 4)
    assert full.field_control == 0b111


def _valid() -> bytes:
    return build_ota_image(OtaHeader(1, 2, 3), body=b"firmware").to_bytes()


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        (b"", 0, "OTA upgrade file identifier"),
        (b"\x11\xf1\xee\x0b" + bytes(60), 0, "OTA upgrade file identifier"),
        (_valid()[:40], 40, "56-byte OTA header"),
        (_valid() + b"extra", 52, "total image size equal to the file size"),
        (_valid()[:-1], 52, "total image size equal to the file size"),
        (_valid()[:6] + b"\x40\x00" + _valid()[8:], 6, "header length 56"),
        (_valid()[:8] + b"\x07\x00" + _valid()[10:], 56, "optional OTA header fields"),
    ],
)
def test_bad_ota_files_raise_decode_errors(data: bytes, offset: int, expected: str) -> None:
    with pytest.raises(gbcs.GbcsDecodeError) as caught:
        parse_ota_image(data)
    assert expected in caught.value.expected
    assert caught.value.offset == offset


def test_build_needs_exactly_one_of_body_and_subelements() -> None:
    with pytest.raises(gbcs.GbcsEncodeError):
        build_ota_image(OtaHeader(1, 2, 3))
    with pytest.raises(gbcs.GbcsEncodeError):
        build_ota_image(OtaHeader(1, 2, 3), body=b"", subelements=())
    with pytest.raises(gbcs.GbcsEncodeError, match="32 bytes"):
        OtaImage(OtaHeader(1, 2, 3, b"short"), b"", None).to_bytes()

"""The one-unpack readers of the usual shapes (the General Signing header's fixed start,
the ECS52 response) accept, read and refuse exactly what the field-by-field readers do:
checked on every single-byte change of a real message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gbcs import envelope
from gbcs.errors import GbcsDecodeError
from gbcs.payloads import ecs52
from gbcs.reader import ByteReader
from tests.support.paths import RTDS_DIR, read_hex

ECS52 = read_hex(RTDS_DIR / "11.2_ECS52" / "ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX")
SIGNING_START = ECS52.index(b"\xdf\x09")  # inside the General Ciphering wrapper
ECS52_RESPONSE = bytes.fromhex("DA20000001000001090401" + "23ABCE010100")


def _variants(data: bytes) -> Iterator[bytes]:
    for offset in range(len(data)):
        for value in range(256):
            yield data[:offset] + bytes([value]) + data[offset + 1 :]
    yield data[:-1]
    yield data + b"\x00"


def _outcome(read: Callable[[ByteReader], Any], data: bytes) -> tuple[Any, int]:
    reader = ByteReader(data)
    try:
        return read(reader), reader.offset
    except GbcsDecodeError as exc:
        return ("error", exc.offset, exc.expected, exc.found), -1


def test_the_header_start_reads_as_field_by_field() -> None:
    head = ECS52[SIGNING_START : SIGNING_START + 30]
    for data in _variants(head):
        fast = _outcome(envelope._read_fixed_head, data)
        assert fast == _outcome(envelope._read_fixed_head_by_field, data), data.hex()


def test_the_ecs52_response_reads_as_field_by_field() -> None:
    for data in _variants(ECS52_RESPONSE):
        fast = _outcome(ecs52.read_response, data)
        assert fast == _outcome(ecs52._read_response_by_field, data), data.hex()

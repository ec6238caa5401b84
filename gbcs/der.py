"""The ASN.1 DER subset the GBCS firmware payloads use.

Hand-written on purpose: DESIGN §2 keeps `gbcs` on the standard library, and these
payloads need five universal types with strict, minimal encodings so that anything
accepted re-encodes to the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum

from .errors import GbcsDecodeError, GbcsEncodeError
from .reader import ByteReader, encode_length

_TIME_FORMAT = "%Y%m%d%H%M%SZ"
_TIME_LENGTH = 15


class DerTag(IntEnum):
    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    GENERALIZED_TIME = 0x18
    SEQUENCE = 0x30


def read_tlv(reader: ByteReader, tag: DerTag, what: str) -> ByteReader:
    start = reader.offset
    found = reader.u8(f"{what} tag")
    if found != tag:
        raise GbcsDecodeError(start, f"{what} ({tag.name} 0x{tag:02X})", f"tag 0x{found:02X}")
    return reader.sub(reader.length(f"{what} length"), what)


def read_sequence(reader: ByteReader, what: str) -> ByteReader:
    return read_tlv(reader, DerTag.SEQUENCE, what)


def read_integer(reader: ByteReader, what: str) -> int:
    body = read_tlv(reader, DerTag.INTEGER, what)
    start = body.offset
    raw = body.rest()
    if not raw:
        raise GbcsDecodeError(start, f"at least one content byte in {what}", "none")
    if len(raw) > 1 and (raw[0], raw[1] & 0x80) in ((0x00, 0), (0xFF, 0x80)):
        raise GbcsDecodeError(start, f"minimal encoding of {what}", raw.hex().upper())
    return int.from_bytes(raw, "big", signed=True)


def read_octet_string(reader: ByteReader, what: str, size: int | None = None) -> bytes:
    body = read_tlv(reader, DerTag.OCTET_STRING, what)
    if size is not None and body.remaining != size:
        raise GbcsDecodeError(body.offset, f"{size}-byte {what}", f"{body.remaining} bytes")
    return body.rest()


def read_null(reader: ByteReader, what: str) -> None:
    read_tlv(reader, DerTag.NULL, what).finish(what)


def read_generalized_time(reader: ByteReader, what: str) -> datetime:
    body = read_tlv(reader, DerTag.GENERALIZED_TIME, what)
    start = body.offset
    raw = body.rest()
    try:
        text = raw.decode("ascii")
        value = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
        if len(text) != _TIME_LENGTH or value.strftime(_TIME_FORMAT) != text:
            raise ValueError(text)
        return value
    except (UnicodeDecodeError, ValueError) as exc:
        raise GbcsDecodeError(start, f"{what} as YYYYMMDDHHMMSSZ", repr(raw)) from exc


def tlv(tag: DerTag, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def integer(value: int) -> bytes:
    size = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return tlv(DerTag.INTEGER, value.to_bytes(size, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(DerTag.OCTET_STRING, value)


def null() -> bytes:
    return tlv(DerTag.NULL, b"")


def generalized_time(value: datetime) -> bytes:
    if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
        raise GbcsEncodeError(f"GeneralizedTime needs a UTC datetime, got {value!r}")
    if value.microsecond:
        raise GbcsEncodeError(f"GeneralizedTime has whole seconds only, got {value!r}")
    return tlv(DerTag.GENERALIZED_TIME, value.strftime(_TIME_FORMAT).encode("ascii"))


def sequence(*parts: bytes) -> bytes:
    return tlv(DerTag.SEQUENCE, b"".join(parts))

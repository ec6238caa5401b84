"""A bounds-checked cursor over bytes; every failure is a GbcsDecodeError with its offset."""

from __future__ import annotations

from struct import Struct
from typing import Any

from .errors import GbcsDecodeError, GbcsEncodeError

_MAX_LENGTH_BYTES = 2


class ByteReader:
    """Reads a byte string front to back; offsets stay absolute in sub-readers."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def end(self) -> int:
        return self._end

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def peek(self) -> int | None:
        return self._data[self._pos] if self._pos < self._end else None

    def peek_struct(self, layout: Struct) -> tuple[Any, ...] | None:
        """The next `layout.size` bytes unpacked, without moving; None if fewer are left."""
        if self._pos + layout.size > self._end:
            return None
        return layout.unpack_from(self._data, self._pos)

    def skip(self, count: int) -> None:
        """Move past `count` bytes already read with `peek_struct`."""
        self.take(count, "bytes already read")

    def take(self, count: int, what: str) -> bytes:
        pos = self._pos
        if pos + count > self._end:
            raise GbcsDecodeError(pos, f"{count} byte(s) of {what}", f"{self._end - pos} left")
        self._pos = pos + count
        return self._data[pos : pos + count]

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def u8(self, what: str) -> int:
        pos = self._pos
        if pos >= self._end:
            raise GbcsDecodeError(pos, f"1 byte(s) of {what}", "0 left")
        self._pos = pos + 1
        return self._data[pos]

    def expect(self, value: bytes, what: str) -> None:
        start = self._pos
        found = self.take(len(value), what)
        if found != value:
            raise GbcsDecodeError(start, f"{what} {value.hex().upper()}", found.hex().upper())

    def expect_u8(self, value: int, what: str) -> None:
        """`expect(bytes([value]), what)` without building the bytes (a hot path)."""
        pos = self._pos
        if pos < self._end and self._data[pos] == value:
            self._pos = pos + 1
        else:
            self.expect(bytes([value]), what)  # raises, naming what was found

    def length(self, what: str) -> int:
        """A DER / A-XDR length: short form, or 0x81 / 0x82 and minimal long form."""
        start = self._pos
        first = self.u8(what)
        if first < 0x80:
            return first
        size = first & 0x7F
        if not 1 <= size <= _MAX_LENGTH_BYTES:
            raise GbcsDecodeError(start, f"{what} in 1 to 3 bytes", f"0x{first:02X}")
        value = self.uint(size, what)
        if value < (0x80 if size == 1 else 0x100):
            raise GbcsDecodeError(start, f"minimal encoding of {what}", f"{value} in long form")
        return value

    def sub(self, count: int, what: str) -> ByteReader:
        """A reader over the next `count` bytes; this reader moves past them."""
        if count > self.remaining:
            raise GbcsDecodeError(self._pos, f"{count} byte(s) of {what}", f"{self.remaining} left")
        child = ByteReader(self._data, self._pos, self._pos + count)
        self._pos += count
        return child

    def rest(self) -> bytes:
        return self.take(self.remaining, "the rest")

    def finish(self, what: str) -> None:
        if self._pos != self._end:
            raise GbcsDecodeError(self._pos, f"end of {what}", f"{self.remaining} extra byte(s)")


def encode_length(value: int) -> bytes:
    """The minimal DER / A-XDR length encoding of `value`."""
    if value < 0:
        raise GbcsEncodeError(f"negative length {value}")
    if value < 0x80:
        return bytes([value])
    if value <= 0xFF:
        return bytes([0x81, value])
    if value <= 0xFFFF:
        return b"\x82" + value.to_bytes(2, "big")
    raise GbcsEncodeError(f"length {value} does not fit in 2 bytes")


def encode_uint(value: int, size: int, what: str) -> bytes:
    try:
        return value.to_bytes(size, "big")
    except OverflowError as exc:
        raise GbcsEncodeError(f"{what} {value} does not fit in {size} byte(s)") from exc


def require_size(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise GbcsEncodeError(f"{what} must be {size} bytes, got {len(value)}")
    return value

"""Rig-link framing (docs/rig-link.md §2): COBS with a 0x00 delimiter and CRC-16/CCITT-FALSE.

A frame before stuffing is `type (1) | seq (1) | payload | CRC (2, big-endian)`, the CRC
over everything before it. On the line it is `0x00 | COBS(frame) | 0x00`; empty frames
(two delimiters in a row) are idle and ignored. `FrameCodec.feed` takes bytes as they come
(split or merged frames, any buffer type) and returns frames and `BadFrame` events; after
garbage it discards up to the next delimiter and says how much it threw away.

Sans-IO: no I/O, no clock.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from .errors import FramingError

DELIMITER = 0x00
MAX_FRAME = 2048  # bytes of a decoded frame: header, payload and CRC
HEADER = 2  # type, sequence number
CRC_SIZE = 2
MIN_FRAME = HEADER + CRC_SIZE
CRC_INIT = 0xFFFF  # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0
CRC_CHECK = 0x29B1  # its check value: the CRC of b"123456789"
_BLOCK = 254  # data bytes of a full COBS block (code 0xFF)


class FrameType(IntEnum):
    """Frame types on the wire (docs/rig-link.md §3)."""

    HELLO = 0x01
    HEARTBEAT = 0x02
    ACK = 0x03
    NAK = 0x04
    STATUS = 0x10
    GBCS_DOWN = 0x20
    GBCS_UP = 0x21
    POWER = 0x30


# Frames that carry a sequence number, are acknowledged and retransmitted.
SEQUENCED = frozenset({FrameType.STATUS, FrameType.GBCS_DOWN, FrameType.GBCS_UP, FrameType.POWER})


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameType
    seq: int = 0
    payload: bytes = b""


class BadFrameReason(StrEnum):
    BAD_CRC = "bad_crc"
    MALFORMED = "malformed"  # not valid COBS
    TOO_SHORT = "too_short"  # fewer than header and CRC
    TOO_LONG = "too_long"  # over the maximum frame size; skipped to the next delimiter
    UNKNOWN_TYPE = "unknown_type"


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes between two delimiters that are not a frame; `size` bytes were discarded."""

    reason: BadFrameReason
    size: int
    detail: str = ""


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (binascii's crc_hqx with the initial value 0xFFFF)."""
    return binascii.crc_hqx(data, CRC_INIT)


def max_encoded(max_frame: int) -> int:
    """Bytes between delimiters of the largest frame: COBS adds one per 254 and one."""
    return max_frame + max_frame // _BLOCK + 1


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result has no 0x00."""
    out = bytearray()
    segments = data.split(b"\x00")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        start = 0
        while len(segment) - start >= _BLOCK:
            out.append(0xFF)
            out += segment[start : start + _BLOCK]
            start += _BLOCK
        rest = segment[start:]
        if rest or start == 0 or index < last:
            out.append(len(rest) + 1)
            out += rest
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """The inverse of `cobs_encode`; `FramingError` names the offset of a bad block."""
    out = bytearray()
    index, size = 0, len(data)
    while index < size:
        code = data[index]
        end = index + code
        if code == 0 or end > size:
            raise FramingError(f"COBS block at offset {index} claims {code - 1} bytes")
        block = data[index + 1 : end]
        if DELIMITER in block:
            raise FramingError(f"COBS block at offset {index} holds a 0x00")
        out += block
        index = end
        if code < 0xFF and index < size:
            out.append(DELIMITER)
    return bytes(out)


class FrameCodec:
    """Frames to bytes and bytes to frames, for one direction of one connection."""

    __slots__ = ("_buffer", "_limit", "_skipping", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < MIN_FRAME:
            raise FramingError(f"maximum frame size {max_frame} is under {MIN_FRAME} bytes")
        self.max_frame = max_frame
        self._limit = max_encoded(max_frame)
        self._buffer = bytearray()
        self._skipping = 0  # bytes thrown away since an over-size frame began; 0 = not

    @property
    def max_payload(self) -> int:
        return self.max_frame - MIN_FRAME

    def encode(self, frame: Frame) -> bytes:
        if len(frame.payload) > self.max_payload:
            raise FramingError(
                f"{frame.kind.name} payload of {len(frame.payload)} bytes is over the "
                f"{self.max_payload} a {self.max_frame}-byte frame can hold"
            )
        if not 0 <= frame.seq <= 0xFF:
            raise FramingError(f"sequence number {frame.seq} is not 0-255")
        body = bytes((frame.kind, frame.seq)) + frame.payload
        stuffed = cobs_encode(body + crc16(body).to_bytes(CRC_SIZE, "big"))
        return b"\x00" + stuffed + b"\x00"

    def reset(self) -> None:
        """Forget a partial frame (a new connection starts clean)."""
        self._buffer.clear()
        self._skipping = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | BadFrame]:
        """Bytes from the line, in any pieces; the frames and bad frames they complete."""
        chunk = bytes(data)
        events: list[Frame | BadFrame] = []
        start = 0
        while (end := chunk.find(DELIMITER, start)) >= 0:
            self._take(chunk, start, end, events)
            self._close_frame(events)
            start = end + 1
        self._take(chunk, start, len(chunk), events)
        return events

    def _take(self, chunk: bytes, start: int, end: int, events: list[Frame | BadFrame]) -> None:
        if self._skipping:
            self._skipping += end - start
            return
        self._buffer += chunk[start:end]
        if len(self._buffer) > self._limit:
            self._skipping = len(self._buffer)
            self._buffer.clear()

    def _close_frame(self, events: list[Frame | BadFrame]) -> None:
        if self._skipping:
            detail = f"over {self._limit} bytes between delimiters"
            events.append(BadFrame(BadFrameReason.TOO_LONG, self._skipping, detail))
            self._skipping = 0
            return
        if not self._buffer:
            return
        stuffed = bytes(self._buffer)
        self._buffer.clear()
        events.append(decode_frame(stuffed))


def decode_frame(stuffed: bytes) -> Frame | BadFrame:
    """One frame from the bytes between two delimiters."""
    size = len(stuffed)
    try:
        body = cobs_decode(stuffed)
    except FramingError as exc:
        return BadFrame(BadFrameReason.MALFORMED, size, str(exc))
    if len(body) < MIN_FRAME:
        return BadFrame(BadFrameReason.TOO_SHORT, size, f"{len(body)} bytes decoded")
    content, received = body[:-CRC_SIZE], int.from_bytes(body[-CRC_SIZE:], "big")
    computed = crc16(content)
    if computed != received:
        return BadFrame(
            BadFrameReason.BAD_CRC, size, f"CRC {received:04X}, computed {computed:04X}"
        )
    try:
        kind = FrameType(content[0])
    except ValueError:
        return BadFrame(BadFrameReason.UNKNOWN_TYPE, size, f"frame type 0x{content[0]:02X}")
    return Frame(kind, content[1], content[HEADER:])

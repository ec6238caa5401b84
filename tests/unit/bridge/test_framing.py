"""Rig-link framing (docs/rig-link.md §2): COBS and CRC vectors, split and merged frames,
every buffer type, garbage, CRC errors and over-size frames; encode/feed round trips
under arbitrary chunking (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import FramingError
from bridge.framing import (
    CRC_CHECK,
    MAX_FRAME,
    BadFrame,
    BadFrameReason,
    Frame,
    FrameCodec,
    FrameType,
    cobs_decode,
    cobs_encode,
    crc16,
    max_encoded,
)


def crc16_bitwise(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit, straight from its parameters, to check crc16."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def test_the_crc_is_ccitt_false_with_its_check_value() -> None:
    assert crc16(b"123456789") == CRC_CHECK == 0x29B1
    assert crc16(b"") == 0xFFFF  # the initial value, no final XOR


@given(st.binary(max_size=300))
def test_the_crc_matches_the_bitwise_definition(data: bytes) -> None:
    assert crc16(data) == crc16_bitwise(data)


COBS_VECTORS = [  # the examples of Cheshire and Baker's paper, as Wikipedia lists them
    ("00", "0101"),
    ("0000", "010101"),
    ("001100", "01021101"),
    ("11220033", "0311220233"),
    ("11223344", "0511223344"),
    ("11000000", "0211010101"),
    (bytes(range(1, 255)).hex(), "ff" + bytes(range(1, 255)).hex()),
    ("00" + bytes(range(1, 255)).hex(), "01ff" + bytes(range(1, 255)).hex()),
    (bytes(range(1, 256)).hex(), "ff" + bytes(range(1, 255)).hex() + "02ff"),
    (bytes(range(2, 256)).hex() + "00", "ff" + bytes(range(2, 256)).hex() + "0101"),
    (bytes(range(3, 256)).hex() + "0001", "fe" + bytes(range(3, 256)).hex() + "0201"),
]


@pytest.mark.parametrize(("raw", "stuffed"), COBS_VECTORS)
def test_cobs_vectors(raw: str, stuffed: str) -> None:
    assert cobs_encode(bytes.fromhex(raw)).hex() == stuffed
    assert cobs_decode(bytes.fromhex(stuffed)).hex() == raw


@pytest.mark.parametrize("stuffed", ["05112233", "00", "0311000102"])
def test_bad_cobs_is_refused(stuffed: str) -> None:
    with pytest.raises(FramingError, match="COBS block at offset"):
        cobs_decode(bytes.fromhex(stuffed))


def test_a_frame_on_the_wire_byte_for_byte() -> None:
    # ACK of sequence number 5: type 03, seq 05, CRC-16/CCITT-FALSE of 0305 big-endian
    assert crc16_bitwise(b"\x03\x05") == 0x18F9
    wire = FrameCodec().encode(Frame(FrameType.ACK, 5))
    assert wire.hex(" ") == "00 05 03 05 18 f9 00"  # docs/rig-link.md §2
    assert 0 not in wire[1:-1]


FRAMES = [
    Frame(FrameType.HELLO, 0, bytes(9)),
    Frame(FrameType.GBCS_DOWN, 254, b"\x00" * 40 + b"\xdd" * 300),
    Frame(FrameType.ACK, 255),
    Frame(FrameType.GBCS_UP, 7, bytes(range(256)) * 7),
]


def test_split_frames_come_out_whole_byte_by_byte() -> None:
    codec = FrameCodec()
    wire = b"".join(codec.encode(f) for f in FRAMES)
    events = [event for i in range(len(wire)) for event in codec.feed(wire[i : i + 1])]
    assert events == FRAMES


def test_merged_frames_in_one_read() -> None:
    codec = FrameCodec()
    assert codec.feed(b"".join(codec.encode(f) for f in FRAMES)) == FRAMES


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_every_buffer_type_is_taken(kind: type[bytes | bytearray | memoryview]) -> None:
    codec = FrameCodec()
    wire = b"".join(codec.encode(f) for f in FRAMES)
    assert codec.feed(kind(wire[:100])) + codec.feed(kind(wire[100:])) == FRAMES


def test_garbage_before_a_frame_is_discarded_and_counted() -> None:
    codec = FrameCodec()
    garbage = b"\x13\x37 line noise \xff\xfe"
    events = codec.feed(garbage + codec.encode(FRAMES[0]))
    assert events[1:] == [FRAMES[0]]
    bad = events[0]
    assert isinstance(bad, BadFrame)
    assert bad.size == len(garbage)
    assert bad.reason in {BadFrameReason.MALFORMED, BadFrameReason.BAD_CRC}


def test_idle_delimiters_are_not_frames() -> None:
    assert FrameCodec().feed(b"\x00" * 10) == []


def test_a_corrupted_byte_is_a_crc_error_and_the_next_frame_survives() -> None:
    codec = FrameCodec()
    wire = bytearray(codec.encode(FRAMES[1]))
    wire[100] ^= 0x40  # one of the 0xDD data bytes, not a COBS code byte
    events = codec.feed(bytes(wire) + codec.encode(FRAMES[2]))
    assert [type(e) for e in events] == [BadFrame, Frame]
    assert isinstance(events[0], BadFrame)
    assert events[0].reason is BadFrameReason.BAD_CRC
    assert events[1] == FRAMES[2]


def test_a_short_frame_and_an_unknown_type_are_reported() -> None:
    codec = FrameCodec()
    short = b"\x00" + cobs_encode(b"\x02\x01\x01") + b"\x00"
    body = b"\x7f\x00"
    unknown = b"\x00" + cobs_encode(body + crc16(body).to_bytes(2, "big")) + b"\x00"
    reasons = [e.reason for e in codec.feed(short + unknown) if isinstance(e, BadFrame)]
    assert reasons == [BadFrameReason.TOO_SHORT, BadFrameReason.UNKNOWN_TYPE]


def test_an_over_size_frame_is_skipped_to_the_next_delimiter_across_reads() -> None:
    codec = FrameCodec(max_frame=64)
    flood = b"\x11" * 500
    events = codec.feed(flood[:100]) + codec.feed(flood[100:]) + codec.feed(b"\x00")
    assert events == [BadFrame(BadFrameReason.TOO_LONG, 500, events[0].detail)]  # type: ignore[union-attr]
    assert codec.feed(codec.encode(Frame(FrameType.ACK, 1))) == [Frame(FrameType.ACK, 1)]


def test_the_largest_frame_passes_and_one_byte_more_cannot_be_sent() -> None:
    codec = FrameCodec()
    biggest = Frame(FrameType.GBCS_UP, 1, b"\x01" * (MAX_FRAME - 4))
    wire = codec.encode(biggest)
    assert len(wire) - 2 <= max_encoded(MAX_FRAME)
    assert codec.feed(wire) == [biggest]
    with pytest.raises(FramingError, match="over the 2044"):
        codec.encode(Frame(FrameType.GBCS_UP, 1, b"\x01" * (MAX_FRAME - 3)))
    with pytest.raises(FramingError, match="sequence number 256"):
        codec.encode(Frame(FrameType.GBCS_UP, 256))


frames = st.builds(
    Frame,
    st.sampled_from(list(FrameType)),
    st.integers(0, 255),
    st.binary(max_size=600),
)


@given(st.lists(frames, max_size=8), st.lists(st.integers(1, 400), max_size=30))
def test_encode_then_feed_in_any_chunks_gives_the_frames_back(
    sent: list[Frame], cuts: list[int]
) -> None:
    codec = FrameCodec()
    wire = b"".join(codec.encode(f) for f in sent)
    received: list[Frame | BadFrame] = []
    start = 0
    for size in cuts:
        received += codec.feed(memoryview(wire)[start : start + size])
        start += size
    received += codec.feed(wire[start:])
    assert received == sent


@given(st.lists(frames, min_size=1, max_size=5), st.binary(max_size=200), st.data())
def test_garbage_between_frames_loses_no_frame(
    sent: list[Frame], garbage: bytes, data: st.DataObject
) -> None:
    codec = FrameCodec()
    where = data.draw(st.integers(0, len(sent)))
    wire = [codec.encode(f) for f in sent]
    wire.insert(where, garbage)
    received = iter(codec.feed(b"".join(wire)))
    assert all(frame in received for frame in sent)  # in order (garbage could pass a CRC)

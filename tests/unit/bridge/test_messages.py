"""Rig-link payloads (docs/rig-link.md §3): layouts byte for byte, refusals naming the
frame type, GBCS messages cut into fragments and put back together."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import PayloadError, ReassemblyError
from bridge.framing import MAX_FRAME
from bridge.messages import (
    DevicePresence,
    GbcsFragment,
    Nak,
    NakReason,
    PowerAction,
    PowerCommand,
    Reassembler,
    RigStatus,
    Sync,
    fragments,
)

ESME = bytes.fromhex("00DB123456789002")
CHF = bytes.fromhex("00DB123456789001")
PAYLOAD = MAX_FRAME - 4


def test_layouts_byte_for_byte() -> None:
    assert Sync(0x01020304, 0xA0B0C0D0).to_bytes().hex() == "0101020304a0b0c0d0"
    assert Nak(NakReason.OUT_OF_SEQUENCE).to_bytes() == b"\x01"
    assert GbcsFragment(ESME, b"\xdf", more=True).to_bytes().hex() == "0100db123456789002df"
    assert PowerCommand(ESME).to_bytes().hex() == "00db12345678900201"
    status = RigStatus(True, (DevicePresence(CHF), DevicePresence(ESME, powered=False)))
    assert status.to_bytes().hex() == "010200db12345678900101" + "00db12345678900200"


@pytest.mark.parametrize(
    "message",
    [
        Sync(7, 9),
        Nak(NakReason.OUT_OF_SEQUENCE),
        GbcsFragment(ESME, b"abc"),
        GbcsFragment(CHF, b"", more=True),
        PowerCommand(CHF, PowerAction.CYCLE),
        RigStatus(False),
        RigStatus(True, (DevicePresence(CHF), DevicePresence(ESME, powered=False))),
    ],
)
def test_payloads_parse_back(
    message: Sync | Nak | GbcsFragment | PowerCommand | RigStatus,
) -> None:
    assert type(message).parse(message.to_bytes()) == message


@pytest.mark.parametrize(
    ("parse", "data", "says"),
    [
        (Sync.parse, bytes(8), "HELLO/HEARTBEAT payload of 8 bytes"),
        (Sync.parse, bytes(9), "boot ID 0"),
        (Nak.parse, b"\x09", "NAK reason 9"),
        (GbcsFragment.parse, bytes(5), "GBCS fragment of 5 bytes"),
        (GbcsFragment.parse, b"\x04" + ESME, "flags 0x04"),
        (PowerCommand.parse, ESME + b"\x07", "POWER action 7"),
        (RigStatus.parse, b"\x01\x01" + ESME, "does not match its count"),
        (RigStatus.parse, b"\x02\x00", "hub state 2"),
    ],
)
def test_bad_payloads_are_refused_naming_the_frame_type(
    parse: object, data: bytes, says: str
) -> None:
    assert callable(parse)
    with pytest.raises(PayloadError, match=says):
        parse(data)


def test_a_device_id_must_be_an_eui64() -> None:
    with pytest.raises(PayloadError, match="device ID of 4 bytes"):
        PowerCommand(b"\x00\xdb\x12\x34").to_bytes()


def test_an_image_is_cut_into_full_frames_and_the_last_says_so() -> None:
    image = bytes(5000)
    pieces = fragments(ESME, image, PAYLOAD)
    assert [len(p.to_bytes()) for p in pieces] == [PAYLOAD, PAYLOAD, 5000 - 2 * (PAYLOAD - 9) + 9]
    assert [p.more for p in pieces] == [True, True, False]
    assert fragments(ESME, b"", PAYLOAD) == [GbcsFragment(ESME, b"")]


@given(st.binary(max_size=9000), st.integers(10, 3000))
def test_fragments_reassemble_to_the_message(message: bytes, payload: int) -> None:
    reassembler = Reassembler()
    out = [reassembler.add(p) for p in fragments(ESME, message, payload)]
    assert out[-1] == message
    assert set(out[:-1]) <= {None}


def test_another_devices_fragment_mid_message_drops_both_messages() -> None:
    reassembler = Reassembler()
    reassembler.add(GbcsFragment(ESME, b"a", more=True))
    with pytest.raises(ReassemblyError, match="for 00DB123456789001 arrived in the middle"):
        reassembler.add(GbcsFragment(CHF, b"b", more=True))
    assert reassembler.add(GbcsFragment(CHF, b"c")) is None  # the rest of the CHF's message
    assert reassembler.add(GbcsFragment(ESME, b"whole")) == b"whole"


def test_an_over_size_message_is_dropped_to_its_last_fragment() -> None:
    reassembler = Reassembler(max_message=10)
    reassembler.add(GbcsFragment(ESME, bytes(6), more=True))
    with pytest.raises(ReassemblyError, match="over 10 bytes"):
        reassembler.add(GbcsFragment(ESME, bytes(6), more=True))
    assert reassembler.add(GbcsFragment(ESME, bytes(6))) is None
    assert reassembler.add(GbcsFragment(ESME, b"next")) == b"next"


def test_a_message_too_large_to_carry_is_refused_when_cut() -> None:
    with pytest.raises(PayloadError, match="over 1048576"):
        fragments(ESME, bytes(1024 * 1024 + 1), PAYLOAD)

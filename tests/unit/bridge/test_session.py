"""The rig-link session (docs/rig-link.md §4): synchronisation by boot IDs, delivery in
order and once, retransmission, NAK after a gap, duplicates, sequence wrap, link down by
silence and by unanswered frames, a restarted peer, the transport closed and opened
again, illegal transitions; and a hypothesis run over a lossy, duplicating line."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import RigLinkError
from bridge.framing import Frame, FrameCodec, FrameType
from bridge.messages import GbcsFragment, Reassembler, RigStatus, Sync
from bridge.session import LinkDown, LinkRole, LinkUp, RigSession, SessionConfig, Write
from contract.errors import IllegalTransitionError
from tests.support.rig_wire import CONFIG, Wire, drop_first, synced


def test_both_ends_sync_by_echoing_each_others_boot_id() -> None:
    wire = synced()
    assert wire.bridge.session.peer_boot_id == 0x51
    assert wire.rig.session.peer_boot_id == 0xB1
    assert wire.bridge.links == [LinkUp(0x51, peer_restarted=False)]
    assert wire.rig.links == [LinkUp(0xB1, peer_restarted=False)]
    # a HELLO each, a HELLO each in reply, then a HEARTBEAT each: no ping-pong
    kinds = [frame.kind for _, frame in wire.sent]
    assert kinds == [FrameType.HELLO] * 4 + [FrameType.HEARTBEAT] * 2
    wire.advance(0.9)
    assert [frame.kind for _, frame in wire.sent] == kinds  # quiet until the heartbeat


def test_a_message_of_several_frames_arrives_whole_and_is_acked_once() -> None:
    wire = synced()
    message = bytes(range(256)) * 20  # 5120 bytes: three frames
    wire.send_down(message, tag="m1")
    reassembler = Reassembler()
    whole = [reassembler.add(GbcsFragment.parse(frame.payload)) for frame in wire.rig.delivered]
    assert whole == [None, None, message]
    assert wire.bridge.acked == ["m1"]


def test_a_lost_frame_is_sent_again_after_the_time_out() -> None:
    wire = synced()
    wire.fault = drop_first(FrameType.GBCS_DOWN)
    wire.send_down(b"command", tag=1)
    assert wire.rig.messages == []
    wire.advance(0.4)
    assert wire.rig.messages == []  # not yet: 0.5 s
    wire.advance(0.2)
    assert wire.rig.messages == [b"command"]
    assert wire.bridge.acked == [1]
    assert wire.bridge.session.stats.retransmissions == 1


def test_a_lost_ack_makes_a_duplicate_that_is_acked_but_not_delivered() -> None:
    wire = synced()
    wire.fault = drop_first(FrameType.ACK)
    wire.send_up(b"response", tag="r")
    wire.advance(1.0)
    assert wire.bridge.messages == [b"response"]
    assert wire.bridge.session.stats.duplicates == 1
    assert wire.rig.acked == ["r"]


def test_a_gap_is_answered_by_one_nak_and_the_sender_goes_back() -> None:
    wire = synced()
    wire.fault = drop_first(FrameType.GBCS_DOWN)
    for n in range(4):  # one window: the first is lost, three arrive beyond the gap
        wire.send_down(b"m%d" % n, tag=n, pump=False)
    wire.pump()
    assert wire.rig.messages == [b"m0", b"m1", b"m2", b"m3"]  # at once, not after a time-out
    stats = wire.rig.session.stats
    assert (stats.out_of_order, stats.naks_sent) == (3, 1)
    assert wire.bridge.session.stats.naks_received == 1
    assert wire.bridge.acked == [0, 1, 2, 3]


def test_sequence_numbers_wrap_without_loss_or_duplicate() -> None:
    wire = synced()
    rng = random.Random(6)
    wire.fault = lambda role, frame, data: b"" if rng.random() < 0.05 else None
    for n in range(600):
        wire.send_down(b"%d" % n, tag=n)
        wire.advance(0.05)
    wire.advance(5)
    assert wire.rig.messages == [b"%d" % n for n in range(600)]
    assert wire.bridge.acked == list(range(600))
    assert {frame.seq for role, frame in wire.sent if frame.kind is FrameType.GBCS_DOWN} == set(
        range(256)
    )


def test_a_silent_peer_takes_the_link_down_and_it_comes_back_by_itself() -> None:
    wire = synced()
    wire.rig.silent = True
    wire.advance(3.4)
    assert wire.bridge.session.state == "up"
    wire.advance(0.2)
    assert wire.bridge.links[-1] == LinkDown("nothing from the peer for 3.5 s")
    assert wire.bridge.session.state == "syncing"
    wire.rig.silent = False
    wire.advance(2.0)  # the rig's own silence check, then HELLOs both ways
    assert wire.bridge.session.state == wire.rig.session.state == "up"
    assert isinstance(wire.bridge.links[-1], LinkUp)


def test_unanswered_frames_take_the_link_down_and_are_delivered_once_it_is_back() -> None:
    wire = synced()
    wire.rig.silent = True
    wire.send_down(b"held", tag="h")
    wire.advance(2.1)  # 1 + 3 retries at 0.5 s, then the fifth time-out
    assert wire.bridge.links[-1] == LinkDown("frame 0 unacknowledged after 4 transmissions")
    assert wire.bridge.session.pending == 1
    wire.advance(5.0)  # still silent: nothing lost, nothing sent but HELLO
    wire.rig.silent = False
    wire.advance(3.0)
    assert wire.rig.messages == [b"held"]
    assert wire.bridge.acked == ["h"]


def test_frames_received_while_syncing_are_dropped_unacknowledged() -> None:
    wire = Wire()
    rig = wire.rig.session
    wire.route(wire.rig, rig.open(0.0))  # the bridge's HELLO never reaches the rig
    codec = FrameCodec()
    fragment = GbcsFragment(bytes(8), b"early").to_bytes()
    rig.receive(codec.encode(Frame(FrameType.GBCS_DOWN, 0, fragment)), 0.0)
    assert rig.stats.not_synced == 1


def test_a_transport_closed_mid_message_loses_and_duplicates_nothing() -> None:
    wire = synced()
    wire.fault = drop_first(FrameType.ACK, count=2)  # the rig has both; the bridge knows not
    wire.send_down(b"one", tag=1)
    wire.send_down(b"two", tag=2)
    for end in wire.ends():
        wire.route(end, end.session.close(wire.now))
    assert wire.bridge.links[-1] == LinkDown("the transport closed")
    wire.advance(1.0)  # closed: ticks do nothing
    wire.open()
    wire.advance(1.0)
    assert wire.rig.messages == [b"one", b"two"]
    assert wire.rig.session.stats.duplicates == 2
    assert wire.bridge.acked == [1, 2]


def test_a_restarted_rig_gets_a_half_sent_message_again_whole() -> None:
    wire = synced()
    message = bytes(range(1, 256)) * 20  # three frames
    wire.fault = drop_first(FrameType.GBCS_DOWN, seq=2)  # the third frame is lost
    wire.send_down(message, tag="image")
    assert len(wire.rig.delivered) == 2
    rig = wire.replace_rig(0x52)
    wire.pump()
    wire.advance(2.0)
    assert wire.bridge.links[-1] == LinkUp(0x52, peer_restarted=True)
    assert wire.bridge.session.stats.peer_restarts == 1
    reassembler = Reassembler()
    whole = [reassembler.add(GbcsFragment.parse(f.payload)) for f in wire.rig.delivered]
    assert whole == [None, None, message]  # numbered from 0 again, the first frame too
    assert wire.bridge.acked == ["image"]
    assert rig.stats.delivered == 3


def test_illegal_transitions_name_role_state_and_event() -> None:
    session = RigSession(LinkRole.BRIDGE, 7)
    with pytest.raises(IllegalTransitionError, match="bridge session: event data") as info:
        session.receive(b"\x00", 0.0)
    assert (info.value.state, info.value.event) == ("closed", "data")
    with pytest.raises(IllegalTransitionError, match="event lost is not allowed in state closed"):
        session.close(0.0)
    session.open(0.0)
    with pytest.raises(IllegalTransitionError, match="event opened is not allowed in state sync"):
        session.open(0.0)


def test_each_side_sends_only_its_own_frame_types() -> None:
    with pytest.raises(RigLinkError, match="bridge side does not send GBCS_UP"):
        RigSession(LinkRole.BRIDGE, 1).send(FrameType.GBCS_UP, [b""], 0.0)
    with pytest.raises(RigLinkError, match="rig side does not send POWER"):
        RigSession(LinkRole.RIG, 1).send(FrameType.POWER, [b""], 0.0)
    with pytest.raises(RigLinkError, match="over 2044"):
        RigSession(LinkRole.RIG, 1).send(FrameType.GBCS_UP, [bytes(2045)], 0.0)


def test_a_frame_of_the_wrong_direction_is_acknowledged_and_refused() -> None:
    wire = synced()
    bridge = wire.bridge.session
    status = RigStatus(True).to_bytes()
    wrong = FrameCodec().encode(Frame(FrameType.GBCS_DOWN, 0, status))
    actions = bridge.receive(wrong, wire.now)
    assert bridge.stats.refused == 1
    assert [type(a) for a in actions] == [Write]  # the ACK, no delivery


def test_a_peer_of_another_protocol_version_is_refused() -> None:
    session = RigSession(LinkRole.BRIDGE, 9)
    session.open(0.0)
    hello = Frame(FrameType.HELLO, 0, Sync(5, 9, version=2).to_bytes())
    session.receive(FrameCodec().encode(hello), 0.1)
    assert session.state == "syncing"
    assert session.stats.refused == 1


def test_config_limits() -> None:
    with pytest.raises(RigLinkError, match="window 128"):
        SessionConfig(window=128)
    with pytest.raises(RigLinkError, match="silence limit"):
        SessionConfig(heartbeat_every=2.0, silence_limit=2.0)
    with pytest.raises(RigLinkError, match="boot ID 0"):
        RigSession(LinkRole.RIG, 0)


def test_next_due_says_when_to_tick() -> None:
    wire = synced()
    bridge = wire.bridge.session
    assert bridge.next_due() == pytest.approx(1.0)  # the heartbeat
    wire.rig.silent = True
    wire.send_down(b"x")
    assert bridge.next_due() == pytest.approx(0.5)  # the retransmission
    assert RigSession(LinkRole.RIG, 3).next_due() is None


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0, 0.3),
    copies=st.floats(0, 0.3),
    flips=st.floats(0, 0.1),
    count=st.integers(1, 40),
)
def test_over_a_bad_line_every_message_arrives_once_and_in_order(
    seed: int, loss: float, copies: float, flips: float, count: int
) -> None:
    rng = random.Random(seed)

    def line(role: LinkRole, frame: Frame, data: bytes) -> bytes:
        roll = rng.random()
        if roll < loss:
            return b""
        if roll < loss + flips:
            spoiled = bytearray(data)
            spoiled[rng.randrange(1, len(data) - 1)] ^= 1 << rng.randrange(8)
            return bytes(spoiled)
        return data * 2 if roll < loss + flips + copies else data

    wire = synced()
    wire.fault = line
    sent = [rng.randbytes(rng.randrange(1, 5000)) for _ in range(count)]
    for n, message in enumerate(sent):
        wire.send_down(message, tag=n)
        wire.send_up(message[::-1], tag=n)
    for _ in range(400):
        if len(wire.bridge.acked) == len(wire.rig.acked) == count:
            break
        wire.advance(1.0)
    assert _whole(wire.rig.delivered) == sent
    assert _whole(wire.bridge.delivered) == [m[::-1] for m in sent]
    assert wire.bridge.acked == wire.rig.acked == list(range(count))


def _whole(frames: list[Frame]) -> list[bytes]:
    reassembler = Reassembler()
    out = []
    for frame in frames:
        message = reassembler.add(GbcsFragment.parse(frame.payload))
        if message is not None:
            out.append(message)
    return out


assert CONFIG.window == 4  # the tests above count on it

"""Two rig-link sessions joined by an in-memory line with a hand-moved clock, and a hook
that may drop, corrupt or copy each frame on it: the session tests' bench."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.framing import Frame, FrameCodec, FrameType
from bridge.messages import GbcsFragment, fragments
from bridge.session import (
    Acked,
    Deliver,
    LinkDown,
    LinkRole,
    LinkUp,
    RigSession,
    SessionAction,
    SessionConfig,
    Write,
)

CONFIG = SessionConfig(
    window=4, retransmit_after=0.5, max_retries=3, heartbeat_every=1.0, silence_limit=3.5
)
STEP = 0.05
DEVICE = bytes.fromhex("00DB123456789001")

# What the line does to one frame: deliver it as it is, or return the bytes to deliver
# instead (b"" drops it; two copies duplicate it; a flipped bit corrupts it).
Fault = Callable[[LinkRole, Frame, bytes], bytes | None]


@dataclass
class End:
    session: RigSession
    delivered: list[Frame] = field(default_factory=list)
    acked: list[object] = field(default_factory=list)
    links: list[LinkUp | LinkDown] = field(default_factory=list)
    silent: bool = False  # takes nothing in, says nothing, does not tick: a hung rig

    @property
    def messages(self) -> list[bytes]:
        return [GbcsFragment.parse(frame.payload).data for frame in self.delivered]


class Wire:
    def __init__(self, config: SessionConfig = CONFIG) -> None:
        self.now = 0.0
        self.bridge = End(RigSession(LinkRole.BRIDGE, 0xB1, config))
        self.rig = End(RigSession(LinkRole.RIG, 0x51, config))
        self.fault: Fault | None = None
        self.sent: list[tuple[LinkRole, Frame]] = []  # every frame put on the line
        self._line: list[tuple[End, bytes]] = []
        self._codec = FrameCodec(config.max_frame)

    def ends(self) -> tuple[End, End]:
        return self.bridge, self.rig

    def peer(self, end: End) -> End:
        return self.rig if end is self.bridge else self.bridge

    def open(self) -> None:
        for end in self.ends():
            self.route(end, end.session.open(self.now))
        self.pump()

    def replace_rig(self, boot_id: int) -> RigSession:
        """The rig restarts: a new session, new boot ID, nothing remembered."""
        self.rig = End(RigSession(LinkRole.RIG, boot_id, self.rig.session.config))
        self.route(self.rig, self.rig.session.open(self.now))
        return self.rig.session

    def route(self, sender: End, actions: list[SessionAction]) -> None:
        for action in actions:
            match action:
                case Write(data):
                    self._put(sender, data)
                case Deliver(frame):
                    sender.delivered.append(frame)
                case Acked(tag):
                    sender.acked.append(tag)
                case LinkUp() | LinkDown():
                    sender.links.append(action)

    def _put(self, sender: End, data: bytes) -> None:
        if sender.silent:
            return
        (frame,) = self._codec.feed(data)
        assert isinstance(frame, Frame)
        self.sent.append((sender.session.role, frame))
        if self.fault is not None:
            changed = self.fault(sender.session.role, frame, data)
            data = data if changed is None else changed
        if data:
            self._line.append((self.peer(sender), data))

    def pump(self) -> None:
        while self._line:
            receiver, data = self._line.pop(0)
            if not receiver.silent and receiver.session.state != "closed":
                self.route(receiver, receiver.session.receive(data, self.now))

    def advance(self, seconds: float) -> None:
        end_at = self.now + seconds
        while self.now < end_at - 1e-9:
            self.now = round(self.now + STEP, 6)
            for end in self.ends():
                if not end.silent:
                    self.route(end, end.session.on_tick(self.now))
            self.pump()

    def send_down(self, message: bytes, tag: object = None, *, pump: bool = True) -> None:
        session = self.bridge.session
        payloads = [f.to_bytes() for f in fragments(DEVICE, message, session.max_payload)]
        self.route(self.bridge, session.send(FrameType.GBCS_DOWN, payloads, self.now, tag))
        if pump:
            self.pump()

    def send_up(self, message: bytes, tag: object = None) -> None:
        session = self.rig.session
        payloads = [f.to_bytes() for f in fragments(DEVICE, message, session.max_payload)]
        self.route(self.rig, session.send(FrameType.GBCS_UP, payloads, self.now, tag))
        self.pump()


def synced() -> Wire:
    wire = Wire()
    wire.open()
    assert wire.bridge.session.state == wire.rig.session.state == "up"
    return wire


def drop_first(kind: FrameType, count: int = 1, seq: int | None = None) -> Fault:
    """Drop the first `count` frames of `kind` (with sequence number `seq` if given)."""
    left = [count]

    def fault(role: LinkRole, frame: Frame, data: bytes) -> bytes | None:
        if frame.kind is kind and (seq is None or frame.seq == seq) and left[0] > 0:
            left[0] -= 1
            return b""
        return None

    return fault

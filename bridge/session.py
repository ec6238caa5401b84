"""The rig-link session (docs/rig-link.md §4): synchronisation, sequence numbers,
acknowledgements, retransmission, duplicate suppression, link up and down.

Sans-IO, h11's shape: `open`, `close`, `receive` (bytes from the line), `send` (a message
of one or more frames) and `on_tick` take the time as an argument (monotonic seconds) and
return actions: bytes to `Write`, frames to `Deliver` (in order, once), messages the peer
`Acked`, and `LinkUp` / `LinkDown`. Nothing here reads a clock or does I/O.

Reliability is go-back-N with cumulative ACKs over 8-bit sequence numbers and a window
of at most 127 frames: a receiver delivers only the frame it expects, acknowledges
duplicates again without delivering them, and answers a frame from beyond a gap with one
NAK. Sequence numbers survive a dropped link (frames are sent again as they were, and the
peer drops what it already had); they restart from 0 when either side restarts, which
the boot IDs in HELLO and HEARTBEAT reveal.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from contract.transitions import TransitionTable

from .errors import PayloadError, RigLinkError
from .framing import MAX_FRAME, SEQUENCED, BadFrame, Frame, FrameCodec, FrameType
from .messages import PROTOCOL_VERSION, Nak, NakReason, Sync

log = logging.getLogger(__name__)

SEQ_SPACE = 256
MAX_WINDOW = SEQ_SPACE // 2 - 1


class LinkRole(StrEnum):
    BRIDGE = "bridge"
    RIG = "rig"


SENDS: dict[LinkRole, frozenset[FrameType]] = {
    LinkRole.BRIDGE: frozenset({FrameType.GBCS_DOWN, FrameType.POWER}),
    LinkRole.RIG: frozenset({FrameType.GBCS_UP, FrameType.STATUS}),
}
RECEIVES: dict[LinkRole, frozenset[FrameType]] = {
    LinkRole.BRIDGE: SENDS[LinkRole.RIG],
    LinkRole.RIG: SENDS[LinkRole.BRIDGE],
}


class LinkState(StrEnum):
    CLOSED = "closed"  # no transport
    SYNCING = "syncing"  # transport open; HELLO until the peer echoes our boot ID
    UP = "up"  # sequenced frames flow


class LinkEvent(StrEnum):
    OPENED = "opened"  # the transport opened
    LOST = "lost"  # the transport closed or failed
    DATA = "data"  # bytes from the line
    TICK = "tick"
    SYNCED = "synced"  # a HELLO or HEARTBEAT that echoes our boot ID
    PEER_RESET = "peer_reset"  # the peer restarted, or no longer echoes our boot ID
    SILENCE = "silence"  # nothing valid from the peer for `silence_limit`
    UNANSWERED = "unanswered"  # a frame unacknowledged after `max_retries` retransmissions


_S, _E = LinkState, LinkEvent
TRANSITIONS: TransitionTable[LinkState, LinkEvent] = TransitionTable(
    {
        (_S.CLOSED, _E.OPENED): _S.SYNCING,
        (_S.CLOSED, _E.TICK): _S.CLOSED,
        (_S.SYNCING, _E.DATA): _S.SYNCING,
        (_S.SYNCING, _E.TICK): _S.SYNCING,
        (_S.SYNCING, _E.SYNCED): _S.UP,
        (_S.SYNCING, _E.PEER_RESET): _S.SYNCING,
        (_S.SYNCING, _E.LOST): _S.CLOSED,
        (_S.UP, _E.DATA): _S.UP,
        (_S.UP, _E.TICK): _S.UP,
        (_S.UP, _E.SYNCED): _S.UP,
        (_S.UP, _E.PEER_RESET): _S.SYNCING,
        (_S.UP, _E.SILENCE): _S.SYNCING,
        (_S.UP, _E.UNANSWERED): _S.SYNCING,
        (_S.UP, _E.LOST): _S.CLOSED,
    }
)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    window: int = 8  # sequenced frames sent and not yet acknowledged
    retransmit_after: float = 0.5  # seconds without progress before going back
    max_retries: int = 5  # retransmissions of one frame before the link is declared down
    heartbeat_every: float = 1.0  # HELLO while syncing, HEARTBEAT while up
    silence_limit: float = 3.5  # the link is down after this long without a valid frame
    max_frame: int = MAX_FRAME

    def __post_init__(self) -> None:
        if not 1 <= self.window <= MAX_WINDOW:
            raise RigLinkError(f"window {self.window} is not 1-{MAX_WINDOW}")
        if min(self.retransmit_after, self.heartbeat_every) <= 0 or self.max_retries < 0:
            raise RigLinkError(f"{self}: times must be positive, retries not negative")
        if self.silence_limit <= self.heartbeat_every:
            raise RigLinkError(f"silence limit {self.silence_limit} s is not over a heartbeat")


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes


@dataclass(frozen=True, slots=True)
class Deliver:
    """A sequenced frame from the peer, in order, once."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class Acked:
    """Every frame of the message sent with `tag` is acknowledged by the peer."""

    tag: object


@dataclass(frozen=True, slots=True)
class LinkUp:
    peer_boot_id: int
    peer_restarted: bool  # its unfinished messages are gone: forget partial ones


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


SessionAction = Write | Deliver | Acked | LinkUp | LinkDown


@dataclass(slots=True)
class SessionStats:
    frames_sent: int = 0
    frames_received: int = 0
    delivered: int = 0
    retransmissions: int = 0
    duplicates: int = 0  # sequenced frames received again; acknowledged, not delivered
    out_of_order: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    stale_acks: int = 0
    not_synced: int = 0  # sequenced frames received while syncing; dropped unacknowledged
    refused: int = 0  # frames of a type or version this side does not take
    link_ups: int = 0
    link_downs: int = 0
    peer_restarts: int = 0
    discarded_bytes: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)


class _Message:
    """What `send` was given: frames of one kind that are acknowledged as one."""

    __slots__ = ("kind", "payloads", "tag")

    def __init__(self, kind: FrameType, payloads: tuple[bytes, ...], tag: object) -> None:
        self.kind = kind
        self.payloads = payloads
        self.tag = tag


class _Outgoing:
    __slots__ = ("index", "message", "seq", "tries")

    def __init__(self, message: _Message, index: int) -> None:
        self.message = message
        self.index = index
        self.seq = -1  # assigned when it enters the window
        self.tries = 0

    @property
    def frame(self) -> Frame:
        return Frame(self.message.kind, self.seq, self.message.payloads[self.index])

    @property
    def last(self) -> bool:
        return self.index == len(self.message.payloads) - 1


class RigSession:
    """One end of the rig link: `LinkRole.BRIDGE` or `LinkRole.RIG`."""

    def __init__(self, role: LinkRole, boot_id: int, config: SessionConfig | None = None) -> None:
        if not 0 < boot_id <= 0xFFFFFFFF:
            raise RigLinkError(f"boot ID {boot_id} is not 1 to 2**32 - 1")
        self.role = role
        self.boot_id = boot_id
        self.config = config or SessionConfig()
        self.state = LinkState.CLOSED
        self.peer_boot_id = 0  # 0: not known yet
        self.stats = SessionStats()
        self._codec = FrameCodec(self.config.max_frame)
        self._expected = 0  # the sequence number the peer sends next
        self._next_seq = 0
        self._unacked: deque[_Outgoing] = deque()
        self._waiting: deque[_Outgoing] = deque()
        self._retransmit_at: float | None = None
        self._next_sync = 0.0
        self._last_heard = 0.0
        self._nak_for: int | None = None
        self._ack_due = False
        self._restart_seen = False

    @property
    def max_payload(self) -> int:
        return self._codec.max_payload

    @property
    def pending(self) -> int:
        """Frames queued or in flight, not yet acknowledged."""
        return len(self._unacked) + len(self._waiting)

    # ---- inputs -------------------------------------------------------------------

    def open(self, now: float) -> list[SessionAction]:
        """The transport opened: start syncing."""
        self._move(LinkEvent.OPENED)
        self._codec.reset()
        self._last_heard = now
        out: list[SessionAction] = []
        self._send_sync(now, out)
        return out

    def close(self, now: float, reason: str = "the transport closed") -> list[SessionAction]:
        """The transport closed or failed; queued frames wait for the next one."""
        was_up = self.state is LinkState.UP
        self._move(LinkEvent.LOST)
        self._retransmit_at = None
        if not was_up:
            return []
        self.stats.link_downs += 1
        return [LinkDown(reason)]

    def receive(self, data: bytes | bytearray | memoryview, now: float) -> list[SessionAction]:
        """Bytes from the line."""
        self._move(LinkEvent.DATA)
        out: list[SessionAction] = []
        for event in self._codec.feed(data):
            if isinstance(event, BadFrame):
                self.stats.bad_frames[event.reason] += 1
                self.stats.discarded_bytes += event.size
            else:
                self._on_frame(event, now, out)
        if self._ack_due:
            self._ack_due = False
            self._write(Frame(FrameType.ACK, (self._expected - 1) % SEQ_SPACE), out)
        return out

    def send(
        self, kind: FrameType, payloads: Sequence[bytes], now: float, tag: object = None
    ) -> list[SessionAction]:
        """Queue one message (its frames in order); `Acked(tag)` when the peer has it all.
        Allowed in every state: it waits for the link."""
        if kind not in SENDS[self.role]:
            raise RigLinkError(f"the {self.role} side does not send {kind.name} frames")
        if not payloads:
            raise RigLinkError(f"a {kind.name} message needs at least one frame")
        for payload in payloads:
            if len(payload) > self.max_payload:
                raise RigLinkError(
                    f"{kind.name} payload of {len(payload)} bytes is over {self.max_payload}"
                )
        message = _Message(kind, tuple(payloads), tag)
        self._waiting.extend(_Outgoing(message, i) for i in range(len(payloads)))
        out: list[SessionAction] = []
        if self.state is LinkState.UP:
            self._fill(now, out)
        return out

    def on_tick(self, now: float) -> list[SessionAction]:
        """Heartbeats, retransmission and the silence time-out, as due by `now`."""
        self._move(LinkEvent.TICK)
        out: list[SessionAction] = []
        if self.state is LinkState.CLOSED:
            return out
        if self.state is LinkState.UP:
            self._check_peer(now, out)
        if now >= self._next_sync:
            self._send_sync(now, out)
        return out

    def next_due(self) -> float | None:
        """When `on_tick` has something to do (None while closed)."""
        if self.state is LinkState.CLOSED:
            return None
        due = self._next_sync
        if self.state is LinkState.UP:
            due = min(due, self._last_heard + self.config.silence_limit)
            if self._retransmit_at is not None:
                due = min(due, self._retransmit_at)
        return due

    # ---- states -------------------------------------------------------------------

    def _move(self, event: LinkEvent) -> None:
        self.state = TRANSITIONS.next(f"{self.role} session", self.state, event)

    def _check_peer(self, now: float, out: list[SessionAction]) -> None:
        silent = now - self._last_heard
        if silent >= self.config.silence_limit:
            self._link_down(
                LinkEvent.SILENCE, f"nothing from the peer for {silent:.1f} s", now, out
            )
            return
        if self._retransmit_at is None or now < self._retransmit_at:
            return
        oldest = self._unacked[0]
        if oldest.tries > self.config.max_retries:
            reason = f"frame {oldest.seq} unacknowledged after {oldest.tries} transmissions"
            self._link_down(LinkEvent.UNANSWERED, reason, now, out)
        else:
            self._go_back(now, out)

    def _link_down(
        self, event: LinkEvent, reason: str, now: float, out: list[SessionAction]
    ) -> None:
        self._move(event)
        self.stats.link_downs += 1
        self._retransmit_at = None
        self._next_sync = now  # HELLO at once
        out.append(LinkDown(reason))

    def _link_up(self, now: float, out: list[SessionAction]) -> None:
        self._move(LinkEvent.SYNCED)
        self.stats.link_ups += 1
        self._last_heard = now
        out.append(LinkUp(self.peer_boot_id, self._restart_seen))
        self._restart_seen = False

    # ---- frames received ----------------------------------------------------------

    def _on_frame(self, frame: Frame, now: float, out: list[SessionAction]) -> None:
        self.stats.frames_received += 1
        self._last_heard = now
        match frame.kind:
            case FrameType.HELLO | FrameType.HEARTBEAT:
                self._on_sync(frame, now, out)
            case FrameType.ACK:
                self._on_ack(frame.seq, now, out)
            case FrameType.NAK:
                self._on_nak(frame, now, out)
            case _:
                self._on_sequenced(frame, out)

    def _on_sync(self, frame: Frame, now: float, out: list[SessionAction]) -> None:
        try:
            sync = Sync.parse(frame.payload)
        except PayloadError as exc:
            self._refuse(str(exc))
            return
        if sync.version != PROTOCOL_VERSION:
            self._refuse(f"peer speaks rig-link version {sync.version}, not {PROTOCOL_VERSION}")
            return
        if self.peer_boot_id not in (0, sync.boot_id):
            self._peer_restarted(now, out)
        self.peer_boot_id = sync.boot_id
        was_up = self.state is LinkState.UP
        if sync.peer_boot_id == self.boot_id:
            if not was_up:
                self._link_up(now, out)
        elif was_up:
            self._move(LinkEvent.PEER_RESET)
            self.stats.link_downs += 1
            out.append(LinkDown("the peer lost this side's boot ID"))
        if frame.kind is FrameType.HELLO:
            self._send_sync(now, out)
        if self.state is LinkState.UP and (not was_up or frame.kind is FrameType.HELLO):
            self._go_back(now, out, fresh=not was_up)  # the peer dropped what came unsynced
            self._fill(now, out)

    def _peer_restarted(self, now: float, out: list[SessionAction]) -> None:
        """The peer lost its state: number from 0 both ways, and send again whole the
        messages it had only part of."""
        self.stats.peer_restarts += 1
        self._restart_seen = True
        self._expected, self._nak_for, self._ack_due = 0, None, False
        resend = list(self._unacked)
        if resend and resend[0].index > 0:
            head = resend[0].message
            resend[:0] = [_Outgoing(head, i) for i in range(resend[0].index)]
        self._unacked.clear()
        self._waiting.extendleft(reversed(resend))
        for item in resend:
            item.seq, item.tries = -1, 0
        self._next_seq, self._retransmit_at = 0, None
        if self.state is LinkState.UP:
            self._move(LinkEvent.PEER_RESET)
            self.stats.link_downs += 1
            out.append(LinkDown("the peer restarted"))

    def _on_ack(self, seq: int, now: float, out: list[SessionAction]) -> None:
        index = self._index_of(seq)
        if index is None:
            self.stats.stale_acks += 1
            return
        for _ in range(index + 1):
            item = self._unacked.popleft()
            if item.last:
                out.append(Acked(item.message.tag))
        self._retransmit_at = now + self.config.retransmit_after if self._unacked else None
        if self.state is LinkState.UP:
            self._fill(now, out)

    def _on_nak(self, frame: Frame, now: float, out: list[SessionAction]) -> None:
        try:
            Nak.parse(frame.payload)
        except PayloadError as exc:
            self._refuse(str(exc))
            return
        self.stats.naks_received += 1
        index = self._index_of(frame.seq)
        if index is None:
            self.stats.stale_acks += 1
            return
        if index > 0:
            self._on_ack((frame.seq - 1) % SEQ_SPACE, now, out)
        if self.state is LinkState.UP:
            self._go_back(now, out)

    def _on_sequenced(self, frame: Frame, out: list[SessionAction]) -> None:
        if self.state is not LinkState.UP:
            self.stats.not_synced += 1
            return
        distance = (frame.seq - self._expected) % SEQ_SPACE
        if distance >= SEQ_SPACE // 2:  # behind: already delivered
            self.stats.duplicates += 1
            self._ack_due = True
        elif distance > 0:  # ahead: one before it was lost
            self.stats.out_of_order += 1
            self._nak_once(out)
        else:
            self._expected = (self._expected + 1) % SEQ_SPACE
            self._nak_for = None
            self._ack_due = True
            self._accept(frame, out)

    def _accept(self, frame: Frame, out: list[SessionAction]) -> None:
        if frame.kind in RECEIVES[self.role]:
            self.stats.delivered += 1
            out.append(Deliver(frame))
        else:  # acknowledged all the same, or the peer would send it for ever
            self._refuse(f"the {self.role} side does not take {frame.kind.name} frames")

    def _nak_once(self, out: list[SessionAction]) -> None:
        if self._nak_for == self._expected:
            return
        self._nak_for = self._expected
        self.stats.naks_sent += 1
        payload = Nak(NakReason.OUT_OF_SEQUENCE).to_bytes()
        self._write(Frame(FrameType.NAK, self._expected, payload), out)

    def _refuse(self, reason: str) -> None:
        self.stats.refused += 1
        log.warning("%s session: %s", self.role, reason)

    # ---- frames sent --------------------------------------------------------------

    def _index_of(self, seq: int) -> int | None:
        """Where the frame numbered `seq` is among those unacknowledged."""
        if not self._unacked:
            return None
        index = (seq - self._unacked[0].seq) % SEQ_SPACE
        return index if index < len(self._unacked) else None

    def _fill(self, now: float, out: list[SessionAction]) -> None:
        while self._waiting and len(self._unacked) < self.config.window:
            item = self._waiting.popleft()
            item.seq, item.tries = self._next_seq, 1
            self._next_seq = (self._next_seq + 1) % SEQ_SPACE
            self._unacked.append(item)
            self._write(item.frame, out)
            if self._retransmit_at is None:
                self._retransmit_at = now + self.config.retransmit_after

    def _go_back(self, now: float, out: list[SessionAction], *, fresh: bool = False) -> None:
        """Send every unacknowledged frame again, oldest first."""
        for item in self._unacked:
            item.tries = 1 if fresh else item.tries + 1
            self.stats.retransmissions += 1
            self._write(item.frame, out)
        self._retransmit_at = now + self.config.retransmit_after if self._unacked else None

    def _send_sync(self, now: float, out: list[SessionAction]) -> None:
        kind = FrameType.HEARTBEAT if self.state is LinkState.UP else FrameType.HELLO
        self._write(Frame(kind, 0, Sync(self.boot_id, self.peer_boot_id).to_bytes()), out)
        self._next_sync = now + self.config.heartbeat_every

    def _write(self, frame: Frame, out: list[SessionAction]) -> None:
        if frame.kind in SEQUENCED:
            self.stats.frames_sent += 1
        out.append(Write(self._codec.encode(frame)))

"""The serial bridge (`smetslab bridge serial`): a physical rig's comms hub on the bus,
on `{root}/ch/{ch_id}/down` and `.../up` exactly as an emulated one (DESIGN §1, §3).

Each GBCS command from `.../down` goes to the rig as GBCS_DOWN frames for its recipient
(the header's recipient ID); the MQTT message is acknowledged only when the rig has
acknowledged every frame of it, so a command queued while the link is down, or in flight
when the bridge dies, is neither lost nor (the broker sends it again) delivered twice.
What the rig sends up is published on `.../up`. The link and the rig's own status are
published, retained, on `.../status`, and power control is taken on `.../power`: two
topics added to contract v1 (docs/rig-link.md §6).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import gbcs
from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from contract.errors import TopicError
from contract.ids import check_eui64
from contract.topics import Route, TopicKind, Topics

from .errors import PayloadError, ReassemblyError, RigLinkError
from .framing import Frame, FrameType
from .ledger import CommandLedger, Taken
from .link_driver import SessionDriver
from .messages import DevicePresence, GbcsFragment, PowerCommand, Reassembler, RigStatus, fragments
from .serial_link import PortSettings, SerialLink
from .session import (
    Acked,
    Deliver,
    LinkDown,
    LinkRole,
    LinkState,
    LinkUp,
    RigSession,
    SessionAction,
    SessionConfig,
)
from .will import hub_lost_will

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    ch_id: str  # the rig's comms hub, 16 upper-case hex digits
    port: PortSettings
    session: SessionConfig = field(default_factory=SessionConfig)
    remembered: int = 4096  # commands remembered to spot one the broker sends again


def bridge_link(
    url: str, topics: Topics, ch_id: str, client_id: str, mqtt_version: str = "auto"
) -> LinkConfig:
    """The bridge's MQTT connection: its hub's commands and power requests; its will
    marks the hub offline if the bridge dies (D-E5)."""
    return LinkConfig(
        url,
        client_id,
        (topics.ch_down(ch_id), topics.ch_power(ch_id)),
        mqtt_version=mqtt_version,
        will=hub_lost_will(topics, ch_id),
    )


@dataclass(frozen=True, slots=True)
class HubStatus:
    """What `{root}/ch/{ch_id}/status` says (retained)."""

    ch_id: str
    link: LinkState = LinkState.CLOSED
    hub_online: bool | None = None  # None until the rig's STATUS
    devices: tuple[DevicePresence, ...] = ()
    reason: str = "starting"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def online(self) -> bool:
        return self.link is LinkState.UP and self.hub_online is True

    def to_json(self) -> bytes:
        hub = {None: "unknown", True: "online", False: "offline"}[self.hub_online]
        message: dict[str, Any] = {
            "ch_id": self.ch_id,
            "online": self.online,
            "link": str(self.link),
            "hub": hub,
            "devices": [
                {"device_id": d.device_id.hex().upper(), "powered": d.powered} for d in self.devices
            ],
            "reason": self.reason,
            "at": self.at.isoformat().replace("+00:00", "Z"),
        }
        return json.dumps(message).encode()


class SerialBridge:
    def __init__(
        self,
        config: BridgeConfig,
        bus: MqttAdapter,
        topics: Topics,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.ch_id = check_eui64(config.ch_id, "comms hub ID")
        self.bus = bus
        self.topics = topics
        rng = rng or random.Random()
        self.session = RigSession(LinkRole.BRIDGE, rng.randrange(1, 1 << 32), config.session)
        self.driver = SessionDriver(self.session, self._on_action)
        self.link = SerialLink(config.port, self.driver, rng)
        self.status = HubStatus(self.ch_id)
        self.counts: Counter[str] = Counter()
        self.changed = asyncio.Event()  # set at each status change
        self._reassembler = Reassembler()
        self.ledger = CommandLedger(config.remembered)

    async def run(self, stop: asyncio.Event) -> None:
        self._publish_status()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.link.run(stop), name=f"bridge-link {self.ch_id}")
                tasks.create_task(self._consume(stop), name=f"bridge-bus {self.ch_id}")
        finally:
            self._set_status(link=LinkState.CLOSED, reason="the bridge stopped")

    async def _consume(self, stop: asyncio.Event) -> None:
        while (message := await self.bus.next_message(stop)) is not None:
            self.handle(message)

    # ---- from the bus ---------------------------------------------------------------

    def handle(self, message: BusMessage) -> None:
        try:
            route = self.topics.parse(message.topic)
        except TopicError as exc:
            self._refuse(message, str(exc))
            return
        match route:
            case Route(kind=TopicKind.CH_DOWN, entity=self.ch_id):
                self._command(message)
            case Route(kind=TopicKind.CH_POWER, entity=self.ch_id):
                self._power(message)
            case _:
                self._refuse(message, f"the bridge of hub {self.ch_id} does not take it")

    def _command(self, message: BusMessage) -> None:
        try:
            recipient = gbcs.decode_header(message.payload).header.recipient_id
            payloads = self._fragments(recipient, message.payload)
        except (gbcs.GbcsError, PayloadError) as exc:
            self._refuse(message, f"command not carried: {exc}")
            return
        taken, digest = self.ledger.take(message)
        if taken is not Taken.NEW:  # sent again by the broker: while the rig has it, or after
            self.counts["redelivered"] += 1
            if taken is Taken.DONE:
                self.bus.ack(message)
            return
        self.counts["commands"] += 1
        self.driver.send(FrameType.GBCS_DOWN, payloads, tag=digest)

    def _fragments(self, device_id: bytes, data: bytes) -> list[bytes]:
        pieces = fragments(device_id, data, self.session.max_payload)
        return [piece.to_bytes() for piece in pieces]

    def _power(self, message: BusMessage) -> None:
        try:
            request = json.loads(message.payload)
            device = check_eui64(str(request["device_id"]).replace("-", "").upper(), "device ID")
            if request.get("action", "cycle") != "cycle":
                raise ValueError(f"action {request['action']!r}: only 'cycle'")
        except (ValueError, TypeError, KeyError, TopicError) as exc:
            self._refuse(message, f"power request: {exc!r}")
            return
        self.counts["power"] += 1
        payload = PowerCommand(bytes.fromhex(device)).to_bytes()
        self.driver.send(FrameType.POWER, [payload], tag=message)

    def _refuse(self, message: BusMessage, reason: str) -> None:
        self.counts["refused"] += 1
        log.warning("bridge %s: refused a message on %s: %s", self.ch_id, message.topic, reason)
        self.bus.ack(message)

    # ---- from the rig ---------------------------------------------------------------

    def _on_action(self, action: SessionAction) -> None:
        match action:
            case Deliver(frame):
                self._from_rig(frame)
            case Acked(tag):
                self._acked(tag)
            case LinkUp(peer_boot_id=boot, peer_restarted=restarted):
                log.info("hub %s: rig link up (rig boot %08X)", self.ch_id, boot)
                self._link_up(restarted)
            case LinkDown(reason):
                log.warning("hub %s offline: %s", self.ch_id, reason)
                self._set_status(link=self.session.state, reason=reason)

    def _link_up(self, rig_restarted: bool) -> None:
        """STATUS is sequenced, so what the rig last said holds unless it restarted; a
        restarted rig sends STATUS again at once (docs/rig-link.md §5)."""
        hub_online = self.status.hub_online
        if rig_restarted:
            self._reassembler.reset()
            hub_online = None
        self._set_status(link=LinkState.UP, hub_online=hub_online, reason="rig link up")

    def _from_rig(self, frame: Frame) -> None:
        try:
            if frame.kind is FrameType.STATUS:
                self._rig_status(RigStatus.parse(frame.payload))
                return
            message = self._reassembler.add(GbcsFragment.parse(frame.payload))
        except (PayloadError, ReassemblyError) as exc:
            self.counts["bad_uplinks"] += 1
            log.warning("hub %s: rig sent %s: %s", self.ch_id, frame.kind.name, exc)
            return
        if message is not None:
            self.counts["uplinks"] += 1
            self.bus.publish(self.topics.ch_up(self.ch_id), message)

    def _rig_status(self, status: RigStatus) -> None:
        state = "online" if status.hub_online else "offline"
        log.info(
            "hub %s: rig says the hub is %s, %d devices", self.ch_id, state, len(status.devices)
        )
        self._set_status(
            hub_online=status.hub_online, devices=status.devices, reason=f"rig: hub {state}"
        )

    def _acked(self, tag: object) -> None:
        if isinstance(tag, BusMessage):
            self.bus.ack(tag)
            return
        if not isinstance(tag, bytes):
            raise RigLinkError(f"bridge {self.ch_id}: acknowledgement of unknown tag {tag!r}")
        for message in self.ledger.finished(tag):
            self.bus.ack(message)

    # ---- status ---------------------------------------------------------------------

    def _set_status(self, **changes: Any) -> None:
        self.status = replace(self.status, at=datetime.now(UTC), **changes)
        self._publish_status()
        self.changed.set()

    def _publish_status(self) -> None:
        self.bus.publish(self.topics.ch_status(self.ch_id), self.status.to_json(), retain=True)

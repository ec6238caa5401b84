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
from dataclasses import dataclass, field
from datetime import UTC, datetime

import gbcs
from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from contract.errors import TopicError
from contract.hub_status import HubStatusReport
from contract.ids import check_eui64
from contract.topics import TopicKind, Topics

from .errors import PayloadError, ReassemblyError, RigLinkError
from .framing import Frame, FrameType
from .hub import HubEndpoint, hub_link
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
    subscriptions = (topics.ch_down(ch_id), topics.ch_power(ch_id))
    return hub_link(
        url, topics, ch_id, client_id, subscriptions=subscriptions, mqtt_version=mqtt_version
    )


@dataclass(frozen=True, slots=True)
class RigHubStatus:
    """What the bridge knows of its rig's hub, for `{root}/ch/{ch_id}/status`."""

    ch_id: str
    link: LinkState = LinkState.CLOSED
    hub_online: bool | None = None  # None until the rig's STATUS
    devices: tuple[DevicePresence, ...] = ()
    reason: str = "starting"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def online(self) -> bool:
        return self.link is LinkState.UP and self.hub_online is True

    def report(self) -> HubStatusReport:
        hub = {None: "unknown", True: "online", False: "offline"}[self.hub_online]
        devices = [
            {"device_id": d.device_id.hex().upper(), "powered": d.powered} for d in self.devices
        ]
        details = {"hub": hub, "devices": devices}
        return HubStatusReport(
            self.ch_id, self.online, self.reason, self.at, str(self.link), details
        )


class SerialBridge:
    def __init__(
        self,
        config: BridgeConfig,
        bus: MqttAdapter,
        topics: Topics,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        routes = {TopicKind.CH_DOWN: self._command, TopicKind.CH_POWER: self._power}
        status = RigHubStatus(check_eui64(config.ch_id, "comms hub ID"))
        self.hub = HubEndpoint(
            config.ch_id, bus, topics, status=status, routes=routes, remembered=config.remembered
        )
        self.ch_id = self.hub.ch_id
        rng = rng or random.Random()
        self.session = RigSession(LinkRole.BRIDGE, rng.randrange(1, 1 << 32), config.session)
        self.driver = SessionDriver(self.session, self._on_action)
        self.link = SerialLink(config.port, self.driver, rng)
        self._reassembler = Reassembler()
        self._stopping = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stopping = stop  # a link that goes down once asked to stop is no news
        self.hub.publish_status()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.link.run(stop), name=f"bridge-link {self.ch_id}")
                tasks.create_task(self.hub.consume(stop), name=f"bridge-bus {self.ch_id}")
        finally:
            self.hub.set_status(link=LinkState.CLOSED, reason="the bridge stopped")

    # ---- from the bus ---------------------------------------------------------------

    def _command(self, message: BusMessage) -> None:
        try:
            recipient = gbcs.decode_header(message.payload).header.recipient_id
            payloads = self._fragments(recipient, message.payload)
        except (gbcs.GbcsError, PayloadError) as exc:
            self.hub.refuse(message, f"command not carried: {exc}")
            return
        digest = self.hub.take(message)  # None: sent again while the rig has it, or after
        if digest is not None:
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
        except (ValueError, TypeError, KeyError, TopicError, RecursionError) as exc:
            # RecursionError: JSON nested thousands deep (issue 18)
            self.hub.refuse(message, f"power request: {type(exc).__name__}: {exc}")
            return
        self.hub.counts["power"] += 1
        payload = PowerCommand(bytes.fromhex(device)).to_bytes()
        self.driver.send(FrameType.POWER, [payload], tag=message)

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
                level = logging.INFO if self._stopping.is_set() else logging.WARNING
                log.log(level, "hub %s offline: %s", self.ch_id, reason)
                self.hub.set_status(link=self.session.state, reason=reason)

    def _link_up(self, rig_restarted: bool) -> None:
        """STATUS is sequenced, so what the rig last said holds unless it restarted; a
        restarted rig sends STATUS again at once (docs/rig-link.md §5)."""
        hub_online = self.hub.status.hub_online
        if rig_restarted:
            self._reassembler.reset()
            hub_online = None
        self.hub.set_status(link=LinkState.UP, hub_online=hub_online, reason="rig link up")

    def _from_rig(self, frame: Frame) -> None:
        try:
            if frame.kind is FrameType.STATUS:
                self._rig_status(RigStatus.parse(frame.payload))
                return
            message = self._reassembler.add(GbcsFragment.parse(frame.payload))
        except (PayloadError, ReassemblyError) as exc:
            self.hub.counts["bad_uplinks"] += 1
            log.warning("hub %s: rig sent %s: %s", self.ch_id, frame.kind.name, exc)
            return
        if message is not None:
            self.hub.uplink(message)

    def _rig_status(self, status: RigStatus) -> None:
        state = "online" if status.hub_online else "offline"
        log.info(
            "hub %s: rig says the hub is %s, %d devices", self.ch_id, state, len(status.devices)
        )
        self.hub.set_status(
            hub_online=status.hub_online, devices=status.devices, reason=f"rig: hub {state}"
        )

    def _acked(self, tag: object) -> None:
        if isinstance(tag, BusMessage):
            self.hub.bus.ack(tag)
            return
        if not isinstance(tag, bytes):
            raise RigLinkError(f"bridge {self.ch_id}: acknowledgement of unknown tag {tag!r}")
        self.hub.finished(tag)

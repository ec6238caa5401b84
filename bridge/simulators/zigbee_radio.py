"""A zigpy ControllerApplication without a radio, for tests and for trying the bridge
without hardware (`smetslab bridge zigbee --radio emulated`; docs/zigbee-bridge.md §7).

`EmulatedApplication` is a real zigpy application: zigpy's device interview, ZCL
serialisation, request matching and OTA server all run. Only the radio is replaced: its
`send_packet` hands each frame to the emulated devices of an `EmulatedNetwork`, and what
they send back comes in through zigpy's `packet_received`, as a radio library's frames do.

The network outlives the applications (the bridge starts a new one after a radio fault),
so the devices keep their state, and it makes the faults a lab sees on purpose: the
radio unplugged (`unplug`: zigpy is told `connection_lost`, and it cannot connect until
`plug`) and a radio that stops answering (`stop_answering`: no frame gets through, zigpy's
watchdog fails and reports the connection lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import zigpy.application
import zigpy.config as zigpy_conf
import zigpy.endpoint
import zigpy.exceptions
import zigpy.profiles.zha
import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t

from bridge.errors import BridgeError, RadioUnavailableError
from bridge.zigbee.devicemap import DeviceMap, DeviceMapping
from bridge.zigbee.frames import ZigbeeFrame
from bus.clock import Clock
from bus.waiting import first_of
from emulators.actions import DeviceEvent, FaultFired
from emulators.fleet import FleetBuild
from emulators.journal import FleetJournal
from emulators.models import GpfModel
from emulators.scheduler import Scheduler

from .rig import pick_premises
from .zigbee_device import DeviceOutput, EmulatedZigbeeDevice, ImageId, SendFrame, TimerAt

log = logging.getLogger(__name__)
EMULATED_PATH = "emulated://"
FIRST_NWK = 0x1001
NOT_ON_THE_HAN = frozenset({"CHF", "GPF"})  # the hub itself: not ZigBee devices behind it


class EmulatedNetwork:
    """The emulated ZigBee devices and the radio between them and zigpy."""

    def __init__(
        self,
        devices: Iterable[EmulatedZigbeeDevice],
        clock: Clock,
        journal: FleetJournal | None = None,
        ch_id: str | None = None,
    ) -> None:
        self.ch_id = ch_id  # the premises' hub: the coordinator the devices join
        self.devices = {device.nwk: device for device in devices}
        self.clock = clock
        self.journal = journal or FleetJournal()
        self.plugged = True
        self.answering = True
        self.counts: Counter[str] = Counter()
        self.app: EmulatedApplication | None = None
        self._unplug_when: Callable[[], bool] | None = None
        self._timers: Scheduler[EmulatedZigbeeDevice, object] = Scheduler()
        self._rescheduled = asyncio.Event()

    @classmethod
    def from_fleet(
        cls,
        build: FleetBuild,
        clock: Clock,
        ch_id: str | None = None,
        journal: FleetJournal | None = None,
    ) -> EmulatedNetwork:
        """The ZigBee devices of one premises of a fleet (all but its CHF and GPF)."""
        count = len(build.fleet.premises)
        if ch_id is None and count != 1:
            raise BridgeError(f"an emulated hub is one premises; the fleet has {count}: name a hub")
        premises = pick_premises(build, ch_id)
        devices: list[EmulatedZigbeeDevice] = []
        for model in premises.devices.values():
            if str(model.profile.device_type) in NOT_ON_THE_HAN or isinstance(model, GpfModel):
                continue
            profile = model.profile
            key = (profile.manufacturer, profile.model, model.running_version.hex().upper())
            image = build.images.get(key)
            if image is None:
                raise BridgeError(f"device {model.hex_id}: no OTA image in the fleet for {key}")
            header = image.header
            nwk = FIRST_NWK + len(devices)
            devices.append(
                EmulatedZigbeeDevice(
                    model, nwk, ImageId(header.manufacturer_code, header.image_type)
                )
            )
        return cls(devices, clock, journal, premises.hex_id)

    def device_map(self, ch_id: str | None = None) -> DeviceMap:
        """The map a bridge needs for these devices: each one's IEEE is its device ID."""
        hub = ch_id or self.ch_id
        if hub is None:
            raise BridgeError("the emulated network's hub is not known: name it")
        devices = tuple(
            DeviceMapping(d.model.device_id, d.model.device_id) for d in self.devices.values()
        )
        return DeviceMap(hub, devices)

    def device(self, device_id: bytes) -> EmulatedZigbeeDevice:
        for device in self.devices.values():
            if device.model.device_id == device_id:
                return device
        raise KeyError(device_id.hex().upper())

    # ---- faults ---------------------------------------------------------------------

    def unplug(self) -> None:
        """The radio's cable pulled: zigpy is told the connection is lost."""
        self.plugged = False
        app = self.app
        if app is not None:
            app.connection_lost(ConnectionResetError("the emulated radio was unplugged"))

    def plug(self) -> None:
        self.plugged = True

    def unplug_when(self, condition: Callable[[], bool]) -> None:
        """Unplug the radio the moment `condition` holds (checked after every frame the
        devices take): a fault at a precise point of an exchange, such as mid-download."""
        self._unplug_when = condition

    def stop_answering(self) -> None:
        """The radio hangs: no frame gets through either way, the watchdog gets no answer."""
        self.answering = False

    def resume(self) -> None:
        self.answering = True

    @property
    def usable(self) -> bool:
        return self.plugged and self.answering

    # ---- the air --------------------------------------------------------------------

    def attach(self, app: EmulatedApplication) -> None:
        if not self.usable:
            raise ConnectionRefusedError("the emulated radio does not answer")
        self.app = app

    def detach(self, app: EmulatedApplication) -> None:
        if self.app is app:
            self.app = None

    def announce(self) -> None:
        """Every device announces itself, as devices do when their coordinator is back."""
        for device in self.devices.values():
            self._handle(device, device.announce())

    def transmit(self, packet: t.ZigbeePacket) -> None:
        """A frame from zigpy: to one device, or to every one (a broadcast)."""
        self.counts["frames_down"] += 1
        frame = ZigbeeFrame(
            int(packet.profile_id),
            int(packet.cluster_id),
            int(packet.src_ep or 0),
            int(packet.dst_ep or 0),
            packet.data.serialize(),
        )
        now = self.clock.now()
        for device in self._recipients(packet.dst):
            self._handle(device, device.receive(frame, now))
        condition = self._unplug_when
        if condition is not None and condition():
            self._unplug_when = None
            self.unplug()

    def _recipients(self, address: t.AddrModeAddress | None) -> list[EmulatedZigbeeDevice]:
        if address is None:
            return []
        match address.addr_mode:
            case t.AddrMode.Broadcast:
                return list(self.devices.values())
            case t.AddrMode.NWK:
                found = self.devices.get(int(t.NWK(address.address)))
                return [] if found is None else [found]
            case t.AddrMode.IEEE:
                return [d for d in self.devices.values() if d.ieee == address.address]
        return []

    def _handle(self, device: EmulatedZigbeeDevice, outputs: list[DeviceOutput]) -> None:
        for output in outputs:
            match output:
                case SendFrame(frame):
                    asyncio.get_running_loop().call_soon(self._receive, device, frame)
                case TimerAt(at, token):
                    self._timers.push(at, device, token)
                    self._rescheduled.set()
                case DeviceEvent() | FaultFired():
                    self.journal.record([output])

    def _receive(self, device: EmulatedZigbeeDevice, frame: ZigbeeFrame) -> None:
        """A device's frame reaches the radio, if there is one to hear it."""
        app = self.app
        if app is None or not self.usable:
            self.counts["frames_lost"] += 1
            return
        self.counts["frames_up"] += 1
        app.packet_received(_packet(device, frame, app))

    async def run(self, stop: asyncio.Event) -> None:
        """The devices' timers (count-downs to an UpgradeTime), on the shared clock."""
        while not stop.is_set():
            self._rescheduled.clear()
            await first_of(
                self.clock.sleep_until(self._timers.next_due()),
                self._rescheduled.wait(),
                stop.wait(),
            )
            for due, device, token in self._timers.pop_due(self.clock.now()):
                self._handle(device, device.on_timer(token, due))


def _packet(device: EmulatedZigbeeDevice, frame: ZigbeeFrame, app: Any) -> t.ZigbeePacket:
    broadcast = frame.cluster_id == zdo_t.ZDOCmd.Device_annce
    destination = (
        t.AddrModeAddress(t.AddrMode.Broadcast, t.BroadcastAddress.RX_ON_WHEN_IDLE)
        if broadcast
        else t.AddrModeAddress(t.AddrMode.NWK, app.state.node_info.nwk)
    )
    return t.ZigbeePacket(
        src=t.AddrModeAddress(t.AddrMode.NWK, t.NWK(device.nwk)),
        src_ep=t.uint8_t(frame.src_ep),
        dst=destination,
        dst_ep=t.uint8_t(frame.dst_ep),
        profile_id=t.uint16_t(frame.profile_id),
        cluster_id=t.uint16_t(frame.cluster_id),
        data=t.SerializableBytes(frame.data),
        lqi=t.uint8_t(255),
        rssi=t.int8s(-40),
    )


def emulated_config(ch_id: str, watchdog_period: float = 2.0) -> dict[str, Any]:
    """zigpy configuration of the radio-less application: no OTA providers, no periodic
    network backups or topology scans (there is no radio state to back up)."""
    return {
        zigpy_conf.CONF_DEVICE: {zigpy_conf.CONF_DEVICE_PATH: f"{EMULATED_PATH}{ch_id}"},
        zigpy_conf.CONF_DATABASE: None,
        zigpy_conf.CONF_OTA: {zigpy_conf.CONF_OTA_ENABLED: False},
        zigpy_conf.CONF_NWK_BACKUP_ENABLED: False,
        zigpy_conf.CONF_TOPO_SCAN_ENABLED: False,
        zigpy_conf.CONF_WATCHDOG_ENABLED: True,
        "smetslab_watchdog_period": watchdog_period,
    }


class EmulatedApplication(zigpy.application.ControllerApplication):
    """zigpy's application with an emulated radio; the coordinator's IEEE is the hub's."""

    def __init__(self, config: dict[str, Any], network: EmulatedNetwork) -> None:
        super().__init__(config)
        self._network = network
        self._watchdog_period = config.get("smetslab_watchdog_period", 2.0)
        path = self.config[zigpy_conf.CONF_DEVICE][zigpy_conf.CONF_DEVICE_PATH]
        self._hub = t.EUI64(bytes.fromhex(path.removeprefix(EMULATED_PATH))[::-1])

    async def connect(self) -> None:
        self._network.attach(self)

    async def disconnect(self) -> None:
        self._network.detach(self)

    async def initialize(self, *, auto_form: bool = False) -> None:
        await super().initialize(auto_form=auto_form)
        self._network.announce()

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        self.state.node_info = zigpy.state.NodeInfo(
            nwk=t.NWK(0x0000),
            ieee=self._hub,
            logical_type=zdo_t.LogicalType.Coordinator,
            model="smetslab emulated radio",
            manufacturer="smetslab",
        )
        self.state.network_info = zigpy.state.NetworkInfo(
            extended_pan_id=t.ExtendedPanId(self._hub),
            pan_id=t.PanId(0x1A62),
            channel=t.uint8_t(15),
            channel_mask=t.Channels.CHANNEL_15,
        )

    async def start_network(self) -> None:
        """The coordinator as zigpy's own device 0x0000, as radio libraries add it."""
        coordinator = self.add_device(ieee=self.state.node_info.ieee, nwk=t.NWK(0x0000))
        coordinator.node_desc = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress,
            manufacturer_code=0x1234,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0,
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )
        endpoint = coordinator.add_endpoint(1)
        endpoint.status = zigpy.endpoint.Status.ZDO_INIT
        endpoint.profile_id = zigpy.profiles.zha.PROFILE_ID
        endpoint.device_type = zigpy.profiles.zha.DeviceType.COMBINED_INTERFACE
        coordinator.model = self.state.node_info.model
        coordinator.manufacturer = self.state.node_info.manufacturer

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        if not self._network.plugged or self._network.app is not self:
            raise zigpy.exceptions.DeliveryError("the emulated radio is unplugged")
        if not self._network.answering:
            raise zigpy.exceptions.DeliveryError("the emulated radio does not answer")
        async with self._limit_concurrency(priority=packet.priority):
            self._network.transmit(packet)

    async def _watchdog_feed(self) -> None:
        if not self._network.usable:
            raise zigpy.exceptions.ControllerException("the emulated radio does not answer")

    async def force_remove(self, dev: Any) -> None:
        return None

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        return None

    async def permit_ncp(self, time_s: int = 60) -> None:
        return None

    async def permit_with_link_key(
        self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60
    ) -> None:
        return None

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        self.state.network_info, self.state.node_info = network_info, node_info

    async def reset_network_info(self) -> None:
        return None


def emulated_factory(
    network: EmulatedNetwork, ch_id: str, watchdog_period: float = 2.0
) -> Callable[[], Awaitable[zigpy.application.ControllerApplication]]:
    """Starts a radio-less application on `network`, as a radio library's would start."""

    async def start() -> zigpy.application.ControllerApplication:
        app = EmulatedApplication(emulated_config(ch_id, watchdog_period), network)
        try:
            await app.startup(auto_form=True)
        except Exception as exc:  # zigpy wraps a refused connection in its own errors
            raise RadioUnavailableError(f"emulated radio of hub {ch_id}: {exc!r}") from exc
        return app

    return start

"""An emulated ZigBee smart-metering device, for the radio-less zigpy application
(docs/zigbee-bridge.md §7). Sans-IO: frames and timer tokens in, frames and timers out.

It answers what zigpy's interview asks (ZDO node, active endpoints and simple
descriptors), serves the Basic cluster (manufacturer, model, SWBuildID) and runs a ZigBee
OTA Upgrade client (ZCL §11) on top of the emulator's firmware model
(`emulators.models.FirmwareDeviceModel`): the running version is the model's, a complete
image goes to the model's pending slot (`hold_image`), and activation is the model's own
check and commit (`check_pending`, `commit_pending`), fault plan included.

The OTA client's state is the cluster's ImageUpgradeStatus attribute and moves by one
table. Image Notify -> Query Next Image -> Image Block requests from the offset it has
(a download interrupted by a lost radio resumes where it stopped) -> Upgrade End request
-> on the Upgrade End Response: activate now, at UpgradeTime (a timer), or wait for
another response (UpgradeTime 0xFFFFFFFF).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota

from bridge.zigbee.frames import (
    COORDINATOR_ENDPOINT,
    DEVICE_ENDPOINT,
    HA_PROFILE,
    ZDO_ENDPOINT,
    ZDO_PROFILE,
    ZigbeeFrame,
)
from contract.errors import IllegalTransitionError
from contract.transitions import TransitionTable
from emulators.actions import DeviceEvent, EventKind, FaultFired
from emulators.actions import Send as ModelSend
from emulators.actions import Timer as ModelTimer
from emulators.models import FirmwareDeviceModel
from emulators.models.firmware import pending_image
from gbcs.errors import GbcsDecodeError
from gbcs.ota import parse_ota_image

log = logging.getLogger(__name__)

METER_INTERFACE = 0x0053  # the HA device ID of a metering device
METERING_CLUSTER = 0x0702
WAIT_FOR_UPGRADE_COMMAND = 0xFFFFFFFF  # UpgradeTime: wait for another Upgrade End Response
NO_VERSION = 0xFFFFFFFF
MAINS_POWERED_ROUTER = 0x8E  # Device_annce capability: mains, rx on idle, allocate address
Status = foundation.Status
Direction = foundation.Direction
_STARTED, _RESUMED = EventKind.DOWNLOAD_STARTED, EventKind.DOWNLOAD_RESUMED
_COMPLETE, _LOST = EventKind.DOWNLOAD_COMPLETE, EventKind.DOWNLOAD_LOST
_FAILED = EventKind.ACTIVATION_FAILED


class OtaClientState(IntEnum):
    """ImageUpgradeStatus (ZCL §11.10.7): what the OTA client is doing."""

    NORMAL = 0x00
    DOWNLOADING = 0x01
    WAITING = 0x03  # Waiting_to_upgrade: image held, no upgrade time yet
    COUNT_DOWN = 0x04


class OtaClientEvent(IntEnum):
    OFFERED = 1  # Query Next Image Response SUCCESS: download (or resume)
    BLOCK = 2
    COMPLETE = 3  # the last block: the image is valid and held
    INVALID = 4  # the last block: the image is not the one offered
    HOLD = 5  # Upgrade End Response, UpgradeTime 0xFFFFFFFF
    COUNT_DOWN = 6  # Upgrade End Response with a later UpgradeTime
    ACTIVATED = 7
    ACTIVATION_FAILED = 8


_S, _E = OtaClientState, OtaClientEvent
OTA_CLIENT_TRANSITIONS: TransitionTable[OtaClientState, OtaClientEvent] = TransitionTable(
    {
        (_S.NORMAL, _E.OFFERED): _S.DOWNLOADING,
        (_S.DOWNLOADING, _E.OFFERED): _S.DOWNLOADING,  # resumed, or a new image restarts
        (_S.WAITING, _E.OFFERED): _S.DOWNLOADING,  # a new image replaces the held one
        (_S.COUNT_DOWN, _E.OFFERED): _S.DOWNLOADING,
        (_S.DOWNLOADING, _E.BLOCK): _S.DOWNLOADING,
        (_S.DOWNLOADING, _E.COMPLETE): _S.WAITING,
        (_S.DOWNLOADING, _E.INVALID): _S.NORMAL,
        (_S.WAITING, _E.HOLD): _S.WAITING,
        (_S.COUNT_DOWN, _E.HOLD): _S.WAITING,  # a later response cancels the count-down
        (_S.WAITING, _E.COUNT_DOWN): _S.COUNT_DOWN,
        (_S.COUNT_DOWN, _E.COUNT_DOWN): _S.COUNT_DOWN,  # rescheduled
        (_S.WAITING, _E.ACTIVATED): _S.NORMAL,
        (_S.COUNT_DOWN, _E.ACTIVATED): _S.NORMAL,
        (_S.WAITING, _E.ACTIVATION_FAILED): _S.WAITING,
        (_S.COUNT_DOWN, _E.ACTIVATION_FAILED): _S.WAITING,
    }
)


@dataclass(frozen=True, slots=True)
class ImageId:
    """What an OTA client asks for: its manufacturer code and image type."""

    manufacturer_code: int
    image_type: int


@dataclass(frozen=True, slots=True)
class SendFrame:
    """A frame from the device to the coordinator."""

    frame: ZigbeeFrame


@dataclass(frozen=True, slots=True)
class TimerAt:
    """Call `on_timer(token)` at `at` (shared clock)."""

    at: datetime
    token: object


DeviceOutput = SendFrame | TimerAt | DeviceEvent | FaultFired


class _Download:
    """The image being received: what was offered and the bytes so far."""

    __slots__ = ("data", "file_version", "image_size")

    def __init__(self, file_version: int, image_size: int) -> None:
        self.file_version = file_version
        self.image_size = image_size
        self.data = bytearray()


class EmulatedZigbeeDevice:
    """One ZigBee device (IEEE = the smart-metering device ID) with an OTA client."""

    __slots__ = (
        "_countdown",
        "_download",
        "_held_version",
        "_tsn",
        "counts",
        "image_id",
        "model",
        "nwk",
        "state",
    )

    def __init__(self, model: FirmwareDeviceModel, nwk: int, image_id: ImageId) -> None:
        self.model = model
        self.nwk = nwk
        self.image_id = image_id
        self.state = OtaClientState.NORMAL
        self.counts: Counter[str] = Counter()
        self._download: _Download | None = None
        self._held_version: int | None = None
        self._countdown: object | None = None
        self._tsn = 0

    @property
    def ieee(self) -> t.EUI64:
        return t.EUI64(self.model.device_id[::-1])

    @property
    def hex_id(self) -> str:
        return self.model.hex_id

    @property
    def running_version(self) -> int:
        return int.from_bytes(self.model.running_version, "big")

    @property
    def file_offset(self) -> int:
        return 0 if self._download is None else len(self._download.data)

    def announce(self) -> list[DeviceOutput]:
        """Device_annce: the device has joined (zigpy then interviews it)."""
        args = (t.NWK(self.nwk), self.ieee, t.uint8_t(MAINS_POWERED_ROUTER))
        return [self._zdo(zdo_t.ZDOCmd.Device_annce, self._next_tsn(), args)]

    def receive(self, frame: ZigbeeFrame, now: datetime) -> list[DeviceOutput]:
        """A frame from the coordinator (unicast to this device, or a broadcast)."""
        try:
            if frame.is_zdo:
                return self._on_zdo(frame)
            if frame.profile_id == HA_PROFILE and frame.dst_ep in (DEVICE_ENDPOINT, 0xFF):
                return self._on_zcl(frame, now)
        except (ValueError, KeyError) as exc:
            self.counts["malformed"] += 1
            log.warning("device %s: frame %r not understood: %s", self.hex_id, frame, exc)
            return []
        except IllegalTransitionError as exc:
            self.counts["refused"] += 1
            log.warning("device %s: %s", self.hex_id, exc)
            return []
        return []

    def on_timer(self, token: object, now: datetime) -> list[DeviceOutput]:
        """A timer this device asked for; a stale one (a cancelled count-down) does nothing."""
        if token is not self._countdown or self.state is not OtaClientState.COUNT_DOWN:
            return []
        self._countdown = None
        return self._activate(now)

    # ---- ZDO: what zigpy's interview asks ---------------------------------------------

    def _on_zdo(self, frame: ZigbeeFrame) -> list[DeviceOutput]:
        command = zdo_t.ZDOCmd(frame.cluster_id)
        tsn = frame.data[0]
        nwk = t.NWK(self.nwk)
        match command:
            case zdo_t.ZDOCmd.Node_Desc_req:
                args: tuple[Any, ...] = (zdo_t.Status.SUCCESS, nwk, self._node_descriptor())
                return [self._zdo(zdo_t.ZDOCmd.Node_Desc_rsp, tsn, args)]
            case zdo_t.ZDOCmd.Active_EP_req:
                args = (zdo_t.Status.SUCCESS, nwk, [t.uint8_t(DEVICE_ENDPOINT)])
                return [self._zdo(zdo_t.ZDOCmd.Active_EP_rsp, tsn, args)]
            case zdo_t.ZDOCmd.Simple_Desc_req:
                args = (zdo_t.Status.SUCCESS, nwk, self._simple_descriptor())
                return [self._zdo(zdo_t.ZDOCmd.Simple_Desc_rsp, tsn, args)]
        return []  # permit joining, management requests: nothing to answer

    def _zdo(self, command: zdo_t.ZDOCmd, tsn: int, args: tuple[Any, ...]) -> SendFrame:
        _, schema = zdo_t.CLUSTERS[command]
        data = bytes([tsn]) + t.serialize(args, schema)
        return SendFrame(ZigbeeFrame(ZDO_PROFILE, command, ZDO_ENDPOINT, ZDO_ENDPOINT, data))

    def _node_descriptor(self) -> zdo_t.NodeDescriptor:
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Router,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress,
            manufacturer_code=self.image_id.manufacturer_code,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0,
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )

    def _simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=DEVICE_ENDPOINT,
            profile=HA_PROFILE,
            device_type=METER_INTERFACE,
            device_version=1,
            input_clusters=[Basic.cluster_id, METERING_CLUSTER],
            output_clusters=[Ota.cluster_id],
        )

    # ---- ZCL --------------------------------------------------------------------------

    def _on_zcl(self, frame: ZigbeeFrame, now: datetime) -> list[DeviceOutput]:
        header, rest = foundation.ZCLHeader.deserialize(frame.data)
        if header.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND:
            if header.command_id == foundation.GeneralCommand.Read_Attributes:
                return self._read_attributes(frame.cluster_id, header, rest)
            return []  # Default Response and the like: nothing to answer
        if frame.cluster_id != Ota.cluster_id or header.direction != Direction.Server_to_Client:
            return []
        command = Ota.client_commands[header.command_id]
        body, _ = command.schema.deserialize(rest)
        return self._on_ota(command.name, body, now)

    def _read_attributes(
        self, cluster_id: int, header: foundation.ZCLHeader, rest: bytes
    ) -> list[DeviceOutput]:
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
        request: Any
        request, _ = schema.deserialize(rest)
        values = self._attribute_values(cluster_id)
        cluster = Basic if cluster_id == Basic.cluster_id else Ota
        records = [_record(cluster, int(attr), values) for attr in request.attribute_ids]
        self.counts[f"read {cluster.__name__}"] += 1
        response = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp]
        body = response.schema(status_records=records)
        reply = foundation.ZCLHeader.general(
            header.tsn, foundation.GeneralCommand.Read_Attributes_rsp, None, header.direction.flip()
        )
        return [self._zcl(cluster_id, reply, body.serialize())]

    def _attribute_values(self, cluster_id: int) -> dict[int, Any]:
        if cluster_id == Basic.cluster_id:
            profile = self.model.profile
            return {
                Basic.AttributeDefs.manufacturer.id: profile.manufacturer,
                Basic.AttributeDefs.model.id: profile.model,
                Basic.AttributeDefs.sw_build_id.id: self.model.running_version.hex().upper(),
                Basic.AttributeDefs.power_source.id: 0x01,  # mains, single phase
            }
        if cluster_id == Ota.cluster_id:
            held = NO_VERSION if self._held_version is None else self._held_version
            return {
                Ota.AttributeDefs.current_file_version.id: self.running_version,
                Ota.AttributeDefs.image_upgrade_status.id: int(self.state),
                Ota.AttributeDefs.file_offset.id: self.file_offset,
                Ota.AttributeDefs.downloaded_file_version.id: held,
                Ota.AttributeDefs.manufacturer_id.id: self.image_id.manufacturer_code,
                Ota.AttributeDefs.image_type_id.id: self.image_id.image_type,
            }
        return {}

    def _on_ota(self, name: str, body: Any, now: datetime) -> list[DeviceOutput]:
        match name:
            case "image_notify":
                return self._query_next_image()
            case "query_next_image_response":
                return self._on_offer(body, now)
            case "image_block_response":
                return self._on_block(body, now)
            case "upgrade_end_response":
                return self._on_upgrade_end_response(body, now)
        return []

    def _query_next_image(self) -> list[DeviceOutput]:
        self.counts["queries"] += 1
        command = Ota.ServerCommandDefs.query_next_image
        body = command.schema(
            field_control=0,
            manufacturer_code=self.image_id.manufacturer_code,
            image_type=self.image_id.image_type,
            current_file_version=self.running_version,
        )
        return [self._ota_request(command.id, body.serialize())]

    def _on_offer(self, body: Any, now: datetime) -> list[DeviceOutput]:
        if body.status != Status.SUCCESS:
            return []  # no image for this device
        version, size = int(body.file_version), int(body.image_size)
        download = self._download
        resumed = (
            self.state is OtaClientState.DOWNLOADING
            and download is not None
            and (download.file_version, download.image_size) == (version, size)
        )
        self.move(OtaClientEvent.OFFERED)
        self._countdown = None
        events: list[DeviceOutput] = []
        if not resumed:
            self._download = _Download(version, size)
            events.append(self.model.event(_STARTED, now, f"file version {version:08X}"))
        else:
            events.append(self.model.event(_RESUMED, now, f"at offset {self.file_offset}"))
        return [*events, self._block_request()]

    def _block_request(self) -> SendFrame:
        download = self._download
        assert download is not None
        self.counts["block_requests"] += 1
        command = Ota.ServerCommandDefs.image_block
        body = command.schema(
            field_control=0,
            manufacturer_code=self.image_id.manufacturer_code,
            image_type=self.image_id.image_type,
            file_version=download.file_version,
            file_offset=len(download.data),
            maximum_data_size=min(255, self.model.profile.ota_block_size),
        )
        return self._ota_request(command.id, body.serialize())

    def _on_block(self, body: Any, now: datetime) -> list[DeviceOutput]:
        download = self._download
        if (
            body.status != Status.SUCCESS
            or download is None
            or self.state is not OtaClientState.DOWNLOADING
        ):
            self.counts["blocks_refused"] += 1
            return []
        if int(body.file_version) != download.file_version or body.file_offset != len(
            download.data
        ):
            self.counts["blocks_out_of_place"] += 1
            return []  # a late answer to an earlier request: the current one is pending
        self.move(OtaClientEvent.BLOCK)
        download.data += bytes(body.image_data)
        if len(download.data) < download.image_size:
            return [self._block_request()]
        return self._finish_download(download, now)

    def _finish_download(self, download: _Download, now: datetime) -> list[DeviceOutput]:
        self._download = None
        image = bytes(download.data)
        if not self._is_offered_image(image, download):
            self.move(OtaClientEvent.INVALID)
            event = self.model.event(_LOST, now, "the image is not the one offered")
            return [event, self._upgrade_end(Status.INVALID_IMAGE, download.file_version)]
        self.move(OtaClientEvent.COMPLETE)
        held = pending_image(image)
        self.model.hold_image(held)
        self._held_version = download.file_version
        event = self.model.event(_COMPLETE, now, held.image_hash.hex())
        return [event, self._upgrade_end(Status.SUCCESS, download.file_version)]

    def _is_offered_image(self, image: bytes, download: _Download) -> bool:
        try:
            header = parse_ota_image(image).header
        except GbcsDecodeError:
            return False
        return (
            len(image) == download.image_size
            and header.file_version == download.file_version
            and header.manufacturer_code == self.image_id.manufacturer_code
            and header.image_type == self.image_id.image_type
        )

    def _upgrade_end(self, status: foundation.Status, file_version: int) -> SendFrame:
        self.counts["upgrade_end_requests"] += 1
        command = Ota.ServerCommandDefs.upgrade_end
        body = command.schema(
            status=status,
            manufacturer_code=self.image_id.manufacturer_code,
            image_type=self.image_id.image_type,
            file_version=file_version,
        )
        return self._ota_request(command.id, body.serialize())

    def _on_upgrade_end_response(self, body: Any, now: datetime) -> list[DeviceOutput]:
        held = (self.image_id.manufacturer_code, self.image_id.image_type, self._held_version)
        offered = (int(body.manufacturer_code), int(body.image_type), int(body.file_version))
        if self.state not in (OtaClientState.WAITING, OtaClientState.COUNT_DOWN) or (
            offered != held
        ):
            self.counts["upgrade_end_ignored"] += 1
            return []  # not about the image this device holds
        upgrade, current = int(body.upgrade_time), int(body.current_time)
        if upgrade == WAIT_FOR_UPGRADE_COMMAND:
            self.move(OtaClientEvent.HOLD)
            self._countdown = None
            return []
        delay = upgrade if current == 0 else max(0, upgrade - current)  # ZCL §11.13.9
        if delay == 0:
            return self._activate(now)
        self.move(OtaClientEvent.COUNT_DOWN)
        self._countdown = token = object()
        return [TimerAt(now + timedelta(seconds=delay), token)]

    def _activate(self, now: datetime) -> list[DeviceOutput]:
        """The model's own check and commit of the held image (fault plan included)."""
        actions: list[Any] = []
        pending = self.model.pending
        assert pending is not None
        code = self.model.check_pending(pending.image_hash, now, actions)
        if code == 0:
            self.model.commit_pending(now, actions)
            self.move(OtaClientEvent.ACTIVATED)
            self._held_version = None
        else:
            actions.append(self.model.event(_FAILED, now, f"code {int(code)}"))
            self.move(OtaClientEvent.ACTIVATION_FAILED)
        return [a for a in actions if not isinstance(a, ModelSend | ModelTimer)]

    # ---- helpers ----------------------------------------------------------------------

    def move(self, event: OtaClientEvent) -> None:
        role = f"ZigBee OTA client {self.hex_id}"
        self.state = OTA_CLIENT_TRANSITIONS.next(role, self.state, event)

    def _ota_request(self, command_id: int, body: bytes) -> SendFrame:
        control = foundation.FrameControl(
            frame_type=foundation.FrameType.CLUSTER_COMMAND,
            is_manufacturer_specific=False,
            direction=Direction.Client_to_Server,
            disable_default_response=True,
            reserved=0,
        )
        header = foundation.ZCLHeader(control, None, self._next_tsn(), command_id)
        return self._zcl(Ota.cluster_id, header, body)

    def _zcl(self, cluster_id: int, header: foundation.ZCLHeader, body: bytes) -> SendFrame:
        data = header.serialize() + body
        return SendFrame(
            ZigbeeFrame(HA_PROFILE, cluster_id, DEVICE_ENDPOINT, COORDINATOR_ENDPOINT, data)
        )

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn


def _record(cluster: type[Basic] | type[Ota], attr_id: int, values: dict[int, Any]) -> Any:
    if attr_id not in values:
        return foundation.ReadAttributeRecord(t.uint16_t(attr_id), Status.UNSUPPORTED_ATTRIBUTE)
    definition = cluster.attributes[attr_id]
    value = foundation.TypeValue(type=definition.zcl_type, value=definition.type(values[attr_id]))
    return foundation.ReadAttributeRecord(t.uint16_t(attr_id), Status.SUCCESS, value)

"""The emulated ZigBee device, sans-IO (docs/zigbee-bridge.md §7): frames built and read
with zigpy's own ZDO and ZCL types, as zigpy sends and reads them; its OTA Upgrade client
(ZCL §11) on the emulator's firmware model (R9, R10, R11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota

from bridge.simulators.zigbee_device import (
    WAIT_FOR_UPGRADE_COMMAND,
    DeviceOutput,
    EmulatedZigbeeDevice,
    ImageId,
    OtaClientEvent,
    OtaClientState,
    SendFrame,
    TimerAt,
)
from bridge.zigbee.frames import HA_PROFILE, ZDO_PROFILE, ZigbeeFrame
from contract.errors import IllegalTransitionError
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
from emulators.models import SlotState

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
OLD, NEW = 0x0123ABCD, 0x0123ABCE
MANUFACTURER, IMAGE_TYPE = 0x1037, 0x0201
Status = foundation.Status


def fleet(faults: list[dict[str, Any]] | None = None) -> FleetBuild:
    esme = {
        "type": "ESME",
        "manufacturer": "LANDIS",
        "model": "E470",
        "firmware_versions": [f"{OLD:08X}"],
        "upgrade_versions": [f"{NEW:08X}"],
        "manufacturer_code": MANUFACTURER,
        "image_type": IMAGE_TYPE,
        "image_size": 230,
    }
    spec = {
        "seed": 4,
        "templates": [
            {
                "name": "z",
                "count": 1,
                "devices": [
                    {"type": "CHF", "model": "CH", "firmware_versions": ["00000001"]},
                    esme,
                ],
            }
        ],
        "fault_plan": {"rules": faults or []},
    }
    return build_fleet(FleetSpec.model_validate(spec))


def device(build: FleetBuild | None = None) -> tuple[EmulatedZigbeeDevice, bytes]:
    build = build or fleet()
    model = next(m for m in build.fleet.devices() if str(m.profile.device_type) == "ESME")
    image = build.images[("LANDIS", "E470", f"{NEW:08X}")].to_bytes()
    return EmulatedZigbeeDevice(model, 0x1001, ImageId(MANUFACTURER, IMAGE_TYPE)), image


def ota_frame(name: str, tsn: int = 9, **fields: Any) -> ZigbeeFrame:
    """An OTA server command from zigpy's coordinator to the device's client cluster."""
    command = getattr(Ota.ClientCommandDefs, name)
    header = foundation.ZCLHeader.cluster(
        tsn, command.id, None, foundation.Direction.Server_to_Client
    )
    data = header.serialize() + command.schema(**fields).serialize()
    return ZigbeeFrame(HA_PROFILE, Ota.cluster_id, 1, 1, data)


def sent(outputs: list[DeviceOutput]) -> list[tuple[foundation.ZCLHeader, Any]]:
    """The device's ZCL frames, read with zigpy's OTA cluster definitions."""
    frames = []
    for output in outputs:
        if isinstance(output, SendFrame) and output.frame.profile_id == HA_PROFILE:
            header, rest = foundation.ZCLHeader.deserialize(output.frame.data)
            if header.frame_control.frame_type == foundation.FrameType.CLUSTER_COMMAND:
                body, _ = Ota.server_commands[header.command_id].schema.deserialize(rest)
            else:
                schema = foundation.GENERAL_COMMANDS[
                    foundation.GeneralCommand(header.command_id)
                ].schema
                body, _ = schema.deserialize(rest)
            frames.append((header, body))
    return frames


def download(client: EmulatedZigbeeDevice, image: bytes, stop_after: int | None = None) -> Any:
    """Notify, offer and serve blocks of 50 bytes as zigpy's OTA server does; the device's
    last request (an image block, or the Upgrade End request)."""
    notify = ota_frame("image_notify", payload_type=0, query_jitter=100)
    ((_, query),) = sent(client.receive(notify, NOW))
    assert query.current_file_version == client.running_version
    offer = ota_frame(
        "query_next_image_response",
        status=Status.SUCCESS,
        manufacturer_code=MANUFACTURER,
        image_type=IMAGE_TYPE,
        file_version=NEW,
        image_size=len(image),
    )
    ((header, request),) = sent(client.receive(offer, NOW))
    served = 0
    while header.command_id == Ota.ServerCommandDefs.image_block.id and served != stop_after:
        offset = request.file_offset
        block = ota_frame(
            "image_block_response",
            status=Status.SUCCESS,
            manufacturer_code=MANUFACTURER,
            image_type=IMAGE_TYPE,
            file_version=NEW,
            file_offset=offset,
            image_data=image[offset : offset + 50],
        )
        served += 1
        ((header, request),) = sent(client.receive(block, NOW))
    return request


def state_of(client: EmulatedZigbeeDevice) -> OtaClientState:
    return client.state


def upgrade_end(current: int, upgrade: int, version: int = NEW) -> ZigbeeFrame:
    return ota_frame(
        "upgrade_end_response",
        manufacturer_code=MANUFACTURER,
        image_type=IMAGE_TYPE,
        file_version=version,
        current_time=current,
        upgrade_time=upgrade,
    )


def test_it_announces_itself_and_answers_zigpys_interview() -> None:
    client, _ = device()
    (announce,) = client.announce()
    assert isinstance(announce, SendFrame)
    _, args = zdo_t.ZDOHeader.deserialize(zdo_t.ZDOCmd.Device_annce, announce.frame.data)
    nwk, ieee, _ = t.deserialize(args, zdo_t.CLUSTERS[zdo_t.ZDOCmd.Device_annce][1])[0]
    assert (nwk, ieee) == (0x1001, client.ieee)
    assert str(ieee).replace(":", "").upper() == client.hex_id  # IEEE = device ID
    request = ZigbeeFrame(ZDO_PROFILE, zdo_t.ZDOCmd.Simple_Desc_req, 0, 0, b"\x07\x01\x10\x01")
    (answer,) = client.receive(request, NOW)
    assert isinstance(answer, SendFrame)
    assert answer.frame.data[0] == 7  # the request's sequence number
    schema = zdo_t.CLUSTERS[zdo_t.ZDOCmd.Simple_Desc_rsp][1]
    status, _, descriptor = t.deserialize(answer.frame.data[1:], schema)[0]
    assert status == zdo_t.Status.SUCCESS
    assert Basic.cluster_id in descriptor.input_clusters
    assert descriptor.output_clusters == [Ota.cluster_id]  # an OTA Upgrade client


def test_reads_of_basic_and_ota_attributes_carry_the_running_version() -> None:
    client, _ = device()
    read = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
    header = foundation.ZCLHeader.general(5, 0, None, foundation.Direction.Server_to_Client)
    ids = [t.uint16_t(0x0002), t.uint16_t(0x0006), t.uint16_t(0x7777)]
    frame = ZigbeeFrame(
        HA_PROFILE, Ota.cluster_id, 1, 1, header.serialize() + read(attribute_ids=ids).serialize()
    )
    ((reply, body),) = sent(client.receive(frame, NOW))
    assert reply.direction == foundation.Direction.Client_to_Server
    records = {int(r.attrid): r for r in body.status_records}
    assert records[0x0002].value.value == OLD  # CurrentFileVersion
    assert records[0x0006].value.value == OtaClientState.NORMAL
    assert records[0x7777].status == Status.UNSUPPORTED_ATTRIBUTE
    header = foundation.ZCLHeader.general(6, 0, None, foundation.Direction.Client_to_Server)
    build_id = read(attribute_ids=[t.uint16_t(Basic.AttributeDefs.sw_build_id.id)])
    frame = ZigbeeFrame(
        HA_PROFILE, Basic.cluster_id, 1, 1, header.serialize() + build_id.serialize()
    )
    ((_, body),) = sent(client.receive(frame, NOW))
    assert body.status_records[0].value.value == f"{OLD:08X}"


def test_a_download_ends_with_upgrade_end_success_and_the_image_held_by_the_model() -> None:
    """R9: the model's pending slot holds the image (its SHA-256); nothing runs yet."""
    client, image = device()
    end = download(client, image)
    assert (end.status, end.file_version) == (Status.SUCCESS, NEW)
    assert state_of(client) is OtaClientState.WAITING
    assert client.model.slot is SlotState.HELD
    assert client.model.pending is not None
    assert client.model.running_version == OLD.to_bytes(4, "big")
    assert client.counts["block_requests"] == -(-len(image) // 50)


def test_held_until_an_upgrade_end_response_gives_it_a_time() -> None:
    """ZCL §11.13.9: 0xFFFFFFFF holds it; a later UpgradeTime counts down; 0 is now."""
    client, image = device()
    download(client, image)
    assert client.receive(upgrade_end(0, WAIT_FOR_UPGRADE_COMMAND), NOW) == []
    assert state_of(client) is OtaClientState.WAITING
    (wake,) = client.receive(upgrade_end(1000, 1000 + 3600), NOW)
    assert isinstance(wake, TimerAt)
    assert wake.at == NOW + timedelta(hours=1)
    assert state_of(client) is OtaClientState.COUNT_DOWN
    events = client.on_timer(wake.token, wake.at)
    assert [str(e.kind) for e in events if hasattr(e, "kind")] == ["activated"]
    assert client.running_version == NEW
    assert state_of(client) is OtaClientState.NORMAL


def test_a_new_hold_cancels_the_count_down() -> None:
    client, image = device()
    download(client, image)
    (wake,) = client.receive(upgrade_end(0, 60), NOW)
    client.receive(upgrade_end(0, WAIT_FOR_UPGRADE_COMMAND), NOW)
    assert isinstance(wake, TimerAt)
    assert client.on_timer(wake.token, wake.at) == []
    assert client.running_version == OLD


def test_an_activation_failure_of_the_fault_plan_keeps_the_old_version() -> None:
    """R11: the model's own check applies the plan's activation_failure."""
    client, image = device(fleet([{"fault": "activation_failure", "count": 1}]))
    download(client, image)
    client.receive(upgrade_end(0, 0), NOW)
    assert client.running_version == OLD
    assert state_of(client) is OtaClientState.WAITING
    client.receive(upgrade_end(0, 0), NOW)  # the count was 1: the next attempt runs
    assert client.running_version == NEW


def test_an_interrupted_download_resumes_from_its_offset() -> None:
    client, image = device()
    last = download(client, image, stop_after=2)
    assert last.file_offset == 100 == client.file_offset
    end = download(client, image)  # notified and offered again: the same image
    assert end.status == Status.SUCCESS
    assert client.counts["block_requests"] == -(-len(image) // 50) + 1  # one asked twice
    assert client.model.pending is not None


def test_an_image_that_is_not_the_one_offered_is_refused() -> None:
    client, image = device()
    forged = bytearray(image)
    forged[14:18] = (NEW + 1).to_bytes(4, "little")  # the header's file version
    end = download(client, bytes(forged))
    assert end.status == Status.INVALID_IMAGE
    assert state_of(client) is OtaClientState.NORMAL
    assert client.model.slot is SlotState.EMPTY


def test_frames_out_of_place_are_ignored_and_counted() -> None:
    client, image = device()
    block = ota_frame(
        "image_block_response",
        status=Status.SUCCESS,
        manufacturer_code=MANUFACTURER,
        image_type=IMAGE_TYPE,
        file_version=NEW,
        file_offset=0,
        image_data=image[:50],
    )
    assert client.receive(block, NOW) == []
    assert client.receive(upgrade_end(0, 0), NOW) == []
    assert (client.counts["blocks_refused"], client.counts["upgrade_end_ignored"]) == (1, 1)
    garbage = ZigbeeFrame(HA_PROFILE, Ota.cluster_id, 1, 1, b"\x19")
    assert client.receive(garbage, NOW) == []
    assert client.counts["malformed"] == 1


def test_an_illegal_transition_names_role_state_and_event() -> None:
    client, _ = device()
    with pytest.raises(IllegalTransitionError) as caught:
        client.move(OtaClientEvent.COMPLETE)
    assert (caught.value.state, caught.value.event) == ("NORMAL", "COMPLETE")
    assert client.hex_id in caught.value.role

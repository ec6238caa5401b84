"""ZigBee devices (an ESME, a PPMID) behind the ZigBee bridge and the radio-less zigpy
application, the DSP on a real broker (issue 6; docs/zigbee-bridge.md): zigpy's own
interview, ZCL and OTA server run, and each device is the emulator's firmware model
behind a ZigBee OTA client.

The MP105 story on the ESME, checked on the final SMI: CPL removal suspends it
(R4), 11.1 distributes (R9), 11.3 activates at once and restores it (R5), a second image
is activated future-dated (R7: alert 0x8F66 through the DSP), 11.2 reads it; the SMI ends
equal to what the device runs. Then the link faults: the radio unplugged mid-download
and a radio that stops answering (E21, the hub offline, back by itself, nothing lost or
duplicated). And SR 11.4 to the ZigBee PPMID, which activates on receipt (R10).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.simulators.zigbee_device import EmulatedZigbeeDevice
from bridge.simulators.zigbee_radio import EmulatedNetwork, emulated_factory
from bridge.zigbee.bridge import ZigbeeBridge, ZigbeeBridgeConfig, zigbee_bridge_link
from bridge.zigbee.devicemap import DeviceMap, DeviceMapping
from bridge.zigbee.translate import TranslatorConfig
from bus.adapter import MqttAdapter
from bus.backoff import Backoff
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting, ScaledClock
from contract.cpl import cpl_change_json
from contract.ids import to_compact
from contract.topics import Topics
from contract.vocabulary import CplStatus, Device, DeviceType, SmiStatus
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.keys import secured
from dsp_core.model import JournalKind
from dsp_core.service import DspService, dsp_link
from dsp_core.store import MemoryStore
from dsp_core.turn import CoreConfig
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
from gbcs.ota import OtaImage
from gbcs.security import protections
from hil.keys import KeyStoreSigner
from tests.support.brokers import Mosquitto
from tests.support.bus import connected
from tests.support.journal import device_messages
from tests.support.service_user import ServiceUserClient, final, user_link
from tests.support.waiting import hub_recorded, wait_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
SCALE = 10.0
DCC = "90-B3-D5-1F-30-00-00-02"
RUNNING, FIRST, SECOND = "0123ABCD", "0123ABCE", "0123ABCF"
SPEC = FleetSpec.model_validate(
    {
        "seed": 31,
        "templates": [
            {
                "name": "zigbee",
                "count": 1,
                "devices": [
                    {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
                    {
                        "type": "ESME",
                        "manufacturer": "LANDIS",
                        "model": "E470",
                        "firmware_versions": [RUNNING],
                        "upgrade_versions": [FIRST, SECOND],
                        "manufacturer_code": 0x1037,
                        "image_type": 0x0201,
                        "image_size": 3000,  # 60 blocks of zigpy's 50 bytes
                    },
                    {
                        "type": "PPMID",
                        "manufacturer": "CHAMELEON",
                        "model": "IHD-6",
                        "firmware_versions": ["03000001"],
                        "upgrade_versions": ["03000002"],
                        "image_size": 1000,
                    },
                ],
            }
        ],
    }
)
# device time runs SCALE times faster: 15 s of response time-out is 1.5 s here
CORE = CoreConfig(response_timeout=timedelta(seconds=15), execution_grace=timedelta(minutes=2))
SETTLE = TranslatorConfig(activation_settle=timedelta(seconds=3))


@dataclass
class Lab:
    build: FleetBuild
    store: MemoryStore
    network: EmulatedNetwork
    config: ZigbeeBridgeConfig
    user: ServiceUserClient  # the supplier: responses, alerts, the hub's status
    topics: Topics
    clock: ScaledClock
    url: str
    version: str
    tasks: asyncio.TaskGroup
    bridges: list[ZigbeeBridge] = field(default_factory=list)
    bridge_stop: asyncio.Event = field(default_factory=asyncio.Event)
    bridge_task: asyncio.Task[None] | None = None

    @property
    def bridge(self) -> ZigbeeBridge:
        return self.bridges[-1]

    def start_bridge(self) -> None:
        """The bridge process: its own MQTT connection (a persistent session) and radio."""
        self.bridge_stop = asyncio.Event()
        ch_id = self.config.ch_id
        link = zigbee_bridge_link(self.url, self.topics, ch_id, "t-zigbee-bridge", self.version)
        bridge = ZigbeeBridge(
            self.config,
            MqttAdapter(link),
            self.topics,
            emulated_factory(self.network, ch_id, watchdog_period=0.2),
            clock=ScaledClock(self.clock.setting),
        )
        self.bridges.append(bridge)
        self.bridge_task = self.tasks.create_task(self._run_bridge(bridge, self.bridge_stop))

    def stop_bridge_soon(self) -> None:
        self.bridge_stop.set()

    async def stop_bridge(self) -> None:
        """As SIGTERM would: the radio closed, the bus drained, the MQTT session kept."""
        self.bridge_stop.set()
        assert self.bridge_task is not None
        await self.bridge_task

    @staticmethod
    async def _run_bridge(bridge: ZigbeeBridge, stop: asyncio.Event) -> None:
        async with bridge.hub.bus:
            await bridge.hub.bus.wait_connected()
            await bridge.run(stop)

    @property
    def esme(self) -> Device:
        return next(d for d in self.build.seed.devices if d.device_type is DeviceType.ESME)

    @property
    def zigbee_esme(self) -> EmulatedZigbeeDevice:
        return self.network.device(bytes.fromhex(to_compact(self.esme.device_id)))

    def image(self, version: str) -> OtaImage:
        return self.build.images[("LANDIS", "E470", version)]

    def distribute(self, version: str) -> str:
        body = {
            "firmware_image": base64.b64encode(self.image(version).to_bytes()).decode(),
            "firmware_version": version,
            "device_ids": [self.esme.device_id],
        }
        return self.user.request("11.1", DCC, body, variant=8)

    def activate(self, version: str, execution: datetime | None = None) -> str:
        body: dict[str, Any] = {"firmware_hash": self.image(version).sha256.hex().upper()}
        if execution is not None:
            body["execution_datetime"] = execution.isoformat().replace("+00:00", "Z")
        return self.user.request("11.3", self.esme.device_id, body, variant=4)

    async def smi(self) -> Device:
        return next(d for d in await self.store.devices() if d.device_id == self.esme.device_id)


@asynccontextmanager
async def zigbee_lab(url: str, version: str, spec: FleetSpec = SPEC) -> AsyncIterator[Lab]:
    build = build_fleet(spec)
    store = MemoryStore()
    seed = build.seed
    await store.seed(
        devices=seed.devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
    )
    setting = ClockSetting.starting_now(T0, SCALE, time.time())
    topics = Topics()
    clock = ScaledClock(setting)
    network = EmulatedNetwork.from_fleet(build, clock)
    ch_id = next(iter(build.fleet.premises.values())).hex_id
    mappings = tuple(
        DeviceMapping(d.model.device_id, d.model.device_id) for d in network.devices.values()
    )
    config = ZigbeeBridgeConfig(
        DeviceMap(ch_id, mappings),
        radio="emulated",
        translator=replace(SETTLE, keys=build.keys, signers=build.signers or None),
        backoff=Backoff(initial=0.05, cap=0.3),
    )
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        dsp_config = dsp_link(url, topics, "t-zigbee-dsp", version)
        dsp_bus = await enter(connected(MqttAdapter(dsp_config)))
        dsp_bus.publish(topics.clock, setting.to_json(), retain=True)
        driver = CoreDriver(DspCore(secured(CORE, build.keys)), store)
        dsp = DspService(driver, dsp_bus, topics, ScaledClock(setting))
        supplier = seed.users[0].user_id
        link = user_link(url, topics, supplier, ch_id, client_id="t-zigbee-user", version=version)
        bus = await enter(connected(MqttAdapter(link)))
        signer = None if build.keys is None else KeyStoreSigner(build.keys)
        user = ServiceUserClient(bus, supplier, topics, timeout=20, signer=signer)
        stop = asyncio.Event()
        tasks = await enter(asyncio.TaskGroup())
        stack.callback(stop.set)
        lab = Lab(build, store, network, config, user, topics, clock, url, version, tasks)
        stack.callback(lab.stop_bridge_soon)
        for part in (dsp.run(stop), network.run(stop)):
            tasks.create_task(part)
        collector = tasks.create_task(user.collect())
        stack.callback(collector.cancel)
        lab.start_bridge()
        await lab.user.wait_for(
            "status", lambda s: s["online"] and all(d["joined"] for d in s["devices"])
        )
        yield lab


def alert(code: str) -> Callable[[dict[str, Any]], bool]:
    return lambda a: a["alert_code"] == code


async def nothing_more_on_the_way(lab: Lab) -> str:
    """An SR 11.2 to the ESME, answered I0 (its request ID): whatever an earlier request
    still had on its way (a command the broker sent again, an answer or alert the bridge
    published twice) has arrived by then, since the broker's queue for the hub, the
    bridge's queue for the device and the DSP each keep their order. One more command."""
    # the hub recorded online, else the DSP answers E20 and sends nothing
    await hub_recorded(lab.store, lab.config.ch_id, online=True)
    read = lab.user.request("11.2", lab.esme.device_id, {})
    answer = await lab.user.wait_for("responses", final(read))
    assert answer["response_code"] == "I0", answer
    return read


async def distribute_and_check_receipt(lab: Lab, version: str) -> None:
    """R9: the receipt carries the SHA-256 of the image the device took, which the DSP
    finds equal to the image it distributed."""
    receipts = len(lab.user.seen("alerts", alert("FirmwareReceipt")))
    lab.distribute(version)
    await wait_until(
        lambda: len(lab.user.seen("alerts", alert("FirmwareReceipt"))) > receipts, 20, "a receipt"
    )
    receipt = lab.user.seen("alerts", alert("FirmwareReceipt"))[-1]
    assert receipt["body"]["hash_matches"] is True
    assert receipt["body"]["image_hash"] == lab.image(version).sha256.hex().upper()


async def test_with_security_on_the_bridge_checks_and_macs_for_its_device(
    embedded_broker: EmbeddedBroker,
) -> None:
    """docs/security.md D-SEC18: with `security: true` the DSP MACs the 11.2 command, the
    bridge checks it with the ZigBee ESME's keys (the fleet's) and MACs the response for
    the device; the MAC verifies against the fleet's store."""
    spec = SPEC.model_copy(update={"security": True})
    async with zigbee_lab(embedded_broker.url, "3.1.1", spec) as lab:
        await nothing_more_on_the_way(lab)
        keys = lab.build.keys
        assert keys is not None
        messages = device_messages(lab.store)
        assert lab.bridge.translator.counts["refused"] == 0
    assert len(messages) == 1
    assert [(p.kind, p.valid) for p in protections(messages[0], keys)] == [("mac", True)]


async def test_the_mp105_story_on_one_zigbee_device_ends_with_the_smi_equal_to_the_device(
    embedded_broker: EmbeddedBroker,
) -> None:
    async with zigbee_lab(embedded_broker.url, "3.1.1") as lab:
        # R4: the running version removed from the CPL: the ESME is Suspended (N28)
        entry = next(
            e for e in lab.build.seed.cpl if (e.model, e.firmware_version) == ("E470", RUNNING)
        )
        lab.user.bus.publish(
            lab.topics.cpl, cpl_change_json(replace(entry, status=CplStatus.REMOVED))
        )
        await lab.user.wait_for("alerts", alert("N28"))
        assert (await lab.smi()).status is SmiStatus.SUSPENDED

        # R9 and R3: 11.1 reaches the Suspended device; the receipt's hash matches
        await distribute_and_check_receipt(lab, FIRST)
        assert lab.zigbee_esme.model.running_version.hex().upper() == RUNNING  # held, not run

        # 11.3 immediate: the CS06 outcome carries the new version; R5 restores (N29)
        immediate = lab.activate(FIRST)
        answer = await lab.user.wait_for("responses", final(immediate))
        assert answer["response_code"] == "I0"
        assert answer["body"]["activate_image_response_code"] == 0
        assert answer["body"]["firmware_version"] == FIRST
        await lab.user.wait_for("alerts", alert("N29"))
        record = await lab.smi()
        assert (record.status, record.firmware_version) == (SmiStatus.COMMISSIONED, FIRST)

        # R7: a second image, activated future-dated: accepted now, 0x8F66 at the time
        await distribute_and_check_receipt(lab, SECOND)
        execution = lab.clock.now().replace(microsecond=0) + timedelta(seconds=40)
        future = lab.activate(SECOND, execution)
        accepted = await lab.user.wait_for("responses", final(future))
        assert accepted["response_code"] == "I0"
        assert "firmware_version" not in accepted["body"]
        assert lab.zigbee_esme.model.running_version.hex().upper() == FIRST  # not yet
        executed = await lab.user.wait_for("alerts", alert("8F66"))
        assert executed["body"]["firmware_version"] == SECOND
        assert executed["body"]["request_id"] == future
        assert lab.clock.now() >= execution

        # 11.2 reads what the device runs
        read = lab.user.request("11.2", lab.esme.device_id, {})
        answer = await lab.user.wait_for("responses", final(read))
        assert answer["body"]["firmware_version"] == SECOND

    record = await lab.smi()
    running = lab.zigbee_esme.model.running_version.hex().upper()
    assert (record.firmware_version, running) == (SECOND, SECOND)
    assert record.status is SmiStatus.COMMISSIONED
    assert lab.user.seen("responses", lambda r: r["response_code"] in ("E21", "E30")) == []
    assert lab.bridge.connections == 1
    journal = [e async for e in lab.store.journal()]
    assert [e for e in journal if e.kind is JournalKind.DUPLICATE] == []


async def test_the_radio_unplugged_mid_download_resumes_and_delivers_one_receipt(
    embedded_broker: EmbeddedBroker,
) -> None:
    """The radio is unplugged after the device has asked for a few blocks: zigpy reports
    the connection lost, the hub goes offline, the bridge starts the radio again by
    itself, the device (which kept its download) resumes from its offset, and the DSP
    gets one receipt."""
    async with zigbee_lab(embedded_broker.url, "3.1.1") as lab:
        device = lab.zigbee_esme
        lab.network.unplug_when(lambda: device.counts["block_requests"] == 20)
        since = len(lab.user.got)
        lab.distribute(FIRST)
        await lab.user.wait_for("status", lambda s: not s["online"], since=since)
        assert device.file_offset == 19 * 50  # 19 blocks taken, the 20th asked for
        await lab.user.wait_for(  # the bridge tries the missing radio, backing off
            "status", lambda s: s["reason"].startswith("the radio did not start"), since=since
        )
        lab.network.plug()
        receipt = await lab.user.wait_for("alerts", alert("FirmwareReceipt"))
        await nothing_more_on_the_way(lab)  # a duplicate receipt would have come before
    assert receipt["body"]["hash_matches"] is True
    assert len(lab.user.seen("alerts", alert("FirmwareReceipt"))) == 1
    events = lab.network.journal.events
    assert events["download_started"] == 1  # a restart from offset 0 would count 2
    assert events["download_resumed"] >= 1  # an offer may come twice: the interview's too
    assert events["download_complete"] == 1
    blocks = -(-3000 // 50)
    assert blocks < device.counts["block_requests"] < blocks + 19  # not the first 19 again
    assert lab.bridge.connections == 2
    assert lab.bridge.hub.ledger.in_flight == 0
    statuses = [s["online"] for s in lab.user.seen("status", lambda s: True)]
    assert statuses.count(True) >= 2
    assert False in statuses


async def test_a_radio_that_stops_answering_ends_in_e21_and_the_late_answer_arrives_once(
    embedded_broker: EmbeddedBroker,
) -> None:
    """zigpy's watchdog finds the radio silent: the hub goes offline and the bridge tries
    to start it again; the DSP answers the 11.2 in flight E21 (R8) and a new one E20 at
    once (DESIGN §3, D-E1); the first waits at the bridge and reaches the device once the
    radio answers again; its late answer is processed once (D10)."""
    async with zigbee_lab(embedded_broker.url, "3.1.1") as lab:
        since = len(lab.user.got)
        lab.network.stop_answering()
        request_id = lab.user.request("11.2", lab.esme.device_id, {})
        await wait_until(  # before the hub is offline
            lambda: lab.bridge.translator.queued() == 1, 20, "the command queued at the bridge"
        )
        await lab.user.wait_for("status", lambda s: not s["online"], since=since)
        await lab.user.wait_for("responses", lambda r: r["response_code"] == "E21")
        await hub_recorded(lab.store, lab.config.ch_id, online=False)
        refused = lab.user.request("11.2", lab.esme.device_id, {})  # D-E1: E20 at once
        assert (await lab.user.wait_for("responses", final(refused)))["response_code"] == "E20"
        assert lab.bridge.translator.queued() == 1
        lab.network.resume()
        late = await lab.user.wait_for("responses", lambda r: r["response_code"] == "I0")
        reads = lab.zigbee_esme.counts["read Ota"]
        await nothing_more_on_the_way(lab)
    assert late["request_id"] == request_id
    assert late["body"]["late"] is True
    assert late["body"]["firmware_version"] == RUNNING
    assert len(lab.user.seen("responses", final(request_id))) == 2  # E21, then the late I0
    assert reads >= 1
    assert lab.bridge.connections == 2


async def test_a_bridge_restarted_while_a_command_waits_delivers_it_once(
    mosquitto_broker: Mosquitto,
) -> None:
    """A command's bus message is acknowledged only when it is answered: a bridge stopped
    while its radio is silent leaves it with the broker, and the next bridge carries it
    (D-ZB5); the device is read once for it and the DSP gets one answer."""
    async with zigbee_lab(mosquitto_broker.url, "auto") as lab:
        since = len(lab.user.got)
        lab.network.stop_answering()
        request_id = lab.user.request("11.2", lab.esme.device_id, {})  # before the hub is offline
        await wait_until(
            lambda: lab.bridge.translator.queued() == 1, 20, "the command queued at the bridge"
        )
        await lab.user.wait_for("status", lambda s: not s["online"], since=since)
        await lab.stop_bridge()
        lab.network.resume()
        lab.start_bridge()
        answer = await lab.user.wait_for("responses", lambda r: r["response_code"] == "I0")
        later = await nothing_more_on_the_way(lab)
    assert answer["request_id"] == request_id
    # the second bridge: the command once, then the later read
    assert [b.hub.counts["uplinks"] for b in lab.bridges] == [0, 2]
    assert [b.hub.counts["commands"] for b in lab.bridges] == [1, 2]
    answered = [
        r["request_id"] for r in lab.user.seen("responses", lambda r: r["response_code"] == "I0")
    ]
    assert answered == [request_id, later]


async def test_11_4_distributes_and_activates_a_zigbee_ppmid_in_one_step(
    embedded_broker: EmbeddedBroker,
) -> None:
    """R10: a PPMID is served its image with UpgradeTime now; the receipt carries the
    version it then runs, and the DSP takes it as a report (R5, D10): the SMI follows."""
    async with zigbee_lab(embedded_broker.url, "3.1.1") as lab:
        ppmid = next(d for d in lab.build.seed.devices if d.device_type is DeviceType.PPMID)
        image = lab.build.images[("CHAMELEON", "IHD-6", "03000002")]
        body = {
            "firmware_image": base64.b64encode(image.to_bytes()).decode(),
            "firmware_version": "03000002",
            "device_ids": [ppmid.device_id],
        }
        lab.user.request("11.4", DCC, body, variant=8)
        receipt = await lab.user.wait_for("alerts", alert("FirmwareReceipt"))
        await wait_until(
            lambda: lab.bridge.translator.queued() == 0, 20, "the bridge's queue empty"
        )
    assert receipt["body"]["hash_matches"] is True
    assert receipt["body"]["firmware_version"] == "03000002"
    device = lab.network.device(bytes.fromhex(to_compact(ppmid.device_id)))
    record = next(d for d in await lab.store.devices() if d.device_id == ppmid.device_id)
    assert record.firmware_version == device.model.running_version.hex().upper() == "03000002"


async def test_the_same_story_step_on_mosquitto(mosquitto_broker: Mosquitto) -> None:
    """The bridge on an MQTT 5 broker: an 11.2 round trip to the ZigBee ESME."""
    async with zigbee_lab(mosquitto_broker.url, "auto") as lab:
        request_id = lab.user.request("11.2", lab.esme.device_id, {})
        answer = await lab.user.wait_for("responses", final(request_id))
    assert answer["response_code"] == "I0"
    assert answer["body"]["firmware_version"] == RUNNING
    assert base64.b64decode(answer["body"]["gbcs_payload"])[0] == 0xDD  # General Ciphering

"""One premises behind the simulated serial rig (a real pty, docs/rig-link.md) and the
DSP, on a real broker (DESIGN §1, §3, §7; issue 6): an SR 11.2 round trip to the rig's
ESME checked in the SMI (R5, MP105), the cable pulled during a firmware download (R9)
with the receipt arriving once, a hung rig and garbage on the line (E21, then the late
response, R8), a request while the hub is offline (E20 at once, D-E1), power control and
the status topic."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.serial_bridge import BridgeConfig, SerialBridge, bridge_link
from bridge.serial_link import PortSettings
from bridge.session import SessionConfig
from bridge.simulators.rig import RigSimulator
from bus.adapter import MqttAdapter
from bus.backoff import Backoff
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting, ScaledClock
from contract.ids import to_duis
from contract.topics import Topics
from contract.vocabulary import Device, DeviceType, SmiStatus
from dsp_core.core import DspCore
from dsp_core.driver import CoreDriver
from dsp_core.keys import secured
from dsp_core.model import JournalKind
from dsp_core.service import DspService, dsp_link
from dsp_core.store import MemoryStore
from dsp_core.turn import CoreConfig
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
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
SPEC = FleetSpec.model_validate(
    {
        "seed": 21,
        "templates": [
            {
                "name": "rig",
                "count": 1,
                "devices": [
                    {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
                    {
                        "type": "ESME",
                        "model": "E470",
                        "firmware_versions": ["0123ABCD"],
                        "upgrade_versions": ["0123ABCE"],
                        "image_size": 3000,  # two GBCS_DOWN frames
                        "ota_block_size": 100,
                        "ota_block_seconds": 0.5,  # 15 s of device time: 1.5 s here
                    },
                ],
            }
        ],
    }
)
# link time-outs short enough for a test; device time runs SCALE times faster
FAST = SessionConfig(
    window=8, retransmit_after=0.2, max_retries=3, heartbeat_every=0.2, silence_limit=1.0
)
CORE = CoreConfig(response_timeout=timedelta(seconds=15))  # 1.5 s here
SLOW = CoreConfig(response_timeout=timedelta(hours=1))  # no E21 before an E20 (D-E1)


@dataclass
class Lab:
    build: FleetBuild
    store: MemoryStore
    rig: RigSimulator
    user: ServiceUserClient  # the supplier: responses, alerts, the hub's status
    topics: Topics
    url: str
    version: str
    tasks: asyncio.TaskGroup
    bridge_stop: asyncio.Event = field(default_factory=asyncio.Event)
    bridge_task: asyncio.Task[None] | None = None
    _bridge: SerialBridge | None = None

    @property
    def bridge(self) -> SerialBridge:
        assert self._bridge is not None
        return self._bridge

    def device(self, device_type: DeviceType) -> Device:
        return next(d for d in self.build.seed.devices if d.device_type is device_type)

    def start_bridge(self) -> None:
        """The bridge process: its own MQTT connection (a persistent session) and port."""
        self.bridge_stop = asyncio.Event()
        link = bridge_link(self.url, self.topics, self.rig.ch_id, "t-serial-bridge", self.version)
        port = PortSettings(self.rig.path, backoff=Backoff(initial=0.05, cap=0.3))
        self._bridge = SerialBridge(
            BridgeConfig(self.rig.ch_id, port, FAST), MqttAdapter(link), self.topics
        )
        self.bridge_task = self.tasks.create_task(self._run_bridge(self._bridge, self.bridge_stop))

    def stop_bridge_soon(self) -> None:
        self.bridge_stop.set()

    async def stop_bridge(self) -> None:
        """As SIGTERM would: the port closed, the bus drained, the MQTT session kept."""
        self.bridge_stop.set()
        assert self.bridge_task is not None
        await self.bridge_task

    @staticmethod
    async def _run_bridge(bridge: SerialBridge, stop: asyncio.Event) -> None:
        async with bridge.hub.bus:
            await bridge.hub.bus.wait_connected()
            await bridge.run(stop)


@asynccontextmanager
async def rig_lab(
    url: str,
    version: str,
    tmp_path: Path,
    esme_status: SmiStatus = SmiStatus.COMMISSIONED,
    *,
    tcp: bool = False,
    core: CoreConfig = CORE,
    spec: FleetSpec = SPEC,
) -> AsyncIterator[Lab]:
    build = build_fleet(spec)
    store = await seeded_store(build, esme_status)
    setting = ClockSetting.starting_now(T0, SCALE, time.time())
    topics = Topics()
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        dsp_config = dsp_link(url, topics, "t-serial-dsp", version)
        dsp_bus = await enter(connected(MqttAdapter(dsp_config)))
        dsp_bus.publish(topics.clock, setting.to_json(), retain=True)
        driver = CoreDriver(DspCore(secured(core, build.keys)), store)
        dsp = DspService(driver, dsp_bus, topics, ScaledClock(setting))
        where = {"listen": ("127.0.0.1", 0)} if tcp else {"link": tmp_path / "rig"}
        rig = RigSimulator(build, ScaledClock(setting), session=FAST, **where)
        await enter(rig)
        supplier = build.seed.users[0].user_id
        link = user_link(
            url, topics, supplier, rig.ch_id, client_id="t-serial-user", version=version
        )
        signer = None if build.keys is None else KeyStoreSigner(build.keys)
        user_bus = await enter(connected(MqttAdapter(link)))
        user = ServiceUserClient(user_bus, supplier, topics, signer=signer)
        stop = asyncio.Event()
        tasks = await enter(asyncio.TaskGroup())
        stack.callback(stop.set)
        lab = Lab(build, store, rig, user, topics, url, version, tasks)
        stack.callback(lab.stop_bridge_soon)
        tasks.create_task(dsp.run(stop))
        collector = tasks.create_task(user.collect())
        stack.callback(collector.cancel)
        lab.start_bridge()
        await lab.user.wait_for("status", lambda s: s["online"])
        yield lab


async def seeded_store(build: FleetBuild, esme_status: SmiStatus) -> MemoryStore:
    devices = [
        replace(d, status=esme_status, status_before_suspension=SmiStatus.COMMISSIONED)
        if d.device_type is DeviceType.ESME and esme_status is SmiStatus.SUSPENDED
        else d
        for d in build.seed.devices
    ]
    store = MemoryStore()
    seed = build.seed
    await store.seed(
        devices=devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
    )
    return store


async def nothing_more_on_the_way(lab: Lab) -> None:
    """An SR 11.2 to the ESME, answered I0: whatever an earlier request still had on its
    way (a command the broker or the bridge sent again, a response or alert the rig sent
    twice) has arrived by then, since the broker's queue for the hub, the rig link (its
    frames are sequenced) and the DSP each keep their order. One more command to the rig."""
    # the hub recorded online, else the DSP answers E20 and sends nothing
    await hub_recorded(lab.store, lab.rig.ch_id, online=True)
    read = lab.user.request("11.2", lab.device(DeviceType.ESME).device_id, {})
    answer = await lab.user.wait_for("responses", final(read))
    assert answer["response_code"] == "I0", answer


async def port_missed(caplog: pytest.LogCaptureFixture) -> None:
    """Until the bridge has tried to open the rig's port and failed (its first failure is
    logged; no status or counter tells it)."""
    caplog.set_level(logging.WARNING, logger="bridge.serial_link")
    await wait_until(
        lambda: any("cannot be opened" in r.getMessage() for r in caplog.records),
        15,
        "the bridge's attempt to open the missing port",
    )


async def smi(store: MemoryStore, device_id: str) -> Device:
    return next(d for d in await store.devices() if d.device_id == device_id)


async def read_and_restore(lab: Lab) -> None:
    esme = lab.device(DeviceType.ESME)
    assert (await smi(lab.store, esme.device_id)).status is SmiStatus.SUSPENDED
    request_id = lab.user.request("11.2", esme.device_id, {})
    answer = await lab.user.wait_for("responses", final(request_id))
    assert answer["response_code"] == "I0"
    assert answer["body"]["firmware_version"] == "0123ABCD"
    assert base64.b64decode(answer["body"]["gbcs_payload"])[0] == 0xDD  # the device's bytes
    await lab.user.wait_for("alerts", lambda a: a["alert_code"] == "N29")
    record = await smi(lab.store, esme.device_id)
    assert (record.status, record.firmware_version) == (SmiStatus.COMMISSIONED, "0123ABCD")
    assert lab.rig.counts["commands"] == 1
    assert lab.bridge.hub.counts["uplinks"] == 1


async def test_an_11_2_round_trip_to_the_rigs_esme_restores_it_in_the_smi(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """MP105 through the serial rig: 11.2 to a Suspended ESME on a Current version
    restores it (R3, R5) and the supplier gets N29."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path, SmiStatus.SUSPENDED) as lab:
        await read_and_restore(lab)


async def test_the_same_on_mosquitto(mosquitto_broker: Mosquitto, tmp_path: Path) -> None:
    async with rig_lab(mosquitto_broker.url, "auto", tmp_path, SmiStatus.SUSPENDED) as lab:
        await read_and_restore(lab)


async def test_the_rig_carries_protected_bytes_unchanged(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """docs/security.md D-SEC18: with `security: true` the DSP MACs the 11.2 command, the
    rig's ESME (the emulated PKI of the fleet's seed) checks it and MACs its response,
    and the serial bridge carries both unchanged: the response's MAC verifies."""
    spec = SPEC.model_copy(update={"security": True})
    async with rig_lab(
        embedded_broker.url, "3.1.1", tmp_path, SmiStatus.SUSPENDED, spec=spec
    ) as lab:
        await read_and_restore(lab)
        keys = lab.build.keys
        assert keys is not None
        messages = device_messages(lab.store)
    assert messages
    for data in messages:
        assert [(p.kind, p.valid) for p in protections(data, keys)] == [("mac", True)]


async def test_the_cable_pulled_during_a_firmware_download_loses_and_repeats_nothing(
    embedded_broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """R9 across a disconnection: the rig is unplugged as the ESME starts its download,
    the receipt is made while the bridge is away, and arrives once when the bridge has
    opened the port again by itself."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path) as lab:
        esme = lab.device(DeviceType.ESME)
        image = upgrade_image(lab)
        body = {
            "firmware_image": base64.b64encode(image).decode(),
            "firmware_version": "0123ABCE",
            "device_ids": [esme.device_id],
        }
        events = lab.rig.journal.events
        lab.rig.drop_acks(2)  # the image reaches the rig; the bridge does not know it
        lab.user.request("11.1", DCC, body, variant=8)
        await wait_until(lambda: events["download_started"] == 1, 15, "the rig's download")
        lab.rig.unplug()
        await lab.user.wait_for("status", lambda s: not s["online"] and s["link"] == "closed")
        await wait_until(lambda: events["download_complete"] == 1, 15, "the download's end")
        assert lab.user.seen("alerts", lambda a: a["alert_code"] == "FirmwareReceipt") == []
        await port_missed(caplog)  # the bridge tries the missing port, backing off
        lab.rig.plug()
        receipt = await lab.user.wait_for("alerts", lambda a: a["alert_code"] == "FirmwareReceipt")
        await nothing_more_on_the_way(lab)  # a duplicate receipt would have come before
    assert receipt["body"]["hash_matches"] is True
    assert len(lab.user.seen("alerts", lambda a: a["alert_code"] == "FirmwareReceipt")) == 1
    journal = [e async for e in lab.store.journal()]
    assert [e for e in journal if e.kind is JournalKind.DUPLICATE] == []
    assert lab.rig.journal.events["download_started"] == 1  # the image went down once
    assert lab.rig.session.stats.duplicates >= 1  # ... though it was sent twice
    assert lab.bridge.link.connections == 2
    statuses = [s["online"] for s in lab.user.seen("status", lambda s: True)]
    assert statuses.count(True) >= 2
    assert False in statuses


async def test_a_hung_rig_ends_in_e21_and_the_late_response_arrives_once_it_is_back(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A rig that stops answering, with garbage on the line, a command on its way: the
    bridge reports the hub offline, the DSP answers the request in flight E21 (R8, D-E1),
    the command waits at the bridge (unacknowledged on the bus) and reaches the device
    once the rig answers again; its response is then processed late, once (D10)."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path) as lab:
        esme = lab.device(DeviceType.ESME)
        lab.rig.garbage(b"\x13\x37 noise \xff" * 10 + b"\x00")
        lab.rig.stop_answering()
        request_id = lab.user.request("11.2", esme.device_id, {})
        session = lab.bridge.session
        await wait_until(lambda: session.pending == 1, 15, "the command sent")  # hub still online
        await lab.user.wait_for("status", lambda s: not s["online"] and s["link"] == "syncing")
        await lab.user.wait_for("responses", lambda r: r["response_code"] == "E21")
        assert lab.rig.counts["commands"] == 0
        assert lab.bridge.session.pending == 1
        lab.rig.resume()
        late = await lab.user.wait_for("responses", lambda r: r["response_code"] == "I0")
        await nothing_more_on_the_way(lab)
    assert late["request_id"] == request_id
    assert late["body"]["late"] is True
    assert len(lab.user.seen("responses", final(request_id))) == 2  # E21, then the late I0
    assert lab.rig.counts["commands"] == 2  # the command once, then the later read
    assert lab.bridge.session.stats.bad_frames.total() > 0  # the garbage, resynchronised
    assert lab.bridge.link.connections == 1  # the port never closed


async def offline_then_back(lab: Lab) -> None:
    """The cable pulled: the DSP records the hub offline from the bridge's status, and an
    11.2 gets E20 at once (DESIGN §3; the response time-out is an hour here, so an E21
    could not come first, R8) with nothing sent to the hub; plugged in again, 11.2 gets
    I0 from the device."""
    esme = lab.device(DeviceType.ESME).device_id
    lab.rig.unplug()
    await lab.user.wait_for("status", lambda s: not s["online"] and s["link"] == "closed")
    await hub_recorded(lab.store, lab.rig.ch_id, online=False)
    refused = lab.user.request("11.2", esme, {})
    answer = await lab.user.wait_for("responses", final(refused))
    assert answer["response_code"] == "E20"
    assert answer["body"]["ch_id"] == to_duis(lab.rig.ch_id)
    assert "offline" in answer["body"]["reason"]
    lab.rig.plug()
    await hub_recorded(lab.store, lab.rig.ch_id, online=True)
    read = lab.user.request("11.2", esme, {})
    again = await lab.user.wait_for("responses", final(read))
    assert (again["response_code"], again["body"]["firmware_version"]) == ("I0", "0123ABCD")
    assert [r["response_code"] for r in lab.user.seen("responses", final(refused))] == ["E20"]
    assert lab.rig.counts["commands"] == 1  # the refused request sent nothing
    journal = [e async for e in lab.store.journal()]
    hub = [e.code for e in journal if e.kind is JournalKind.HUB_STATUS]
    assert "offline" in hub
    assert hub[-1] == "online"
    assert [e for e in journal if e.kind is JournalKind.COMMAND and e.request_id == refused] == []


async def test_an_11_2_behind_an_offline_hub_is_e20_at_once_and_i0_once_it_is_back(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path, core=SLOW) as lab:
        await offline_then_back(lab)


async def test_e20_on_mosquitto_with_shared_subscriptions(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    """The same on MQTT 5, where the DSP's requests are a shared subscription and the
    hubs' statuses are not (D-E1)."""
    async with rig_lab(mosquitto_broker.url, "auto", tmp_path, core=SLOW) as lab:
        await offline_then_back(lab)


async def test_a_bridge_restarted_while_a_command_waits_delivers_it_once(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    """The bus message of a command is acknowledged only when the rig has it: a bridge
    stopped while the rig is hung leaves it with the broker, and the next bridge takes
    it (a new boot ID: the rig numbers from 0 again) and delivers it once."""
    async with rig_lab(mosquitto_broker.url, "auto", tmp_path) as lab:
        esme = lab.device(DeviceType.ESME)
        lab.rig.stop_answering()
        request_id = lab.user.request("11.2", esme.device_id, {})
        await wait_until(lambda: lab.bridge.session.pending == 1, 15, "the command sent")
        await lab.stop_bridge()
        lab.rig.resume()
        lab.start_bridge()
        answer = await lab.user.wait_for("responses", lambda r: r["response_code"] == "I0")
        await nothing_more_on_the_way(lab)
    assert answer["request_id"] == request_id
    assert lab.rig.counts["commands"] == 2  # the command once, then the later read
    assert lab.rig.session.stats.peer_restarts == 1


async def test_a_rig_reboot_with_a_command_queued_delivers_it_once(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The rig hangs with a command on its way, then reboots: the bridge sees the new
    boot ID, numbers from 0 again, sends the command again whole, and the rig's fresh
    STATUS brings the hub back online."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path) as lab:
        esme = lab.device(DeviceType.ESME)
        lab.rig.stop_answering()
        request_id = lab.user.request("11.2", esme.device_id, {})
        await wait_until(lambda: lab.bridge.session.pending == 1, 15, "the command sent")
        lab.rig.restart()
        lab.rig.resume()
        answer = await lab.user.wait_for("responses", lambda r: r["response_code"] == "I0")
        await wait_until(lambda: lab.bridge.hub.status.online, 15, "the hub online again")
        await nothing_more_on_the_way(lab)
    assert answer["request_id"] == request_id
    assert lab.rig.counts["commands"] == 2  # the command once, then the later read
    assert lab.bridge.session.stats.peer_restarts == 1
    assert lab.bridge.link.connections == 1


async def test_a_rig_exported_on_tcp_like_ser2net_over_socket_urls(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """DESIGN §7: serialx's `socket://` for a lab port exported by ser2net; the network
    drops the connection between two reads and the bridge connects again by itself."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path, tcp=True) as lab:
        assert lab.rig.path.startswith("socket://127.0.0.1:")
        esme = lab.device(DeviceType.ESME).device_id
        first = lab.user.request("11.2", esme, {})
        await lab.user.wait_for("responses", final(first))
        lab.rig.drop_connection()
        await wait_until(
            lambda: lab.bridge.link.connections == 2 and lab.bridge.hub.status.online,
            15,
            "the bridge connected again, the hub online",
        )
        second = lab.user.request("11.2", esme, {})
        answers = [await lab.user.wait_for("responses", final(r)) for r in (first, second)]
    assert [a["response_code"] for a in answers] == ["I0", "I0"]
    assert lab.rig.counts["commands"] == 2


async def test_power_control_and_the_status_topic(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path) as lab:
        status = lab.user.seen("status", lambda s: s["online"])[-1]
        ids = {d.device_id.replace("-", "") for d in lab.build.seed.devices}
        assert {d["device_id"] for d in status["devices"]} == ids
        assert status["hub"] == "online"
        esme = lab.device(DeviceType.ESME).device_id
        topic = lab.topics.ch_power(lab.rig.ch_id)
        lab.user.bus.publish(topic, json.dumps({"device_id": esme, "action": "cycle"}).encode())
        await wait_until(lambda: lab.rig.journal.events["power_cycled"] == 1, 15, "a power cycle")
        lab.rig.set_hub_online(False)
        await lab.user.wait_for("status", lambda s: s["hub"] == "offline" and not s["online"])
        lab.user.bus.publish(topic, b'{"device_id": "nobody"}')
        await wait_until(lambda: lab.bridge.hub.counts["refused"] == 1, 15, "the request refused")


async def test_a_power_request_nested_thousands_deep_is_refused_and_the_bridge_serves_on(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Issue 18, finding 3: JSON nested thousands deep on `ch/<id>/power` raised
    RecursionError out of the bridge; now one refusal, and the next request is carried."""
    async with rig_lab(embedded_broker.url, "3.1.1", tmp_path) as lab:
        await lab.user.wait_for("status", lambda s: s["online"])
        topic = lab.topics.ch_power(lab.rig.ch_id)
        lab.user.bus.publish(topic, b"[" * 100_000 + b"]" * 100_000)
        await wait_until(lambda: lab.bridge.hub.counts["refused"] == 1, 15, "the request refused")
        esme = lab.device(DeviceType.ESME).device_id
        lab.user.bus.publish(topic, json.dumps({"device_id": esme, "action": "cycle"}).encode())
        await wait_until(lambda: lab.rig.journal.events["power_cycled"] == 1, 15, "a power cycle")


def upgrade_image(lab: Lab) -> bytes:
    return next(
        image.to_bytes()
        for (_, model, version), image in lab.build.images.items()
        if (model, version) == ("E470", "0123ABCE")
    )

"""GBCS security end to end over a real broker (docs/security.md D-SEC11 to D-SEC19): a
fleet with `security: true` and the DSP as Access Control Broker. An SR 11.2 round trip
is answered and the device's response carries a valid MAC; a command with a bad MAC put
on a hub's down topic is refused, journalled by the fleet with the device and reason,
and answered with a signed 0x8F53 alert that reaches the DSP (DESIGN §3, R11)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import gbcs
from bus.clock import ClockSetting
from contract.ids import to_bytes, to_compact
from contract.requests import Srv
from contract.requests import build as build_request
from contract.vocabulary import DeviceType
from dsp_core.store import MemoryStore
from emulators.actions import EventKind
from emulators.fleet import build_fleet
from emulators.journal import FleetJournal
from gbcs import DeviceAlert, GbcsHeader, GbcsMessage, GeneralCiphering, MessageCode
from gbcs.security import protections
from hil.lab.stack import Stack, StackConfig, seed_store
from tests.support.brokers import Mosquitto
from tests.support.fleets import TWO_ESMES
from tests.support.journal import device_messages
from tests.support.service_user import receive_until
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
SECURED = TWO_ESMES.model_copy(update={"security": True})


async def test_a_secured_lab_reads_firmware_and_refuses_a_bad_mac(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    build = build_fleet(SECURED)
    assert build.keys is not None
    keys = build.keys
    store = MemoryStore()
    await seed_store(store, build.seed)
    config = StackConfig(mosquitto_broker.url, ClockSetting.starting_now(T0, 10.0, time.time()))
    journal_file = tmp_path / "fleet.jsonl"
    journal = FleetJournal(journal_file)
    esme = next(d for d in build.seed.devices if d.device_type is DeviceType.ESME)
    async with Stack(config, build, store, journal) as stack:
        user_id = build.seed.users[0].user_id
        user = await stack.user_bus(user_id)
        request = build_request(user_id, Srv.READ_FIRMWARE, esme.device_id, 1, {})
        user.publish(config.topics.request(to_compact(user_id)), request.to_bytes())
        got = await receive_until(user, "/responses", lambda g: len(g) == 2, timeout=15)
        assert [r["response_code"] for r in got] == ["I99", "I0"]
        assert got[1]["body"]["firmware_version"] == "0123ABCD"

        bad = _badly_macd_read(esme.device_id, user_id)
        user.publish(config.topics.ch_down(to_compact(esme.comms_hub_id)), bad)
        await wait_until(
            lambda: journal.events[EventKind.AUTHENTICATION_FAILED] == 1,
            10,
            "the fleet to refuse the badly MACed command",
        )
        await wait_until(
            lambda: len(device_messages(store)) >= 2, 10, "the DSP to receive the alert"
        )
    journal.close()

    response, alert = device_messages(store)
    assert [(p.kind, p.valid) for p in protections(response, keys)] == [("mac", True)]
    message = gbcs.decode(alert)
    assert isinstance(message.payload, DeviceAlert)
    assert message.payload.alert_code == gbcs.SecurityAlertCode.AUTHENTICATION_FAILED
    assert [(p.kind, p.valid) for p in protections(alert, keys)] == [("signature", True)]
    lines = [json.loads(line) for line in journal_file.read_text().splitlines()]
    refused = [line for line in lines if line["kind"] == "authentication_failed"]
    assert len(refused) == 1
    assert refused[0]["device_id"] == to_compact(esme.device_id)
    assert "MAC" in refused[0]["detail"]


def _badly_macd_read(device_id: str, user_id: str) -> bytes:
    """An ECS52 as the DSP would send it, but with a MAC of zeros."""
    header = GbcsHeader(
        gbcs.CraFlag.COMMAND,
        0x0000_0001_0000_0000,
        to_bytes(user_id),
        to_bytes(device_id),
        None,
        MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION,
    )
    payload = gbcs.ReadEsmeFirmwareVersionCommand(0x20000001)
    return gbcs.encode(GbcsMessage(header, payload, b"", GeneralCiphering(mac=bytes(12))))

"""The service user's side of GBCS security over a real broker (D-SEC21..D-SEC23): a DSP
whose fleet's security is on answers an 11.3 CV 4 with a pre-command; the client signs
it with the supplier's key from the lab's key store and the CV 5 goes through; a
tampered signed pre-command is refused S6, one signed by another key S7."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from bus.adapter import MqttAdapter
from bus.broker import EmbeddedBroker
from bus.clock import ClockSetting
from contract.ids import to_compact
from contract.requests import Srv, activate_body, build, signed_pre_command_request
from contract.vocabulary import DeviceType
from dsp_core.store import MemoryStore
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.security import KeyUse
from hil.errors import SigningError
from hil.keys import KeyStoreSigner, lab_security
from hil.lab.client import Counters, LabClient, ServiceUser, client_link
from hil.lab.env import load_lab_env
from hil.lab.lab import Lab
from hil.lab.observations import ObservationKind
from hil.lab.stack import Stack, StackConfig, seed_store
from hil.security import Integrity
from tests.support.fleets import TWO_ESMES
from tests.support.paths import ROOT
from tests.support.service_user import receive_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
SECURED = TWO_ESMES.model_copy(update={"security": True})
IMAGE_HASH = "AB" * 32
MQTT = "3.1.1"


@asynccontextmanager
async def secured_lab(url: str) -> AsyncIterator[Stack]:
    build = build_fleet(SECURED)
    assert build.keys is not None
    store = MemoryStore()
    await seed_store(store, build.seed)
    clock = ClockSetting.starting_now(T0, 10.0, time.time())
    config = StackConfig(url, clock, mqtt_version=MQTT)  # amqtt speaks 3.1.1
    async with Stack(config, build, store) as stack:
        yield stack


def _esme(stack: Stack) -> str:
    return next(d.device_id for d in stack.build.seed.devices if d.device_type is DeviceType.ESME)


async def _answers(user: MqttAdapter, request_id: str, count: int) -> list[dict[str, Any]]:
    def done(got: list[dict[str, Any]]) -> bool:
        return len([r for r in got if r["request_id"] == request_id]) >= count

    got = await receive_until(user, "/responses", done, timeout=20)
    return [r for r in got if r["request_id"] == request_id]


async def test_a_signed_pre_command_goes_through_and_bad_ones_are_refused(
    embedded_broker: EmbeddedBroker,
) -> None:
    async with secured_lab(embedded_broker.url) as stack:
        supplier = stack.build.seed.users[0].user_id
        device = _esme(stack)
        user = await stack.user_bus(supplier)
        topic = stack.config.topics.request(to_compact(supplier))
        cv4 = build(supplier, Srv.ACTIVATE_FIRMWARE, device, 7, activate_body(IMAGE_HASH, None))
        user.publish(topic, cv4.to_bytes())
        ack, issued = await _answers(user, cv4.request_id, 2)
        assert (ack["response_code"], issued["response_code"]) == ("I99", "I0")
        assert issued["body"]["device_id"] == device
        pre = base64.b64decode(issued["body"]["pre_command"])

        def cv5(signed: bytes) -> bytes:
            request = signed_pre_command_request(supplier, Srv.ACTIVATE_FIRMWARE, device, 7, signed)
            return request.to_bytes()

        stranger = KeyStoreSigner(DerivedKeyStore(SECURED.seed + 1)).sign(pre, supplier)
        user.publish(topic, cv5(stranger))
        ack, wrong_key = await _answers(user, cv4.request_id, 2)  # I99, then the check's
        assert (ack["response_code"], wrong_key["response_code"]) == ("I99", "S7")

        signer, _ = lab_security(DerivedKeyStore(SECURED.seed))  # the lab's keys, rederived
        assert signer is not None
        signed = signer.sign(pre, supplier)
        tampered = bytearray(signed)
        tampered[len(pre) // 2] ^= 0x01
        user.publish(topic, cv5(bytes(tampered)))
        _, mismatch = await _answers(user, cv4.request_id, 2)
        assert mismatch["response_code"] == "S6"
        assert "differs from the pre-command issued" in mismatch["body"]["reason"]

        user.publish(topic, cv5(signed))  # the refusals left the pre-command waiting
        ack, final = await _answers(user, cv4.request_id, 2)
        assert ack["response_code"] == "I99"
        assert final["response_code"] == "I0", final  # the device's CS06 answer
        assert final["body"]["gbcs_payload"]


async def test_the_lab_client_signs_a_critical_request_and_judges_the_answer(
    embedded_broker: EmbeddedBroker,
) -> None:
    async with secured_lab(embedded_broker.url) as stack:
        supplier = stack.build.seed.users[0].user_id
        device = _esme(stack)
        topics = stack.config.topics
        link = client_link(embedded_broker.url, topics, (supplier,), "signing-client", MQTT)
        security = lab_security(stack.build.keys)
        counters = Counters(100)
        async with LabClient(link, topics, stack.clock(), counters, security) as client:
            user = ServiceUser(client, supplier)
            request_id = user.send(Srv.ACTIVATE_FIRMWARE, device, activate_body(IMAGE_HASH, None))
            answer = await user.response(request_id, within=600)
            kinds = [o.kind for o in client.received if o.content.get("request_id") == request_id]
        assert ObservationKind.PRE_COMMAND in kinds
        assert "pre_command" not in answer["body"]
        assert answer["response_code"] not in {"S5", "S6", "S7"}, answer
        verdicts = user.verdicts(request_id)
        assert len(verdicts) == (1 if "gbcs_payload" in answer["body"] else 0)
        # the device signed its CS06 response with the key the client knows (D-SEC15)
        assert all(v.integrity is Integrity.VALID for v in verdicts), verdicts


async def test_a_pre_command_the_client_cannot_sign_is_an_error_not_an_answer(
    embedded_broker: EmbeddedBroker,
) -> None:
    async with secured_lab(embedded_broker.url) as stack:
        supplier = stack.build.seed.users[0].user_id
        topics = stack.config.topics
        link = client_link(embedded_broker.url, topics, (supplier,), "keyless-client", MQTT)
        keyless = (KeyStoreSigner(KeyStore()), None)  # no key of the supplier's
        async with LabClient(link, topics, stack.clock(), Counters(200), keyless) as client:
            user = ServiceUser(client, supplier)
            body = activate_body(IMAGE_HASH, None)
            request_id = user.send(Srv.ACTIVATE_FIRMWARE, _esme(stack), body)
            with pytest.raises(SigningError, match=f"request {request_id}: cannot sign"):
                await user.response(request_id, within=600)


async def test_a_request_answered_without_a_pre_command_is_no_longer_waited_on(
    embedded_broker: EmbeddedBroker,
) -> None:
    """An 11.3 to a device the DSP does not know is refused (E19) before any pre-command:
    the client forgets it, and the answer is the final response as ever."""
    async with secured_lab(embedded_broker.url) as stack:
        supplier = stack.build.seed.users[0].user_id
        topics = stack.config.topics
        link = client_link(embedded_broker.url, topics, (supplier,), "forgetting-client", MQTT)
        security = lab_security(stack.build.keys)
        async with LabClient(link, topics, stack.clock(), Counters(300), security) as client:
            user = ServiceUser(client, supplier)
            body = activate_body(IMAGE_HASH, None)
            request_id = user.send(Srv.ACTIVATE_FIRMWARE, "00-DB-FF-FF-FF-FF-FF-01", body)
            answer = await user.response(request_id, within=600)
            assert answer["response_code"] == "E19"
            assert request_id not in client._to_sign


async def test_the_env_file_s_certificates_come_first_in_the_lab_s_keys(tmp_path: Path) -> None:
    """A physical device's certificate named in `certificates:` is the one the lab's
    clients verify with, and the one its DSP MACs for, not the key derived from the seed."""
    fleet = tmp_path / "fleet.yaml"
    data = yaml.safe_load((ROOT / "configs" / "lab-fleet.yaml").read_text())
    fleet.write_text(yaml.safe_dump({**data, "security": True}))
    spec, plan = load_fleet_spec(fleet)
    device = next(d for d in build_fleet(spec, plan).seed.devices if d.device_type == "ESME")
    elsewhere = DerivedKeyStore(999)  # "the meter's own" keys, not the lab's
    entity = bytes.fromhex(device.device_id.replace("-", ""))
    for use in KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT:
        pem = elsewhere.certificate(entity, use).public_bytes(serialization.Encoding.PEM)
        (tmp_path / f"meter-{use}.pem").write_bytes(pem)
    env_file = tmp_path / "lab.yaml"
    env_file.write_text(
        yaml.safe_dump(
            {
                "name": "certs",
                "fleet": "fleet.yaml",
                "store": "memory",
                "certificates": {device.device_id: ["meter-ds.pem", "meter-ka.pem"]},
            }
        )
    )
    async with Lab(load_lab_env(env_file)) as lab:
        keys = lab.keys
        assert keys is not None
        for use in KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT:
            assert keys.public_key(entity, use) == elsewhere.public_key(entity, use)
        assert lab.stack.build.keys is keys  # the DSP's too

"""Critical SRs as DUIS has them (D-SEC8): CV 4 answered with the pre-command, CV 5 with
the user's signature checked against the pre-command issued and sent MACed by the ACB
(D-SEC7); S5 to S8 when it cannot be; the command-variant table (R2's E12)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

import gbcs
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes
from dsp_core.events import Action, SendCommand
from dsp_core.keys import AcbKeys
from dsp_core.model import JournalKind
from dsp_core.srv import SRVS
from dsp_core.tracking import Phase
from dsp_core.turn import CoreConfig
from gbcs.envelope import GENERAL_CIPHERING_TAG
from gbcs.keystore import KeyStore
from gbcs.security import KeyUse, sign, verify_mac, verify_signature
from tests.support.core_bench import (
    ESME,
    GSME,
    NETWORK,
    NEW,
    SUPPLIER,
    CoreBench,
    bench_keys,
    codes,
    commands,
    hash_of,
    only,
    responses,
)

KEYS = bench_keys()
ACB = to_bytes(DCC_ACCESS_CONTROL_BROKER)


def secure_bench(keys: KeyStore = KEYS) -> CoreBench:
    return CoreBench(CoreConfig(security=AcbKeys(keys)))


def final_body(actions: list[Action]) -> dict[str, Any]:
    return dict(responses(actions)[-1].response.body)


def pre_command_of(actions: list[Action]) -> bytes:
    assert codes(actions) == ["I99", "I0"]
    return base64.b64decode(final_body(actions)["pre_command"])


def signed_by(pre: bytes, user: str = SUPPLIER.user_id) -> bytes:
    return sign(pre, KEYS.private_key(to_bytes(user), KeyUse.DIGITAL_SIGNING))


def send_signed(lab: CoreBench, signed: bytes, *, cv: int = 5, **kw: Any) -> list[Action]:
    body = {"signed_pre_command": base64.b64encode(signed).decode()}
    return lab.request("11.3", ESME, body, cv=cv, counter=lab.counter, **kw)


def test_cv4_is_answered_with_the_pre_command_and_nothing_is_sent() -> None:
    lab = secure_bench()
    actions = lab.activate(ESME, NEW)
    pre = pre_command_of(actions)
    message = gbcs.decode(pre)
    assert message.is_precommand
    assert message.header.originator_id == to_bytes(SUPPLIER.user_id)
    assert message.header.recipient_id == to_bytes(ESME.device_id)
    assert message.header.originator_counter == lab.counter
    assert isinstance(message.payload, gbcs.ActivateFirmwareCommand)
    assert message.payload.image_hash.hex().upper() == hash_of(NEW)
    assert commands(actions) == []
    tracked = lab.state.requests[(SUPPLIER.user_id, lab.counter)]
    assert tracked.phase is Phase.AWAITING_SIGNATURE


def test_cv5_with_the_users_signature_is_sent_signed_and_maced_for_the_device() -> None:
    lab = secure_bench()
    signed = signed_by(pre_command_of(lab.activate(ESME, NEW)))
    actions = send_signed(lab, signed)
    assert codes(actions) == ["I99"]
    sent = only(commands(actions)).data
    assert sent[0] == GENERAL_CIPHERING_TAG
    device_ka = KEYS.private_key(to_bytes(ESME.device_id), KeyUse.KEY_AGREEMENT)
    verify_mac(sent, device_ka, KEYS.public_key(ACB, KeyUse.KEY_AGREEMENT))  # as the meter
    supplier_ds = KEYS.public_key(to_bytes(SUPPLIER.user_id), KeyUse.DIGITAL_SIGNING)
    verify_signature(sent, supplier_ds, to_bytes(SUPPLIER.user_id))
    assert signed in sent  # the user's General Signing APDU, unchanged inside
    answered = lab.reply_activate(actions, NEW)
    assert codes(answered) == ["I0"]
    assert lab.smi(ESME).firmware_version == NEW


def test_a_tampered_signed_pre_command_is_refused_s6_and_not_sent() -> None:
    lab = secure_bench()
    pre = bytearray(pre_command_of(lab.activate(ESME, NEW)))
    pre[-3] ^= 0x01  # a byte of the image hash
    actions = send_signed(lab, signed_by(bytes(pre)))  # signed well, but not what was issued
    assert codes(actions) == ["I99", "S6"]
    assert "differs from the pre-command issued at byte" in final_body(actions)["reason"]
    assert commands(actions) == []
    assert any(e.kind is JournalKind.REJECTED for e in lab.journal)


def test_a_signature_by_another_key_is_refused_s7() -> None:
    lab = secure_bench()
    pre = pre_command_of(lab.activate(ESME, NEW))
    actions = send_signed(lab, signed_by(pre, NETWORK.user_id))
    assert codes(actions) == ["I99", "S7"]
    assert SUPPLIER.user_id in final_body(actions)["reason"]
    assert commands(actions) == []
    # the pre-command is still waiting: the right signature goes through after all
    assert codes(send_signed(lab, signed_by(pre))) == ["I99"]


def test_a_flipped_signature_byte_is_refused_s7() -> None:
    lab = secure_bench()
    signed = bytearray(signed_by(pre_command_of(lab.activate(ESME, NEW))))
    signed[-1] ^= 0x80
    assert codes(send_signed(lab, bytes(signed))) == ["I99", "S7"]


def test_a_signed_pre_command_without_its_cv4_is_refused_s5() -> None:
    lab = secure_bench()
    pre = pre_command_of(lab.activate(ESME, NEW))
    lab.counter += 1  # a request ID under which nothing was issued
    actions = send_signed(lab, signed_by(pre))
    assert codes(actions) == ["S5"]
    assert commands(actions) == []


def test_a_signed_pre_command_is_sent_once_then_s5() -> None:
    lab = secure_bench()
    signed = signed_by(pre_command_of(lab.activate(ESME, NEW)))
    assert len(commands(send_signed(lab, signed))) == 1
    again = send_signed(lab, signed)
    assert codes(again) == ["S5"]
    assert commands(again) == []


def test_an_unsigned_pre_command_expires_and_a_late_signature_is_refused() -> None:
    lab = secure_bench()
    signed = signed_by(pre_command_of(lab.activate(ESME, NEW)))
    lab.tick(lab.config.pre_command_validity + timedelta(seconds=1))
    assert any("expired" in str(e.detail.get("reason")) for e in lab.journal)
    actions = send_signed(lab, signed)
    assert codes(actions) == ["S5"]


def test_a_device_response_to_a_pre_command_never_sent_is_not_matched() -> None:
    lab = secure_bench()
    issued = lab.activate(ESME, NEW)
    pre = pre_command_of(issued)
    forged = SendCommand(ESME.comms_hub_id, ESME.device_id, pre)
    outcome = gbcs.ActivateFirmwareOutcome(gbcs.ActivateImageResponseCode(0), bytes.fromhex(NEW))
    actions = lab.deliver(ESME.comms_hub_id, lab.answer(forged, outcome))
    assert responses(actions) == []  # no answer to the user for a command never sent
    tracked = lab.state.requests[(SUPPLIER.user_id, lab.counter)]
    assert tracked.phase is Phase.AWAITING_SIGNATURE


def test_cv6_returns_the_maced_command_for_local_delivery_and_sends_nothing() -> None:
    lab = secure_bench()
    signed = signed_by(pre_command_of(lab.activate(ESME, NEW)))
    actions = send_signed(lab, signed, cv=6)
    assert codes(actions) == ["I99", "I0"]
    command = base64.b64decode(final_body(actions)["command"])
    device_ka = KEYS.private_key(to_bytes(ESME.device_id), KeyUse.KEY_AGREEMENT)
    verify_mac(command, device_ka, KEYS.public_key(ACB, KeyUse.KEY_AGREEMENT))
    assert commands(actions) == []


def test_cv7_is_not_carried() -> None:
    lab = secure_bench()
    signed = signed_by(pre_command_of(lab.activate(ESME, NEW)))
    assert codes(send_signed(lab, signed, cv=7)) == ["I99", "S2"]


def test_non_critical_commands_are_maced_by_the_acb_for_the_device() -> None:
    lab = secure_bench()
    sent = only(commands(lab.read(GSME))).data
    device_ka = KEYS.private_key(to_bytes(GSME.device_id), KeyUse.KEY_AGREEMENT)
    verify_mac(sent, device_ka, KEYS.public_key(ACB, KeyUse.KEY_AGREEMENT))
    assert gbcs.decode(sent).signature == b""  # the empty signature field, as RTDS ECS52


def test_a_command_maced_for_another_device_does_not_verify_there() -> None:
    lab = secure_bench()
    sent = only(commands(lab.read(GSME))).data
    esme_ka = KEYS.private_key(to_bytes(ESME.device_id), KeyUse.KEY_AGREEMENT)
    with pytest.raises(gbcs.GbcsSecurityError):
        verify_mac(sent, esme_ka, KEYS.public_key(ACB, KeyUse.KEY_AGREEMENT))


def test_no_key_for_the_device_is_s8_before_anything_is_sent() -> None:
    lab = secure_bench(bench_keys(without=(ESME.device_id,)))
    actions = lab.read(ESME)
    assert codes(actions) == ["S8"]
    assert ESME.device_id in final_body(actions)["reason"]
    assert commands(actions) == []


def test_security_off_sends_cv4_at_once_unsigned_as_before() -> None:
    lab = CoreBench()
    actions = lab.activate(ESME, NEW)
    assert codes(actions) == ["I99"]
    message = gbcs.decode(only(commands(actions)).data)
    assert message.ciphering is None
    assert message.signature == b""
    assert isinstance(message.payload, gbcs.ActivateFirmwareCommand)


@pytest.mark.parametrize(
    ("srv", "allowed"),
    [("11.3", {4, 5, 6, 7}), ("11.2", {1, 2, 3}), ("11.1", {8}), ("8.2", {8})],
)
def test_the_command_variant_table_is_duis(srv: str, allowed: set[int]) -> None:
    """R2/E12: 1 to 3 Non-Critical, 4 transform and 5 to 7 signed pre-command, 8 non-device."""
    assert SRVS[srv].command_variants == allowed


@pytest.mark.parametrize("cv", [1, 2, 3, 8])
def test_a_critical_srv_under_a_non_critical_variant_is_e12(cv: int) -> None:
    lab = secure_bench()
    actions = lab.activate(ESME, NEW, cv=cv)
    assert codes(actions) == ["E12"]

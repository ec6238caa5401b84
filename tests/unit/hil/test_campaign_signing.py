"""The campaign with the lab's security on (D-SEC21, D-SEC22): an 11.3's CV 4 answered
with a pre-command is signed and sent back as CV 5 under the same request ID; the
request's table (Open -> AwaitingSignature -> Signed -> Done); device messages judged.
Device messages are sealed here with gbcs.security, so the device side is not needed."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from contract.errors import IllegalTransitionError
from contract.requests import SendRequest
from gbcs import CraFlag, GbcsHeader
from gbcs.envelope import write_envelope
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.security import KeyUse, sign, verify_signature
from hil.campaign.report import Recovery
from hil.campaign.tracking import REQUEST_TRANSITIONS, RequestEvent, RequestState
from hil.keys import KeyStoreSigner, KeyStoreVerifier
from tests.support.campaign_bench import (
    NEW,
    USER,
    Bench,
    alert,
    device_ids,
    make_plan,
    outcome,
    response,
)
from tests.support.paths import read_vector

SEED = 20240611
PRE = read_vector("CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND")
DS = KeyUse.DIGITAL_SIGNING


def _id(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


def secured_bench(keys: KeyStore | None = None, count: int = 1) -> tuple[Bench, tuple[str, ...]]:
    keys = keys or DerivedKeyStore(SEED)
    ids = device_ids(count)
    bench = Bench(make_plan(ids), signer=KeyStoreSigner(keys), verifier=KeyStoreVerifier(keys))
    return bench, ids


def pre_command(device_id: str) -> dict[str, Any]:
    return {
        "pre_command": base64.b64encode(PRE).decode(),
        "device_id": device_id,
        "expires": "2031-01-01T10:00:00Z",
    }


def sealed_outcome(device_id: str, keys: KeyStore, *, signer: KeyStore | None = None) -> bytes:
    """A device's CS06 response signed with its digital-signing key (the device side)."""
    header = GbcsHeader(CraFlag.RESPONSE, 101, _id(device_id), _id(USER), None, 0x00CA)
    message = write_envelope(header, b"\x00", None, None)
    return sign(message, (signer or keys).private_key(_id(device_id), DS))


def signed_answer(device_id: str, data: bytes) -> dict[str, Any]:
    return {**outcome(NEW), "gbcs_payload": base64.b64encode(data).decode()}


def activate_and_sign(bench: Bench, device_id: str) -> tuple[SendRequest, SendRequest]:
    activation = bench.distribute_all()[device_id]
    bench.respond(response(activation, "I99"))
    (cv5,) = bench.respond(response(activation, "I0", pre_command(device_id)))
    return activation, cv5


def test_a_pre_command_is_signed_and_sent_back_as_cv_5_under_the_same_request_id() -> None:
    bench, (device,) = secured_bench()
    activation, cv5 = activate_and_sign(bench, device)
    assert activation.payload["command_variant"] == 4
    assert cv5.request_id == activation.request_id
    assert cv5.payload["command_variant"] == 5
    signed = base64.b64decode(cv5.payload["body"]["signed_pre_command"])
    assert signed[: len(PRE)] == PRE
    verify_signature(signed, DerivedKeyStore(SEED).public_key(_id(USER), DS), _id(USER))
    assert bench.model._state.requests[activation.request_id].state is RequestState.SIGNED


def test_the_device_answer_to_the_cv_5_settles_the_device_and_is_judged_valid() -> None:
    keys = DerivedKeyStore(SEED)
    bench, (device,) = secured_bench(keys)
    activation, _ = activate_and_sign(bench, device)
    bench.respond(response(activation, "I99"))
    bench.respond(response(activation, "I0", signed_answer(device, sealed_outcome(device, keys))))
    for _ in range(2):
        bench.answer_inventory()
    report = bench.model.report()
    assert report.device(device).recovery is Recovery.FIRST_TRY
    assert report.security is not None
    assert report.security.pre_commands_signed == 1
    assert report.security.messages_valid == 1
    assert report.security.messages_invalid == 0
    assert report.to_json()["security"]["not_valid"] == []


def test_a_device_answer_signed_by_another_key_counts_as_invalid() -> None:
    keys = DerivedKeyStore(SEED)
    bench, (device,) = secured_bench(keys)
    activation, _ = activate_and_sign(bench, device)
    forged = sealed_outcome(device, keys, signer=DerivedKeyStore(SEED + 1))
    bench.respond(response(activation, "I0", signed_answer(device, forged)))
    security = bench.model.report().security
    assert security is not None
    assert security.messages_invalid == 1
    (verdict,) = security.not_valid
    assert verdict.device_id == device
    assert verdict.what == f"response {activation.request_id}"


def test_without_the_user_s_key_the_activation_ends_unsigned() -> None:
    bench, (device,) = secured_bench(KeyStore())  # an empty store: nothing to sign with
    activation = bench.distribute_all()[device]
    sends = bench.respond(response(activation, "I0", pre_command(device)))
    assert [r.srv for r in sends] == ["8.2"]  # settled (failed): on to the inventory
    report = bench.model.report()
    assert "unsigned" in report.device(device).error_codes
    assert [u.kind for u in report.unexpected] == ["signature"]
    assert bench.model._state.requests[activation.request_id].state is RequestState.DONE


def test_a_pre_command_to_a_campaign_with_security_off_is_refused_not_signed() -> None:
    ids = device_ids(1)
    bench = Bench(make_plan(ids))
    activation = bench.distribute_all()[ids[0]]
    sends = bench.respond(response(activation, "I0", pre_command(ids[0])))
    assert [r.payload["command_variant"] for r in sends] == [8]  # no CV 5: the 8.2
    assert "no signing key" in bench.model.report().unexpected[0].reason
    assert bench.model.report().security is None
    assert "security" not in bench.model.report().to_json()


def test_security_off_judges_nothing_and_reports_as_before() -> None:
    ids = device_ids(1)
    bench = Bench(make_plan(ids))
    activation = bench.distribute_all()[ids[0]]
    bench.respond(response(activation, "I0", outcome(NEW)))
    assert bench.model.report().security is None


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (RequestState.OPEN, RequestEvent.PRE_COMMAND, RequestState.AWAITING_SIGNATURE),
        (RequestState.AWAITING_SIGNATURE, RequestEvent.SIGNED, RequestState.SIGNED),
        (RequestState.AWAITING_SIGNATURE, RequestEvent.ANSWERED, RequestState.DONE),
        (RequestState.SIGNED, RequestEvent.ANSWERED, RequestState.DONE),
        (RequestState.SIGNED, RequestEvent.ACCEPTED, RequestState.SCHEDULED),
        (RequestState.SIGNED, RequestEvent.NO_RESPONSE, RequestState.TIMED_OUT),
        (RequestState.SIGNED, RequestEvent.EXPIRED, RequestState.TIMED_OUT),
        (RequestState.SIGNED, RequestEvent.EXECUTED, RequestState.DONE),
    ],
)
def test_the_signing_rows_of_the_request_table(
    state: RequestState, event: RequestEvent, after: RequestState
) -> None:
    assert REQUEST_TRANSITIONS.next("request r", state, event) is after


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (RequestState.SIGNED, RequestEvent.PRE_COMMAND),
        (RequestState.SIGNED, RequestEvent.SIGNED),
        (RequestState.DONE, RequestEvent.PRE_COMMAND),
        (RequestState.TIMED_OUT, RequestEvent.PRE_COMMAND),
        (RequestState.OPEN, RequestEvent.SIGNED),
    ],
)
def test_illegal_signing_steps_name_role_state_and_event(
    state: RequestState, event: RequestEvent
) -> None:
    with pytest.raises(
        IllegalTransitionError, match=f"request r: event {event} is not allowed in state {state}"
    ):
        REQUEST_TRANSITIONS.next("request r", state, event)


def test_a_late_pre_command_after_the_answer_wait_is_noise_not_signed() -> None:
    bench, (device,) = secured_bench()
    activation = bench.distribute_all()[device]
    bench.tick(bench.plan.response_wait)  # expired: the retry is due after the back-off
    assert bench.respond(response(activation, "I0", pre_command(device))) == []
    assert bench.model.report().totals.noise == 1


def test_a_signed_pre_command_refused_s7_is_the_activation_s_failure() -> None:
    bench, (device,) = secured_bench()
    activation, _ = activate_and_sign(bench, device)
    bench.respond(response(activation, "I99"))
    sends = bench.respond(response(activation, "S7", {"reason": "does not verify"}))
    assert [r.srv for r in sends] == ["8.2"]
    outcome = bench.model.report().device(device)
    assert "S7" in outcome.error_codes
    assert bench.model._state.requests[activation.request_id].final_code == "S7"


def test_e21_after_the_cv_5_retries_with_a_new_cv_4_and_signs_again() -> None:
    bench, (device,) = secured_bench()
    first, _ = activate_and_sign(bench, device)
    bench.respond(response(first, "E21"))
    assert bench.model._state.requests[first.request_id].state is RequestState.TIMED_OUT
    (retry,) = bench.tick_to_due()
    assert retry.payload["command_variant"] == 4
    assert retry.request_id != first.request_id
    (cv5,) = bench.respond(response(retry, "I0", pre_command(device)))
    assert (cv5.request_id, cv5.payload["command_variant"]) == (retry.request_id, 5)
    bench.respond(response(retry, "I0", outcome(NEW)))
    report = bench.model.report()
    assert report.device(device).recovery is Recovery.RETRY
    assert report.security is not None
    assert report.security.pre_commands_signed == 2


def test_a_future_dated_signed_activation_is_accepted_then_confirmed_by_8f66() -> None:
    keys = DerivedKeyStore(SEED)
    ids = device_ids(1)
    plan = make_plan(ids, execution_delay=timedelta(hours=1))
    bench = Bench(plan, signer=KeyStoreSigner(keys), verifier=KeyStoreVerifier(keys))
    activation, _ = activate_and_sign(bench, ids[0])
    bench.respond(response(activation, "I0", {"command_accepted": True}))
    assert bench.model._state.requests[activation.request_id].state is RequestState.SCHEDULED
    body = {"request_id": activation.request_id, "response_code": 0, "firmware_version": NEW}
    bench.alert(alert("8F66", ids[0], body))
    assert bench.model._state.requests[activation.request_id].state is RequestState.DONE
    assert bench.model.report().device(ids[0]).state == "Activated"

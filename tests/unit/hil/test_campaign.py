"""The campaign model alone, fed hand-made response and alert dicts in the DSP's shape.
Test names cite the rules: R5 (reported versions), R7 (future-dated), R8 (lost
responses), R9 (distribution)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from contract.errors import IllegalTransitionError
from contract.requests import SendRequest
from hil.campaign.model import CampaignModel
from hil.campaign.report import Recovery
from hil.campaign.state import CampaignPhase
from tests.support.campaign_bench import (
    GPF,
    NEW,
    OLD,
    USER,
    Bench,
    alert,
    device_ids,
    distributed,
    make_plan,
    outcome,
    receipt,
    response,
    target,
)

DCC = "90-B3-D5-1F-30-00-00-02"


def _one(count: int = 1, **overrides: object) -> tuple[Bench, tuple[str, ...]]:
    ids = device_ids(count)
    return Bench(make_plan(ids, **overrides)), ids


def _counter(request_id: str) -> int:
    return int(request_id.rsplit(":", 1)[1])


def _finish_after_activation(bench: Bench) -> None:
    """Answer the 8.2s (everything fine): the first, then the final one."""
    for _ in range(2):
        bench.answer_inventory()
    assert bench.model.finished


# ---- distribution (R9) -----------------------------------------------------------


def test_r9_11_1_goes_in_batches_of_batch_size_to_the_dcc() -> None:
    bench, ids = _one(5, batch_size=2)
    sends = bench.start()
    assert [len(s.payload["body"]["device_ids"]) for s in sends] == [2, 2, 1]
    for send in sends:
        assert send.user_id == USER
        assert send.srv == "11.1"
        assert send.payload["command_variant"] == 8
        assert send.request_id.startswith(f"{USER}:{DCC}:")
        assert send.payload["body"]["firmware_version"] == NEW
        assert set(send.payload["body"]) == {"firmware_image", "firmware_version", "device_ids"}
    assert [i for s in sends for i in s.payload["body"]["device_ids"]] == list(ids)


def test_r9_warned_devices_are_skipped_and_never_activated() -> None:
    bench, ids = _one(3)
    (request,) = bench.start()
    warned = {"not_applicable_firmware": [ids[1]]}
    bench.respond(response(request, "I0", distributed(ids, warned)))
    assert bench.alert(receipt(ids[0])) != []
    assert bench.alert(receipt(ids[2])) != []
    targets = [s.payload["request_id"].split(":")[1] for s in bench.sent if s.srv == "11.3"]
    assert targets == [ids[0], ids[2]]
    outcome_ = bench.model.report().device(ids[1])
    assert outcome_.recovery is Recovery.SKIPPED
    assert outcome_.warning == "not_applicable_firmware"
    assert outcome_.distributed is False
    assert outcome_.activation_attempts == 0


def test_r9_a_receipt_hash_mismatch_fails_the_device_without_an_11_3() -> None:
    bench, ids = _one(1)
    (request,) = bench.start()
    bench.respond(response(request, "I0", distributed(ids)))
    assert [s.srv for s in bench.alert(receipt(ids[0], ok=False))] == ["8.2"]  # settled
    device = bench.model.report().device(ids[0])
    assert (device.state, device.receipt_hash_ok) == ("Failed", False)
    assert "hash-mismatch" in device.error_codes


def test_r9_a_device_without_receipt_is_activated_after_receipt_wait() -> None:
    bench, ids = _one(2)
    (request,) = bench.start()
    bench.respond(response(request, "I0", distributed(ids)))
    bench.alert(receipt(ids[0]))
    assert bench.tick(bench.plan.receipt_wait - timedelta(seconds=1)) == []
    (late,) = bench.tick(timedelta(seconds=1))
    assert late.srv == "11.3"
    assert late.request_id.split(":")[1] == ids[1]
    assert bench.model.report().device(ids[1]).receipt_hash_ok is None


def test_r9_a_receipt_before_the_11_1_answer_still_starts_the_activation() -> None:
    """Alerts and responses travel on different topics: the order is not guaranteed."""
    bench, ids = _one(1)
    (request,) = bench.start()
    (activation,) = bench.alert(receipt(ids[0]))
    assert bench.respond(response(request, "I0", distributed(ids))) == []
    assert activation.srv == "11.3"
    assert bench.model.report().unexpected == ()


def test_r9_one_step_target_uses_11_4_and_its_receipt_is_the_activation() -> None:
    ids = device_ids(2)
    bench = Bench(make_plan(ids, targets=(target(ids, one_step=True),)))
    (request,) = bench.start()
    assert (request.srv, request.payload["command_variant"]) == ("11.4", 8)
    bench.respond(response(request, "I0", distributed(ids)))
    assert bench.alert(receipt(ids[0], version=NEW)) == []
    assert [s.srv for s in bench.alert(receipt(ids[1], version=None))] == ["8.2"]
    assert not [s for s in bench.sent if s.srv == "11.3"]
    _finish_after_activation(bench)
    report = bench.model.report()
    assert report.device(ids[0]).recovery is Recovery.FIRST_TRY
    assert report.device(ids[1]).state == "Failed"


# ---- activation, lost answers and retries (R5, R8) ----------------------------------


def test_11_3_is_critical_cv_4_with_the_image_hash_to_the_device() -> None:
    bench, ids = _one(1)
    activation = bench.distribute_all()[ids[0]]
    assert activation.payload["command_variant"] == 4
    assert activation.request_id.split(":")[:2] == [USER, ids[0]]
    assert activation.payload["body"] == {"firmware_hash": bench.plan.targets[0].image_hash}


def test_r8_e21_retries_after_a_back_off_that_doubles_up_to_its_cap() -> None:
    bench, ids = _one(1, max_retries=4, max_backoff=timedelta(seconds=90))
    first = bench.distribute_all()[ids[0]]
    waits = []
    request = first
    for _ in range(3):
        bench.respond(response(request, "E21"))
        due = bench.model.next_due()
        assert due is not None
        waits.append(due - bench.now)
        assert bench.tick(due - bench.now - timedelta(seconds=1)) == []
        (request,) = bench.tick(timedelta(seconds=1))
        assert request.srv == "11.3"
        assert request.payload["body"] == first.payload["body"]
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=90)]
    assert bench.model.report().device(ids[0]).e21_count == 3


def test_r5_r8_a_retry_answered_with_code_1_and_the_target_version_recovers() -> None:
    """MP105: the ActivateImageResponseCode is no criterion; the version is."""
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    (retry,) = bench.tick_to_due()
    bench.respond(response(retry, "I0", outcome(NEW, code=1)))
    _finish_after_activation(bench)
    report = bench.model.report()
    device = report.device(ids[0])
    assert (device.recovery, device.activation_attempts) == (Recovery.RETRY, 2)
    assert (device.activation_code, device.activation_version) == (1, NEW)
    assert (report.totals.recovered_by_retry, report.totals.responses_lost) == (1, 1)


def test_r8_a_late_answer_to_the_first_attempt_cancels_the_retry() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    late = response(first, "I0", {**outcome(NEW), "late": True})
    bench.respond(late)  # R8: processed after E21; the campaign is done
    assert bench.model.phase is CampaignPhase.INVENTORY
    assert not [s for s in bench.sent if s.srv == "11.3" and s is not first]
    assert bench.model.report().device(ids[0]).recovery is Recovery.FIRST_TRY


def test_r8_no_answer_within_response_wait_counts_as_lost() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I99"))
    assert bench.tick(bench.plan.response_wait) == []  # lost now; the retry after back-off
    (retry,) = bench.tick(bench.plan.retry_backoff)
    assert _counter(retry.request_id) > _counter(first.request_id)
    report = bench.model.report()
    assert (report.totals.answers_missing, report.totals.responses_lost) == (1, 0)


def test_r5_r8_max_retries_then_8_2_then_11_2_to_the_suspended_device() -> None:
    bench, ids = _one(2, max_retries=1)
    activations = bench.distribute_all()
    bench.respond(response(activations[ids[0]], "I0", outcome(NEW)))
    request = activations[ids[1]]
    bench.respond(response(request, "E21"))
    (request,) = bench.tick_to_due()
    inventory = bench.respond(response(request, "E21"))  # the last attempt: give up
    assert [(s.srv, s.payload["body"]) for s in inventory] == [("8.2", {"device_ids": list(ids)})]
    (read,) = bench.answer_inventory({ids[1]: ("Suspended", OLD)})
    assert (read.srv, read.payload["command_variant"], read.payload["body"]) == ("11.2", 1, {})
    assert read.request_id.split(":")[1] == ids[1]
    (final,) = bench.respond(response(read, "I0", {"firmware_version": NEW}))
    assert final.srv == "8.2"
    bench.answer_inventory()
    assert bench.model.finished
    assert bench.model.next_due() is None
    report = bench.model.report()
    device = report.device(ids[1])
    assert (device.state, device.recovery, device.read_version) == ("GaveUp", Recovery.READ, NEW)
    assert (device.e21_count, device.smi_status) == (2, "Commissioned")
    assert report.totals.recovered_by_read == 1


def test_r5_a_device_still_suspended_at_the_end_is_not_recovered() -> None:
    bench, ids = _one(1, max_retries=0)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    (read,) = bench.answer_inventory({ids[0]: ("Suspended", OLD)})
    bench.respond(response(read, "I0", {"firmware_version": OLD}))
    bench.answer_inventory({ids[0]: ("Suspended", OLD)})
    report = bench.model.report()
    assert report.finished
    assert report.device(ids[0]).recovery is Recovery.NOT_RECOVERED
    assert (report.totals.still_suspended, report.totals.activated) == (1, 0)


def test_r5_a_smets1_retry_without_a_version_is_unconfirmed_until_read() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    (retry,) = bench.tick_to_due()
    inventory = bench.respond(response(retry, "I0", outcome(None, code=1)))
    assert [s.srv for s in inventory] == ["8.2"]
    assert bench.model.report().device(ids[0]).state == "Unconfirmed"


def test_an_error_code_other_than_e21_is_a_final_failure_with_its_code() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E5"))
    assert bench.model.phase is CampaignPhase.INVENTORY
    device = bench.model.report().device(ids[0])
    assert (device.state, device.error_codes) == ("Failed", ("E5",))


def test_r5_an_answer_with_another_version_is_a_failure_with_its_code() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I0", outcome(OLD, code=2)))
    device = bench.model.report().device(ids[0])
    assert (device.state, device.activation_code, device.activation_version) == ("Failed", 2, OLD)
    assert device.error_codes == ("activation-code-2",)


# ---- future-dated (R7) -------------------------------------------------------------


def test_r7_future_dated_11_3_is_confirmed_by_8f66() -> None:
    bench, ids = _one(1, execution_delay=timedelta(hours=1))
    first = bench.distribute_all()[ids[0]]
    assert first.payload["body"]["execution_datetime"] == "2031-01-01T10:00:00Z"
    bench.respond(response(first, "I0", {"command_accepted": True}))
    assert bench.model.report().device(ids[0]).state == "Scheduled"
    body = {"request_id": first.request_id, "response_code": 0, "firmware_version": NEW}
    inventory = bench.alert(alert("8F66", ids[0], body))
    assert [s.srv for s in inventory] == ["8.2"]
    device = bench.model.report().device(ids[0])
    assert (device.state, device.activation_version) == ("Activated", NEW)


def test_r7_8f67_is_a_failure_with_the_device_code() -> None:
    bench, ids = _one(1, execution_delay=timedelta(hours=1))
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I0", {"command_accepted": True}))
    body = {"request_id": first.request_id, "response_code": 2, "firmware_version": OLD}
    bench.alert(alert("8F67", ids[0], body))
    device = bench.model.report().device(ids[0])
    assert (device.state, device.activation_code, device.error_codes) == (
        "Failed",
        2,
        ("8F67-code-2",),
    )


def test_r7_after_acceptance_the_wait_runs_from_the_execution_time() -> None:
    bench, ids = _one(1, execution_delay=timedelta(hours=1))
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I0", {"command_accepted": True}))
    assert bench.model.next_due() == bench.now + timedelta(hours=1) + bench.plan.response_wait


def test_r7_r8_a_lost_acceptance_is_retried_with_a_new_execution_time() -> None:
    bench, ids = _one(1, execution_delay=timedelta(hours=1))
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    (retry,) = bench.tick_to_due()
    assert retry.payload["body"]["execution_datetime"] == "2031-01-01T10:00:30Z"


def test_r7_r8_an_8f66_after_e30_still_confirms() -> None:
    """A GSME's alert goes out when it wakes, after the DSP's E30: the report wins."""
    bench, ids = _one(1, execution_delay=timedelta(hours=1))
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I0", {"command_accepted": True}))
    bench.respond(response(first, "E30"))
    assert bench.model.report().device(ids[0]).state == "Failed"
    body = {"request_id": first.request_id, "response_code": 0, "firmware_version": NEW}
    bench.alert(alert("8F66", ids[0], body))
    device = bench.model.report().device(ids[0])
    assert (device.state, device.error_codes) == ("Activated", ("E30",))
    assert bench.model.report().unexpected == ()


def test_r7_execution_times_are_whole_seconds() -> None:
    bench, ids = _one(1, execution_delay=timedelta(minutes=5))
    bench.now += timedelta(microseconds=250_000)
    first = bench.distribute_all()[ids[0]]
    assert first.payload["body"]["execution_datetime"] == "2031-01-01T09:05:01Z"


# ---- noise, and what does not fit ----------------------------------------------------


def test_s3_for_a_request_already_answered_is_noise() -> None:
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I99"))
    bench.respond(response(first, "I0", outcome(NEW)))
    assert bench.respond(response(first, "S3")) == []
    report = bench.model.report()
    assert report.unexpected == ()
    assert report.totals.noise == 1
    assert report.device(ids[0]).state == "Activated"


def test_s3_before_any_answer_sends_the_request_again_with_a_new_counter() -> None:
    """C11: a request refused as a replay (its copy overtaken after a reconnection) was
    not carried out; it is sent again, as after a lost answer, with the next counter."""
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    assert bench.respond(response(first, "S3")) == []
    (again,) = bench.tick_to_due()
    assert again.srv == "11.3"
    assert again.payload["body"] == first.payload["body"]
    assert _counter_of(again) > _counter_of(first)
    bench.respond(response(again, "I0", outcome(NEW)))
    device = bench.model.report().device(ids[0])
    assert (device.state, device.activation_attempts, device.e21_count) == ("Activated", 2, 0)


def _counter_of(request: SendRequest) -> int:
    return int(str(request.payload["request_id"]).rsplit(":", 1)[1])


def test_a_response_for_an_unknown_request_id_is_recorded_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bench, ids = _one(1)
    bench.start()
    stranger = f"{USER}:{ids[0]}:99999"
    with caplog.at_level(logging.WARNING, logger="hil"):
        assert bench.respond(response(stranger, "I0", outcome(NEW))) == []
    (unexpected,) = bench.model.report().unexpected
    assert (unexpected.kind, unexpected.request_id) == ("response", stranger)
    assert "unknown request ID" in unexpected.reason
    assert stranger in caplog.text


def test_an_answer_the_request_state_does_not_allow_is_unexpected_naming_the_device(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bench, ids = _one(2)
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "I0", outcome(NEW)))
    with caplog.at_level(logging.WARNING, logger="hil"):
        bench.respond(response(first, "I0", outcome(NEW)))  # a second final answer
    (unexpected,) = bench.model.report().unexpected
    assert unexpected.device_id == ids[0]
    assert ids[0] in caplog.text


def test_malformed_messages_and_alerts_for_strangers_are_unexpected() -> None:
    bench, _ = _one(1)
    bench.start()
    not_a_dict: Any = ["I0"]
    assert bench.model.on_response({"response_code": "I0"}, bench.now) == []
    assert bench.model.on_alert({"device_id": "x"}, bench.now) == []
    assert bench.model.on_alert(not_a_dict, bench.now) == []
    assert bench.model.on_response({**response(bench.sent[0]), "body": 1}, bench.now) == []
    assert bench.alert(alert("8F66", "00-DB-12-00-00-00-00-01", {})) == []
    reasons = [u.reason for u in bench.model.report().unexpected]
    assert len(reasons) == 5
    assert "request_id" in reasons[0]
    assert "alert_code" in reasons[1]
    assert "body" in reasons[3]
    assert "not in the plan" in reasons[4]


def test_start_twice_is_an_illegal_transition_naming_role_state_and_event() -> None:
    bench, _ = _one(1)
    bench.start()
    with pytest.raises(IllegalTransitionError) as raised:
        bench.start()
    assert (raised.value.role, raised.value.state, raised.value.event) == (
        "campaign",
        "Upgrading",
        "start",
    )


# ---- counters, GPFs, the report ------------------------------------------------------


def test_originator_counters_strictly_increase_from_first_counter() -> None:
    bench, ids = _one(4, batch_size=2, max_retries=1, read_gpfs=True, gpf_ids=(GPF,))
    activations = bench.distribute_all()
    for request in activations.values():
        bench.respond(response(request, "E21"))
    for _ in ids:
        bench.tick_to_due()
    bench.answer_inventory(dict.fromkeys(ids, ("Suspended", OLD)))
    counters = [_counter(s.request_id) for s in bench.sent]
    assert counters == list(range(100, 100 + len(bench.sent)))
    assert bench.model.last_counter == counters[-1]


def test_r6_gpfs_are_read_after_the_suspended_devices_and_n52_is_counted() -> None:
    bench, ids = _one(1, read_gpfs=True, gpf_ids=(GPF,))
    first = bench.distribute_all()[ids[0]]
    bench.respond(response(first, "E21"))
    bench.tick_to_due()
    bench.respond(response(bench.sent[-1], "E21"))
    bench.tick_to_due()
    bench.respond(response(bench.sent[-1], "E21"))  # gave up
    (read,) = bench.answer_inventory({ids[0]: ("Suspended", OLD)})
    assert read.request_id.split(":")[1] == ids[0]
    (gpf_read,) = bench.respond(response(read, "I0", {"firmware_version": NEW}))
    assert gpf_read.request_id.split(":")[1] == GPF
    bench.alert(alert("N52", ids[0], {"gpf_firmware_version": OLD}))
    (final,) = bench.respond(response(gpf_read, "I0", {"firmware_version": OLD}))
    assert final.payload["body"]["device_ids"] == [*ids, GPF]
    report = bench.model.report()
    assert report.alerts["N52"] == 1
    assert [(g.gpf_id, g.code, g.version) for g in report.gpf_reads] == [(GPF, "I0", OLD)]


def test_report_totals_and_json() -> None:
    bench, ids = _one(3)
    activations = bench.distribute_all()
    bench.respond(response(activations[ids[0]], "I0", outcome(NEW)))
    bench.respond(response(activations[ids[1]], "E21"))
    (retry,) = bench.tick_to_due()
    bench.respond(response(retry, "I0", outcome(NEW, code=1)))
    bench.respond(response(activations[ids[2]], "E4"))
    for device_id in ids:
        bench.alert(alert("N29", device_id))
    _finish_after_activation(bench)
    report = bench.model.report()
    totals = report.totals
    assert (totals.devices, totals.distributed, totals.first_try) == (3, 3, 1)
    assert (totals.recovered_by_retry, totals.responses_lost) == (1, 1)
    # the SMI says the refused device runs NEW too: the inventory is the judge
    assert (totals.activated, totals.recovered_by_inventory) == (3, 1)
    assert report.alerts == {"FirmwareReceipt": 3, "N29": 3}
    document = json.loads(json.dumps(report.to_json()))
    assert document["totals"]["recovered_by_retry"] == 1
    assert document["devices"][1]["recovery"] == "retry"
    assert document["devices"][2]["error_codes"] == ["E4"]
    assert document["finished"] is True


def test_the_model_keeps_its_own_copy_of_nothing_from_the_messages() -> None:
    """A runner may reuse its dicts: the model must not depend on them afterwards."""
    bench, ids = _one(1)
    first = bench.distribute_all()[ids[0]]
    message = response(first, "I0", outcome(NEW))
    bench.respond(message)
    message["body"]["firmware_version"] = OLD
    assert bench.model.report().device(ids[0]).activation_version == NEW


def test_a_new_model_is_idle_with_nothing_due() -> None:
    model = CampaignModel(make_plan(device_ids(1)))
    assert (model.phase, model.next_due(), model.finished) == (CampaignPhase.IDLE, None, False)
    assert model.last_counter == 99

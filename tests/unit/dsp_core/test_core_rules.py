"""The DSP core end to end in-process (sans-IO): R4 to R9 and request tracking."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest

import gbcs
from contract.ids import to_compact
from contract.vocabulary import CplStatus, SmiStatus
from dsp_core.events import RequestReceived
from dsp_core.model import JournalKind
from dsp_core.turn import CoreConfig
from tests.support.core_bench import (
    ESME,
    GPF,
    GSME,
    NETWORK,
    NEW,
    OLD,
    OTHER,
    PPMID,
    SUPPLIER,
    CoreBench,
    alert_codes,
    alerts,
    codes,
    commands,
    cpl_for,
    hash_of,
    image_for,
    only,
    responses,
)
from tests.support.core_scenarios import SOURCES, suspended, via_11_2, via_11_3_retry

S, N = SUPPLIER.user_id, NETWORK.user_id


# ---- R4 ---------------------------------------------------------------------------


def test_r4_removal_suspends_matching_devices_and_tells_the_supplier() -> None:
    lab = CoreBench()
    lab.state.load(
        devices=[
            replace(ESME, device_id="00-DB-12-34-56-78-90-B0", status=SmiStatus.DECOMMISSIONED)
        ]
    )
    actions = lab.cpl(cpl_for(ESME, OLD, CplStatus.REMOVED))
    assert lab.smi(ESME).status is SmiStatus.SUSPENDED
    assert lab.smi(ESME).status_before_suspension is SmiStatus.COMMISSIONED
    assert lab.state.devices["00-DB-12-34-56-78-90-B0"].status is SmiStatus.DECOMMISSIONED
    assert lab.smi(GSME).status is SmiStatus.COMMISSIONED  # another model
    assert alert_codes(actions) == [("N28", S)]


# ---- R5: three CPL outcomes for each report source (core_scenarios.SOURCES) -----


@pytest.mark.parametrize("source", SOURCES)
def test_r5_current_entry_updates_and_restores_with_n29(source: str) -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    actions = SOURCES[source](lab, ESME, NEW)
    assert lab.smi(ESME).firmware_version == NEW
    assert lab.smi(ESME).status is SmiStatus.COMMISSIONED
    assert ("N29", S) in alert_codes(actions)
    assert ("N29", N) in alert_codes(actions)


@pytest.mark.parametrize("source", SOURCES)
def test_r5_removed_entry_updates_without_suspending_and_sends_n50(source: str) -> None:
    lab = CoreBench()
    lab.cpl(cpl_for(ESME, NEW, CplStatus.REMOVED))
    actions = SOURCES[source](lab, ESME, NEW)
    assert lab.smi(ESME).firmware_version == NEW
    assert lab.smi(ESME).status is SmiStatus.COMMISSIONED
    assert [c for c in alert_codes(actions) if c[0].startswith("N")] == [("N50", S)]


@pytest.mark.parametrize("source", SOURCES)
def test_r5_unknown_version_leaves_the_smi_and_sends_n51(source: str) -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    before = lab.smi(ESME)
    actions = SOURCES[source](lab, ESME, OTHER)
    assert lab.smi(ESME) == before
    assert [c for c in alert_codes(actions) if c[0].startswith("N")] == [("N51", S)]


def test_r5_suspended_device_already_on_a_current_version_is_restored_by_any_report() -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    lab.cpl(cpl_for(ESME, OLD, CplStatus.CURRENT))  # reinstated: no restore by itself
    assert lab.smi(ESME).status is SmiStatus.SUSPENDED
    actions = via_11_2(lab, ESME, OLD)
    assert lab.smi(ESME).status is SmiStatus.COMMISSIONED
    assert ("N29", S) in alert_codes(actions)


def test_r5_smets1_response_without_version_changes_nothing() -> None:
    lab = CoreBench()
    smets1 = replace(ESME, device_id="00-DB-12-34-56-78-90-C0", smets=1)
    lab.state.load(devices=[smets1])
    suspended(lab, smets1)
    before = lab.smi(smets1)
    actions = lab.reply_activate(lab.activate(smets1), None, code=3)
    assert codes(actions) == ["I0"]
    body = responses(actions)[0].response.body
    assert body["firmware_version"] is None
    assert body["activate_image_response_code"] == 3  # DESIGN §3's name for the CS06 code
    assert lab.smi(smets1) == before
    assert not alerts(actions)


# ---- R6 ---------------------------------------------------------------------------


def test_r6_gpf_mismatch_sends_n52_to_the_requester_and_never_restores() -> None:
    lab = CoreBench()
    suspended(lab, GSME)
    actions = lab.reply_read(lab.read(GPF), NEW)
    [(code, user)] = alert_codes(actions)
    assert (code, user) == ("N52", S)
    body = alerts(actions)[0].alert.body
    assert body["gsme_id"] == GSME.device_id
    assert (body["smi_firmware_version"], body["gpf_firmware_version"]) == (OLD, NEW)
    assert lab.smi(GSME).status is SmiStatus.SUSPENDED
    assert lab.smi(GSME).firmware_version == OLD


def test_r6_gpf_agreeing_with_the_smi_raises_nothing() -> None:
    lab = CoreBench()
    assert not alerts(lab.reply_read(lab.read(GPF), OLD))


def test_r6_the_gsme_itself_restores() -> None:
    lab = CoreBench()
    suspended(lab, GSME)
    lab.reply_read(lab.read(GSME), NEW)
    assert lab.smi(GSME).status is SmiStatus.COMMISSIONED


# ---- R7 ---------------------------------------------------------------------------


def test_r7_future_dated_failure_alert_is_forwarded_without_smi_change() -> None:
    lab = CoreBench()
    sent = lab.activate(ESME, NEW, execution="2030-01-01T10:00:00Z")
    command = only(commands(sent))
    lab.deliver(command.ch_id, lab.answer(command, gbcs.ActivateFirmwareAccepted()))
    actions = lab.deliver(command.ch_id, lab.activation_alert(command, NEW, success=False))
    assert alert_codes(actions) == [("8F67", S)]
    assert lab.smi(ESME).firmware_version == OLD


def test_r7_no_alert_by_execution_time_is_e30() -> None:
    lab = CoreBench()
    command = only(commands(lab.activate(ESME, NEW, execution="2030-01-01T10:00:00Z")))
    lab.deliver(command.ch_id, lab.answer(command, gbcs.ActivateFirmwareAccepted()))
    assert codes(lab.tick(timedelta(minutes=30))) == []
    assert codes(lab.tick(timedelta(minutes=40))) == ["E30"]


def test_r7_cancellation_cancels_the_pending_activation() -> None:
    lab = CoreBench()
    first = only(commands(lab.activate(ESME, NEW, execution="2030-01-01T10:00:00Z")))
    lab.deliver(first.ch_id, lab.answer(first, gbcs.ActivateFirmwareAccepted()))
    cancel = only(commands(lab.activate(ESME, NEW, execution="3000-12-31T00:00:00Z")))
    sent = gbcs.decode(cancel.data).payload
    assert isinstance(sent, gbcs.ActivateFirmwareCommand)
    assert sent.is_cancellation
    actions = lab.deliver(cancel.ch_id, lab.answer(cancel, gbcs.ActivateFirmwareAccepted()))
    [response] = responses(actions)
    assert response.response.body["cancelled_request_ids"] == [f"{S}:{ESME.device_id}:1001"]
    assert codes(lab.tick(timedelta(hours=2))) == []  # no E30 for a cancelled activation


def test_r7_execution_time_in_the_past_is_refused() -> None:
    lab = CoreBench()
    assert codes(lab.activate(ESME, NEW, execution="2029-12-31T00:00:00Z")) == ["I99", "S4"]


# ---- R8 ---------------------------------------------------------------------------


def test_r8_late_response_after_e21_still_restores_and_is_forwarded_late() -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    sent = lab.activate(ESME, NEW)
    assert codes(lab.tick(timedelta(seconds=61))) == ["E21"]
    actions = lab.reply_activate(sent, NEW)
    assert codes(actions) == ["I0"]
    assert responses(actions)[0].response.body["late"] is True
    assert lab.smi(ESME).status is SmiStatus.COMMISSIONED


def test_r8_duplicate_response_is_processed_once() -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    sent = lab.read(ESME)
    command = only(commands(sent))
    data = lab.answer(command, lab.read_answer(command, NEW))
    first = lab.deliver(command.ch_id, data)
    second = lab.deliver(command.ch_id, data)
    assert codes(first) == ["I0"]
    assert ("N29", S) in alert_codes(first)
    assert second == []
    assert lab.journal[-1].kind is JournalKind.DUPLICATE


def test_r8_gsme_gets_its_longer_time_out() -> None:
    lab = CoreBench(
        CoreConfig(response_timeout=timedelta(seconds=60), gsme_response_timeout=timedelta(hours=1))
    )
    lab.read(GSME)
    assert codes(lab.tick(timedelta(minutes=5))) == []
    assert codes(lab.tick(timedelta(hours=1))) == ["E21"]


# ---- request tracking and validation ----------------------------------------------


def test_replayed_counter_is_refused_with_s3() -> None:
    lab = CoreBench()
    assert codes(lab.read(ESME, counter=2000)) == ["I99"]
    assert codes(lab.read(ESME, counter=2000)) == ["S3"]
    assert codes(lab.read(ESME, counter=1999)) == ["S3"]
    assert codes(lab.read(ESME, counter=2001)) == ["I99"]


def test_request_from_another_originator_is_e1() -> None:
    lab = CoreBench()
    message = {
        "request_id": f"{NETWORK.user_id}:{ESME.device_id}:1",
        "service_reference_variant": "11.2",
        "command_variant": 1,
        "body": {},
    }
    actions = lab.run(RequestReceived(to_compact(S), json.dumps(message).encode(), lab.now))
    assert codes(actions) == ["E1"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{not json", "request"),
        (
            b'{"request_id": "a:b:7", "service_reference_variant": "11.2", "command_variant": 1}',
            "EUI-64",
        ),
        (b'{"service_reference_variant": "11.2", "command_variant": 1}', "request_id"),
        (
            b'{"request_id": "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:5", '
            b'"service_reference_variant": "11.3", "command_variant": 4, '
            b'"body": {"firmware_hash": "12"}}',
            "firmware_hash",
        ),
    ],
)
def test_malformed_request_is_s4_naming_the_field(payload: bytes, words: str) -> None:
    lab = CoreBench()
    [response] = responses(lab.run(RequestReceived(to_compact(S), payload, lab.now)))
    assert response.response.response_code == "S4"
    assert words in response.response.body["reason"]
    assert lab.journal[0].kind is JournalKind.REJECTED


def test_unsupported_and_uncarried_srvs() -> None:
    lab = CoreBench()
    assert codes(lab.request("4.1.1", ESME)) == ["S1"]
    assert codes(lab.request("6.23", ESME)) == ["I99", "S2"]


def test_undecodable_device_message_is_journalled_not_fatal() -> None:
    lab = CoreBench()
    assert lab.deliver("00DB1234567890A2", b"\xdf\x09garbage") == []
    [entry] = lab.journal
    assert entry.kind is JournalKind.REJECTED
    assert "offset" in entry.detail["reason"]


# ---- R9 and 8.2 -------------------------------------------------------------------


def test_r9_update_firmware_warns_per_device_and_distributes_to_the_rest() -> None:
    lab = CoreBench()
    decommissioned = replace(
        ESME, device_id="00-DB-12-34-56-78-90-B1", status=SmiStatus.DECOMMISSIONED
    )
    other_model = replace(ESME, device_id="00-DB-12-34-56-78-90-B2", model="ESME-2")
    busy = replace(ESME, device_id="00-DB-12-34-56-78-90-B3")
    lab.state.load(devices=[decommissioned, other_model, busy])
    lab.read(busy)
    body = {
        "firmware_image": base64.b64encode(image_for(NEW)).decode(),
        "firmware_version": NEW,
        "device_ids": [
            ESME.device_id,
            "00-DB-12-34-56-78-90-FF",
            decommissioned.device_id,
            other_model.device_id,
            busy.device_id,
        ],
    }
    actions = lab.request("11.1", "90-B3-D5-1F-30-00-00-02", body)
    final = responses(actions)[-1].response
    assert final.response_code == "I0"
    assert final.body["DSPUpdateFirmwareWarning"] == {
        "invalid_device_ids": ["00-DB-12-34-56-78-90-FF"],
        "not_commissioned": [decommissioned.device_id],
        "not_applicable_firmware": [other_model.device_id],
        "other_request_in_progress": [busy.device_id],
        "unable_to_communicate": [],  # no hub offline (D-E1)
    }
    command = only(commands(actions))
    assert command.device_id == ESME.device_id
    sent = gbcs.decode(command.data).payload
    assert isinstance(sent, gbcs.FirmwareDistributionCommand)
    assert sent.image == image_for(NEW)
    receipt = lab.deliver(command.ch_id, lab.receipt(command, hash_of(NEW)))
    assert alert_codes(receipt) == [("FirmwareReceipt", S)]
    assert alerts(receipt)[0].alert.body["hash_matches"] is True


def test_r9_receipt_with_a_wrong_hash_is_flagged() -> None:
    lab = CoreBench()
    body = {
        "firmware_image": base64.b64encode(image_for(NEW)).decode(),
        "firmware_version": NEW,
        "device_ids": [ESME.device_id],
    }
    command = only(commands(lab.request("11.1", "90-B3-D5-1F-30-00-00-02", body)))
    receipt = lab.deliver(command.ch_id, lab.receipt(command, hash_of(OTHER)))
    assert alerts(receipt)[0].alert.body["hash_matches"] is False


def test_r9_image_whose_version_differs_from_the_request_is_s4() -> None:
    lab = CoreBench()
    body = {
        "firmware_image": base64.b64encode(image_for(OTHER)).decode(),
        "firmware_version": NEW,
        "device_ids": [ESME.device_id],
    }
    assert codes(lab.request("11.1", "90-B3-D5-1F-30-00-00-02", body)) == ["I99", "S4"]


def test_11_4_ppmid_activates_in_one_step() -> None:
    lab = CoreBench()
    body = {
        "firmware_image": base64.b64encode(image_for(NEW)).decode(),
        "firmware_version": NEW,
        "device_ids": [PPMID.device_id, ESME.device_id],
    }
    actions = lab.request("11.4", "90-B3-D5-1F-30-00-00-02", body)
    assert responses(actions)[-1].response.body["DSPUpdateFirmwareWarning"][
        "not_applicable_firmware"
    ] == [ESME.device_id]
    command = only(commands(actions))
    assert gbcs.decode(command.data).payload == gbcs.FirmwareDistributionCommand(
        image_for(NEW), activate=True
    )
    lab.deliver(command.ch_id, lab.receipt(command, hash_of(NEW), NEW))
    assert lab.smi(PPMID).firmware_version == NEW


def test_8_2_read_inventory_returns_smi_records() -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    actions = lab.request(
        "8.2", "90-B3-D5-1F-30-00-00-02", {"device_ids": [ESME.device_id, "00DB1234567890FF"]}
    )
    body = responses(actions)[-1].response.body
    [record] = body["devices"]
    assert record["status"] == "Suspended"
    assert record["status_before_suspension"] == "Commissioned"
    assert record["firmware_version"] == OLD
    assert body["unknown_device_ids"] == ["00-DB-12-34-56-78-90-FF"]


# ---- MP105 switch ------------------------------------------------------------------


def test_mp105_off_11_2_to_a_suspended_device_is_e5() -> None:
    lab = CoreBench(CoreConfig(mp105=False))
    suspended(lab, ESME)
    assert codes(lab.read(ESME)) == ["E5"]


def test_mp105_off_retry_with_non_zero_code_does_not_update_the_smi() -> None:
    lab = CoreBench(CoreConfig(mp105=False))
    suspended(lab, ESME)
    actions = via_11_3_retry(lab, ESME, NEW)
    assert codes(actions) == ["I0"]
    assert lab.smi(ESME).firmware_version == OLD
    assert lab.smi(ESME).status is SmiStatus.SUSPENDED


def test_every_alert_and_response_is_journalled() -> None:
    lab = CoreBench()
    suspended(lab, ESME)
    actions = via_11_3_retry(lab, ESME, NEW)
    journalled = {(e.code, e.user_id) for e in lab.journal if e.kind is JournalKind.ALERT}
    assert set(alert_codes(actions)) <= journalled

"""The parts of a conformance run around the checks: the target's validation (errors
name the field), the sequence's own table (illegal steps raise, naming role, state and
event) and what it records of messages that do not fit (kept, never dropped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contract.errors import IllegalTransitionError
from hil.conformance import (
    ConformanceModel,
    ConformanceOptions,
    ConformanceStep,
    ConformanceTarget,
    FirmwareImage,
    Source,
    TargetError,
)
from tests.support.conformance import (
    BROKER,
    FIRST,
    device_under_test,
    firmware,
    lab_build,
    target,
)

NOW = datetime(2031, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
USER = "90-B3-D5-1F-30-01-00-00"
DEVICE = "00-DB-12-00-00-00-00-10"
HELD = FirmwareImage.held("0123ABCE", "AB" * 32)


def sequence() -> ConformanceModel:
    build = lab_build()
    return ConformanceModel(target(build), ConformanceOptions(), 500)


def answer(request_id: str, code: str, **body: Any) -> dict[str, Any]:
    return {"request_id": request_id, "response_code": code, "body": body}


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: ConformanceTarget(BROKER, USER, "00DB12", HELD, HELD), "device_id"),
        (lambda: ConformanceTarget("http://x", USER, DEVICE, HELD, HELD), "mqtt://host:port"),
        (lambda: ConformanceTarget(BROKER, "nobody", DEVICE, HELD, HELD), "user_id"),
        (lambda: ConformanceTarget(BROKER, USER, DEVICE, HELD), "future_firmware"),
        (
            lambda: ConformanceTarget(BROKER, USER, DEVICE, HELD, HELD, mqtt_version="4"),
            "mqtt_version",
        ),
        (lambda: FirmwareImage.held("123", "AB" * 32), "firmware version"),
        (lambda: FirmwareImage.held("0123ABCE", "AB"), "image_hash"),
        (lambda: FirmwareImage("0123ABCE", "AB" * 32, b"x"), "not the SHA-256 of the image"),
        (lambda: FirmwareImage.from_image(b"not an OTA file", "a.ota"), "a.ota: not a ZigBee OTA"),
        (lambda: ConformanceOptions(tolerance=timedelta(0)), "tolerance"),
        (lambda: ConformanceOptions(first_counter=0), "first_counter"),
    ],
)
def test_a_target_that_cannot_run_names_the_field(make: Any, says: str) -> None:
    with pytest.raises(TargetError, match=says):
        make()


def test_ids_are_read_in_either_form() -> None:
    conformance = ConformanceTarget(BROKER, "90B3D51F30010000", DEVICE.lower(), HELD, HELD)
    assert (conformance.user_id, conformance.device_id) == (USER, DEVICE)


def test_an_image_file_gives_its_version_and_hash() -> None:
    build = lab_build()
    image = firmware(build, device_under_test(build), FIRST)
    assert image.version == FIRST
    assert image.image is not None
    assert FirmwareImage.from_image(image.image) == image


def test_starting_twice_is_an_illegal_transition() -> None:
    run = sequence()
    run.start(NOW)
    with pytest.raises(IllegalTransitionError) as caught:
        run.start(NOW)
    assert (caught.value.role, caught.value.state, caught.value.event) == (
        "conformance sequence",
        "Running",
        "start",
    )


def test_a_tick_before_the_start_is_an_illegal_transition() -> None:
    with pytest.raises(IllegalTransitionError, match="tick is not allowed in state Ready"):
        sequence().on_tick(NOW)


def test_the_first_request_is_registered_before_it_is_sent() -> None:
    run = sequence()
    (request,) = run.start(NOW)
    assert request.srv == "8.2"
    assert request.request_id.endswith(":500")
    assert run.next_due() == NOW + ConformanceOptions().answer_wait
    (entry,) = run.recording(NOW).entries
    assert (entry.source, entry.step, entry.request_id) == (
        Source.REQUEST,
        ConformanceStep.INVENTORY_BEFORE,
        request.request_id,
    )


def test_what_does_not_fit_is_recorded_and_changes_nothing() -> None:
    run = sequence()
    assert len(run.start(NOW)) == 1
    assert run.on_response(answer("someone:else:1", "I0"), NOW) == []
    assert run.on_response({"response_code": "I0"}, NOW) == []  # no request ID
    assert run.on_alert({"alert_code": "8F66", "device_id": DEVICE, "body": []}, NOW) == []
    run.on_hub(Source.HUB_UP, b"\xde\xad", NOW)
    run.on_unreadable("smetslab/users/X/alerts", "Expecting value", NOW)
    entries = run.recording(NOW).entries
    assert [e.source for e in entries] == [
        Source.REQUEST,
        Source.RESPONSE,
        Source.RESPONSE,
        Source.ALERT,
        Source.HUB_UP,
        Source.NOTE,
    ]
    assert entries[4].gbcs == b"\xde\xad"
    assert entries[4].note  # why the bytes do not decode
    assert "Expecting value" in entries[5].note
    assert run.phase == "Running"
    assert run.recording(NOW).step(ConformanceStep.INVENTORY_BEFORE) is not None


def test_an_error_answer_ends_the_step_and_the_next_is_sent() -> None:
    run = sequence()
    (inventory,) = run.start(NOW)
    assert run.on_response(answer(inventory.request_id, "I99"), NOW) == []
    (distribution,) = run.on_response(answer(inventory.request_id, "E1", reason="no"), NOW)
    assert distribution.srv == "11.1"
    shown = run.recording(NOW).entries[-1]
    assert shown.source is Source.REQUEST
    assert shown.content is not None
    assert shown.content["body"]["firmware_image"].startswith("<base64 OTA file, about")
    (activation,) = run.on_response(answer(distribution.request_id, "S4", reason="bad"), NOW)
    assert activation.srv == "11.3"  # no receipt awaited after a refusal


def test_a_future_dated_execution_is_a_whole_second_ahead() -> None:
    """C9: GBCS carries execution times to the second; rounded up."""
    build = lab_build()
    device_id = device_under_test(build)
    held = FirmwareImage.held(FIRST, firmware(build, device_id, FIRST).image_hash)
    run = ConformanceModel(target(build, first=held, second=held), ConformanceOptions(), 1)
    (inventory,) = run.start(NOW)
    (activate,) = run.on_response(answer(inventory.request_id, "I0", devices=[]), NOW)
    (future,) = run.on_response(answer(activate.request_id, "I0"), NOW)
    assert future.payload["body"]["execution_datetime"] == "2031-01-01T00:02:01Z"


@pytest.mark.parametrize(
    ("hub", "observed"), [("00DB120000000099", "00-DB-12-00-00-00-00-99"), ("a/+/#", None)]
)
def test_the_hub_to_observe_comes_from_the_first_inventory(hub: str, observed: str | None) -> None:
    run = sequence()
    (inventory,) = run.start(NOW)
    record = {"device_id": run.target.device_id, "device_type": "ESME", "comms_hub_id": hub}
    run.on_response(answer(inventory.request_id, "I0", devices=[record]), NOW)
    assert run.ch_id == observed  # a hub ID that is not an EUI-64 is not subscribed to
    assert run.device_type == "ESME"

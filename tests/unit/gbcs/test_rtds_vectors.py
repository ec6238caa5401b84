"""Every DCC RTDS firmware vector decodes to what it is and re-encodes byte for byte (DESIGN §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gbcs
from tests.support.paths import read_hex, rtds_vectors

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ACB = "90-B3-D5-1F-30-00-00-02"
ESME = "00-DB-12-34-56-78-90-A0"
GSME = "00-DB-12-34-56-78-90-A1"
HASH = "AA758690730934FF0685AA758690730934FF0685657788990011223344556677"
CANCEL = "9999-12-31T23:59:59Z"

# stem -> (CRA flag, message code, header counter, originator, recipient, payload type, fields)
EXPECTED: dict[str, tuple[int, int, int, str, str, str, dict[str, Any]]] = {
    "CS08_11.2_ERROR_COMMAND": (
        1,
        0x0129,
        1301,
        ACB,
        "00-DB-12-34-56-78-90-A5",
        "ReadDeviceFirmwareVersionCommand",
        {},
    ),
    "CS08_11.2_ERROR_RESPONSE": (
        2,
        0x0129,
        1301,
        "00-DB-12-34-56-78-90-A5",
        ACB,
        "ReadDeviceFirmwareVersionResponse",
        {"firmware_version": "00000000", "response_code": 1},
    ),
    "CS08_11.2_SUCCESS_COMMAND": (
        1,
        0x0129,
        1300,
        ACB,
        "00-DB-12-34-56-78-90-A4",
        "ReadDeviceFirmwareVersionCommand",
        {},
    ),
    "CS08_11.2_SUCCESS_RESPONSE": (
        2,
        0x0129,
        1300,
        "00-DB-12-34-56-78-90-A4",
        ACB,
        "ReadDeviceFirmwareVersionResponse",
        {"firmware_version": "0123ABCD", "response_code": 0},
    ),
    "ECS52_11.2_ERROR_COMMAND": (
        1,
        0x0059,
        1002,
        SUPPLIER,
        ESME,
        "ReadEsmeFirmwareVersionCommand",
        {"obis": "0000000201FF"},
    ),
    "ECS52_11.2_ERROR_RESPONSE": (
        2,
        0x0059,
        1002,
        ESME,
        SUPPLIER,
        "ReadEsmeFirmwareVersionResponse",
        {"firmware_version": None, "response_code": 1},
    ),
    "ECS52_11.2_SUCCESS_COMMAND": (
        1,
        0x0059,
        1000,
        SUPPLIER,
        ESME,
        "ReadEsmeFirmwareVersionCommand",
        {"cosem_class_id": 1},
    ),
    "ECS52_11.2_SUCCESS_RESPONSE": (
        2,
        0x0059,
        1000,
        ESME,
        SUPPLIER,
        "ReadEsmeFirmwareVersionResponse",
        {"firmware_version": "0123ABCD", "response_code": 0},
    ),
    "GCS38_11.2_ERROR_COMMAND": (
        1,
        0x0084,
        1002,
        SUPPLIER,
        GSME,
        "ReadGsmeFirmwareVersionCommand",
        {"zcl_attribute_id": 0x0206},
    ),
    "GCS38_11.2_ERROR_RESPONSE": (
        2,
        0x0084,
        1002,
        GSME,
        SUPPLIER,
        "ReadGsmeFirmwareVersionResponse",
        {"firmware_version": None, "response_code": 0xC0},
    ),
    "GCS38_11.2_SUCCESS_COMMAND": (
        1,
        0x0084,
        1000,
        SUPPLIER,
        GSME,
        "ReadGsmeFirmwareVersionCommand",
        {"zcl_sequence": 0},
    ),
    "GCS38_11.2_SUCCESS_RESPONSE": (
        2,
        0x0084,
        1000,
        GSME,
        SUPPLIER,
        "ReadGsmeFirmwareVersionResponse",
        {"firmware_version": "0123ABCD", "response_code": 0},
    ),
    "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT": (
        3,
        0x00CA,
        2000,
        ESME,
        SUPPLIER,
        "FirmwareActivationAlert",
        {
            "alert_code": 0x8F66,
            "execution_datetime": "2030-01-15T09:00:00Z",
            "command_originator_counter": 1001,
            "response_code": 0,
            "firmware_version": "0123ABCF",
        },
    ),
    "CS06_11.3_8F67_FUTURE_DATED_ERROR_ALERT": (
        3,
        0x00CA,
        2001,
        ESME,
        SUPPLIER,
        "FirmwareActivationAlert",
        {
            "alert_code": 0x8F67,
            "execution_datetime": "2030-01-01T00:00:00Z",
            "command_originator_counter": 1004,
            "response_code": 2,
            "firmware_version": "0123ABCF",
        },
    ),
    "CS06_11.3_CANCELLATION_SUCCESS_COMMAND": (
        1,
        0x0012,
        1002,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {
            "image_hash": HASH,
            "command_originator_counter": 1002,
            "execution_datetime": CANCEL,
            "cancellation": True,
        },
    ),
    "CS06_11.3_CANCELLATION_SUCCESS_PRECOMMAND": (
        1,
        0x0012,
        1002,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"execution_datetime": CANCEL, "cancellation": True, "kind": "precommand"},
    ),
    "CS06_11.3_CANCELLATION_SUCCESS_RESPONSE": (
        2,
        0x0012,
        1002,
        ESME,
        SUPPLIER,
        "ActivateFirmwareAccepted",
        {"command_accepted": True, "date_time": "2015-01-01T00:00:00Z"},
    ),
    "CS06_11.3_FUTURE_DATED_ERROR_COMMAND": (
        1,
        0x0012,
        1004,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {
            "command_originator_counter": 1004,
            "execution_datetime": "2030-01-01T00:00:00Z",
            "cancellation": False,
        },
    ),
    "CS06_11.3_FUTURE_DATED_ERROR_PRECOMMAND": (
        1,
        0x0012,
        1004,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"execution_datetime": "2030-01-01T00:00:00Z", "signature_hex": None},
    ),
    "CS06_11.3_FUTURE_DATED_ERROR_RESPONSE": (
        2,
        0x0012,
        1004,
        ESME,
        SUPPLIER,
        "ActivateFirmwareAccepted",
        {"command_accepted": True},
    ),
    "CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND": (
        1,
        0x0012,
        1001,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {
            "image_hash": HASH,
            "command_originator_counter": 1001,
            "execution_datetime": "2030-01-15T09:00:00Z",
            "envelope": "general-ciphering",
        },
    ),
    "CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND": (
        1,
        0x0012,
        1001,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"execution_datetime": "2030-01-15T09:00:00Z", "envelope": "general-signing"},
    ),
    "CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE": (
        2,
        0x0012,
        1001,
        ESME,
        SUPPLIER,
        "ActivateFirmwareAccepted",
        {"command_accepted": True},
    ),
    "CS06_11.3_IMMEDIATE_ERROR_COMMAND": (
        1,
        0x0012,
        1005,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"command_originator_counter": 1005, "execution_datetime": None},
    ),
    "CS06_11.3_IMMEDIATE_ERROR_PRECOMMAND": (
        1,
        0x0012,
        1005,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"image_hash": HASH, "execution_datetime": None},
    ),
    "CS06_11.3_IMMEDIATE_ERROR_RESPONSE": (
        2,
        0x0012,
        1005,
        ESME,
        SUPPLIER,
        "ActivateFirmwareOutcome",
        {"response_code": 1, "response_code_name": "NO_IMAGE_HELD", "firmware_version": "0123ABCF"},
    ),
    "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND": (
        1,
        0x0012,
        1000,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"image_hash": HASH, "command_originator_counter": 1000, "execution_datetime": None},
    ),
    "CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND": (
        1,
        0x0012,
        1000,
        SUPPLIER,
        ESME,
        "ActivateFirmwareCommand",
        {"kind": "precommand"},
    ),
    "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE": (
        2,
        0x0012,
        1000,
        ESME,
        SUPPLIER,
        "ActivateFirmwareOutcome",
        {"response_code": 0, "firmware_version": "0123ABCE", "envelope": "general-signing"},
    ),
}

VECTORS = rtds_vectors()


def _stem(path: Path) -> str:
    return path.stem.removesuffix("_GBCS")


def test_the_directory_holds_the_firmware_vectors() -> None:
    assert len(VECTORS) >= len(EXPECTED)


@pytest.mark.parametrize("path", VECTORS, ids=_stem)
def test_vector_round_trips_byte_for_byte(path: Path) -> None:
    data = read_hex(path)
    assert gbcs.encode(gbcs.decode(data)) == data
    assert gbcs.encode(gbcs.decode_header(data)) == data


@pytest.mark.parametrize("path", VECTORS, ids=_stem)
def test_vector_decodes_to_what_it_is(path: Path) -> None:
    assert _stem(path) in EXPECTED, f"no expected fields written down for {path.name}"
    cra, code, counter, originator, recipient, payload_type, extra = EXPECTED[_stem(path)]
    fields = gbcs.message_fields(gbcs.decode(read_hex(path)))
    assert (fields["cra_flag"], fields["message_code"], fields["originator_counter"]) == (
        cra,
        code,
        counter,
    )
    assert (fields["originator_id"], fields["recipient_id"]) == (originator, recipient)
    assert fields["payload_type"] == payload_type
    assert fields["use_case"] == _stem(path).split("_")[0]
    assert {key: fields[key] for key in extra} == extra


@pytest.mark.parametrize("path", VECTORS, ids=_stem)
def test_kind_follows_the_file_name(path: Path) -> None:
    kind = gbcs.decode(read_hex(path)).kind
    assert _stem(path).rsplit("_", 1)[-1].lower() == kind


def test_8f66_alert_typed_fields() -> None:
    path = next(p for p in VECTORS if "8F66" in p.name)
    message = gbcs.decode(read_hex(path))
    alert = message.payload
    assert isinstance(alert, gbcs.FirmwareActivationAlert), path
    assert alert.alert_code is gbcs.AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
    assert alert.execution_datetime.isoformat() == "2030-01-15T09:00:00+00:00"
    assert alert.originator_counter == 1001
    assert alert.firmware_version == bytes.fromhex("0123ABCF")
    assert message.header.cra_flag is gbcs.CraFlag.ALERT
    assert message.signature is not None
    assert len(message.signature) == 64


def test_cs08_supplementary_remote_party_fields() -> None:
    path = next(p for p in VECTORS if p.name == "CS08_11.2_SUCCESS_COMMAND_GBCS.HEX")
    header = gbcs.decode(read_hex(path)).header
    assert header.supplementary_remote_party_id == bytes.fromhex("90B3D51F30010000")
    assert header.supplementary_remote_party_counter == 1000
    assert header.supplementary_originator_counter is None
